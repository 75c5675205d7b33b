//! Records every request: a log line when it is decided (denied and refused at `warn`; allowed at
//! `debug`, since a line per allowed request costs more than the proxying itself: the audit log
//! is the per-request record), and once its response is done an audit line ([`audit`]), metrics
//! ([`metrics`]) and, in learn mode, what it asked for ([`learn`]). It decides nothing.

pub mod audit;
pub mod learn;
pub mod metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::Response;

use crate::body::Body;
use crate::classify::{Classified, Operation};
use crate::decide::{Decision, Mode};
use crate::error::GatewayError;
use crate::identify::Identity;
use crate::inspect::Finding;
use crate::normalize::Target;
use crate::workers::InFlight;
use audit::{AuditLine, AuditLog};
use learn::Learner;
use metrics::Metrics;

/// Where records go.
pub struct Recorder {
    pub mode: Mode,
    pub metrics: Metrics,
    pub audit: Option<AuditLog>,
    pub learner: Option<Learner>,
}

impl Recorder {
    pub fn new(mode: Mode, audit: Option<AuditLog>, learner: Option<Learner>) -> Recorder {
        Recorder { mode, metrics: Metrics::new(), audit, learner }
    }
}

/// What is known about one request; filled in on its way through the gateway.
pub struct Entry {
    time: SystemTime,
    started: Instant,
    pub listener: Arc<str>,
    pub client: Arc<str>,
    pub method: String,
    pub path: String,
    pub operation: Option<Operation>,
    pub resource: Option<String>,
    /// The caller's owner name, when ownership is on.
    pub owner: Option<String>,
    /// `allow`, `deny`, `audit` or `refuse`.
    pub decision: &'static str,
    pub rules: Vec<String>,
    pub reason: String,
    pub findings: Vec<Finding>,
    pub bytes_in: Arc<AtomicU64>,
    pub bytes_out: Arc<AtomicU64>,
    /// The request counts as in flight on its worker until its record is complete.
    _in_flight: InFlight,
}

impl Entry {
    /// Starts the record of a request that just arrived.
    pub fn begin(identity: &Identity, client: Arc<str>, method: &http::Method, uri: &http::Uri) -> Entry {
        Entry {
            time: SystemTime::now(),
            started: Instant::now(),
            listener: identity.listener.clone(),
            client,
            method: method.to_string(),
            path: uri.path().to_string(),
            operation: None,
            resource: None,
            owner: None,
            decision: "refuse",
            rules: Vec::new(),
            reason: String::new(),
            findings: Vec::new(),
            bytes_in: Arc::default(),
            bytes_out: Arc::default(),
            _in_flight: InFlight::begin(),
        }
    }

    /// Notes what the request is and what was decided, and logs it.
    pub fn decided(
        &mut self,
        target: &Target,
        request: &Classified,
        findings: Vec<Finding>,
        decision: &Decision,
        mode: Mode,
    ) {
        self.path = target.path.clone();
        self.operation = Some(request.operation);
        self.resource = request.resource.clone();
        self.rules = decision.rules.clone();
        self.reason = match (decision.allowed, decision.reasons.is_empty(), decision.rules.is_empty()) {
            (false, true, true) => match &decision.hint {
                Some(hint) => format!("no rule of policy `{}` allows it; {hint}", decision.policy),
                None => format!("no rule of policy `{}` allows it", decision.policy),
            },
            (false, true, false) => format!("denied by rule `{}`", decision.rules.join("`, `")),
            _ => decision.reasons.join("; "),
        };
        self.findings = findings;
        self.decision = match (decision.allowed, mode) {
            (true, _) => "allow",
            (false, Mode::Enforce) => "deny",
            (false, Mode::Audit | Mode::Learn) => "audit",
        };
        let resource = self.resource.as_deref().unwrap_or("");
        let rules = decision.rule_list();
        if decision.allowed {
            tracing::debug!(client = %self.client, method = %self.method, path = %self.path, operation = %request.operation, resource, rules, "allowed");
        } else {
            tracing::warn!(
                client = %self.client, method = %self.method, path = %self.path, operation = %request.operation, resource,
                rules, policy = %decision.policy, reasons = %self.reason, mode = mode.name(),
                "{}", if self.decision == "deny" { "denied" } else { "would be denied (not enforced)" }
            );
        }
    }

