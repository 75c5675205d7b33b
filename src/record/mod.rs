//! Records every request: a log line when it is decided (denied and refused at `warn`; allowed at
//! `debug`, since a line per allowed request costs more than the proxying itself: the audit log
//! is the per-request record), and once its response is done an audit line ([`audit`]), metrics
//! ([`metrics`]) and, in learn mode, what it asked for ([`learn`]). It decides nothing.

pub mod audit;
mod entry;
pub mod learn;
pub mod metrics;

use std::sync::Arc;
use std::time::SystemTime;

use http::Response;

use crate::body::Body;
use crate::classify::Operation;
use crate::decide::{Mode, Outcome};
use audit::{AuditLine, AuditLog};
pub use entry::Entry;
use learn::Learner;
use metrics::Metrics;

/// Where records go. A clone is another handle on the same metrics, audit log and learner: each
/// connection records through a handle of its own (see [`crate::gateway::Caller`]), so a
/// request's record shares no reference count with other connections' on other workers.
#[derive(Clone)]
pub struct Recorder {
    pub mode: Mode,
    pub metrics: Metrics,
    pub audit: Option<Arc<AuditLog>>,
    pub learner: Option<Arc<Learner>>,
}

impl Recorder {
    pub fn new(mode: Mode, audit: Option<AuditLog>, learner: Option<Learner>) -> Recorder {
        Recorder { mode, metrics: Metrics::new(), audit: audit.map(Arc::new), learner: learner.map(Arc::new) }
    }
}

/// Attaches the record to a response, in place: it is completed when the response body is done.
pub fn finish(recorder: &Arc<Recorder>, entry: Entry, response: &mut Response<Body>, upstream_failed: bool) {
    let status = response.status();
    recorder.metrics.observe_head(entry.started.elapsed().as_secs_f64());
    if upstream_failed {
        recorder.metrics.upstream_errors.inc();
    }
    let recorder = recorder.clone();
    response.body_mut().on_drop(move |bytes_out| complete(&recorder, &entry, status, bytes_out));
}

fn complete(recorder: &Recorder, entry: &Entry, status: http::StatusCode, bytes_out: u64) {
    let duration = entry.started.elapsed();
    let operation = entry.operation.map_or("none", Operation::name);
    let bytes_in = entry.bytes_in();
    let metrics = &recorder.metrics;
    let rules = match entry.rules.as_slice() {
        [one] => std::borrow::Cow::Borrowed(one.as_str()),
        many => std::borrow::Cow::Owned(many.join(",")),
    };
    metrics.count_request(operation, entry.decision.name(), &rules, status);
    tracing::info!(
        target: crate::logging::ACCESS_TARGET,
        client = %entry.client,
        method = %entry.method,
        path = %entry.path,
        operation,
        decision = entry.decision.name(),
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
        if entry.decision != Outcome::Refuse {
            let client = match &entry.owner {
                Some(owner) => format!("{}, owner `{owner}`", entry.client),
                None => entry.client.to_string(),
            };
            learner.observe(&client, op, &entry.findings);
        }
    }
    if let Some(audit) = &recorder.audit {
        audit.write(&AuditLine {
            time: rfc3339(SystemTime::now().checked_sub(duration).unwrap_or_else(SystemTime::now)),
            listener: &entry.identity.listener,
            client: &entry.client,
            method: entry.method.as_str(),
            path: entry.path.as_str(),
            operation,
            resource: entry.resource.as_deref().unwrap_or(""),
            owner: entry.owner.as_deref(),
            decision: entry.decision.name(),
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
