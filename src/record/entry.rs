//! What is known about one request, filled in on its way through the gateway: who asked, what
//! it was, what was decided and why, or why it was refused. Each step is logged as it is noted.
//! It writes no audit line and counts nothing; [`super::finish`] does, once the response is done.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use crate::classify::{Classified, Operation};
use crate::decide::{Decision, Mode, Outcome};
use crate::error::GatewayError;
use crate::identify::Identity;
use crate::inspect::Finding;
use crate::normalize::Target;
use crate::workers::InFlight;

/// What is known about one request; filled in on its way through the gateway.
pub struct Entry {
    /// When the request arrived; the audit line's wall-clock time is worked out from it, so a
    /// request reads the clock once to begin.
    pub(super) started: Instant,
    /// Who asked: the connection's own identity, whose reference count no other connection
    /// shares (the listener's name, which every connection shares, is read from it).
    pub identity: Arc<Identity>,
    pub client: Arc<str>,
    pub method: http::Method,
    /// The request's path: as sent until it is normalized, then as normalized.
    pub path: Path,
    pub operation: Option<Operation>,
    pub resource: Option<String>,
    /// The caller's owner name, when ownership is on.
    pub owner: Option<String>,
    /// `allow`, `deny`, `audit` or `refuse`.
    pub decision: Outcome,
    pub rules: Vec<String>,
    pub reason: String,
    pub findings: Vec<Finding>,
    /// Bytes of the request body read whole before it was sent.
    pub read_whole_in: u64,
    /// Bytes of the request body streamed to the engine, counted as they pass (see [`Entry::streamed_in`]).
    streamed_in: Option<Arc<AtomicU64>>,
    /// The request counts as in flight on its worker until its record is complete.
    _in_flight: InFlight,
}

/// A request's path as a record keeps it.
#[derive(Debug, Clone)]
pub enum Path {
    /// As sent (its request target, whose path is taken when shown).
    Sent(http::Uri),
    Normalized(String),
}

impl Path {
    pub fn as_str(&self) -> &str {
        match self {
            Path::Sent(uri) => uri.path(),
            Path::Normalized(path) => path,
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Entry {
    /// Starts the record of a request that just arrived.
    pub fn begin(identity: &Arc<Identity>, client: Arc<str>, method: &http::Method, uri: &http::Uri) -> Entry {
        Entry {
            started: Instant::now(),
            identity: identity.clone(),
            client,
            method: method.clone(),
            path: Path::Sent(uri.clone()),
            operation: None,
            resource: None,
            owner: None,
            decision: Outcome::Refuse,
            rules: Vec::new(),
            reason: String::new(),
            findings: Vec::new(),
            read_whole_in: 0,
            streamed_in: None,
            _in_flight: InFlight::begin(),
        }
    }

    /// A counter for the bytes of a request body streamed to the engine, made for the one
    /// request that has such a body.
    pub fn streamed_in(&mut self) -> Arc<AtomicU64> {
        self.streamed_in.get_or_insert_with(Arc::default).clone()
    }

    /// All the bytes of the request body that went to the engine.
    pub fn bytes_in(&self) -> u64 {
        self.read_whole_in
            + self.streamed_in.as_ref().map_or(0, |counter| counter.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Notes what the request is and what was decided, and logs it. An allowed decision's rules
    /// move to the entry: nothing reads them from the decision afterwards.
    pub fn decided(
        &mut self,
        target: &Target,
        request: &Classified,
        findings: Vec<Finding>,
        decision: &mut Decision,
        mode: Mode,
    ) {
        self.path = Path::Normalized(target.path.clone());
        self.operation = Some(request.operation);
        self.resource = request.resource.clone();
        self.reason = decision.reason();
        self.findings = findings;
        self.decision = Outcome::of(decision.allowed, mode);
        let resource = self.resource.as_deref().unwrap_or("");
        // Fields are made only when their event is logged: allowed requests are not, by default.
        if decision.allowed {
            tracing::debug!(client = %self.client, method = %self.method, path = %self.path, operation = %request.operation, resource, rules = decision.rule_list(), "allowed");
        } else {
            tracing::warn!(
                client = %self.client, method = %self.method, path = %self.path, operation = %request.operation, resource,
                rules = decision.rule_list(), policy = %decision.policy, reasons = %self.reason, mode = mode.name(),
                "{}", if self.decision == Outcome::Deny { "denied" } else { "would be denied (not enforced)" }
            );
        }
        self.rules = if decision.allowed { std::mem::take(&mut decision.rules) } else { decision.rules.clone() };
    }

    /// Notes a request refused before or after its decision (bad target, no route, unreadable body,
    /// engine unreachable), and logs it.
    pub fn failed(&mut self, error: &GatewayError) {
        match error {
            GatewayError::Denied(_) => {}
            // Logged once per caller where the limit is kept, not once per request.
            GatewayError::CallerBusy { .. } => {
                self.decision = error.outcome().unwrap_or(self.decision);
                self.reason = error.to_string();
            }
            GatewayError::Forward(_) => {
                self.reason = error.to_string();
                tracing::warn!(client = %self.client, method = %self.method, path = %self.path, "{error}");
            }
            _ => {
                self.decision = error.outcome().unwrap_or(self.decision);
                self.reason = error.to_string();
                tracing::warn!(client = %self.client, method = %self.method, path = %self.path, status = error.status().as_u16(), "{error}");
            }
        }
    }
}
