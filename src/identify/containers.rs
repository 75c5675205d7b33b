//! Knows which container is on the other end of a connection: a map of the engine's running
//! containers by network address, kept current from the engine's `/events` stream, and a lookup
//! of a local process's container through its cgroup. It never guesses: an address two containers
//! claim, an unknown cgroup, or a map the engine cannot currently vouch for all answer "unknown".
//! It does not decide what a container may do.
//!
//! Nothing a client can stall holds the map back. dockerd keeps a container locked while an
//! archive of it is read, so a client that asks for one and never reads it can make the engine's
//! answer about that container wait for seconds. So events take effect at once: a container that
//! dies, is renamed, updated, connected or disconnected leaves the map as the event arrives (its
//! addresses belong to nobody), and the engine is asked what it is now in a task of its own,
//! whose answer counts only if no newer event about the container came meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::address::Cidr;
use crate::forward::Upstream;
use crate::lookup::{fetch, percent_encode, send, LookupError, API, MAX_INSPECT};

/// The event actions that can change a container's name, labels, addresses or liveness. dockerd
/// matches `event` filters exactly, and different keys must all match (daemon/events/filter.go).
const EVENTS_FILTER: &str = r#"{"type":["container","network"],"event":["start","restart","die","destroy","rename","update","connect","disconnect"]}"#;
const MAX_LISTING: usize = 64 << 20;
const MAX_EVENT_LINE: usize = 1 << 20;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// A running container, as the engine last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The full 64-hex id.
    pub id: String,
    /// The name without its leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The reference it was created from (`Config.Image`): a name, or an image id.
    pub image: String,
    /// The id of the image it runs.
    pub image_id: String,
}

/// Why the engine's answer could not be used.
#[derive(Debug, thiserror::Error)]
enum DiscoveryError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("cannot parse the engine's answer: {0}")]
    Json(#[from] serde_json::Error),
    #[error("engine event longer than {MAX_EVENT_LINE} bytes")]
    EventTooLong,
}

/// A container and the addresses it holds on its networks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    info: ContainerInfo,
    ips: Vec<IpAddr>,
}

/// How long an address no container holds yet may wait for the engine's events to name one.
const ADDRESS_WAIT: Duration = Duration::from_millis(1500);
/// How many containers may be asked about at once after their events.
const REFRESHES: usize = 32;

/// The running containers the engine knows, followed from its events.
pub struct Directory {
    upstream: Option<Upstream>,
    known: Mutex<HashMap<String, Known>>,
    /// When the last listing for an unknown address started.
    relisted: tokio::sync::Mutex<Option<std::time::Instant>>,
    listed: watch::Sender<bool>,
    /// Bumped whenever the map changes, for callers waiting on an address and for connections
    /// whose caller's identity may have changed.
    changed: watch::Sender<u64>,
    follower: Mutex<Option<AbortHandle>>,
    /// Containers being asked about after an event, with the event's number: a late answer
    /// counts only if it is still the latest.
    refreshing: Mutex<HashMap<String, u64>>,
    refresh_slots: Arc<tokio::sync::Semaphore>,
}

impl Directory {
    /// Starts following the engine: lists the running containers, then follows `/events` to keep
    /// the map current, and re-lists after reconnecting (with bounded backoff) when the engine goes
    /// away. Outside a tokio runtime it logs a warning and never learns anything.
    pub fn start(upstream: Upstream) -> Arc<Directory> {
        let directory = Arc::new(Directory::new(Some(upstream.clone()), false));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(follow(Arc::downgrade(&directory), upstream));
                *lock(&directory.follower) = Some(task.abort_handle());
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

    /// Takes container `id` out of the map until the engine has said what it is now, and returns
    /// the number its answer must still carry to count.
    fn begin_refresh(&self, id: &str) -> u64 {
        let mut known = lock(&self.known);
        known.remove(id);
        let mut refreshing = lock(&self.refreshing);
        let number = self.generation().wrapping_add(1);
        refreshing.insert(id.to_owned(), number);
        drop(refreshing);
        drop(known);
        self.changed.send_modify(|n| *n = number);
        number
    }

    /// Takes container `id` out of the map for good (it died or was removed); an answer about it
    /// still on its way no longer counts.
    fn forget(&self, id: &str) {
        let mut known = lock(&self.known);
        known.remove(id);
        lock(&self.refreshing).remove(id);
        drop(known);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies the engine's answer about `id` if no newer event came since it was asked.
    fn finish_refresh(&self, id: &str, number: u64, found: Option<Known>) {
        let mut refreshing = lock(&self.refreshing);
        if refreshing.get(id) != Some(&number) {
            return;
        }
        refreshing.remove(id);
        drop(refreshing);
        if found.is_some() {
            self.set(id, found);
        }
    }

    /// The running container holding `ip` on a docker network; `None` when none or several do.
    pub fn by_ip(&self, ip: IpAddr) -> Option<ContainerInfo> {
        // A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        let known = lock(&self.known);
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
                if lock(&self.refreshing).is_empty() {
                    return None;
                }
                changes.changed().await.ok()?;
            }
        })
        .await;
        waited.ok().flatten()
    }

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
            (Some(only), None) if !lock(&self.refreshing).contains_key(&only.info.id) => Some(only.info.clone()),
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
        let cached = lock(&self.known).get(id).map(|k| k.info.clone());
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

    /// Waits until the first listing is done or `timeout` passes; returns whether it is done.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut listed = self.listed.subscribe();
        let done = tokio::time::timeout(timeout, listed.wait_for(|done| *done)).await;
        matches!(done, Ok(Ok(_)))
    }

    /// Replaces the map with a listing, less the containers being asked about after an event:
    /// until their answer comes, their addresses belong to nobody.
    fn replace_all(&self, containers: Vec<Known>) {
        let mut known = lock(&self.known);
        let refreshing = lock(&self.refreshing);
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

    fn set(&self, id: &str, found: Option<Known>) {
        let mut known = lock(&self.known);
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
        if let Some(task) = lock(&self.follower).take() {
            task.abort();
        }
    }
}

