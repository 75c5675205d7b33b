//! Tenancy: with ownership on, each caller reaches only the containers, volumes, networks and
//! execs it created through sockgate. An owner name is derived for every caller ([`Ownership`]),
//! every object created through sockgate carries it in a label ([`crate::amend`]), every object a
//! request names is looked up (the resolve stage) and must carry the caller's name, and lists,
//! event streams and prunes are narrowed to the caller's objects by a label filter merged into the
//! client's own. Images stay shared. Objects nobody created through sockgate (an administrator's,
//! sockgate's own container) belong to nobody and are out of every tenant's reach.
//!
//! This module holds the rules as data and pure functions; it asks nobody.

use std::fmt;

use serde_json::{Map, Value};

use crate::classify::{ObjectKind, Operation};
use crate::identify::{Identity, Peer};
use crate::inspect::query::{self, Query};
use crate::references::Labels;
use crate::references::{Reference, Resolved};

/// The label that carries an object's owner unless a policy names another.
pub const DEFAULT_LABEL: &str = "io.sockgate.owner";

/// Where a caller's owner name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerSource {
    /// The strongest fact known of the caller: its certificate (its CN, or its fingerprint when
    /// it has no single CN), else its container's name, else the uid of a host process.
    Identity,
    Uid,
    Cn,
    Container,
    /// A label of the calling container.
    ContainerLabel(String),
    /// One name for every caller (one sockgate per job).
    Fixed(String),
}

/// A policy's `[ownership]`: where the owner comes from, and the label that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub source: OwnerSource,
    pub label: String,
}

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

impl Ownership {
    /// Reads `owner` (`identity`, `uid`, `cn`, `container`, `container_label:KEY` or
    /// `fixed:NAME`) and the label key.
    pub fn new(owner: &str, label: &str) -> Result<Ownership, String> {
        let source = match owner.split_once(':') {
            None if owner == "identity" => OwnerSource::Identity,
            None if owner == "uid" => OwnerSource::Uid,
            None if owner == "cn" => OwnerSource::Cn,
            None if owner == "container" => OwnerSource::Container,
            Some(("container_label", key)) if !key.is_empty() => OwnerSource::ContainerLabel(key.to_owned()),
            Some(("fixed", name)) if !name.is_empty() => OwnerSource::Fixed(name.to_owned()),
            _ => {
                return Err(format!(
                    "ownership owner `{owner}` is not `identity`, `uid`, `cn`, `container`, \
                     `container_label:KEY` or `fixed:NAME`"
                ))
            }
        };
        if label.is_empty() || label.contains('=') {
            return Err(format!("ownership label `{label}` must be a label key"));
        }
        Ok(Ownership { source, label: label.to_owned() })
    }

    /// The owner name of `identity`.
    pub fn owner(&self, identity: &Identity) -> Result<Tenant, TenancyError> {
        let (uid, host) = match identity.peer {
            Peer::Unix { uid, host, .. } => (Some(uid), host),
            _ => (None, false),
        };
        let cn = identity.certificate.as_ref().and_then(|c| c.common_name.clone());
        let fingerprint = identity.certificate.as_ref().map(|c| c.fingerprint.clone());
        let container = identity.container.as_ref();
        let owner = match &self.source {
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
        Ok(Tenant { label: self.label.clone(), owner })
    }
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

    /// The query with this tenant's label filter merged into the client's own `filters`. dockerd
    /// reads both forms of the filter object (`{"label":["k=v"]}` and `{"label":{"k=v":true}}`,
    /// `api/types/filters` `FromJSON`) and requires every `label` value to match (`MatchKVList`),
    /// so the merged filter can only narrow what the client asked for.
    pub fn scope_query(&self, raw: Option<&str>) -> Result<String, TenancyError> {
        let parsed = Query::parse(raw.unwrap_or(""))?;
        let filters = parsed.get("filters")?.unwrap_or("");
        let mut map: Map<String, Value> = if filters.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(filters) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(TenancyError::Filters("not an object".into())),
                Err(e) => return Err(TenancyError::Filters(e.to_string())),
            }
        };
        let mut normalized = Map::new();
        for (key, value) in map.iter_mut() {
            let values: Map<String, Value> = match value {
                Value::Object(set) if set.values().all(Value::is_boolean) => std::mem::take(set),
                Value::Array(list) if list.iter().all(Value::is_string) => {
                    list.iter().filter_map(Value::as_str).map(|v| (v.to_owned(), Value::Bool(true))).collect()
                }
                _ => return Err(TenancyError::Filters(format!("`{key}` is neither a list nor a set of strings"))),
            };
            normalized.insert(key.clone(), Value::Object(values));
        }
        let labels = normalized.entry("label").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(labels) = labels {
            labels.insert(format!("{}={}", self.label, self.owner), Value::Bool(true));
        }
        let encoded = crate::lookup::percent_encode(&Value::Object(normalized).to_string());
        let mut out: Vec<String> = raw
            .unwrap_or("")
            .split('&')
            .filter(|part| !part.is_empty() && part.split('=').next() != Some("filters"))
            .map(str::to_owned)
            .collect();
        out.push(format!("filters={encoded}"));
        Ok(out.join("&"))
    }

    /// A `GET /system/df` answer narrowed to this tenant's containers, volumes and images (the
    /// route takes no filters); the build cache is shared and stays.
    pub fn scope_df(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut answer: Value = serde_json::from_slice(body).ok()?;
        let object = answer.as_object_mut()?;
        for section in ["Containers", "Volumes", "Images"] {
            if let Some(Value::Array(items)) = object.get_mut(section) {
                items.retain(|item| {
                    item.get("Labels").and_then(|l| l.get(&self.label)).and_then(Value::as_str) == Some(&self.owner)
                });
            }
        }
        serde_json::to_vec(&answer).ok()
    }
}

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

