//! Tenancy: with ownership on, each caller reaches only the containers, volumes, networks and
//! execs it created through sockgate. An owner name is derived for every caller ([`Tenant::of`],
//! from the policy's [`Ownership`]), every object created through sockgate carries it in a label
//! (the amend stage writes it), every object a request names is looked up (the resolve stage) and
//! must carry the caller's name ([`check()`]), and lists, event streams and prunes are narrowed to
//! the caller's objects by a label filter merged into the client's own ([`scope`]). Images stay
//! shared. Objects nobody created through sockgate (an administrator's, sockgate's own container)
//! belong to nobody and are out of every tenant's reach.
//!
//! This module holds the rules as pure functions of what the engine answered; it asks nobody.

pub mod reach;
pub mod scope;

use std::fmt;

use crate::identify::{Identity, Peer};
use crate::inspect::query;
use crate::policy::ownership::{OwnerSource, Ownership};
use crate::references::Labels;

pub use reach::{admits, check, NotFound};
pub use scope::scoped_by_filter;

/// Why a request cannot be served under ownership.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error(
        "ownership is on, but the caller has no {0} to own objects by (a containerized sockgate tells \
         calling containers apart only in the host's PID namespace, `--pid host`; or give every caller \
         one owner with `--owner`)"
    )]
    NoOwner(&'static str),
    #[error("the label `{label}` names the owner `{given}`, but this caller owns as `{owner}`")]
    ForeignOwner { label: String, given: String, owner: String },
    #[error("{kind} objects are not owned by callers; with ownership on, `{operation}` is refused")]
    Unowned { kind: String, operation: String },
    #[error("the create names {0}, which is not this caller's")]
    Foreign(String),
    #[error("query parameter `filters` is not a filter object dockerd reads: {0}")]
    Filters(String),
    #[error(transparent)]
    Query(#[from] query::QueryError),
}

/// One caller under ownership: the label key and the owner name it stamps and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub label: String,
    pub owner: String,
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.owner)
    }
}

impl Tenant {
    /// The tenant `identity` is under `ownership`: its owner name, from the source the policy names.
    pub fn of(ownership: &Ownership, identity: &Identity) -> Result<Tenant, TenancyError> {
        let (uid, host) = match identity.peer {
            Peer::Unix { uid, host, .. } => (Some(uid), host),
            _ => (None, false),
        };
        let cn = identity.certificate.as_ref().and_then(|c| c.common_name.clone());
        let fingerprint = identity.certificate.as_ref().map(|c| c.fingerprint.clone());
        let container = identity.container.as_ref();
        let owner = match &ownership.source {
            OwnerSource::Fixed(name) => name.clone(),
            OwnerSource::Uid => format!("uid:{}", uid.ok_or(TenancyError::NoOwner("unix uid"))?),
            OwnerSource::Cn => format!("cn:{}", cn.ok_or(TenancyError::NoOwner("certificate common name"))?),
            OwnerSource::Container => {
                format!("container:{}", container.ok_or(TenancyError::NoOwner("container"))?.name)
            }
            OwnerSource::ContainerLabel(key) => container
                .and_then(|c| c.labels.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or(TenancyError::NoOwner("container label"))?,
            OwnerSource::Identity => match (cn, fingerprint, container, uid) {
                (Some(cn), _, _, _) => format!("cn:{cn}"),
                (None, Some(fingerprint), _, _) => format!("cert:{fingerprint}"),
                (None, None, Some(c), _) => format!("container:{}", c.name),
                // A uid tells host processes apart; every container's root is uid 0 alike, so a
                // caller in a container that sockgate cannot name owns nothing.
                (None, None, None, Some(uid)) if host => format!("uid:{uid}"),
                (None, None, None, _) => return Err(TenancyError::NoOwner("certificate, container or host uid")),
            },
        };
        Ok(Tenant { label: ownership.label.clone(), owner })
    }

    /// Whether an object with these labels is this caller's.
    pub fn owns(&self, labels: &Labels) -> bool {
        labels.get(&self.label) == Some(&self.owner)
    }

    /// Checks the owner label a client sent itself in a create: its own name is fine, another is
    /// refused (it would hand the object to another tenant).
    pub fn check_sent(&self, labels: &[(&str, &str)]) -> Result<(), TenancyError> {
        match labels.iter().find(|(key, _)| *key == self.label) {
            Some((_, given)) if *given != self.owner => Err(TenancyError::ForeignOwner {
                label: self.label.clone(),
                given: (*given).to_owned(),
                owner: self.owner.clone(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ownership::DEFAULT_LABEL;

    #[test]
    fn owners_come_from_the_strongest_fact_or_as_configured() {
        let identity = Identity::tcp("tcp://x".into(), "10.0.0.1:5".parse().unwrap_or_else(|_| unreachable!()));
        let by_identity = Ownership::new("identity", DEFAULT_LABEL).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            Tenant::of(&by_identity, &identity),
            Err(TenancyError::NoOwner("certificate, container or host uid"))
        );
        let fixed = Ownership::new("fixed:job-42", "x.owner").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(Tenant::of(&fixed, &identity).map(|t| t.owner), Ok("job-42".into()));
    }

    #[test]
    fn a_client_may_name_itself_but_nobody_else() {
        let tenant = Tenant { label: DEFAULT_LABEL.into(), owner: "uid:1000".into() };
        assert!(tenant.check_sent(&[(DEFAULT_LABEL, "uid:1000"), ("a", "b")]).is_ok());
        assert!(tenant.check_sent(&[(DEFAULT_LABEL, "uid:0")]).is_err());
        let mut labels = Labels::new();
        assert!(!tenant.owns(&labels));
        labels.insert(DEFAULT_LABEL.into(), "uid:1000".into());
        assert!(tenant.owns(&labels));
    }
}
