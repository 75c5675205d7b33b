//! Counts what each caller holds of one listener, connections open and requests in flight, each
//! against its limit (its profile's, else the listener's [`CallerLimits`]), so one caller cannot
//! take what others need. It refuses
//! what would go over the limit, counts every refusal in the metrics, and logs a caller's
//! refusals once when they begin and once when they end (the caller back at half its limit or
//! gone), never per request. It closes no connection and answers no request itself.
//!
//! A caller is looked up once per connection; the connection's [`Holder`] then counts its requests
//! without the lookup or the lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::CallerLimits;
use crate::record::Recorder;

/// What a limit is about; indexes [`Held`]'s arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Connections = 0,
    Requests = 1,
    /// Not a count: a request head not sent in time, logged once per caller like the others.
    HeaderTimeout = 2,
}

impl Kind {
    /// The metric's `reason` label.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Kind::Connections => "caller_connections",
            Kind::Requests => "caller_in_flight",
            Kind::HeaderTimeout => "header_timeout",
        }
    }
}

/// What one caller holds, and the refusals of its current episode over a limit. A caller's
/// connections are counted under the map's lock, which also removes a caller that holds nothing;
/// its requests are counted only while one of its connections is held, so the entry they count
/// in stays in the map meanwhile.
#[derive(Default)]
struct Held {
    counts: [AtomicUsize; 2],
    refused: [AtomicU64; 3],
}

impl Held {
    fn holds_nothing(&self) -> bool {
        self.counts.iter().all(|c| c.load(Ordering::Acquire) == 0)
    }

    /// Counts one more `kind` if fewer than `limit` are held.
    fn try_count(&self, kind: Kind, limit: usize) -> bool {
        self.counts[kind as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .is_ok()
    }
}

/// The callers of one listener.
pub(super) struct Callers {
    limits: CallerLimits,
    recorder: Arc<Recorder>,
    held: Mutex<HashMap<Arc<str>, Arc<Held>>>,
}

/// One caller as a connection of it holds it: takes the caller's requests without looking it up.
/// Each connection has one of its own, so a request's permit shares a reference count with that
/// connection alone, not with the caller's other connections on other workers.
pub(super) struct Holder {
    callers: Arc<Callers>,
    key: Arc<str>,
    held: Arc<Held>,
}

/// One connection or request counted for a caller, until dropped.
pub(super) struct Permit {
    holder: Arc<Holder>,
    kind: Kind,
    limit: usize,
}

impl Callers {
    pub(super) fn new(limits: CallerLimits, recorder: Arc<Recorder>) -> Arc<Callers> {
        Arc::new(Callers { limits, recorder, held: Mutex::default() })
    }

    /// The listener's limits, for callers whose profile sets none.
    pub(super) fn limits(&self) -> CallerLimits {
        self.limits
    }

    /// Counts one more `kind` for `key`, or refuses it (counted, and logged if it is the first
    /// refusal of an episode) when the caller already holds `limit`.
    pub(super) fn take(self: &Arc<Callers>, key: &Arc<str>, kind: Kind, limit: usize) -> Option<Permit> {
        let mut map = self.held.lock();
        let held = map.entry(key.clone()).or_default().clone();
        if held.try_count(kind, limit) {
            drop(map);
            let holder = Arc::new(Holder { callers: self.clone(), key: key.clone(), held });
            return Some(Permit { holder, kind, limit });
        }
        if held.holds_nothing() {
            map.remove(key);
        }
        drop(map);
        self.refused(key, &held, kind, limit);
        None
    }

    /// Counts a refusal and logs the first of an episode.
    fn refused(&self, key: &Arc<str>, held: &Held, kind: Kind, limit: usize) {
        let first = held.refused[kind as usize].fetch_add(1, Ordering::AcqRel) == 0;
        self.recorder.metrics.limited.with_label_values(&[kind.reason()]).inc();
        if first {
            tracing::warn!(caller = %key, limit, "caller over its limit of {}: refusing more until it is back to half", what(kind));
        }
    }

    fn release(&self, key: &Arc<str>, held: &Arc<Held>, kind: Kind, limit: usize) {
        // A connection is given back under the lock that removes a caller holding nothing; a
        // request alone, unless it outlived the caller's last connection.
        let map = (kind == Kind::Connections).then(|| self.held.lock());
        let count = held.counts[kind as usize].fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        if count <= limit / 2 && held.refused[kind as usize].load(Ordering::Acquire) > 0 {
            let refused = held.refused[kind as usize].swap(0, Ordering::AcqRel);
            if refused > 0 {
                tracing::info!(caller = %key, refused, "caller back under its limit of {}", what(kind));
            }
        }
        if held.holds_nothing() {
            let mut map = map.unwrap_or_else(|| self.held.lock());
            if map.get(key).is_some_and(|entry| Arc::ptr_eq(entry, held)) && held.holds_nothing() {
                map.remove(key);
            }
        }
    }

    /// How many callers hold anything now.
    #[cfg(test)]
    fn callers(&self) -> usize {
        self.held.lock().len()
    }
}

impl Holder {
    /// The caller's key, as logged.
    pub(super) fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// The listener's callers.
    pub(super) fn callers(&self) -> &Arc<Callers> {
        &self.callers
    }

