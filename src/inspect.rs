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
pub mod drivers;
pub mod image;
pub mod json;
mod objects;
pub mod query;

use std::fmt;

use crate::classify::Operation;
pub use crate::references::{Reference, Resolved};

pub(crate) use container::clean_path;
pub use json::JsonError;
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

/// What must be read of a request for `operation`.
pub fn reads(operation: Operation) -> Reads {
    match operation.name() {
        "containers.create"
        | "containers.update"
        | "containers.start"
        | "exec.create"
        | "services.create"
        | "services.update"
        | "volumes.create"
        | "networks.create"
        | "networks.connect"
        | "swarm.init"
        | "swarm.update"
        | "containers.checkpoints.create"
        | "plugins.pull"
        | "plugins.upgrade" => Reads::Body,
        "images.build"
        | "images.create"
        | "containers.commit"
        | "images.tag"
        | "containers.checkpoints.list"
        | "containers.checkpoints.delete"
        | "containers.rename" => Reads::Query,
        _ => Reads::Nothing,
    }
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
    let name = request.operation.name();
    // Requests whose path names an object the engine must be asked about.
    match (name, request.resource) {
        ("exec.create", Some(container)) => out.references.push(Reference::Container(container.to_owned())),
        ("networks.connect", Some(network)) => out.references.push(Reference::Network(network.to_owned())),
        _ => {}
    }
    // A plugin made from a tarball grants itself what its config asks, and a plugin's settings
    // name host mounts and devices; neither is read, so both count as privileged.
    let unread = match name {
        "plugins.create" => Some(("the body", "creates a plugin whose config grants its own privileges")),
        "plugins.set" => Some(("the body", "changes a plugin's settings, which may name host paths and devices")),
        _ => None,
    };
    if let Some((field, says)) = unread {
        out.findings.push(Finding::new(Kind::Privileged, field, "plugin", says));
    }
    if request.tenancy {
        owned_references(request, &mut out.references)?;
    }
    if name == "networks.connect" {
        if let (Some(network), Some(resolved)) = (request.resource, request.resolved) {
            container::joined_network("path", network, resolved, &mut out.findings)?;
        }
    }
    match reads(request.operation) {
        Reads::Nothing => return Ok(out),
        // dockerd reads a start body only when it is longer than 7 bytes (`postContainersStart`).
        Reads::Body if name == "containers.start" => container::start_body(request.body.unwrap_or_default())?,
        Reads::Query => check_not_form(request.content_type)?,
        Reads::Body => check_json(request.content_type, request.body.unwrap_or_default())?,
    }
    let query = query::Query::parse(request.query.unwrap_or(""))?;
    let body = || json::parse(request.body.unwrap_or_default());
    let resolved = request.resolved;
    let findings = &mut out.findings;
    match name {
        "containers.create" => {
            container::create(&body()?, resolved, findings, &mut out.references)?;
            objects::name(&query, "name", findings)?;
        }
        "containers.rename" => objects::name(&query, "name", findings)?,
        "containers.update" => container::update(&body()?, findings)?,
        "containers.start" => objects::checkpoint_query(&query, "checkpoint-dir", true, findings)?,
        "containers.checkpoints.create" => objects::checkpoint_create(&body()?, findings)?,
        "containers.checkpoints.list" => objects::checkpoint_query(&query, "dir", true, findings)?,
        "containers.checkpoints.delete" => objects::checkpoint_query(&query, "dir", false, findings)?,
        "exec.create" => {
            let container = match (request.resource, resolved) {
                (Some(name), Some(resolved)) => resolved.container(name),
                _ => None,
            };
            container::exec(&body()?, container, findings)?
        }
        "services.create" | "services.update" => objects::service(&body()?, findings)?,
        "swarm.init" | "swarm.update" => objects::swarm(&body()?, findings)?,
        "volumes.create" => objects::volume(&body()?, findings)?,
        "networks.create" => objects::network(&body()?, findings)?,
        "networks.connect" => container::connect(&body()?, resolved, findings, &mut out.references)?,
        "plugins.pull" | "plugins.upgrade" => objects::plugin(&query, &body()?, findings)?,
        "images.build" => objects::build(&query, findings)?,
        "images.create" => objects::pull(&query, findings)?,
        "containers.commit" | "images.tag" => objects::commit(&query, findings)?,
        _ => {}
    }
    Ok(out)
}

