//! Names the callers the map does not hold yet: an address is looked up by listing the engine's
//! containers again (unless no docker network could hand it out), and a local process through its
//! cgroup and the engine's inspect answer. It answers "unknown" rather than wait past
//! [`ADDRESS_WAIT`] or trust an answer an event has overtaken.

use std::net::IpAddr;

use super::answers::{inspect, parse_listing};
use super::cgroup::container_id_from_cgroup;
use super::directory::{Directory, ADDRESS_WAIT};
use super::ranges::parse_networks;
use super::ContainerInfo;
use crate::lookup::{fetch, API};

/// The most of a listing read: containers or networks, a few KB each.
pub(super) const MAX_LISTING: usize = 64 << 20;

impl Directory {
    /// Like [`Directory::by_ip`], but an address not known yet (a container that started a moment
    /// ago, before its event was handled) is looked up by listing the engine's containers again,
    /// unless no docker network could hand it out. Callers that ask while a listing runs share it
    /// rather than start their own.
    pub async fn lookup_ip(&self, ip: IpAddr) -> Option<ContainerInfo> {
        if let Some(found) = self.by_ip(ip) {
            return Some(found);
        }
        if ip.to_canonical().is_loopback() {
            return None; // no container holds a loopback address on a docker network
        }
        // Asked before listing every container: callers from elsewhere are most callers here.
        if !self.may_be_container(ip).await {
            tracing::debug!(%ip, "no docker network holds this address: the caller is no container");
            return None;
        }
        let upstream = self.upstream.as_ref()?;
        let asked = std::time::Instant::now();
        let mut last = self.relisted.lock().await;
        if last.is_some_and(|started| started >= asked) {
            // A listing started after this caller asked has just been applied.
            return self.by_ip(ip);
        }
        *last = Some(std::time::Instant::now());
        // `all=1`: a process can call before dockerd has marked its container running.
        let list = format!("{API}/containers/json?all=1");
        let listing = match fetch(upstream, &list, MAX_LISTING).await {
            Ok(Some(body)) => {
                parse_listing(&body).map_err(|e| tracing::debug!("cannot read the container listing: {e}")).ok()?
            }
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!("cannot list containers: {e}");
                return None;
            }
        };
        let ip = ip.to_canonical();
        let mut owners = listing.iter().filter(|k| k.ips.contains(&ip));
        let found = match (owners.next(), owners.next()) {
            (Some(only), None) if !self.refreshing.lock().contains_key(&only.info.id) => Some(only.info.clone()),
            _ => None,
        };
        // The listing is the engine's word on what holds an address now: it also drops a
        // container that died but whose event is still on its way.
        let mut changes = self.changed.subscribe();
        self.replace_all(listing);
        drop(last);
        if found.is_some() {
            return found;
        }
        // A process can call before the engine lists its address at all: its start event, and
        // the inspect that follows it, are a few milliseconds behind. Wait that long, no longer.
        let waited = tokio::time::timeout(ADDRESS_WAIT, async {
            loop {
                if let Some(found) = self.by_ip(ip) {
                    return Some(found);
                }
                changes.changed().await.ok()?;
            }
        })
        .await;
        waited.ok().flatten()
    }

    /// Whether a container could hold `ip`: it lies in a subnet of one of the engine's networks
    /// and is not that network's gateway (the host's own side of a bridge). True whenever the
    /// engine cannot say, or one of its networks has a range it does not state.
    pub async fn may_be_container(&self, ip: IpAddr) -> bool {
        let Some(upstream) = self.upstream.as_ref() else { return true };
        let ranges = async {
            let body = fetch(upstream, &format!("{API}/networks"), MAX_LISTING).await?;
            body.map(|b| parse_networks(&b)).transpose()
        };
        match ranges.await {
            Ok(Some(ranges)) => ranges.may_hold(ip),
            Ok(None) => true,
            Err(e) => {
                tracing::debug!("cannot read the engine's networks: {e}");
                true
            }
        }
    }

    /// The running container whose cgroup holds process `pid`, if the process is visible here.
    pub async fn by_pid(&self, pid: i32) -> Option<ContainerInfo> {
        if pid <= 0 {
            return None;
        }
        let cgroup = tokio::fs::read_to_string(format!("/proc/{pid}/cgroup")).await.ok()?;
        let id = container_id_from_cgroup(&cgroup)?;
        let cached = self.known.lock().get(id).map(|k| k.info.clone());
        if cached.is_some() {
            return cached;
        }
        // Not added to the map: a die event handled meanwhile would be undone by a late insert.
        match inspect(self.upstream.as_ref()?, id).await {
            Ok(found) => found.map(|k| k.info),
            Err(e) => {
                tracing::debug!(pid, "cannot ask the engine about container `{id}`: {e}");
                None
            }
        }
    }
}