    /// Counts a connection of this caller closed for not sending its request head in time;
    /// logged once per caller while it keeps connections open.
    pub(super) fn header_timeout(&self) {
        self.callers.recorder.metrics.limited.with_label_values(&[Kind::HeaderTimeout.reason()]).inc();
        if self.held.refused[Kind::HeaderTimeout as usize].fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(caller = %self.key, "connection closed: its request head did not arrive in time (logged once while this caller stays connected)");
        }
    }

    /// Counts a keep-alive connection of this caller closed for sitting idle: routine, so not
    /// logged above `debug`.
    pub(super) fn closed_idle(&self) {
        self.callers.recorder.metrics.limited.with_label_values(&["idle"]).inc();
        tracing::debug!(caller = %self.key, "idle connection closed");
    }

    /// Counts one more request in flight for this caller, or refuses it as [`Callers::take`]
    /// does. Call it only while a connection of the caller is held.
    pub(super) fn take_request(self: &Arc<Holder>, limit: usize) -> Option<Permit> {
        if self.held.try_count(Kind::Requests, limit) {
            return Some(Permit { holder: self.clone(), kind: Kind::Requests, limit });
        }
        self.callers.refused(&self.key, &self.held, Kind::Requests, limit);
        None
    }
}

impl Permit {
    /// The caller this permit counts for.
    pub(super) fn holder(&self) -> &Arc<Holder> {
        &self.holder
    }
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Connections => "connections",
        Kind::Requests | Kind::HeaderTimeout => "requests in flight",
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Holder { callers, key, held } = &*self.holder;
        callers.release(key, held, self.kind, self.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Mode;

    fn callers(connections: usize, requests: usize) -> Arc<Callers> {
        Callers::new(CallerLimits { connections, requests }, Arc::new(Recorder::new(Mode::Enforce, None, None)))
    }

    #[test]
    fn one_caller_at_its_limit_leaves_room_for_others() {
        let callers = callers(2, 1);
        let (a, b): (Arc<str>, Arc<str>) = ("uid=1000".into(), "uid=1001".into());
        let take = |key: &Arc<str>, kind| {
            let limit = match kind {
                Kind::Connections => callers.limits().connections,
                _ => callers.limits().requests,
            };
            callers.take(key, kind, limit)
        };
        let held: Vec<Permit> = (0..2).filter_map(|_| take(&a, Kind::Connections)).collect();
        assert_eq!(held.len(), 2);
        assert!(take(&a, Kind::Connections).is_none());
        assert!(take(&b, Kind::Connections).is_some());
        let request = take(&a, Kind::Requests);
        assert!(request.is_some());
        assert!(take(&a, Kind::Requests).is_none());
        drop(request);
        assert!(take(&a, Kind::Requests).is_some());
        // A profile's own, higher limit lets the same caller hold more.
        assert!(callers.take(&a, Kind::Connections, 3).is_some());
        let text = callers.recorder.metrics.render();
        assert!(text.contains("sockgate_limited_total{reason=\"caller_connections\"} 1"), "{text}");
        assert!(text.contains("sockgate_limited_total{reason=\"caller_in_flight\"} 1"), "{text}");
        drop(held);
        assert_eq!(callers.callers(), 0, "a caller that holds nothing is forgotten");
    }

    #[test]
    fn an_episode_ends_at_half_the_limit() {
        let callers = callers(4, 4);
        let a: Arc<str> = "address=10.0.0.1".into();
        let mut held: Vec<Permit> = (0..4).filter_map(|_| callers.take(&a, Kind::Connections, 4)).collect();
        assert!(callers.take(&a, Kind::Connections, 4).is_none());
        assert!(callers.take(&a, Kind::Connections, 4).is_none());
        held.pop();
        assert_eq!(
            callers.held.lock()[&a].refused[0].load(Ordering::Relaxed),
            2,
            "one below the limit is still the same episode"
        );
        held.pop();
        assert_eq!(
            callers.held.lock()[&a].refused[0].load(Ordering::Relaxed),
            0,
            "at half the limit the episode is over"
        );
    }

    #[test]
    fn a_connection_counts_its_callers_requests_without_a_lookup() {
        let callers = callers(4, 2);
        let a: Arc<str> = "uid=1000".into();
        let (first, second) = (callers.take(&a, Kind::Connections, 4), callers.take(&a, Kind::Connections, 4));
        let (Some(first), Some(second)) = (first, second) else { unreachable!("connections within the limit refused") };
        // Requests of the caller's two connections share one count.
        let one = first.holder().take_request(2);
        let two = second.holder().take_request(2);
        assert!(one.is_some() && two.is_some());
        assert!(first.holder().take_request(2).is_none(), "a third request in flight was counted");
        assert!(callers.take(&a, Kind::Requests, 2).is_none(), "the looked-up count differs from the holder's");
        let text = callers.recorder.metrics.render();
        assert!(text.contains("sockgate_limited_total{reason=\"caller_in_flight\"} 2"), "{text}");
        drop(one);
        assert!(second.holder().take_request(2).is_some(), "a request given back was not counted out");
        // A request that outlives its caller's last connection still leaves no trace once it ends.
        let late = first.holder().take_request(3);
        drop((first, second));
        assert_eq!(callers.callers(), 1, "a caller with a request in flight was forgotten");
        drop(late);
        drop(two);
        assert_eq!(callers.callers(), 0, "a caller that holds nothing is remembered");
    }
}
