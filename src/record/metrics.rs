//! The Prometheus metrics sockgate exports on its admin listener: requests by operation, decision,
//! rule and status; request durations; upstream errors; open connections and tunnels; bytes each
//! way; policy reloads; connections and requests refused or closed by a limit; build info. It only counts; the admin listener serves them.

mod per_worker;

use http::StatusCode;

use crate::classify::Operation;
use per_worker::PerRequest;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// Why a limit refused a connection or request, or closed a connection: a caller at its
/// connection cap, a caller at its cap of requests in flight, a keep-alive connection idle too
/// long, a request head not sent in time.
pub const LIMITS: [&str; 4] = ["caller_connections", "caller_in_flight", "idle", "header_timeout"];

/// Every metric, registered in its own registry. A clone is another handle on the same metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests, their durations and body bytes, kept per worker (see [`per_worker`]).
    per_request: PerRequest,
    pub upstream_errors: IntCounter,
    pub connections: IntGauge,
    pub tunnels: IntGauge,
    pub reloads: IntCounterVec,
    /// Connections and requests a limit refused or closed, by [`LIMITS`] reason.
    pub limited: IntCounterVec,
}

impl Metrics {
    #[expect(clippy::expect_used, reason = "constant metric definitions; a unit test registers them all")]
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let per_request = PerRequest::new();
        let upstream_errors =
            IntCounter::new("sockgate_upstream_errors_total", "Requests the engine could not be reached for")
                .expect("metric");
        let connections = IntGauge::new("sockgate_connections_open", "Client connections open").expect("metric");
        let tunnels = IntGauge::new("sockgate_tunnels_open", "Hijacked connections (attach, exec, BuildKit) open")
            .expect("metric");
        let reloads = IntCounterVec::new(
            Opts::new("sockgate_policy_reloads_total", "Policy reloads by result (ok, failed)"),
            &["result"],
        )
        .expect("metric");
        let limited = IntCounterVec::new(
            Opts::new("sockgate_limited_total", "Connections and requests refused or closed by a limit, by reason"),
            &["reason"],
        )
        .expect("metric");
        let build =
            IntGaugeVec::new(Opts::new("sockgate_build_info", "Build information"), &["version"]).expect("metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for collector in [
            Box::new(per_request.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(upstream_errors.clone()),
            Box::new(connections.clone()),
            Box::new(tunnels.clone()),
            Box::new(reloads.clone()),
            Box::new(limited.clone()),
            Box::new(build),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        // Present from the start, so a dashboard shows 0 rather than nothing.
        reloads.with_label_values(&["ok"]);
        reloads.with_label_values(&["failed"]);
        for reason in LIMITS {
            limited.with_label_values(&[reason]);
        }
        Metrics { registry, per_request, upstream_errors, connections, tunnels, reloads, limited }
    }

    /// Counts a request by its operation, decision, deciding rules (joined by commas) and status.
    pub fn count_request(&self, operation: &'static str, decision: &'static str, rules: &str, code: StatusCode) {
        self.per_request.count_request(operation, decision, rules, code);
    }

    /// Observes the time from a request to its answer's head.
    pub fn observe_head(&self, seconds: f64) {
        self.per_request.observe_head(seconds);
    }

    /// Counts the body bytes one request passed each way.
    pub fn count_bytes(&self, to_engine: u64, to_client: u64) {
        self.per_request.count_bytes(to_engine, to_client);
    }

    /// Observes how long a request of `operation` (`None`: one that was not recognised) took.
    pub fn observe_duration(&self, operation: Option<Operation>, seconds: f64) {
        self.per_request.observe_duration(operation, seconds);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_their_labels_however_often_they_come_back() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.count_request("system.ping", "allow", "r", StatusCode::OK);
        }
        metrics.count_request("system.ping", "allow", "r", StatusCode::BAD_GATEWAY);
        metrics.count_request("system.ping", "allow", "r,s", StatusCode::OK);
        metrics.count_request("system.info", "deny", "r", StatusCode::OK);
        let text = metrics.render();
        for line in [
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"r\",status=\"200\"} 3",
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"r\",status=\"502\"} 1",
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"r,s\",status=\"200\"} 1",
            "sockgate_requests_total{decision=\"deny\",operation=\"system.info\",rule=\"r\",status=\"200\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::new();
        metrics.count_request("system.ping", "allow", "r", StatusCode::OK);
        metrics.observe_duration(Operation::from_name("system.ping"), 0.002);
        metrics.observe_duration(Operation::from_name("system.ping"), 0.003);
        metrics.observe_duration(None, 0.004);
        metrics.count_bytes(5, 0);
        metrics.count_bytes(2, 7);
        let text = metrics.render();
        for name in [
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"r\",status=\"200\"} 1",
            "sockgate_policy_reloads_total{result=\"failed\"} 0",
            "sockgate_build_info{version=",
            "sockgate_connections_open 0",
            "sockgate_limited_total{reason=\"idle\"} 0",
            "sockgate_limited_total{reason=\"caller_in_flight\"} 0",
            "sockgate_request_duration_seconds_count{operation=\"system.ping\"} 2",
            "sockgate_request_duration_seconds_count{operation=\"none\"} 1",
            "sockgate_bytes_total{direction=\"to_engine\"} 7",
            "sockgate_bytes_total{direction=\"to_client\"} 7",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert!(!text.contains("operation=\"system.version\""), "an operation never seen is listed:\n{text}");
    }
}