/// The map stays usable even if a holder of the lock panicked: every update replaces whole entries.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Follows the engine for as long as the directory exists.
async fn follow(directory: Weak<Directory>, upstream: Upstream) {
    let mut backoff = BACKOFF_FIRST;
    while directory.strong_count() > 0 {
        match follow_once(&directory, &upstream, &mut backoff).await {
            Ok(()) => tracing::debug!("engine closed the event stream; reconnecting"),
            Err(e) => tracing::warn!("container discovery lost the engine: {e}; retrying in {backoff:?}"),
        }
        // Once the stream is gone the engine may hand a known address to a new container unseen.
        match directory.upgrade() {
            Some(directory) => directory.replace_all(Vec::new()),
            None => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's worth: subscribe, list, then apply events until the stream ends. Subscribing
/// first means nothing that happens during the listing is missed (dockerd flushes the `/events`
/// headers at once, api/server/router/system/system_routes.go `getEvents`).
async fn follow_once(
    directory: &Weak<Directory>,
    upstream: &Upstream,
    backoff: &mut Duration,
) -> Result<(), DiscoveryError> {
    let path = format!("{API}/events?filters={}", percent_encode(EVENTS_FILTER));
    let events = send(upstream, &path).await?;
    let list = format!("{API}/containers/json");
    let listing = fetch(upstream, &list, MAX_LISTING).await?;
    let listing = listing.ok_or(LookupError::Status { path: list, status: StatusCode::NOT_FOUND })?;
    let listing = parse_listing(&listing)?;
    match directory.upgrade() {
        Some(directory) => {
            directory.replace_all(listing);
            directory.listed.send_replace(true);
        }
        None => return Ok(()),
    }
    *backoff = BACKOFF_FIRST;
    let mut body = events.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| LookupError::Body { path: path.clone(), reason: e.to_string() })?;
        let Ok(data) = frame.into_data() else { continue };
        pending.extend_from_slice(&data);
        // dockerd writes each event with a `json.Encoder`, so every object ends with `\n`.
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(change) = change_for(&line)? else { continue };
            let Some(strong) = directory.upgrade() else { return Ok(()) };
            match change {
                Change::Forget(id) => strong.forget(&id),
                Change::Refresh(id) => {
                    let number = strong.begin_refresh(&id);
                    let slots = strong.refresh_slots.clone();
                    let (directory, upstream) = (directory.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let Ok(_slot) = slots.acquire_owned().await else { return };
                        let found = match inspect(&upstream, &id).await {
                            Ok(found) => found,
                            Err(e) => {
                                // Out of the map until a listing or another event names it.
                                tracing::debug!("cannot ask the engine about container `{id}`: {e}");
                                None
                            }
                        };
                        if let Some(directory) = directory.upgrade() {
                            directory.finish_refresh(&id, number, found);
                        }
                    });
                }
            }
        }
        if pending.len() > MAX_EVENT_LINE {
            return Err(DiscoveryError::EventTooLong);
        }
    }
    Ok(())
}

