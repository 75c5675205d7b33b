//! What a request refers to by name, and what the engine said of those objects: the data that
//! inspection names, the resolve stage fills in by asking the engine, and inspection then judges.
//! Plain data that depends on no other module; it does no I/O and judges nothing.

/// The label sockgate stamps on every container created through it: the name of the profile that
/// created it (empty for a listener's default policy). A client may not set it.
pub const CREATED_BY: &str = "io.sockgate.created-by";

/// An object that a request names and the engine will look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// A container by name, id or id prefix (an exec's target).
    Container(String),
    /// A named volume that a container mounts.
    Volume(String),
    /// A network that a container joins or is connected to, by name, id or id prefix.
    Network(String),
    /// An exec instance, by id: it belongs to whoever owns its container.
    Exec(String),
}

/// Labels, as the engine reports them.
pub type Labels = std::collections::BTreeMap<String, String>;

/// A container, as much of it as judging a request that enters it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full 64-hex id.
    pub id: String,
    /// `Config.User`: what an exec naming no user runs as; empty is root.
    pub user: String,
    /// `HostConfig.Privileged`: every exec in the container runs with all privileges.
    pub privileged: bool,
    /// `Config.Labels`.
    pub labels: Labels,
}

/// A volume that already exists, as the engine describes it (`GET /volumes/{name}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// The driver options it was created with (`device`, `o`, `type` for `local`).
    pub options: Vec<(String, String)>,
    pub labels: Labels,
}

/// A network that already exists, as the engine describes it (`GET /networks/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The full id.
    pub id: String,
    pub name: String,
    pub driver: String,
    pub ipam_driver: String,
    pub labels: Labels,
}

/// An exec instance: the container it runs in, which owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub id: String,
    pub container: Container,
}

/// The engine's answers for a request's references; `None` where the engine knows no such object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub containers: Vec<(String, Option<Container>)>,
    pub volumes: Vec<(String, Option<Volume>)>,
    pub networks: Vec<(String, Option<Network>)>,
    pub execs: Vec<(String, Option<Exec>)>,
}

fn find<'a, T>(list: &'a [(String, Option<T>)], name: &str) -> Option<&'a T> {
    list.iter().find(|(n, _)| n == name).and_then(|(_, found)| found.as_ref())
}

impl Resolved {
    /// The container the request names `name`, if the engine knows it.
    pub fn container(&self, name: &str) -> Option<&Container> {
        find(&self.containers, name)
    }

    /// The existing volume `name`, if any.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        find(&self.volumes, name)
    }

    /// The existing network the request names `name`, if any.
    pub fn network(&self, name: &str) -> Option<&Network> {
        find(&self.networks, name)
    }

    /// The exec instance `id`, if the engine knows it.
    pub fn exec(&self, id: &str) -> Option<&Exec> {
        find(&self.execs, id)
    }
}
