//! Logs every decision and every refused request, with the operation, the rules and the caller.
//! Allowed requests are logged at `info`, denials and refusals at `warn`. It decides nothing.

use crate::classify::Classified;
use crate::decide::Decision;
use crate::error::GatewayError;
use crate::identify::Identity;
use crate::inspect::Finding;
use crate::normalize::Target;

/// Logs the decision taken for a classified request.
pub fn decision(
    identity: &Identity,
    method: &http::Method,
    target: &Target,
    request: &Classified,
    findings: &[Finding],
    decision: &Decision,
) {
    let resource = request.resource.as_deref().unwrap_or("");
    let reasons = decision.reasons.join("; ");
    if decision.allowed {
        tracing::info!(
            client = %identity, %method, path = %target.path, operation = %decision.operation, resource,
            rules = %decision.rule_list(), findings = findings.len(), "allowed"
        );
    } else {
        tracing::warn!(
            client = %identity, %method, path = %target.path, operation = %decision.operation, resource,
            rules = %decision.rule_list(), policy = %decision.policy, reasons, "denied"
        );
    }
}

/// Logs a request that failed before or after its decision (bad target, no route, upstream down).
pub fn failure(identity: &Identity, method: &http::Method, uri: &http::Uri, error: &GatewayError) {
    if matches!(error, GatewayError::Denied(_)) {
        return; // already logged with its decision
    }
    tracing::warn!(client = %identity, %method, target = %uri, status = error.status().as_u16(), "{error}");
}
