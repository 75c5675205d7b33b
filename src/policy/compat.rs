//! Drop-in compatibility with Tecnativa's and linuxserver's docker-socket-proxy: their environment
//! variables (`CONTAINERS=1`, `POST=0`, `ALLOW_START=1`, ...) turned into an equivalent policy.
//!
//! Each section variable allows the operations whose routes start with its path (`CONTAINERS` is
//! everything under `/containers`, as their `^(/v[\d.]+)?/containers` rules are). `POST=0` (the
//! default) allows only operations reached with `GET` or `HEAD`, as their `METH_GET` check does.
//! `ALLOW_START`, `ALLOW_STOP` and `ALLOW_RESTARTS` allow those container actions even with
//! `POST=0`, and `EXEC` also covers `POST /containers/{id}/exec`, as linuxserver documents. Neither
//! project looks into bodies, so the policy sets every `[containers]` constraint to permissive; the
//! generated file says so, for the operator to tighten. This module only writes policy text.

use std::fmt::Write as _;

use crate::classify::{self, Operation};

/// A section variable: its name, its default, and the path prefix it opens.
const SECTIONS: &[(&str, bool, &str)] = &[
    ("AUTH", false, "/auth"),
    ("BUILD", false, "/build"),
    ("COMMIT", false, "/commit"),
    ("CONFIGS", false, "/configs"),
    ("CONTAINERS", false, "/containers"),
    ("DISTRIBUTION", false, "/distribution"),
    ("EVENTS", true, "/events"),
    ("EXEC", false, "/exec"),
    ("GRPC", false, "/grpc"),
    ("IMAGES", false, "/images"),
    ("INFO", false, "/info"),
    ("NETWORKS", false, "/networks"),
    ("NODES", false, "/nodes"),
    ("PING", true, "/_ping"),
    ("PLUGINS", false, "/plugins"),
    ("SECRETS", false, "/secrets"),
    ("SERVICES", false, "/services"),
    ("SESSION", false, "/session"),
    ("SWARM", false, "/swarm"),
    ("SYSTEM", false, "/system"),
    ("TASKS", false, "/tasks"),
    ("VERSION", true, "/version"),
    ("VOLUMES", false, "/volumes"),
];

/// Container actions allowed by their own variables, regardless of `POST`.
const ACTIONS: &[(&str, &[Operation])] = &[
    ("ALLOW_START", &[Operation::CONTAINERS_START]),
    ("ALLOW_STOP", &[Operation::CONTAINERS_STOP]),
    ("ALLOW_RESTARTS", &[Operation::CONTAINERS_STOP, Operation::CONTAINERS_RESTART, Operation::CONTAINERS_KILL]),
];

/// Operations reached with `GET` that change the engine's state all the same, and so need
/// `POST=1` (docker-socket-proxy's `METH_GET` check lets them through; sockgate does not).
const WRITES_BY_GET: &[Operation] = &[Operation::CONTAINERS_ATTACH_WS];

/// The name of the policy made from the variables.
pub const POLICY_NAME: &str = "docker-socket-proxy";

/// Every variable this module reads.
pub fn variables() -> impl Iterator<Item = &'static str> {
    SECTIONS.iter().map(|s| s.0).chain(ACTIONS.iter().map(|a| a.0)).chain(std::iter::once("POST"))
}

/// A variable whose value is not a boolean.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}=`{value}` is not 0 or 1 (nor true or false, yes or no, on or off)")]
pub struct CompatError {
    pub name: String,
    pub value: String,
}

