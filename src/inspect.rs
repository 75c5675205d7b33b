//! Reads what a request asks of the engine, from its body and query, exactly as dockerd reads
//! them, into [`Finding`]s that policies judge.
//!
//! Only the operations that can hand out host access are read: container create and update,
//! exec create, service create and update, volume create, plugin pull and upgrade, image builds,
//! pulls and imports, and commits. A body or query sockgate cannot read exactly as dockerd would
//! is refused, never skipped. This module finds facts; it does not decide whether they are allowed.

mod container;
pub mod image;
pub mod json;
mod objects;
pub mod query;

use std::fmt;

use crate::classify::Operation;
use crate::lookup::Container;

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
        "containers.create" | "containers.update" | "exec.create" | "services.create" | "services.update"
        | "volumes.create" | "plugins.pull" | "plugins.upgrade" => Reads::Body,
        "images.build" | "images.create" | "containers.commit" | "images.tag" => Reads::Query,
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
    /// For an exec: what the engine says of the container it enters, when it was asked.
    pub container: Option<&'a Container>,
}

/// Reads a request into findings, or refuses it.
pub fn inspect(request: &Request<'_>) -> Result<Vec<Finding>, InspectError> {
    let mut findings = Vec::new();
    match reads(request.operation) {
        Reads::Nothing => return Ok(findings),
        Reads::Query => check_not_form(request.content_type)?,
        Reads::Body => check_json(request.content_type, request.body.unwrap_or_default())?,
    }
    let query = query::Query::parse(request.query.unwrap_or(""))?;
    let body = || json::parse(request.body.unwrap_or_default());
    match request.operation.name() {
        "containers.create" => container::create(&body()?, &mut findings)?,
        "containers.update" => container::update(&body()?, &mut findings)?,
        "exec.create" => container::exec(&body()?, request.container, &mut findings)?,
        "services.create" | "services.update" => objects::service(&body()?, &mut findings)?,
        "volumes.create" => objects::volume(&body()?, &mut findings)?,
        "plugins.pull" | "plugins.upgrade" => objects::plugin(&query, &body()?, &mut findings)?,
        "images.build" => objects::build(&query, &mut findings)?,
        "images.create" => objects::pull(&query, &mut findings)?,
        "containers.commit" | "images.tag" => objects::commit(&query, &mut findings)?,
        _ => {}
    }
    Ok(findings)
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
    let kind = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
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
    let mt = parts.next()?.trim().to_ascii_lowercase();
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
    }
}
