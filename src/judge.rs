//! Judges one request given as data: normalize -> classify -> versions -> inspect -> decide, into
//! a [`Judgement`] that `sockgate policy explain`, policy cases and the gateway all read.
//!
//! It is pure: it reads no socket, no file and no clock, and asks the engine nothing; what the
//! engine said of the objects a request names comes in as [`Resolved`]. It does not forward,
//! record or render HTTP responses; the gateway does.

use std::fmt;

use http::{Method, Uri};

use crate::classify::{self, Classified, ClassifyError};
use crate::decide::{self, Decision};
use crate::inspect::{self, Finding, InspectError, Inspection, Reads, Resolved};
use crate::normalize::{self, Target, TargetError};
use crate::policy::Policy;
use crate::versions::{self, ApiVersion, VersionError};

/// Why a request could not be judged: it is refused before any policy is asked.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error("cannot judge the request: {0}")]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// Everything sockgate concluded about one request.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub target: Target,
    pub classified: Classified,
    pub findings: Vec<Finding>,
    pub decision: Decision,
}

/// The lines `sockgate policy explain` prints: operation, resource, findings and the decision.
impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation: {}", self.classified.operation)?;
        if let Some(resource) = &self.classified.resource {
            write!(f, "\nresource:  {resource}")?;
        }
        for finding in &self.findings {
            write!(f, "\nfinding:   {finding}")?;
        }
        if self.decision.allowed {
            write!(f, "\ndecision:  allow, by rule {}", self.decision.rule_list())
        } else {
            write!(f, "\ndecision:  deny\nmessage:   sockgate: {}", self.decision.denial_message())
        }
    }
}

/// A request as it is judged.
pub struct Judged<'a> {
    pub policy: &'a Policy,
    pub method: &'a Method,
    pub target: &'a Target,
    pub classified: &'a Classified,
    pub content_type: Option<&'a [u8]>,
    pub body: Option<&'a [u8]>,
    /// Ownership is on for this caller.
    pub tenancy: bool,
}

/// Steps one and two: the exact path dockerd will route, and what it names.
pub fn recognize(method: &Method, uri: &Uri) -> Result<(Target, Classified), JudgeError> {
    let target = normalize::target(uri)?;
    let classified = classify::classify(method, &target.path)?;
    Ok((target, classified))
}

/// Steps three and four: what the request asks for, and whether the policy allows it.
/// `resolved` is what the engine said of the objects the request refers to, once it was asked.
pub fn judge(request: &Judged<'_>, resolved: Option<&Resolved>) -> Result<(Inspection, Decision), JudgeError> {
    let inspection = inspect::inspect_all(&inspect::Request {
        operation: request.classified.operation,
        query: request.target.query.as_deref(),
        content_type: request.content_type,
        body: request.body,
        resource: request.classified.resource.as_deref(),
        resolved,
        tenancy: request.tenancy,
    })?;
    let decision = decide::decide(
        request.policy,
        &decide::Request {
            operation: request.classified.operation,
            method: request.method.as_str(),
            path: &request.target.path,
            findings: &inspection.findings,
        },
    );
    Ok((inspection, decision))
}

/// All steps for a request given as data, as `sockgate policy explain` and policy tests use them.
/// An allowed request is held to the default minimum API version (the configured one is a
/// serving option); the engine's own range is not known here.
pub fn explain(
    policy: &Policy,
    method: &Method,
    uri: &Uri,
    content_type: Option<&[u8]>,
    body: Option<&[u8]>,
) -> Result<Judgement, JudgeError> {
    let (target, classified) = recognize(method, uri)?;
    let body = match inspect::reads(classified.operation) {
        Reads::Body => Some(body.unwrap_or_default()),
        _ => None,
    };
    let request =
        Judged { policy, method, target: &target, classified: &classified, content_type, body, tenancy: false };
    let (inspection, decision) = judge(&request, None)?;
    if decision.allowed {
        versions::check(&ApiVersion::default_minimum(), None, target.version.as_deref())?;
    }
    Ok(Judgement { target, classified, findings: inspection.findings, decision })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::from_sources("test", &[("t.toml".into(), text.into())]).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_judgement_prints_as_explain_shows_it() {
        let p = policy("version = 1\n[[rule]]\nid = \"read\"\nallow = [\"containers.inspect\"]\n");
        let uri: Uri = "/v1.45/containers/web/json".parse().unwrap_or_else(|e| unreachable!("{e}"));
        let j = explain(&p, &Method::GET, &uri, None, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(j.to_string(), "operation: containers.inspect\nresource:  web\ndecision:  allow, by rule read");
        let uri: Uri = "/containers/create".parse().unwrap_or_else(|e| unreachable!("{e}"));
        let j = explain(&p, &Method::POST, &uri, Some(b"application/json"), Some(b"{}"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(j.to_string().starts_with("operation: containers.create\ndecision:  deny\nmessage:   sockgate: "));
    }

    #[test]
    fn what_cannot_be_read_is_refused_before_any_policy() {
        let p = policy("version = 1\n[[rule]]\nid = \"all\"\nallow = [\"*\"]\n");
        let uri: Uri = "/containers/create".parse().unwrap_or_else(|e| unreachable!("{e}"));
        let refused = explain(&p, &Method::POST, &uri, Some(b"text/plain"), Some(b"{}"));
        assert!(matches!(refused, Err(JudgeError::Inspect(_))));
        let uri: Uri = "/nope".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(explain(&p, &Method::GET, &uri, None, None), Err(JudgeError::Classify(_))));
    }
}