/// What one event means for the map.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Forget(String),
    /// Ask the engine again rather than trust the event's attributes.
    Refresh(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    #[serde(rename = "Type")]
    kind: String,
    action: String,
    actor: Actor,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Actor {
    #[serde(rename = "ID")]
    id: String,
    attributes: Option<BTreeMap<String, String>>,
}

/// The change one line of `/events` asks for, if it touches a container.
fn change_for(line: &[u8]) -> Result<Option<Change>, DiscoveryError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let event: Event = serde_json::from_slice(line)?;
    let id = match event.kind.as_str() {
        "container" => event.actor.id,
        // Network events name the container in an attribute (daemon/events.go
        // `LogNetworkEventWithAttributes`); a network's own create or destroy names none.
        "network" => match event.actor.attributes.and_then(|mut a| a.remove("container")) {
            Some(id) => id,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    if !is_container_id(&id) {
        return Ok(None);
    }
    Ok(Some(match (event.kind.as_str(), event.action.as_str()) {
        ("container", "die" | "destroy") => Change::Forget(id),
        _ => Change::Refresh(id),
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettings {
    networks: Option<BTreeMap<String, Endpoint>>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress")]
    ipv4: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    ipv6: Option<String>,
}

impl NetworkSettings {
    /// Every address on every network; dockerd leaves unassigned ones as `""`.
    fn addresses(self) -> Vec<IpAddr> {
        let endpoints = self.networks.unwrap_or_default().into_values();
        let texts = endpoints.flat_map(|e| [e.ipv4, e.ipv6]).flatten();
        let mut ips: Vec<IpAddr> =
            texts.filter_map(|t| t.parse::<IpAddr>().ok()).filter(|ip| !ip.is_unspecified()).collect();
        ips.sort_unstable();
        ips.dedup();
        ips
    }
}

/// Where the engine's networks hand out container addresses.
#[derive(Debug, PartialEq, Eq)]
struct Ranges {
    subnets: Vec<Cidr>,
    gateways: Vec<IpAddr>,
    /// False when a network's range is not stated (no subnet, or one that does not parse).
    complete: bool,
}

impl Ranges {
    fn may_hold(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.complete || (self.subnets.iter().any(|net| net.contains(ip)) && !self.gateways.contains(&ip))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Network {
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    driver: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

/// The answer to `GET /networks`. The `host` and `null` drivers hand out no addresses of their own.
fn parse_networks(body: &[u8]) -> Result<Ranges, DiscoveryError> {
    let networks: Vec<Network> = serde_json::from_slice(body)?;
    let mut ranges = Ranges { subnets: Vec::new(), gateways: Vec::new(), complete: true };
    for network in networks {
        if matches!(network.driver.as_deref(), Some("host" | "null")) {
            continue;
        }
        let configs = network.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
        if configs.is_empty() {
            ranges.complete = false;
        }
        for config in configs {
            match config.subnet.as_deref().map(str::parse::<Cidr>) {
                Some(Ok(subnet)) => ranges.subnets.push(subnet),
                _ => ranges.complete = false,
            }
            if let Some(gateway) = config.gateway.and_then(|g| g.parse::<IpAddr>().ok()) {
                ranges.gateways.push(gateway.to_canonical());
            }
        }
    }
    Ok(ranges)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    id: String,
    names: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    image: Option<String>,
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    #[serde(default)]
    network_settings: Option<NetworkSettings>,
}

/// The answer to `GET /containers/json` (running containers only, without `all=1`).
fn parse_listing(body: &[u8]) -> Result<Vec<Known>, DiscoveryError> {
    let listed: Vec<Listed> = serde_json::from_slice(body)?;
    Ok(listed
        .into_iter()
        .map(|c| {
            // `Names` also holds link aliases such as `/web/db` (daemon/list.go); the container's
            // own name is the one with no other `/`.
            let names = c.names.unwrap_or_default();
            let name = names.iter().map(|n| n.strip_prefix('/').unwrap_or(n)).find(|n| !n.contains('/'));
            let name = name.or(names.first().map(|n| n.trim_start_matches('/'))).unwrap_or_default().to_owned();
            let info = ContainerInfo {
                id: c.id,
                name,
                labels: c.labels.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
            };
            Known { info, ips: c.network_settings.unwrap_or_default().addresses() }
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
    name: String,
    /// The id of the image it runs.
    image: Option<String>,
    state: Option<State>,
    config: Option<Config>,
    network_settings: Option<NetworkSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    running: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    labels: Option<BTreeMap<String, String>>,
    image: Option<String>,
}

/// The answer to `GET /containers/<id>/json`; `None` unless the container is running.
fn parse_inspect(body: &[u8]) -> Result<Option<Known>, DiscoveryError> {
    let c: Inspected = serde_json::from_slice(body)?;
    if !c.state.is_some_and(|s| s.running) {
        return Ok(None);
    }
    let (labels, image) = c.config.map(|config| (config.labels, config.image)).unwrap_or_default();
    let info = ContainerInfo {
        id: c.id,
        name: c.name.trim_start_matches('/').to_owned(),
        labels: labels.unwrap_or_default(),
        image: image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
    };
    Ok(Some(Known { info, ips: c.network_settings.unwrap_or_default().addresses() }))
}

/// The engine's current view of container `id`, if it is running.
async fn inspect(upstream: &Upstream, id: &str) -> Result<Option<Known>, DiscoveryError> {
    match fetch(upstream, &format!("{API}/containers/{id}/json"), MAX_INSPECT).await? {
        Some(body) => parse_inspect(&body),
        None => Ok(None),
    }
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The docker container id in a `/proc/<pid>/cgroup` file. The cgroupfs driver puts a container
/// in `/docker/<id>`, the systemd driver in `/system.slice/docker-<id>.scope` (dockerd
/// daemon/oci_linux.go `getCgroupsPath`), on cgroup v1 (`N:controllers:path`) and v2 (`0::path`)
/// alike; the innermost such segment is the process's own container.
pub(crate) fn container_id_from_cgroup(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(|segment| {
            let id = segment.strip_prefix("docker-").and_then(|s| s.strip_suffix(".scope")).unwrap_or(segment);
            is_container_id(id).then_some(id)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6010f7e5d3bc9dc357def38a4deeebb7aa7360dc302db978775eeb8e7f1d585b";
    const OTHER: &str = "42b0fa1a8cb979a6d8cdc777574f3eb9d9dfb1ee2153acd7b6442b2fa18afa99";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn known(id: &str, name: &str, ips: &[&str]) -> Known {
        let info = ContainerInfo {
            id: id.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            image: String::new(),
            image_id: String::new(),
        };
        Known { info, ips: ips.iter().map(|t| ip(t)).collect() }
    }

    #[test]
    fn finds_the_container_id_in_cgroup_v1_and_v2_paths() {
        let cgroupfs_v1 = format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(container_id_from_cgroup(&cgroupfs_v1), Some(ID));
        let systemd_v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from_cgroup(&systemd_v2), Some(ID));
        let systemd_v1 = format!("1:name=systemd:/system.slice/docker-{ID}.scope/init\n");
        assert_eq!(container_id_from_cgroup(&systemd_v1), Some(ID));
        // Docker in docker: the innermost container is the process's own.
        let nested = format!("0::/docker/{OTHER}/docker/{ID}\n");
        assert_eq!(container_id_from_cgroup(&nested), Some(ID));
    }

    #[test]
    fn finds_no_container_for_host_processes_or_look_alikes() {
        for cgroup in [
            "0::/user.slice/user-1000.slice/session-2.scope\n",
            "9:name=systemd:/\n4:memory:/process_api/0d8bac403dd2d9d25cf28722524ef110\n0::/\n",
            &format!("0::/docker/{}\n", ID.to_uppercase()),
            &format!("0::/docker/{ID}0\n"),
            &format!("0::/system.slice/containerd-{ID}.scope\n"),
            "",
            "garbage without colons",
        ] {
            assert_eq!(container_id_from_cgroup(cgroup), None, "{cgroup}");
        }
    }

    #[test]
    fn reads_a_listing_with_addresses_on_every_network() {
        let body = format!(
            r#"[{{"Id":"{ID}","Names":["/web/db","/db"],"Labels":{{"team":"blue"}},"State":"running",
              "NetworkSettings":{{"Networks":{{
                "a":{{"IPAddress":"172.28.0.2","GlobalIPv6Address":"fd00:5a:3796::2"}},
                "b":{{"IPAddress":"10.9.0.3","GlobalIPv6Address":""}},
                "host":{{"IPAddress":"","GlobalIPv6Address":""}}}}}}}},
              {{"Id":"{OTHER}","Names":["/lonely"],"Labels":null,"NetworkSettings":{{"Networks":null}}}}]"#
        );
        let listing = parse_listing(body.as_bytes()).ok();
        let mut db = known(ID, "db", &["10.9.0.3", "172.28.0.2", "fd00:5a:3796::2"]);
        db.info.labels.insert("team".into(), "blue".into());
        assert_eq!(listing, Some(vec![db, known(OTHER, "lonely", &[])]));
    }

    #[test]
    fn reads_an_inspect_answer_and_ignores_stopped_containers() {
        let running = format!(
            r#"{{"Id":"{ID}","Name":"/renamed","State":{{"Running":true,"Pid":23582}},
               "Config":{{"Labels":null}},"NetworkSettings":{{"IPAddress":"",
               "Networks":{{"n":{{"IPAddress":"172.28.0.2","GlobalIPv6Address":"fd00:5a:3796::2"}}}}}}}}"#
        );
        let expected = known(ID, "renamed", &["172.28.0.2", "fd00:5a:3796::2"]);
        assert_eq!(parse_inspect(running.as_bytes()).ok(), Some(Some(expected)));
        let stopped = format!(r#"{{"Id":"{ID}","Name":"/x","State":{{"Running":false}},"NetworkSettings":{{}}}}"#);
        assert_eq!(parse_inspect(stopped.as_bytes()).ok(), Some(None));
        assert!(parse_inspect(b"{\"Id\":1}").is_err());
    }

    #[test]
    fn knows_where_networks_hand_out_addresses() {
        // As dockerd 20.10 lists the default networks and a user network with IPv6.
        let body = r#"[
            {"Name":"bridge","Driver":"bridge","IPAM":{"Driver":"default","Options":null,
              "Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]}},
            {"Name":"host","Driver":"host","IPAM":{"Driver":"default","Options":null,"Config":[]}},
            {"Name":"none","Driver":"null","IPAM":{"Driver":"default","Options":null,"Config":[]}},
            {"Name":"ci","Driver":"bridge","IPAM":{"Driver":"default","Options":{},
              "Config":[{"Subnet":"172.28.0.0/16","Gateway":"172.28.0.1"},{"Subnet":"fd00:5a::/64"}]}}]"#;
        let ranges = parse_networks(body.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(ranges.complete);
        for inside in ["172.17.0.2", "172.28.5.9", "fd00:5a::3", "::ffff:172.17.0.2"] {
            assert!(ranges.may_hold(ip(inside)), "{inside}");
        }
        for outside in ["172.17.0.1", "::ffff:172.28.0.1", "10.0.0.7", "192.168.1.20", "fd00:5b::3"] {
            assert!(!ranges.may_hold(ip(outside)), "{outside}");
        }
        // A network whose range the engine does not state could hold any address.
        let unstated = r#"[{"Name":"x","Driver":"macvlan","IPAM":{"Config":[]}}]"#;
        let ranges = parse_networks(unstated.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(ranges.may_hold(ip("10.0.0.7")));
        let odd = r#"[{"Name":"x","Driver":"bridge","IPAM":{"Config":[{"Subnet":"not a subnet"}]}}]"#;
        assert!(parse_networks(odd.as_bytes()).is_ok_and(|r| r.may_hold(ip("10.0.0.7"))));
        assert!(parse_networks(b"{}").is_err());
    }

    #[test]
    fn turns_events_into_changes() {
        // Lines as dockerd 20.10 writes them (old `status`/`id` fields beside `Type`/`Action`/`Actor`).
        let container = |action: &str| {
            format!(
                r#"{{"status":"{action}","id":"{ID}","Type":"container","Action":"{action}","Actor":{{"ID":"{ID}","Attributes":{{"name":"c","team":"blue"}}}},"scope":"local","time":1}}"#
            )
        };
        let change = |line: &str| change_for(line.as_bytes()).ok().flatten();
        assert_eq!(change(&container("start")), Some(Change::Refresh(ID.into())));
        assert_eq!(change(&container("rename")), Some(Change::Refresh(ID.into())));
        assert_eq!(change(&container("die")), Some(Change::Forget(ID.into())));
        assert_eq!(change(&container("destroy")), Some(Change::Forget(ID.into())));
        let connect = format!(
            r#"{{"Type":"network","Action":"connect","Actor":{{"ID":"{OTHER}","Attributes":{{"container":"{ID}","name":"n","type":"bridge"}}}}}}"#
        );
        assert_eq!(change(&connect), Some(Change::Refresh(ID.into())));
        let destroyed = format!(
            r#"{{"Type":"network","Action":"destroy","Actor":{{"ID":"{OTHER}","Attributes":{{"name":"n"}}}}}}"#
        );
        assert_eq!(change(&destroyed), None);
        let image = format!(r#"{{"Type":"image","Action":"pull","Actor":{{"ID":"{ID}"}}}}"#);
        assert_eq!(change(&image), None);
        let odd_id = r#"{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}"#;
        assert_eq!(change(odd_id), None);
        assert_eq!(change(" \r\n"), None);
        assert!(change_for(b"{\"Type\":").is_err());
    }

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
