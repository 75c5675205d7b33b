//! Reads `sockgate.toml`, the configuration file: everything the command line can say, plus
//! profiles (a policy per caller) on each listener. Problems are reported all at once, each with
//! `file:line:col`; unknown keys are refused with a suggestion. Relative paths are relative to the
//! file. It loads no policy and opens nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod profiles;
mod raw;

use super::defaults::{
    parse_socket_mode, DEFAULT_GRACE_PERIOD_SECS, DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_IDLE_TIMEOUT_SECS,
    DEFAULT_LEARN_OUTPUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_SOCKET_MODE, DEFAULT_SPIN_US,
    DEFAULT_UPSTREAM, DEFAULT_WORKERS,
};
use super::{ListenerConfig, PolicySource, ServeConfig, UpstreamConfig};
use crate::address::{parse_upstream, Cidr, ListenAddr, UpstreamAddr};
use crate::diagnostics::{position, Problem, Problems};
use crate::record::audit::AuditTarget;
use crate::tls::{ClientTls, ServerTls};
use raw::{RawConfig, CONFIG_SHAPE};

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<ServeConfig, Problems> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Problems::single(&file, None, format!("cannot read configuration: {e}")))?;
    let mut config = parse(&file, &text, path.parent().unwrap_or(Path::new(".")))?;
    // Read again on every reload, profiles and all.
    config.config_file = Some(path.to_path_buf());
    Ok(config)
}

