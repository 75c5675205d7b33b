//! The resolve stage, between inspection and decision: asks the engine about every object that a
//! request refers to by name (see [`crate::references::Reference`]): the container an exec enters,
//! the named volumes and networks a container takes. The engine reuses what exists under a name
//! instead of what the request describes, so inspection runs again with these answers and judges
//! each object as the engine will use it.
//!
//! Every question is bounded in size and time (see [`crate::lookup`]) and a request may refer to
//! at most [`MAX_REFERENCES`] objects. A container is named by the full id the engine answered
//! with, and the request is sent to that id, so a rename in between cannot put another container
//! behind the name that was judged. It decides nothing.

use crate::forward::Upstream;
use crate::lookup::{self, LookupError};
use crate::references::{Reference, Resolved};

/// The most objects one request may name; a container create names a handful.
pub const MAX_REFERENCES: usize = 64;

/// Why the references of a request could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("the request names {0} volumes, networks and containers; sockgate resolves at most {MAX_REFERENCES}")]
    TooMany(usize),
}

/// Asks the engine about each reference, in order.
pub async fn resolve(upstream: &Upstream, references: &[Reference]) -> Result<Resolved, ResolveError> {
    if references.len() > MAX_REFERENCES {
        return Err(ResolveError::TooMany(references.len()));
    }
    let mut resolved = Resolved::default();
    for reference in references {
        match reference {
            Reference::Container(name) => {
                let found = lookup::container(upstream, name).await?;
                resolved.containers.push((name.clone(), found));
            }
            Reference::Volume(name) => {
                let found = lookup::volume(upstream, name).await?;
                resolved.volumes.push((name.clone(), found));
            }
            Reference::Network(name) => {
                let found = lookup::network(upstream, name).await?;
                resolved.networks.push((name.clone(), found));
            }
            Reference::Exec(id) => {
                let found = lookup::exec(upstream, id).await?;
                resolved.execs.push((id.clone(), found));
            }
        }
    }
    Ok(resolved)
}