    /// Notes a request refused before or after its decision (bad target, no route, unreadable body,
    /// engine unreachable), and logs it.
    pub fn failed(&mut self, error: &GatewayError) {
        match error {
            GatewayError::Denied(_) => {}
            GatewayError::Forward(_) => {
                self.reason = error.to_string();
                tracing::warn!(client = %self.client, method = %self.method, path = %self.path, "{error}");
            }
            _ => {
                self.decision = if matches!(error, GatewayError::Classify(_)) { "deny" } else { "refuse" };
                self.reason = error.to_string();
                tracing::warn!(client = %self.client, method = %self.method, path = %self.path, status = error.status().as_u16(), "{error}");
            }
        }
    }
}

/// Attaches the record to a response: it is completed when the response body is done.
pub fn finish(
    recorder: &Arc<Recorder>,
    entry: Entry,
    response: Response<Body>,
    upstream_failed: bool,
) -> Response<Body> {
    let status = response.status();
    recorder.metrics.head_latency.observe(entry.started.elapsed().as_secs_f64());
    if upstream_failed {
        recorder.metrics.upstream_errors.inc();
    }
    let (parts, body) = response.into_parts();
    let recorder = recorder.clone();
    let counter = entry.bytes_out.clone();
    let body = body.counted(counter).on_drop(move || complete(&recorder, &entry, status));
    Response::from_parts(parts, body)
}

fn complete(recorder: &Recorder, entry: &Entry, status: http::StatusCode) {
    let duration = entry.started.elapsed();
    let operation = entry.operation.map_or("none", Operation::name);
    let bytes_in = entry.bytes_in.load(Ordering::Relaxed);
    let bytes_out = entry.bytes_out.load(Ordering::Relaxed);
    let metrics = &recorder.metrics;
    let rules = match entry.rules.as_slice() {
        [one] => std::borrow::Cow::Borrowed(one.as_str()),
        many => std::borrow::Cow::Owned(many.join(",")),
    };
    metrics.requests.with_label_values(&[operation, entry.decision, &rules, status.as_str()]).inc();
    tracing::info!(
        target: crate::logging::ACCESS_TARGET,
        client = %entry.client,
        method = %entry.method,
        path = %entry.path,
        operation,
        decision = entry.decision,
        rules = %rules,
        status = status.as_u16(),
        duration_ms = (duration.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        bytes_in,
        bytes_out,
        "request"
    );
    metrics.observe_duration(entry.operation, duration.as_secs_f64());
    metrics.count_bytes(bytes_in, bytes_out);
    if let (Some(learner), Some(op)) = (&recorder.learner, entry.operation) {
        if entry.decision != "refuse" {
            let client = match &entry.owner {
                Some(owner) => format!("{}, owner `{owner}`", entry.client),
                None => entry.client.to_string(),
            };
            learner.observe(&client, op, &entry.findings);
        }
    }
    if let Some(audit) = &recorder.audit {
        audit.write(&AuditLine {
            time: rfc3339(entry.time),
            listener: &entry.listener,
            client: &entry.client,
            method: &entry.method,
            path: &entry.path,
            operation,
            resource: entry.resource.as_deref().unwrap_or(""),
            owner: entry.owner.as_deref(),
            decision: entry.decision,
            rules: &entry.rules,
            reason: &entry.reason,
            status: status.as_u16(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            bytes_in,
            bytes_out,
        });
    }
}

/// A UTC timestamp such as `2026-11-29T12:00:00.123Z`: RFC 3339 with milliseconds.
fn rfc3339(time: SystemTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from(time).format(FORMAT).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_953_600_123);
        // 2026-11-29 12:00:00 UTC
        assert_eq!(rfc3339(t), "2026-11-29T12:00:00.123Z");
    }
}
