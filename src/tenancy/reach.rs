//! Holds a request under ownership to the caller's own objects: every object it names that the
//! engine knows must carry the caller's owner label, and only kinds a tenant owns or shares may be
//! used at all. It answers a foreign object as the engine answers a missing one; it asks nobody.

use super::{TenancyError, Tenant};
use crate::classify::{ObjectKind, Operation};
use crate::references::{Reference, Resolved};

/// An object a request names that the engine does not know, or that is not the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    #[error("No such container: {0}")]
    Container(String),
    #[error("No such exec instance: {0}")]
    Exec(String),
    #[error("get {0}: no such volume")]
    Volume(String),
    #[error("network {0} not found")]
    Network(String),
}

impl NotFound {
    /// The object, for a message that names it.
    pub fn describe(&self) -> String {
        match self {
            NotFound::Container(name) => format!("container `{name}`"),
            NotFound::Exec(id) => format!("exec `{id}`"),
            NotFound::Volume(name) => format!("volume `{name}`"),
            NotFound::Network(name) => format!("network `{name}`"),
        }
    }
}

/// Checks that every object the request names, where it exists, is the tenant's; answers the
/// first that is not as the engine answers a missing object (dockerd 20.10's wording).
pub fn check(tenant: &Tenant, references: &[Reference], resolved: &Resolved) -> Result<(), NotFound> {
    for reference in references {
        let foreign = match reference {
            Reference::Container(name) => {
                resolved.container(name).filter(|c| !tenant.owns(&c.labels)).map(|_| NotFound::Container(name.clone()))
            }
            Reference::Exec(id) => {
                resolved.exec(id).filter(|e| !tenant.owns(&e.container.labels)).map(|_| NotFound::Exec(id.clone()))
            }
            Reference::Volume(name) => {
                resolved.volume(name).filter(|v| !tenant.owns(&v.labels)).map(|_| NotFound::Volume(name.clone()))
            }
            Reference::Network(name) => {
                resolved.network(name).filter(|n| !tenant.owns(&n.labels)).map(|_| NotFound::Network(name.clone()))
            }
        };
        if let Some(foreign) = foreign {
            return Err(foreign);
        }
    }
    Ok(())
}

/// Whether a tenant may use an operation at all: the objects it names must be kinds a tenant
/// owns (containers, execs, volumes, networks) or shares (images). Swarm objects, plugins and
/// nodes belong to the engine's operator.
pub fn admits(operation: Operation) -> Result<(), TenancyError> {
    match operation.object() {
        None
        | Some(
            ObjectKind::Container | ObjectKind::Exec | ObjectKind::Volume | ObjectKind::Network | ObjectKind::Image,
        ) => Ok(()),
        Some(kind) => Err(TenancyError::Unowned {
            kind: format!("{kind:?}").to_lowercase(),
            operation: operation.name().to_owned(),
        }),
    }
}