/// Checks configuration text; `base` is where relative paths start.
pub fn parse(file: &str, text: &str, base: &Path) -> Result<ServeConfig, Problems> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let mut errors = Problems::default();
        crate::diagnostics::report_toml_error(&mut errors, file, text, &e, CONFIG_SHAPE);
        errors
    })?;
    let mut errors = Vec::new();
    let mut err = |offset: usize, message: String| {
        errors.push(Problem { file: file.to_string(), position: Some(position(text, offset)), message });
    };
    let path = |p: &str| -> PathBuf { base.join(p) };
    let policy_path = |p: &str| -> PathBuf { policy_path(base, p) };
    if *raw.version.get_ref() != 1 {
        err(
            raw.version.span().start,
            format!("unsupported configuration version `{}`, expected `1`", raw.version.get_ref()),
        );
    }
    let upstream_addr = match &raw.upstream {
        Some(spanned) => parse_upstream(spanned.get_ref()).unwrap_or_else(|e| {
            err(spanned.span().start, e.to_string());
            UpstreamAddr::Unix(PathBuf::new())
        }),
        None => parse_upstream(DEFAULT_UPSTREAM).unwrap_or(UpstreamAddr::Unix(PathBuf::new())),
    };
    let upstream_tls = raw.upstream_tls.map(|t| ClientTls {
        ca: path(&t.ca),
        cert: t.cert.as_deref().map(path),
        key: t.key.as_deref().map(path),
    });
    if raw.listener.is_empty() {
        err(0, "no `[[listener]]`: sockgate would serve nothing".to_string());
    }
    let admin_listen = raw.admin_listen.as_ref().and_then(|a| match a.get_ref().parse::<ListenAddr>() {
        Ok(addr) => Some(addr),
        Err(e) => {
            err(a.span().start, e.to_string());
            None
        }
    });
    let minimum = raw.min_api_version.as_ref().map_or(crate::versions::DEFAULT_MINIMUM, |v| v.get_ref().as_str());
    let min_api_version = match minimum.parse::<crate::versions::ApiVersion>() {
        Ok(version) => version,
        Err(e) => {
            err(raw.min_api_version.as_ref().map_or(0, |v| v.span().start), e.to_string());
            crate::versions::ApiVersion::default_minimum()
        }
    };
    let max_connections = raw.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let header_timeout = match &raw.header_timeout {
        Some(t) if *t.get_ref() == 0 => {
            err(t.span().start, "`header_timeout` must be at least 1 second".into());
            DEFAULT_HEADER_TIMEOUT_SECS
        }
        Some(t) => *t.get_ref(),
        None => DEFAULT_HEADER_TIMEOUT_SECS,
    };
    let mut listeners = Vec::new();
    for listener in raw.listener {
        // A listener's own limits, else the file's, else a share of `max_connections`.
        let caller_limits = super::limits::resolve(
            max_connections,
            listener.max_connections_per_caller.or(raw.max_connections_per_caller),
            listener.max_requests_per_caller.or(raw.max_requests_per_caller),
        );
        let addr = match listener.address.get_ref().parse::<ListenAddr>() {
            Ok(addr) => addr,
            Err(e) => {
                err(listener.address.span().start, e.to_string());
                continue;
            }
        };
        let socket_mode = match &listener.socket_mode {
            None => DEFAULT_SOCKET_MODE,
            Some(mode) => parse_socket_mode(mode.get_ref()).unwrap_or_else(|e| {
                err(mode.span().start, e);
                DEFAULT_SOCKET_MODE
            }),
        };
        let mut allow_cidrs = Vec::new();
        for cidr in &listener.allow_cidrs {
            match cidr.get_ref().parse::<Cidr>() {
                Ok(c) => allow_cidrs.push(c),
                Err(e) => err(cidr.span().start, e),
            }
        }
        let tls = listener.tls.map(|t| ServerTls {
            cert: path(&t.cert),
            key: path(&t.key),
            ca: t.ca.as_deref().map(path),
            verify: t.verify,
        });
        if tls.as_ref().is_some_and(|t| t.verify && t.ca.is_none()) {
            err(
                listener.address.span().start,
                "`tls.verify = true` needs `tls.ca`, the CA that signs client certificates".into(),
            );
        }
        let mut profiles = Vec::new();
        for profile in listener.profile {
            profiles.push(profiles::check(profile, tls.as_ref(), caller_limits, &mut err, &policy_path));
        }
        let owner = listener.owner.and_then(|o| {
            if o.get_ref().is_empty() {
                err(o.span().start, "`owner` must name the owner".into());
                None
            } else {
                Some(o.into_inner())
            }
        });
        listeners.push(ListenerConfig {
            owner,
            addr,
            socket_mode,
            socket_group: listener.socket_group,
            tls,
            allow_cidrs,
            insecure: listener.insecure,
            own_networks_only: false,
            policy: match listener.policy {
                Some(files) => PolicySource::Files(files.iter().map(|p| policy_path(p)).collect()),
                None => PolicySource::DenyAll,
            },
            profiles,
            caller_limits,
        });
    }
    if !errors.is_empty() {
        return Err(Problems(errors));
    }
    // Following the engine's containers costs a connection and an event stream: only when a
    // profile asks who a container is, unless the file says otherwise.
    let needs_discovery = listeners.iter().flat_map(|l| &l.profiles).any(|p| p.matches.on_container());
    Ok(ServeConfig {
        listeners,
        upstream: UpstreamConfig { addr: upstream_addr, tls: upstream_tls },
        grace_period: Duration::from_secs(raw.grace_period.unwrap_or(DEFAULT_GRACE_PERIOD_SECS)),
        max_connections,
        idle_timeout: Duration::from_secs(raw.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS)),
        header_timeout: Duration::from_secs(header_timeout),
        workers: raw.workers.unwrap_or(DEFAULT_WORKERS),
        spin: Duration::from_micros(raw.spin_us.unwrap_or(DEFAULT_SPIN_US)),
        pin_workers: raw.pin_workers.unwrap_or(false),
        max_body_bytes: raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        min_api_version,
        container_discovery: raw.container_discovery.unwrap_or(needs_discovery),
        admin_listen,
        audit_log: raw.audit_log.as_deref().map(|p| {
            if p == "-" {
                AuditTarget::Stdout
            } else {
                AuditTarget::File(base.join(p))
            }
        }),
        mode: raw.mode.unwrap_or_default(),
        learn_output: path(raw.learn_output.as_deref().unwrap_or(DEFAULT_LEARN_OUTPUT)),
        config_file: None,
        run_as: None,
    })
}

/// A policy as the file names it: `builtin:NAME` as it is (as `--policy` reads it), a file
/// relative to the configuration file.
fn policy_path(base: &Path, written: &str) -> PathBuf {
    if written.starts_with(crate::policy::BUILTIN_PREFIX) {
        PathBuf::from(written)
    } else {
        base.join(written)
    }
}

#[cfg(test)]
mod tests;