/// Under ownership, every object a request names by id or name: its path's object, and the
/// containers a create joins (`container:` modes), takes volumes from or links to, the container
/// a commit snapshots and the one a network connect names.
fn owned_references(request: &Request<'_>, references: &mut Vec<Reference>) -> Result<(), InspectError> {
    use crate::classify::ObjectKind;
    let mut add = |reference: Reference| {
        if !references.contains(&reference) {
            references.push(reference);
        }
    };
    if let Some(resource) = request.resource {
        match request.operation.object() {
            Some(ObjectKind::Container) => add(Reference::Container(resource.to_owned())),
            Some(ObjectKind::Exec) => add(Reference::Exec(resource.to_owned())),
            Some(ObjectKind::Volume) => add(Reference::Volume(resource.to_owned())),
            Some(ObjectKind::Network) => add(Reference::Network(resource.to_owned())),
            _ => {}
        }
    }
    let query = || query::Query::parse(request.query.unwrap_or(""));
    match request.operation.name() {
        "containers.commit" => {
            if let Some(container) = query()?.get("container")?.filter(|c| !c.is_empty()) {
                add(Reference::Container(container.to_owned()));
            }
        }
        "containers.create" => {
            for container in container::named_containers(&json::parse(request.body.unwrap_or_default())?)? {
                add(Reference::Container(container));
            }
        }
        "networks.connect" | "networks.disconnect" => {
            let body = json::parse(request.body.unwrap_or_default())?;
            let container = json::Struct::new(&body, "")?.string("Container")?.to_owned();
            if !container.is_empty() {
                add(Reference::Container(container));
            }
        }
        _ => {}
    }
    Ok(())
}

/// dockerd's `httputils.CheckForJSON`: no Content-Type is fine only for an empty body; otherwise
/// the media type (parameters allowed, as `mime.ParseMediaType` reads it) must be JSON.
fn check_json(content_type: Option<&[u8]>, body: &[u8]) -> Result<(), InspectError> {
    match content_type {
        None if body.is_empty() => Ok(()),
        None => Err(InspectError::MissingContentType),
        Some(raw) => match media_type(raw) {
            Some(mt) if mt == "application/json" => Ok(()),
            _ => Err(InspectError::ContentType(String::from_utf8_lossy(raw).into_owned())),
        },
    }
}

/// Go's `Request.FormValue` reads parameters from an urlencoded or multipart body before the
/// query; a body of that type could override the query sockgate judged, so it is refused. Go's
/// `parsePostForm` ignores `mime.ParseMediaType`'s error and keeps the media type it returns even
/// when a parameter is malformed, so only the type before the first `;` counts here.
fn check_not_form(content_type: Option<&[u8]>) -> Result<(), InspectError> {
    let Some(raw) = content_type else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(raw);
    let kind = go_lower(text.split(';').next().unwrap_or("").trim());
    if kind == "application/x-www-form-urlencoded" || kind == "multipart/form-data" {
        return Err(InspectError::FormBody(text.into_owned()));
    }
    Ok(())
}

/// The lower-cased `type/subtype` of a Content-Type value, as Go's `mime.ParseMediaType` returns
/// it, or `None` where Go would fail to parse it.
pub fn media_type(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split(';');
    let mt = go_lower(parts.next()?.trim());
    let (kind, sub) = mt.split_once('/')?;
    if !is_token(kind) || !is_token(sub) {
        return None;
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (key, value) = param.split_once('=')?;
        let value = value.trim();
        let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        if !is_token(key.trim()) || (!quoted && !is_token(value)) {
            return None;
        }
    }
    Some(mt)
}

/// Go's `strings.ToLower`, which `mime.ParseMediaType` applies to the media type: each character
/// by its simple Unicode mapping, so `İ` (dotted capital I) is `i` and the Kelvin sign is `k`, and
/// `applİcation/x-www-form-urlencoded` is a form to Go.
fn go_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (c, lower.next(), lower.next()) {
                // Rust's full mapping adds a combining dot; the simple one is a plain `i`.
                ('\u{130}', _, _) => 'i',
                (_, Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse_as_go_does() {
        assert_eq!(media_type(b"application/json").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"Application/JSON; charset=utf-8").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"application/json; charset=\"utf-8\"").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"application/json;"), Some("application/json".into()));
        assert_eq!(media_type(b"application/json; charset"), None);
        assert_eq!(media_type(b"application"), None);
        assert_eq!(media_type(b"text/plain").as_deref(), Some("text/plain"));
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        assert!(check_json(None, b"").is_ok());
        assert!(matches!(check_json(None, b"{}"), Err(InspectError::MissingContentType)));
        assert!(matches!(check_json(Some(b"text/plain"), b"{}"), Err(InspectError::ContentType(_))));
        assert!(check_json(Some(b"application/json; charset=utf-8"), b"{}").is_ok());
        assert!(matches!(check_not_form(Some(b"application/x-www-form-urlencoded")), Err(InspectError::FormBody(_))));
        assert!(check_not_form(Some(b"application/x-tar")).is_ok());
        assert!(matches!(
            check_not_form(Some(b"application/x-www-form-urlencoded; charset")),
            Err(InspectError::FormBody(_))
        ));
        assert!(matches!(check_not_form(Some(b"Multipart/Form-Data; boundary=")), Err(InspectError::FormBody(_))));
        // Go lower-cases `İ` to `i`: these are forms to dockerd, which would read parameters from them.
        for form in ["appl\u{130}cation/x-www-form-urlencoded", "mult\u{130}part/form-data; boundary=x"] {
            assert!(matches!(check_not_form(Some(form.as_bytes())), Err(InspectError::FormBody(_))), "{form}");
        }
        assert_eq!(media_type("appl\u{130}cation/json".as_bytes()).as_deref(), Some("application/json"));
    }
}
