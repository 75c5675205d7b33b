//! The start-up line: which policy and mode are in force, on which listeners, in front of which
//! engine (its version, asked once). When the engine cannot be reached it says why in terms an
//! operator can act on: the socket's path, the uid and groups sockgate runs with, and the fix.
//! It decides nothing and refuses nothing: an engine that is away at start may come later.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::address::UpstreamAddr;
use crate::config::{ListenerConfig, PolicySource};
use crate::decide::Mode;
use crate::forward::Upstream;

/// How a policy source reads in the start-up line.
pub fn policy_name(source: &PolicySource) -> String {
    match source {
        PolicySource::Files(files) => files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" + "),
        PolicySource::Inline { name, .. } if name == crate::policy::compat::POLICY_NAME => {
            format!("{name} (from environment variables)")
        }
        PolicySource::Inline { name, .. } => name.clone(),
        PolicySource::BuiltinReadOnly => "builtin:read-only".to_string(),
        PolicySource::DenyAll => "deny-all".to_string(),
    }
}

/// The policies of every listener, once each, with the number of profiles besides.
pub fn policies(listeners: &[ListenerConfig]) -> String {
    let mut names: Vec<String> = Vec::new();
    for listener in listeners {
        let mut name = policy_name(&listener.policy);
        match listener.profiles.len() {
            0 => {}
            1 => name.push_str(" + 1 profile"),
            n => name.push_str(&format!(" + {n} profiles")),
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

/// The engine's version, or why it cannot be asked.
pub async fn engine(upstream: &Upstream, addr: &UpstreamAddr) -> Result<String, String> {
    if let UpstreamAddr::Unix(path) = addr {
        socket_access(path)?;
    }
    let body = crate::lookup::fetch(upstream, "/version", 64 * 1024).await.map_err(|e| e.to_string())?;
    let body = body.ok_or_else(|| "the engine does not answer `GET /version`".to_string())?;
    let answer: crate::engine::version::Version =
        serde_json::from_slice(&body).map_err(|e| format!("unreadable `GET /version`: {e}"))?;
    Ok(answer.version.unwrap_or_else(|| "an unknown version".to_string()))
}

/// Whether this process may connect to the engine's socket; if not, what to do about it.
fn socket_access(path: &Path) -> Result<(), String> {
    let Err(e) = std::os::unix::net::UnixStream::connect(path) else { return Ok(()) };
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        // Absent or refusing: the forwarding error says so, and the engine may yet start.
        return Ok(());
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let groups = match nix::unistd::getgroups().unwrap_or_default().as_slice() {
        [] => "no other groups".to_string(),
        groups => format!("groups {}", groups.iter().map(|g| g.as_raw().to_string()).collect::<Vec<_>>().join(",")),
    };
    let owner = std::fs::metadata(path).map(|m| m.gid()).ok();
    let fix = match owner {
        Some(gid) => format!(
            "the socket belongs to group {gid}: run sockgate with that group (`--group-add {gid}` for a container, \
             `group_add: [\"{gid}\"]` in compose, `SupplementaryGroups=` in a systemd unit)"
        ),
        None => "run sockgate as a member of the socket's group".to_string(),
    };
    Err(format!("uid {uid} (gid {gid}, {groups}) may not connect to `{}`; {fix}", path.display()))
}

/// Logs the start-up line once the engine has answered, or said why it cannot.
pub async fn started(policy: String, mode: Mode, listeners: String, upstream: Upstream, addr: UpstreamAddr) {
    let mode = mode.name();
    match engine(&upstream, &addr).await {
        Ok(version) => tracing::info!(
            version = %env!("CARGO_PKG_VERSION"),
            %policy,
            %mode,
            %listeners,
            engine = %format!("{version} at {}", upstream.addr()),
            "sockgate started"
        ),
        Err(e) => {
            let engine = upstream.addr();
            tracing::info!(version = %env!("CARGO_PKG_VERSION"), %policy, %mode, %listeners, %engine, "sockgate started");
            tracing::error!(%engine, "cannot reach the engine, every request will fail until it can: {e}");
        }
    }
}
