//! Reads `sockgate.toml`, the configuration file: everything the command line can say, plus
//! profiles (a policy per caller) on each listener. Problems are reported all at once, each with
//! `file:line:col`; unknown keys are refused with a suggestion. Relative paths are relative to the
//! file. It loads no policy and opens nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod profiles;
mod raw;

use super::defaults::{
    parse_socket_mode, DEFAULT_GRACE_PERIOD_SECS, DEFAULT_LEARN_OUTPUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SOCKET_MODE, DEFAULT_SPIN_US, DEFAULT_UPSTREAM, DEFAULT_WORKERS,
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
    let mut listeners = Vec::new();
    for listener in raw.listener {
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
            profiles.push(profiles::check(profile, tls.as_ref(), &mut err, &policy_path));
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
        max_connections: raw.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        workers: raw.workers.unwrap_or(DEFAULT_WORKERS),
        spin: Duration::from_micros(raw.spin_us.unwrap_or(DEFAULT_SPIN_US)),
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
mod tests {
    use super::*;

    fn check(text: &str) -> Result<ServeConfig, String> {
        parse("s.toml", text, Path::new("/etc/sockgate")).map_err(|e| e.to_string())
    }

    #[test]
    fn socket_modes_read_as_the_flag_reads_them() {
        for (text, mode) in [("660", 0o660), ("0o660", 0o660), ("0600", 0o600)] {
            let config =
                check(&format!("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\nsocket_mode = \"{text}\"\n"));
            let config = config.unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(config.listeners[0].socket_mode, mode, "{text}");
            assert_eq!(crate::config::parse_socket_mode(text), Ok(mode), "{text}");
        }
        let err = check("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\nsocket_mode = \"0o999\"\n");
        assert!(err.err().unwrap_or_default().contains("s.toml:4:15: `0o999` is not an octal permission mode"));
        assert!(crate::config::parse_socket_mode("0o999").is_err());
    }

    #[test]
    fn a_full_configuration() {
        let config = check(
            r#"version = 1
upstream = "tcp://10.0.0.2:2376"
spin_us = 0
[upstream_tls]
ca = "engine-ca.pem"
cert = "client.pem"
key = "client-key.pem"

[[listener]]
address = "tcp://0.0.0.0:2376"
policy = ["policies/deny.toml"]
allow_cidrs = ["172.16.0.0/12"]
[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"
verify = true
[[listener.profile]]
name = "reader"
cn = "reader"
policy = ["policies/read-only.toml"]
[[listener.profile]]
name = "ci"
container_label = "role=ci"
policy = ["policies/ci.toml"]

[[listener]]
address = "unix:///run/sockgate/ci.sock"
socket_mode = "600"
"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(config.listeners.len(), 2);
        let tcp = &config.listeners[0];
        assert_eq!(tcp.profiles[0].matches.cn.as_deref(), Some("reader"));
        assert_eq!(tcp.profiles[1].policy, PolicySource::Files(vec!["/etc/sockgate/policies/ci.toml".into()]));
        assert_eq!(tcp.tls.as_ref().map(|t| t.verify), Some(true));
        assert_eq!(config.listeners[1].policy, PolicySource::DenyAll);
        assert_eq!(config.listeners[1].socket_mode, 0o600);
        assert!(config.upstream.tls.is_some());
        assert_eq!(config.spin, Duration::ZERO);
        let defaults =
            check("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\n").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(defaults.spin, Duration::from_micros(DEFAULT_SPIN_US));
    }

    #[test]
    fn builtin_policies_are_named_as_with_the_flag() {
        let config = check(
            "version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\npolicy = [\"builtin:ci\", \"extra.toml\"]\n\
             [[listener.profile]]\nname = \"root\"\nuid = 0\npolicy = [\"builtin:full-access\"]\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let listener = &config.listeners[0];
        let files = vec!["builtin:ci".into(), "/etc/sockgate/extra.toml".into()];
        assert_eq!(listener.policy, PolicySource::Files(files));
        assert_eq!(listener.profiles[0].policy, PolicySource::Files(vec!["builtin:full-access".into()]));
        // And they load as they do from the command line.
        let policy = crate::profile::load_source(&listener.profiles[0].policy).map(|p| p.name);
        assert_eq!(policy.ok().as_deref(), Some("full-access"));
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let err = check(
            "version = 1\n[[listener]]\naddress = \"tcp://nowhere\"\n[[listener]]\naddress = \"unix:///x.sock\"\nallow_cidrs = [\"10.0.0.0/99\"]\nsocket_mode = \"999\"\n[[listener.profile]]\nname = \"nobody\"\npolicy = []\n",
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("s.toml:3:11: invalid address `tcp://nowhere`"), "{err}");
        assert!(err.contains("s.toml:6:16: `10.0.0.0/99` has an invalid prefix length"), "{err}");
        assert!(err.contains("s.toml:7:15: `999` is not an octal permission mode"), "{err}");
        assert!(err.contains("s.toml:9:8: profile `nobody` matches nobody"), "{err}");
        let err = check("version = 1\n[[listener]]\nadress = \"unix:///x\"\n").err().unwrap_or_default();
        assert!(err.contains("s.toml:3:1: unknown key `adress`, did you mean `address`?"), "{err}");
    }
}
