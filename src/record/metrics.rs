//! The Prometheus metrics sockgate exports on its admin listener: requests by operation, decision,
//! rule and status; request durations; upstream errors; open connections and tunnels; bytes each
//! way; policy reloads; connections and requests refused or closed by a limit; build info. It only counts; the admin listener serves them.

use std::sync::OnceLock;

use http::StatusCode;
use parking_lot::Mutex;

use crate::classify::Operation;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Why a limit refused a connection or request, or closed a connection: a caller at its
/// connection cap, a caller at its cap of requests in flight, a keep-alive connection idle too
/// long, a request head not sent in time.
pub const LIMITS: [&str; 4] = ["caller_connections", "caller_in_flight", "idle", "header_timeout"];

/// Every metric, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub upstream_errors: IntCounter,
    pub connections: IntGauge,
    pub tunnels: IntGauge,
    pub bytes: IntCounterVec,
    pub reloads: IntCounterVec,
    /// Connections and requests a limit refused or closed, by [`LIMITS`] reason.
    pub limited: IntCounterVec,
    /// Time from receiving a request head to answering it, whatever the operation.
    pub head_latency: Histogram,
    /// `bytes` for each direction, and `duration` for each operation (made when first used, so
    /// the output lists only operations seen): a request counts without looking up its labels.
    to_engine: IntCounter,
    to_client: IntCounter,
    durations: Box<[OnceLock<Histogram>]>,
    /// `requests` counters already looked up, by their labels: found again by comparing them,
    /// not by hashing them as the vector does.
    counted: Mutex<Vec<Counted>>,
}

/// A `requests` counter and its labels.
struct Counted {
    operation: &'static str,
    decision: &'static str,
    status: u16,
    rules: Box<str>,
    counter: IntCounter,
}

/// The most `requests` counters kept at hand; others are looked up each time.
const COUNTED: usize = 256;

impl Metrics {
    #[expect(clippy::expect_used, reason = "constant metric definitions; a unit test registers them all")]
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("sockgate_requests_total", "Requests by operation, decision, deciding rules and status"),
            &["operation", "decision", "rule", "status"],
        )
        .expect("metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("sockgate_request_duration_seconds", "Time from request to the end of the response"),
            &["operation"],
        )
        .expect("metric");
        let head_latency = Histogram::with_opts(
            HistogramOpts::new("sockgate_response_head_seconds", "Time from request to the response head")
                .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0]),
        )
        .expect("metric");
        let upstream_errors =
            IntCounter::new("sockgate_upstream_errors_total", "Requests the engine could not be reached for")
                .expect("metric");
        let connections = IntGauge::new("sockgate_connections_open", "Client connections open").expect("metric");
        let tunnels = IntGauge::new("sockgate_tunnels_open", "Hijacked connections (attach, exec, BuildKit) open")
            .expect("metric");
        let bytes = IntCounterVec::new(
            Opts::new("sockgate_bytes_total", "Body bytes passed, by direction (to_engine, to_client)"),
            &["direction"],
        )
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
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(head_latency.clone()),
            Box::new(upstream_errors.clone()),
            Box::new(connections.clone()),
            Box::new(tunnels.clone()),
            Box::new(bytes.clone()),
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
        let to_engine = bytes.with_label_values(&["to_engine"]);
        let to_client = bytes.with_label_values(&["to_client"]);
        let durations = Operation::all().map(|_| OnceLock::new()).collect();
        Metrics {
            registry,
            requests,
            duration,
            upstream_errors,
            connections,
            tunnels,
            bytes,
            reloads,
            limited,
            head_latency,
            to_engine,
            to_client,
            durations,
            counted: Mutex::new(Vec::new()),
        }
    }

    /// Counts one request by its labels.
    pub fn count_request(&self, operation: &'static str, decision: &'static str, rules: &str, code: StatusCode) {
        let status = code.as_u16();
        let mut counted = self.counted.lock();
        let known = counted
            .iter()
            .find(|c| c.status == status && c.operation == operation && c.decision == decision && &*c.rules == rules);
        if let Some(known) = known {
            known.counter.inc();
            return;
        }
        let counter = self.requests.with_label_values(&[operation, decision, rules, code.as_str()]);
        counter.inc();
        if counted.len() < COUNTED {
            counted.push(Counted { operation, decision, status, rules: rules.into(), counter });
        }
    }

    /// Counts the body bytes one request passed each way.
    pub fn count_bytes(&self, to_engine: u64, to_client: u64) {
        if to_engine > 0 {
            self.to_engine.inc_by(to_engine);
        }
        if to_client > 0 {
            self.to_client.inc_by(to_client);
        }
    }

    /// Observes how long a request of `operation` (`None`: one that was not recognised) took.
    pub fn observe_duration(&self, operation: Option<Operation>, seconds: f64) {
        let name = operation.map_or("none", Operation::name);
        match operation.and_then(|op| self.durations.get(op.index())) {
            Some(cell) => cell.get_or_init(|| self.duration.with_label_values(&[name])).observe(seconds),
            None => self.duration.with_label_values(&[name]).observe(seconds),
        }
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
        metrics.requests.with_label_values(&["system.ping", "allow", "r", "200"]).inc();
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
