//! Reads what a request asks of the engine, from its body and query, exactly as dockerd reads
//! them, into [`Finding`]s that policies judge.
//!
//! Only the operations that can hand out host access are read: container create, update and start,
//! exec create, checkpoints, service create and update, swarm init and update, volume and network
//! create, plugin pull and upgrade, image builds, pulls and imports, and commits. A body or query
//! sockgate cannot read exactly as dockerd would is refused, never skipped.
//!
//! What a request refers to by name (the container an exec enters, named volumes, networks) is
//! listed as [`Reference`]s; once the resolve stage has asked the engine about them, inspection
//! runs again with the answers and judges each object as if the request had created it. This
//! module finds facts; it does no I/O and does not decide whether they are allowed.

mod container;
mod dispatch;
pub mod drivers;
pub mod json;
mod media;
mod objects;
pub mod query;

use std::fmt;

use crate::classify::Operation;
pub use crate::references::{Reference, Resolved};

pub use dispatch::{inspector, reads, Inspector};
pub use json::JsonError;
pub use media::media_type;
pub use query::QueryError;

/// What kind of host access a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A privileged container or exec, or a plugin service (plugins run with privileges).
    Privileged,
    /// A bind mount, or a local volume backed by a host path or device. `value` is the cleaned path.
    HostMount { read_only: bool },
    /// Host devices, device requests (GPUs) or device cgroup rules.
    Device,
    /// An added capability. `value` is its canonical name (`SYS_ADMIN`, or `ALL`).
    Capability,
    /// Seccomp, AppArmor or SELinux confinement turned off, or kernel paths unmasked.
    Unconfined,
    /// A host or another container's namespace (network, PID, IPC, UTS, user, cgroup).
    Namespace,
    /// A kernel parameter set with `--sysctl`.
    Sysctl,
    /// A container runtime other than the default.
    Runtime,
    /// A cgroup parent outside the engine's default.
    CgroupParent,
    /// Volumes taken from another container.
    VolumesFrom,
    /// An exec as the root user.
    ExecRoot,
    /// An image the request runs, pulls or names. `value` is the normalized reference.
    Image,
    /// A build with host networking.
    BuildHostNetwork,
    /// A volume, network, IPAM or log driver. `value` is its name.
    Driver(drivers::DriverKind),
    /// The name a container is created or renamed to. `value` is the name.
    Name,
    /// The labels a container or image is given. `value` holds them as `key=value` lines.
    Labels,
}

/// One fact about a request, with the field it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    /// Where in the request: `HostConfig.Privileged`, `query networkmode`, ...
    pub field: String,
    /// The value that matters, normalized (a cleaned path, a capability name, an image reference).
    pub value: String,
    /// How the fact reads in a message: `is true`, "binds `/` from the host", ...
    pub says: String,
}

impl Finding {
    fn new(kind: Kind, field: impl Into<String>, value: impl Into<String>, says: impl Into<String>) -> Finding {
        Finding { kind, field: field.into(), value: value.into(), says: says.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.says)
    }
}

/// Why a request's body or query could not be read as dockerd would read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("Content-Type `{0}` must be `application/json`")]
    ContentType(String),
    #[error("a JSON body without Content-Type `application/json`")]
    MissingContentType,
    #[error("Content-Type `{0}` would make dockerd read parameters from the body")]
    FormBody(String),
    #[error("{0}")]
    Invalid(String),
}

/// What of a request must be read before it can be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    Nothing,
    /// The query only; the body streams through untouched (build contexts, image tarballs).
    Query,
    /// The JSON body (buffered within a bound) and the query.
    Body,
}

/// The request parts inspection looks at.
pub struct Request<'a> {
    pub operation: Operation,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a [u8]>,
    /// The whole body, for operations that [`Reads::Body`].
    pub body: Option<&'a [u8]>,
    /// The first path variable (the container of an exec, the network of a connect).
    pub resource: Option<&'a str>,
    /// What the engine said of the objects the request refers to, once it was asked.
    pub resolved: Option<&'a Resolved>,
    /// Ownership is on: every object the request names must be looked up, whether or not its
    /// facts are judged, so the caller's ownership of it can be checked.
    pub tenancy: bool,
}

/// What inspection found in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    pub findings: Vec<Finding>,
    /// Objects named by the request that the engine must be asked about before the request can
    /// be judged whole.
    pub references: Vec<Reference>,
}

/// The findings alone, for callers that do not resolve references (`policy explain`, tests).
pub fn inspect(request: &Request<'_>) -> Result<Vec<Finding>, InspectError> {
    inspect_all(request).map(|inspection| inspection.findings)
}

/// Reads a request into findings and references, or refuses it.
pub fn inspect_all(request: &Request<'_>) -> Result<Inspection, InspectError> {
    let mut out = Inspection::default();
    let operation = request.operation;
    // Requests whose path names an object the engine must be asked about.
    match (operation, request.resource) {
        (Operation::EXEC_CREATE, Some(container)) => out.references.push(Reference::Container(container.to_owned())),
        (Operation::NETWORKS_CONNECT, Some(network)) => out.references.push(Reference::Network(network.to_owned())),
        _ => {}
    }
    if request.tenancy {
        dispatch::owned_references(request, &mut out.references)?;
    }
    if operation == Operation::NETWORKS_CONNECT {
        if let (Some(network), Some(resolved)) = (request.resource, request.resolved) {
            container::joined_network("path", network, resolved, &mut out.findings)?;
        }
    }
    let Some(inspector) = inspector(operation) else {
        return Ok(out);
    };
    match inspector.reads {
        Reads::Nothing => {}
        // dockerd reads a start body only when it is longer than 7 bytes (`postContainersStart`).
        Reads::Body if operation == Operation::CONTAINERS_START => {
            container::start_body(request.body.unwrap_or_default())?
        }
        Reads::Query => media::check_not_form(request.content_type)?,
        Reads::Body => media::check_json(request.content_type, request.body.unwrap_or_default())?,
    }
    let query = match inspector.reads {
        Reads::Nothing => query::Query::default(),
        Reads::Query | Reads::Body => query::Query::parse(request.query.unwrap_or(""))?,
    };
    (inspector.run)(request, &query, &mut out)?;
    Ok(out)
}
