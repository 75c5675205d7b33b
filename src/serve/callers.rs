//! Counts what each caller holds of one listener, connections open and requests in flight, each
//! against its limit (its profile's, else the listener's [`CallerLimits`]), so one caller cannot
//! take what others need. It refuses
//! what would go over the limit, counts every refusal in the metrics, and logs a caller's
//! refusals once when they begin and once when they end (the caller back at half its limit or
//! gone), never per request. It closes no connection and answers no request itself.

use std::collections::HashMap;
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

/// What one caller holds, and the refusals of its current episode over a limit.
#[derive(Default)]
struct Held {
    counts: [usize; 2],
    refused: [u64; 3],
}

/// The callers of one listener.
pub(super) struct Callers {
    limits: CallerLimits,
    recorder: Arc<Recorder>,
    held: Mutex<HashMap<Arc<str>, Held>>,
}

/// One connection or request counted for a caller, until dropped.
pub(super) struct Permit {
    callers: Arc<Callers>,
    key: Arc<str>,
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
        let mut held = self.held.lock();
        let entry = held.entry(key.clone()).or_default();
        let count = &mut entry.counts[kind as usize];
        if *count < limit {
            *count += 1;
            return Some(Permit { callers: self.clone(), key: key.clone(), kind, limit });
        }
        let first = entry.refused[kind as usize] == 0;
        entry.refused[kind as usize] += 1;
        if entry.counts == [0, 0] {
            held.remove(key);
        }
        drop(held);
        self.recorder.metrics.limited.with_label_values(&[kind.reason()]).inc();
        if first {
            tracing::warn!(caller = %key, limit, "caller over its limit of {}: refusing more until it is back to half", what(kind));
        }
        None
    }

    /// Counts a connection of `key` closed for not sending its request head in time; logged once
    /// per caller while it keeps connections open.
    pub(super) fn header_timeout(&self, key: &Arc<str>) {
        self.recorder.metrics.limited.with_label_values(&[Kind::HeaderTimeout.reason()]).inc();
        let first = self.held.lock().get_mut(key).is_some_and(|entry| {
            entry.refused[Kind::HeaderTimeout as usize] += 1;
            entry.refused[Kind::HeaderTimeout as usize] == 1
        });
        if first {
            tracing::warn!(caller = %key, "connection closed: its request head did not arrive in time (logged once while this caller stays connected)");
        }
    }

    /// Counts a keep-alive connection of `key` closed for sitting idle: routine, so not logged
    /// above `debug`.
    pub(super) fn closed_idle(&self, key: &Arc<str>) {
        self.recorder.metrics.limited.with_label_values(&["idle"]).inc();
        tracing::debug!(caller = %key, "idle connection closed");
    }

    fn release(&self, key: &Arc<str>, kind: Kind, limit: usize) {
        let mut held = self.held.lock();
        let Some(entry) = held.get_mut(key) else { return };
        let count = &mut entry.counts[kind as usize];
        *count = count.saturating_sub(1);
        let refused = entry.refused[kind as usize];
        if refused > 0 && *count <= limit / 2 {
            entry.refused[kind as usize] = 0;
            tracing::info!(caller = %key, refused, "caller back under its limit of {}", what(kind));
        }
        if entry.counts == [0, 0] {
            held.remove(key);
        }
    }

    /// How many callers hold anything now.
    #[cfg(test)]
    fn callers(&self) -> usize {
        self.held.lock().len()
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
        self.callers.release(&self.key, self.kind, self.limit);
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
        assert_eq!(callers.held.lock()[&a].refused[0], 2, "one below the limit is still the same episode");
        held.pop();
        assert_eq!(callers.held.lock()[&a].refused[0], 0, "at half the limit the episode is over");
    }
}
