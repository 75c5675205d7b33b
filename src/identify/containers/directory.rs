//! The map of running containers by id, with their addresses: who holds an address now, which
//! containers the engine is being asked about after an event, and a number that changes whenever
//! the map does. It never names a container for an address two of them claim; how the map is
//! filled is [`super::follow`]'s job, which answers after an event still count
//! [`super::refresh`]'s, and asking about callers it does not hold [`super::unknown`]'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::{ContainerInfo, Known};
use crate::forward::Upstream;

/// How long an address no container holds yet may wait for the engine's events to name one.
pub(super) const ADDRESS_WAIT: Duration = Duration::from_millis(1500);
/// How many containers may be asked about at once after their events.
const REFRESHES: usize = 32;

/// The running containers the engine knows, followed from its events.
pub struct Directory {
    pub(super) upstream: Option<Upstream>,
    pub(super) known: Mutex<HashMap<String, Known>>,
    /// When the last listing for an unknown address started.
    pub(super) relisted: tokio::sync::Mutex<Option<std::time::Instant>>,
    listed: watch::Sender<bool>,
    /// Bumped whenever the map changes, for callers waiting on an address and for connections
    /// whose caller's identity may have changed.
    pub(super) changed: watch::Sender<u64>,
    follower: Mutex<Option<AbortHandle>>,
    /// Containers being asked about after an event, with the event's number: a late answer
    /// counts only if it is still the latest.
    pub(super) refreshing: Mutex<HashMap<String, u64>>,
    pub(super) refresh_slots: Arc<tokio::sync::Semaphore>,
}

impl Directory {
    /// Starts following the engine: lists the running containers, then follows `/events` to keep
    /// the map current, and re-lists after reconnecting (with bounded backoff) when the engine goes
    /// away. Outside a tokio runtime it logs a warning and never learns anything.
    pub fn start(upstream: Upstream) -> Arc<Directory> {
        let directory = Arc::new(Directory::new(Some(upstream.clone()), false));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(super::follow::follow(Arc::downgrade(&directory), upstream));
                *directory.follower.lock() = Some(task.abort_handle());
            }
            Err(_) => tracing::warn!("container discovery needs a tokio runtime; it stays off"),
        }
        directory
    }

    /// An empty directory that never learns anything; it counts as listed from the start.
    pub fn empty() -> Arc<Directory> {
        Arc::new(Directory::new(None, true))
    }

    fn new(upstream: Option<Upstream>, listed: bool) -> Directory {
        let (listed, _) = watch::channel(listed);
        Directory {
            upstream,
            known: Mutex::new(HashMap::new()),
            relisted: tokio::sync::Mutex::new(None),
            listed,
            changed: watch::channel(0).0,
            follower: Mutex::new(None),
            refreshing: Mutex::new(HashMap::new()),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(REFRESHES)),
        }
    }

    /// A number that changes whenever the map does: an identity resolved under an older number
    /// may be stale.
    pub fn generation(&self) -> u64 {
        *self.changed.borrow()
    }

    /// The running container holding `ip` on a docker network; `None` when none or several do.
    pub fn by_ip(&self, ip: IpAddr) -> Option<ContainerInfo> {
        // A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        let known = self.known.lock();
        // A scan, not an index: hosts run hundreds of containers, and lookups are per connection.
        let mut owners = known.values().filter(|k| k.ips.contains(&ip));
        match (owners.next(), owners.next()) {
            (Some(only), None) => Some(only.info.clone()),
            (Some(_), Some(_)) => {
                tracing::warn!(%ip, "several containers claim this address; not naming either");
                None
            }
            _ => None,
        }
    }

    /// Like [`Directory::by_ip`], but while the engine is being asked about a container after an
    /// event, waits for its answer (at most [`ADDRESS_WAIT`]): a container that calls the moment
    /// it starts is named once its start is handled, never from an answer that is not the latest.
    pub async fn by_ip_settled(&self, ip: IpAddr) -> Option<ContainerInfo> {
        let mut changes = self.changed.subscribe();
        let waited = tokio::time::timeout(ADDRESS_WAIT, async {
            loop {
                if let Some(found) = self.by_ip(ip) {
                    return Some(found);
                }
                if self.refreshing.lock().is_empty() {
                    return None;
                }
                changes.changed().await.ok()?;
            }
        })
        .await;
        waited.ok().flatten()
    }

    /// Waits until the first listing is done or `timeout` passes; returns whether it is done.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut listed = self.listed.subscribe();
        let done = tokio::time::timeout(timeout, listed.wait_for(|done| *done)).await;
        matches!(done, Ok(Ok(_)))
    }

    /// Records that a first listing has been applied.
    pub(super) fn mark_listed(&self) {
        self.listed.send_replace(true);
    }

    /// Replaces the map with a listing, less the containers being asked about after an event:
    /// until their answer comes, their addresses belong to nobody.
    pub(super) fn replace_all(&self, containers: Vec<Known>) {
        let mut known = self.known.lock();
        let refreshing = self.refreshing.lock();
        *known = containers
            .into_iter()
            .filter(|k| !refreshing.contains_key(&k.info.id))
            .map(|k| (k.info.id.clone(), k))
            .collect();
        drop(refreshing);
        tracing::debug!(containers = known.len(), "listed running containers");
        drop(known);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(super) fn set(&self, id: &str, found: Option<Known>) {
        let mut known = self.known.lock();
        match found {
            Some(k) => known.insert(id.to_owned(), k),
            None => known.remove(id),
        };
        drop(known);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        if let Some(task) = self.follower.lock().take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ip, known, ID, OTHER};
    use super::*;

    #[tokio::test]
    async fn names_an_address_only_when_exactly_one_container_holds_it() {
        let directory = Directory::empty();
        assert!(directory.ready(Duration::ZERO).await);
        directory.replace_all(vec![known(ID, "one", &["172.28.0.2", "fd00::2"]), known(OTHER, "two", &["10.0.0.9"])]);
        assert_eq!(directory.by_ip(ip("172.28.0.2")).map(|c| c.name), Some("one".into()));
        assert_eq!(directory.by_ip(ip("::ffff:172.28.0.2")).map(|c| c.name), Some("one".into()));
        assert_eq!(directory.by_ip(ip("fd00::2")).map(|c| c.name), Some("one".into()));
        assert_eq!(directory.by_ip(ip("172.28.0.3")), None);
        directory.set(OTHER, Some(known(OTHER, "two", &["172.28.0.2"])));
        assert_eq!(directory.by_ip(ip("172.28.0.2")), None);
        directory.set(ID, None);
        assert_eq!(directory.by_ip(ip("172.28.0.2")).map(|c| c.name), Some("two".into()));
        assert_eq!(directory.by_pid(std::process::id().try_into().unwrap_or(0)).await, None);
        assert_eq!(directory.by_pid(-1).await, None);
    }

    #[test]
    fn lookups_can_run_on_any_task() {
        fn send<T: Send>(_: &T) {}
        let directory = Directory::empty();
        send(&directory);
        send(&directory.by_pid(1));
        send(&directory.ready(Duration::ZERO));
    }
}