/// Reads a value as HAProxy's `-m bool` and nginx's `= 0` checks agree on: `0` is off, another
/// integer is on; `true`/`false`, `yes`/`no`, `on`/`off` are accepted too.
fn flag(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "" | "false" | "no" | "off" => Some(false),
        "true" | "yes" | "on" => Some(true),
        _ => v.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Whether the environment holds docker-socket-proxy settings: at least one of its variables set
/// to a boolean. (A stray `VERSION=1.2.3` alone does not switch the mode on.)
pub fn present(env: &dyn Fn(&str) -> Option<String>) -> bool {
    variables().any(|name| env(name).is_some_and(|v| flag(&v).is_some()))
}

/// The operations a section's path prefix covers.
fn section_operations(prefix: &str) -> Vec<(Operation, bool)> {
    let mut out: Vec<(Operation, bool)> = Vec::new();
    for (method, template, op) in classify::routes() {
        let covered = template == prefix || template.starts_with(&format!("{prefix}/"));
        if !covered {
            continue;
        }
        let Some(op) = Operation::from_name(op) else {
            continue;
        };
        // `GET /containers/{id}/attach/ws?stdin=1` writes to the container's stdin: a write.
        let read = (method == "GET" || method == "HEAD") && !WRITES_BY_GET.contains(&op);
        match out.iter_mut().find(|(o, _)| *o == op) {
            Some((_, all_read)) => *all_read &= read,
            None => out.push((op, read)),
        }
    }
    out
}

/// The policy text equivalent to the docker-socket-proxy settings in `env`.
pub fn policy_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<String, CompatError> {
    let get = |name: &str, default: bool| -> Result<bool, CompatError> {
        match env(name) {
            None => Ok(default),
            Some(value) => flag(&value).ok_or(CompatError { name: name.to_string(), value }),
        }
    };
    let post = get("POST", false)?;
    let mut settings = vec![format!("POST={}", u8::from(post))];
    let mut rules = String::new();
    for &(name, default, prefix) in SECTIONS {
        let on = get(name, default)?;
        settings.push(format!("{name}={}", u8::from(on)));
        if !on {
            continue;
        }
        let mut ops: Vec<&str> =
            section_operations(prefix).into_iter().filter(|(_, read)| post || *read).map(|(op, _)| op.name()).collect();
        if name == "EXEC" && post {
            ops.push(Operation::EXEC_CREATE.name());
        }
        if ops.is_empty() {
            continue;
        }
        ops.sort_unstable();
        ops.dedup();
        let scope = if post { "" } else { ", GET and HEAD only (POST=0)" };
        push_rule(
            &mut rules,
            &format!("env-{}", name.to_ascii_lowercase()),
            &format!("{name}=1: {prefix}{scope}"),
            &ops,
        );
    }
    for &(name, ops) in ACTIONS {
        let on = get(name, false)?;
        settings.push(format!("{name}={}", u8::from(on)));
        if on {
            let id = format!("env-{}", name.to_ascii_lowercase().replace('_', "-"));
            let ops: Vec<&str> = ops.iter().map(|op| op.name()).collect();
            push_rule(&mut rules, &id, &format!("{name}=1, whatever POST says"), &ops);
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# Equivalent of these docker-socket-proxy settings:");
    for line in settings.chunks(8) {
        let _ = writeln!(out, "#   {}", line.join(" "));
    }
    out.push_str(
        &format!("version = 1\nname = \"{POLICY_NAME}\"\ndescription = \"generated from docker-socket-proxy environment variables\"\n"),
    );
    out.push_str(&rules);
    out.push_str(PERMISSIVE_CONSTRAINTS);
    Ok(out)
}

/// For an operation the settings in `env` do not allow, the smallest change that would allow it
/// (`INFO=1 would allow it`, `CONTAINERS=1 and POST=1 would allow it`), so a denied client learns
/// which variable its operator has to set. A container action's own variable comes first, being
/// the narrowest.
pub fn hinter(env: &dyn Fn(&str) -> Option<String>) -> impl Fn(Operation) -> Option<String> {
    let on = |name: &str, default: bool| env(name).and_then(|v| flag(&v)).unwrap_or(default);
    let post = on("POST", false);
    // Each section: its variable, whether it is on, and its operations with whether they are reads.
    type Section = (&'static str, bool, Vec<(Operation, bool)>);
    let mut sections: Vec<Section> = Vec::new();
    // `EXEC=1` with `POST=1` also allows `POST /containers/{id}/exec` (see `policy_from_env`):
    // listed first, it is preferred over the wider `CONTAINERS=1`.
    sections.push(("EXEC", on("EXEC", false), vec![(Operation::EXEC_CREATE, false)]));
    for &(name, default, prefix) in SECTIONS {
        sections.push((name, on(name, default), section_operations(prefix)));
    }
    move |op| {
        if let Some((name, _)) = ACTIONS.iter().find(|(_, ops)| ops.contains(&op)) {
            return Some(format!("{name}=1 would allow it"));
        }
        let mut best: Option<Vec<String>> = None;
        for (name, on, ops) in &sections {
            let Some(&(_, read)) = ops.iter().find(|(o, _)| *o == op) else { continue };
            let mut needed = Vec::new();
            if !on {
                needed.push(format!("{name}=1"));
            }
            if !read && !post {
                needed.push("POST=1".to_string());
            }
            if !needed.is_empty() && best.as_ref().is_none_or(|b| needed.len() < b.len()) {
                best = Some(needed);
            }
        }
        best.map(|needed| format!("{} would allow it", needed.join(" and ")))
    }
}

fn push_rule(out: &mut String, id: &str, description: &str, ops: &[&str]) {
    let list = ops.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
    let _ = write!(out, "\n[[rule]]\nid = \"{id}\"\ndescription = \"{description}\"\nallow = [{list}]\n");
}

const PERMISSIVE_CONSTRAINTS: &str = r#"
# docker-socket-proxy never looks into request bodies, so neither does this policy: whoever may
# create containers may create privileged ones with the host's root mounted. Tighten these (see
# docs/policy.md) once your clients work through sockgate.
[containers]
privileged = true
host_mounts = ["/"]
devices = true
capabilities = ["ALL"]
unconfined = true
host_namespaces = true
sysctls = true
runtimes = ["*"]
cgroup_parent = true
volumes_from = true
exec_root = true
build_host_network = true
# Every driver the engine has built in; a plugin driver must be added by name.
volume_drivers = ["local"]
network_drivers = ["bridge", "overlay", "macvlan", "ipvlan", "null"]
ipam_drivers = ["default", "null"]
log_drivers = ["json-file", "local", "journald", "none", "syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries"]
"#;

#[cfg(test)]
mod tests;
