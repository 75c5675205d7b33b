//! Reads `sockgate.toml`, the configuration file: everything the command line can say, plus
//! profiles (a policy per caller) on each listener. Problems are reported all at once, each with
//! `file:line:col`; unknown keys are refused with a suggestion. Relative paths are relative to the
//! file. It loads no policy and opens nothing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    parse_upstream, Cidr, ListenAddr, ListenerConfig, Match, PolicySource, Profile, ServeConfig, UpstreamConfig,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_SPIN_US, DEFAULT_UPSTREAM,
};
use crate::decide::Mode;
use crate::diagnostics::keys::Shape;
use crate::diagnostics::{position, Problem, Problems};
use crate::record::audit::AuditTarget;
use crate::tls::{ClientTls, ServerTls};

/// Every key a configuration file may hold.
const CONFIG_SHAPE: &[(&str, Shape)] = &[
    ("version", Shape::Value),
    ("upstream", Shape::Value),
    ("upstream_tls", Shape::Table(&[("ca", Shape::Value), ("cert", Shape::Value), ("key", Shape::Value)])),
    ("grace_period", Shape::Value),
    ("max_connections", Shape::Value),
    ("workers", Shape::Value),
    ("spin_us", Shape::Value),
    ("max_body_bytes", Shape::Value),
    ("min_api_version", Shape::Value),
    ("container_discovery", Shape::Value),
    ("admin_listen", Shape::Value),
    ("audit_log", Shape::Value),
    ("mode", Shape::Value),
    ("learn_output", Shape::Value),
    (
        "listener",
        Shape::Tables(&[
            ("address", Shape::Value),
            ("policy", Shape::Value),
            ("socket_mode", Shape::Value),
            ("socket_group", Shape::Value),
            ("allow_cidrs", Shape::Value),
            ("insecure", Shape::Value),
            ("owner", Shape::Value),
            (
                "tls",
                Shape::Table(&[
                    ("cert", Shape::Value),
                    ("key", Shape::Value),
                    ("ca", Shape::Value),
                    ("verify", Shape::Value),
                ]),
            ),
            (
                "profile",
                Shape::Tables(&[
                    ("name", Shape::Value),
                    ("policy", Shape::Value),
                    ("uid", Shape::Value),
                    ("gid", Shape::Value),
                    ("cn", Shape::Value),
                    ("san", Shape::Value),
                    ("san_dns", Shape::Value),
                    ("san_uri", Shape::Value),
                    ("san_email", Shape::Value),
                    ("san_ip", Shape::Value),
                    ("cidr", Shape::Value),
                    ("container_name", Shape::Value),
                    ("container_label", Shape::Value),
                    ("container_image", Shape::Value),
                    ("include_containers", Shape::Value),
                ]),
            ),
        ]),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Spanned<i64>,
    upstream: Option<Spanned<String>>,
    upstream_tls: Option<RawClientTls>,
    grace_period: Option<u64>,
    max_connections: Option<usize>,
    workers: Option<usize>,
    spin_us: Option<u64>,
    max_body_bytes: Option<usize>,
    min_api_version: Option<Spanned<String>>,
    container_discovery: Option<bool>,
    admin_listen: Option<Spanned<String>>,
    audit_log: Option<String>,
    mode: Option<Mode>,
    learn_output: Option<String>,
    #[serde(default)]
    listener: Vec<RawListener>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientTls {
    ca: String,
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: Spanned<String>,
    policy: Option<Vec<String>>,
    socket_mode: Option<Spanned<String>>,
    socket_group: Option<String>,
    #[serde(default)]
    allow_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    insecure: bool,
    owner: Option<Spanned<String>>,
    tls: Option<RawServerTls>,
    #[serde(default)]
    profile: Vec<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServerTls {
    cert: String,
    key: String,
    ca: Option<String>,
    #[serde(default)]
    verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Spanned<String>,
    policy: Vec<String>,
    uid: Option<u32>,
    gid: Option<u32>,
    cn: Option<String>,
    san: Option<String>,
    san_dns: Option<String>,
    san_uri: Option<String>,
    san_email: Option<String>,
    san_ip: Option<Spanned<String>>,
    cidr: Option<Spanned<String>>,
    container_name: Option<String>,
    container_label: Option<String>,
    container_image: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    include_containers: bool,
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<ServeConfig, Problems> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| single(&file, None, format!("cannot read configuration: {e}")))?;
    let mut config = parse(&file, &text, path.parent().unwrap_or(Path::new(".")))?;
    // Read again on every reload, profiles and all.
    config.config_file = Some(path.to_path_buf());
    Ok(config)
}

fn single(file: &str, at: Option<(usize, usize)>, message: String) -> Problems {
    Problems(vec![Problem { file: file.to_string(), position: at, message }])
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
    if *raw.version.get_ref() != 1 {
        err(
            raw.version.span().start,
            format!("unsupported configuration version `{}`, expected `1`", raw.version.get_ref()),
        );
    }
    let upstream_addr = match &raw.upstream {
        Some(spanned) => parse_upstream(spanned.get_ref()).unwrap_or_else(|e| {
            err(spanned.span().start, e.to_string());
            crate::forward::UpstreamAddr::Unix(PathBuf::new())
        }),
        None => parse_upstream(DEFAULT_UPSTREAM).unwrap_or(crate::forward::UpstreamAddr::Unix(PathBuf::new())),
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
            None => 0o660,
            Some(mode) => match u32::from_str_radix(mode.get_ref(), 8).ok().filter(|m| *m <= 0o777) {
                Some(m) => m,
                None => {
                    err(
                        mode.span().start,
                        format!("`{}` is not an octal permission mode such as \"660\"", mode.get_ref()),
                    );
                    0o660
                }
            },
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
            let cidr = profile.cidr.as_ref().and_then(|c| match c.get_ref().parse::<Cidr>() {
                Ok(cidr) => Some(cidr),
                Err(e) => {
                    err(c.span().start, e);
                    None
                }
            });
            let san_ip = profile.san_ip.as_ref().and_then(|ip| match ip.get_ref().parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    err(ip.span().start, format!("`{}` is not an IP address", ip.get_ref()));
                    None
                }
            });
            let container_image = profile.container_image.map(|images| {
                images
                    .into_iter()
                    .filter_map(|i| match crate::inspect::image::pin(i.get_ref()) {
                        Ok(pin) => Some(pin),
                        Err(e) => {
                            err(i.span().start, e);
                            None
                        }
                    })
                    .collect()
            });
            // `san` is the DNS name it has always been compared with; the typed keys say which.
            let san_dns = match (profile.san, profile.san_dns) {
                (Some(_), Some(_)) => {
                    err(profile.name.span().start, "`san` and `san_dns` are the same key: give one".into());
                    None
                }
                (one, other) => one.or(other),
            };
            let matches = Match {
                uid: profile.uid,
                gid: profile.gid,
                cn: profile.cn,
                san_dns,
                san_uri: profile.san_uri,
                san_email: profile.san_email,
                san_ip,
                cidr,
                container_name: profile.container_name,
                container_label: profile.container_label,
                container_image,
                include_containers: profile.include_containers,
            };
            if !matches.names_someone() {
                err(
                    profile.name.span().start,
                    format!(
                        "profile `{}` matches nobody: give it `uid`, `gid`, `cn`, `san_dns`, `san_uri`, `san_email`, \
                         `san_ip`, `cidr`, `container_name` or `container_label`",
                        profile.name.get_ref()
                    ),
                );
            }
            if matches.include_containers && matches.uid.is_none() && matches.gid.is_none() {
                err(
                    profile.name.span().start,
                    format!(
                        "profile `{}`: `include_containers` is about `uid` and `gid`, which it does not match on",
                        profile.name.get_ref()
                    ),
                );
            }
            if matches.container_image.is_some()
                && matches.container_name.is_none()
                && matches.container_label.is_none()
            {
                err(
                    profile.name.span().start,
                    format!(
                        "profile `{}`: `container_image` narrows `container_name` or `container_label`, which it does not match on",
                        profile.name.get_ref()
                    ),
                );
            }
            let verifies = tls.as_ref().is_some_and(|t| t.verify);
            if matches.on_certificate() && !verifies {
                err(
                    profile.name.span().start,
                    format!(
                        "profile `{}` matches on a client certificate, but its listener asks for none (`[listener.tls]` with `verify = true`)",
                        profile.name.get_ref()
                    ),
                );
            }
            let policy = PolicySource::Files(profile.policy.iter().map(|p| path(p)).collect());
            profiles.push(Profile { name: profile.name.into_inner(), matches, policy });
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
            policy: match listener.policy {
                Some(files) => PolicySource::Files(files.iter().map(|p| path(p)).collect()),
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
        grace_period: Duration::from_secs(raw.grace_period.unwrap_or(10)),
        max_connections: raw.max_connections.unwrap_or(1024),
        workers: raw.workers.unwrap_or(0),
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
        learn_output: path(raw.learn_output.as_deref().unwrap_or(super::DEFAULT_LEARN_OUTPUT)),
        config_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<ServeConfig, String> {
        parse("s.toml", text, Path::new("/etc/sockgate")).map_err(|e| e.to_string())
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
