//! Knows which container is on the other end of a connection: a map of the engine's running
//! containers by network address ([`Directory`]), kept current from the engine's `/events` stream
//! (`follow`), and a lookup of a local process's container through its cgroup (`cgroup`). It
//! never guesses: an address two containers claim, an unknown cgroup, or a map the engine cannot
//! currently vouch for all answer "unknown". It does not decide what a container may do.
//!
//! Nothing a client can stall holds the map back. dockerd keeps a container locked while an
//! archive of it is read, so a client that asks for one and never reads it can make the engine's
//! answer about that container wait for seconds. So events take effect at once: a container that
//! dies, is renamed, updated, connected or disconnected leaves the map as the event arrives (its
//! addresses belong to nobody), and the engine is asked what it is now in a task of its own,
//! whose answer counts only if no newer event about the container came meanwhile.

mod answers;
pub(crate) mod cgroup;
mod directory;
mod events;
mod follow;
mod ranges;
mod refresh;
mod unknown;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::lookup::LookupError;

pub(crate) use cgroup::container_id_from_cgroup;
pub use directory::Directory;

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

/// A container and the addresses it holds on its networks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    info: ContainerInfo,
    ips: Vec<IpAddr>,
}

/// Why the engine's answer could not be used.
#[derive(Debug, thiserror::Error)]
enum DiscoveryError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("cannot parse the engine's answer: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the engine's answer has no `{0}`")]
    Missing(&'static str),
    #[error("engine event longer than {} bytes", follow::MAX_EVENT_LINE)]
    EventTooLong,
}

#[cfg(test)]
mod testing {
    use super::*;

    pub const ID: &str = "6010f7e5d3bc9dc357def38a4deeebb7aa7360dc302db978775eeb8e7f1d585b";
    pub const OTHER: &str = "42b0fa1a8cb979a6d8cdc777574f3eb9d9dfb1ee2153acd7b6442b2fa18afa99";

    pub fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    pub fn known(id: &str, name: &str, ips: &[&str]) -> Known {
        let info = ContainerInfo {
            id: id.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            image: String::new(),
            image_id: String::new(),
        };
        Known { info, ips: ips.iter().map(|t| ip(t)).collect() }
    }
}
