//! The metrics every request writes, kept once per worker and added up when they are read.
//!
//! Two workers writing one counter pass its memory back and forth between their cores, and on
//! this path that costs more than the counting: each request adds to a count, two histograms and
//! the byte counts. So each worker ([`crate::workers::slot`]) writes a shard of its own, made on
//! its own thread (its memory then comes from that thread's allocator pages, not next to another
//! worker's), and a scrape adds the shards up into the families one set of metrics would show.
//! Threads that are no worker share shard 0, which always exists, so the families that are shown
//! from the start (the head latency, both byte directions) are there before any request.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use http::StatusCode;
use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::classify::Operation;

/// Shards kept; a worker beyond them shares one (still exact, only slower).
const SHARDS: usize = 64;

/// The most `requests` counters a shard keeps at hand; others are looked up each time.
const COUNTED: usize = 256;

/// The per-request metrics of all workers; a clone shares them.
#[derive(Clone)]
pub(super) struct PerRequest {
    shards: Arc<[OnceLock<Shard>]>,
}

/// One worker's per-request metrics, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    requests: IntCounterVec,
    duration: HistogramVec,
    head_latency: Histogram,
    bytes: IntCounterVec,
    /// `bytes` for each direction, and `duration` for each operation (made when first used, so
    /// the output lists only operations seen): a request counts without looking up its labels.
    to_engine: IntCounter,
    to_client: IntCounter,
    durations: Box<[OnceLock<Histogram>]>,
    /// `requests` counters already looked up, by their labels: found again by comparing them,
    /// not by hashing them as the vector does. Locked only by its worker, and by a scrape.
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

impl PerRequest {
    pub(super) fn new() -> PerRequest {
        let shards: Arc<[OnceLock<Shard>]> = (0..SHARDS).map(|_| OnceLock::new()).collect();
        shards[0].get_or_init(Shard::new);
        PerRequest { shards }
    }

    /// The calling worker's shard, made on first use.
    fn shard(&self) -> &Shard {
        self.shards[crate::workers::slot() % SHARDS].get_or_init(Shard::new)
    }

    pub(super) fn count_request(&self, operation: &'static str, decision: &'static str, rules: &str, code: StatusCode) {
        let shard = self.shard();
        let status = code.as_u16();
        let mut counted = shard.counted.lock();
        let known = counted
            .iter()
            .find(|c| c.status == status && c.operation == operation && c.decision == decision && &*c.rules == rules);
        if let Some(known) = known {
            known.counter.inc();
            return;
        }
        let counter = shard.requests.with_label_values(&[operation, decision, rules, code.as_str()]);
        counter.inc();
        if counted.len() < COUNTED {
            counted.push(Counted { operation, decision, status, rules: rules.into(), counter });
        }
    }

    pub(super) fn observe_head(&self, seconds: f64) {
        self.shard().head_latency.observe(seconds);
    }

    pub(super) fn count_bytes(&self, to_engine: u64, to_client: u64) {
        let shard = self.shard();
        if to_engine > 0 {
            shard.to_engine.inc_by(to_engine);
        }
        if to_client > 0 {
            shard.to_client.inc_by(to_client);
        }
    }

    pub(super) fn observe_duration(&self, operation: Option<Operation>, seconds: f64) {
        let shard = self.shard();
        let name = operation.map_or("none", Operation::name);
        match operation.and_then(|op| shard.durations.get(op.index())) {
            Some(cell) => cell.get_or_init(|| shard.duration.with_label_values(&[name])).observe(seconds),
            None => shard.duration.with_label_values(&[name]).observe(seconds),
        }
    }
}

impl Shard {
    #[expect(clippy::expect_used, reason = "constant metric definitions; a unit test registers them all")]
    fn new() -> Shard {
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
        let bytes = IntCounterVec::new(
            Opts::new("sockgate_bytes_total", "Body bytes passed, by direction (to_engine, to_client)"),
            &["direction"],
        )
        .expect("metric");
        let to_engine = bytes.with_label_values(&["to_engine"]);
        let to_client = bytes.with_label_values(&["to_client"]);
        let durations = Operation::all().map(|_| OnceLock::new()).collect();
        Shard {
            requests,
            duration,
            head_latency,
            bytes,
            to_engine,
            to_client,
            durations,
            counted: Mutex::new(Vec::new()),
        }
    }

    fn collectors(&self) -> [&dyn Collector; 4] {
        [&self.requests, &self.duration, &self.head_latency, &self.bytes]
    }
}

impl Collector for PerRequest {
    fn desc(&self) -> Vec<&Desc> {
        self.shards[0].get().map_or_else(Vec::new, |shard| shard.collectors().iter().flat_map(|c| c.desc()).collect())
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families: Vec<MetricFamily> = Vec::new();
        for shard in self.shards.iter().filter_map(OnceLock::get) {
            for family in shard.collectors().iter().flat_map(|c| c.collect()) {
                match families.iter_mut().find(|f| f.get_name() == family.get_name()) {
                    Some(sum) => add_family(sum, family),
                    None => families.push(family),
                }
            }
        }
        families
    }
}