/// The operations whose answers list or stream the engine's objects, narrowed by a label filter.
pub fn scoped_by_filter(operation: Operation) -> bool {
    matches!(
        operation.name(),
        "containers.list"
            | "volumes.list"
            | "networks.list"
            | "system.events"
            | "containers.prune"
            | "volumes.prune"
            | "networks.prune"
            | "images.prune"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant { label: DEFAULT_LABEL.into(), owner: "uid:1000".into() }
    }

    fn filters_of(query: &str) -> Value {
        let parsed = Query::parse(query).unwrap_or_default();
        serde_json::from_str(parsed.get("filters").ok().flatten().unwrap_or("null")).unwrap_or(Value::Null)
    }

    #[test]
    fn owners_come_from_the_strongest_fact_or_as_configured() {
        let identity = Identity::tcp("tcp://x".into(), "10.0.0.1:5".parse().unwrap_or_else(|_| unreachable!()));
        let by_identity = Ownership::new("identity", DEFAULT_LABEL).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(by_identity.owner(&identity), Err(TenancyError::NoOwner("certificate, container or host uid")));
        let fixed = Ownership::new("fixed:job-42", "x.owner").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(fixed.owner(&identity).map(|t| t.owner), Ok("job-42".into()));
        assert!(Ownership::new("who", DEFAULT_LABEL).is_err());
        assert!(Ownership::new("uid", "a=b").is_err());
        assert_eq!(
            Ownership::new("container_label:com.example.job", DEFAULT_LABEL).map(|o| o.source),
            Ok(OwnerSource::ContainerLabel("com.example.job".into()))
        );
    }

    #[test]
    fn filters_are_narrowed_in_either_form() {
        let tenant = tenant();
        let mine = format!("{DEFAULT_LABEL}=uid:1000");
        let scoped = tenant.scope_query(Some("all=1")).unwrap_or_default();
        assert!(scoped.starts_with("all=1&filters="), "{scoped}");
        assert_eq!(filters_of(&scoped)["label"][&mine], Value::Bool(true));
        let listed = tenant.scope_query(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")).unwrap_or_default();
        let filters = filters_of(&listed);
        assert_eq!(filters["label"]["a=b"], Value::Bool(true), "{filters}");
        assert_eq!(filters["label"][&mine], Value::Bool(true), "{filters}");
        let set =
            tenant.scope_query(Some("filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D")).unwrap_or_default();
        assert_eq!(filters_of(&set)["status"]["exited"], Value::Bool(true));
        assert!(tenant.scope_query(Some("filters=%5B%5D")).is_err());
        assert!(tenant.scope_query(Some("filters=x&filters=y")).is_err());
    }

    #[test]
    fn a_client_may_name_itself_but_nobody_else() {
        let tenant = tenant();
        assert!(tenant.check_sent(&[(DEFAULT_LABEL, "uid:1000"), ("a", "b")]).is_ok());
        assert!(tenant.check_sent(&[(DEFAULT_LABEL, "uid:0")]).is_err());
        let mut labels = Labels::new();
        assert!(!tenant.owns(&labels));
        labels.insert(DEFAULT_LABEL.into(), "uid:1000".into());
        assert!(tenant.owns(&labels));
    }

    #[test]
    fn disk_usage_shows_only_the_tenants_objects() {
        let body = format!(
            r#"{{"LayersSize":1,"Containers":[{{"Id":"a","Labels":{{"{DEFAULT_LABEL}":"uid:1000"}}}},{{"Id":"b","Labels":{{}}}}],
            "Volumes":[{{"Name":"v","Labels":null}}],"Images":[],"BuildCache":[{{"ID":"c"}}]}}"#
        );
        let scoped: Value =
            serde_json::from_slice(&tenant().scope_df(body.as_bytes()).unwrap_or_default()).unwrap_or_default();
        assert_eq!(scoped["Containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(scoped["Volumes"].as_array().map(Vec::len), Some(0));
        assert_eq!(scoped["BuildCache"].as_array().map(Vec::len), Some(1));
    }
}