/// Adds `more`'s samples into `sum`'s, series by series (by their labels).
fn add_family(sum: &mut MetricFamily, mut more: MetricFamily) {
    let kind = sum.get_field_type();
    let labels = |metric: &Metric| -> Vec<(String, String)> {
        metric.get_label().iter().map(|l: &LabelPair| (l.get_name().to_owned(), l.get_value().to_owned())).collect()
    };
    let mut index: HashMap<Vec<(String, String)>, usize> =
        sum.get_metric().iter().enumerate().map(|(i, m)| (labels(m), i)).collect();
    for metric in more.take_metric() {
        match index.get(&labels(&metric)) {
            Some(&i) => add_metric(kind, &mut sum.mut_metric()[i], &metric),
            None => {
                index.insert(labels(&metric), sum.get_metric().len());
                sum.mut_metric().push(metric);
            }
        }
    }
}

/// Adds a counter's value, or a histogram's counts (the shards share their buckets), to `sum`.
fn add_metric(kind: MetricType, sum: &mut Metric, more: &Metric) {
    match kind {
        MetricType::COUNTER => {
            let mut counter = sum.get_counter().clone();
            counter.set_value(counter.get_value() + more.get_counter().get_value());
            sum.set_counter(counter);
        }
        MetricType::HISTOGRAM => {
            let (mut histogram, more) = (sum.get_histogram().clone(), more.get_histogram());
            histogram.set_sample_count(histogram.get_sample_count() + more.get_sample_count());
            histogram.set_sample_sum(histogram.get_sample_sum() + more.get_sample_sum());
            let mut buckets = histogram.get_bucket().to_vec();
            for (bucket, other) in buckets.iter_mut().zip(more.get_bucket()) {
                bucket.set_cumulative_count(bucket.get_cumulative_count() + other.get_cumulative_count());
            }
            histogram.set_bucket(buckets);
            sum.set_histogram(histogram);
        }
        // The shards hold counters and histograms only.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::Workers;
    use prometheus::{Encoder, Registry, TextEncoder};
    use std::error::Error;

    fn render(per_request: PerRequest) -> Result<String, Box<dyn Error>> {
        let registry = Registry::new();
        registry.register(Box::new(per_request))?;
        let mut out = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn what_two_workers_count_is_shown_added_up_as_one_set_of_metrics() -> Result<(), Box<dyn Error>> {
        let per_request = PerRequest::new();
        let workers = Workers::start(2, crate::workers::Placement::AnyCore)?;
        let (tx, rx) = std::sync::mpsc::channel();
        for (rules, status, seconds, bytes) in
            [("r", StatusCode::OK, 0.0002, 3), ("r", StatusCode::OK, 0.002, 4), ("s", StatusCode::NOT_FOUND, 0.02, 5)]
        {
            let (per_request, tx) = (per_request.clone(), tx.clone());
            workers.spawn(async move {
                per_request.count_request("system.ping", "allow", rules, status);
                per_request.observe_head(seconds);
                per_request.observe_duration(Operation::from_name("system.ping"), seconds);
                per_request.count_bytes(bytes, 2 * bytes);
                let _ = tx.send(crate::workers::slot());
            });
        }
        let mut slots: Vec<usize> =
            (0..3).map(|_| rx.recv_timeout(std::time::Duration::from_secs(5))).collect::<Result<_, _>>()?;
        slots.sort();
        assert_eq!(slots, [1, 1, 2], "both workers counted");
        // The main thread counts in shard 0, added up with the rest.
        per_request.count_request("system.ping", "allow", "r", StatusCode::OK);
        drop(workers);
        assert_eq!(per_request.shards.iter().filter(|s| s.get().is_some()).count(), 3);
        let text = render(per_request)?;
        for line in [
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"r\",status=\"200\"} 3\n",
            "sockgate_requests_total{decision=\"allow\",operation=\"system.ping\",rule=\"s\",status=\"404\"} 1\n",
            "sockgate_response_head_seconds_bucket{le=\"0.00025\"} 1\n",
            "sockgate_response_head_seconds_bucket{le=\"0.0025\"} 2\n",
            "sockgate_response_head_seconds_bucket{le=\"0.05\"} 3\n",
            "sockgate_response_head_seconds_count 3\n",
            "sockgate_request_duration_seconds_count{operation=\"system.ping\"} 3\n",
            "sockgate_bytes_total{direction=\"to_engine\"} 12\n",
            "sockgate_bytes_total{direction=\"to_client\"} 24\n",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert_eq!(text.matches("# TYPE sockgate_requests_total counter").count(), 1, "{text}");
        assert_eq!(text.matches("sockgate_response_head_seconds_count").count(), 1, "{text}");
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("sockgate_response_head_seconds_sum "))
            .ok_or("no sum")?
            .parse()?;
        assert!((sum - 0.0222).abs() < 1e-9, "{sum}");
        Ok(())
    }

    #[test]
    fn before_any_request_the_head_latency_and_both_byte_counts_show_zero() -> Result<(), Box<dyn Error>> {
        let text = render(PerRequest::new())?;
        for line in [
            "sockgate_response_head_seconds_count 0\n",
            "sockgate_bytes_total{direction=\"to_engine\"} 0\n",
            "sockgate_bytes_total{direction=\"to_client\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("sockgate_requests_total"), "{text}");
        Ok(())
    }
}
