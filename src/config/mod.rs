//! What `sockgate serve` is told: listeners with their TLS, network limits and policies per
//! client, the engine's address, and bounds; from the command line or a configuration file
//! ([`file`]). It opens nothing and loads no policy.

pub mod defaults;
pub mod file;
pub mod flags;

pub use defaults::{
    parse_socket_mode, DEFAULT_ADMIN, DEFAULT_LEARN_OUTPUT, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_SPIN_US,
    DEFAULT_UPSTREAM,
};

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::decide::Mode;
use crate::forward::UpstreamAddr;
use crate::record::audit::AuditTarget;
use crate::tls::{ClientTls, ServerTls};

/// A listener address: `unix:///path` or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(String),
}

/// A malformed address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{0}`: expected `unix:///path/to.sock` or `tcp://host:port`")]
pub struct AddrError(pub String);

fn parse_addr(s: &str) -> Result<(bool, String), AddrError> {
    if let Some(path) = s.strip_prefix("unix://") {
        if path.starts_with('/') {
            return Ok((true, path.to_string()));
        }
    } else if let Some(hostport) = s.strip_prefix("tcp://") {
        let hostport = hostport.trim_end_matches('/');
        let has_port =
            hostport.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if has_port {
            return Ok((false, hostport.to_string()));
        }
    }
    Err(AddrError(s.to_string()))
}

impl FromStr for ListenAddr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, AddrError> {
        let (unix, rest) = parse_addr(s)?;
        Ok(if unix { ListenAddr::Unix(rest.into()) } else { ListenAddr::Tcp(rest) })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Unix(path) => write!(f, "unix://{}", path.display()),
            ListenAddr::Tcp(hostport) => write!(f, "tcp://{hostport}"),
        }
    }
}

/// The host part of `host:port`, without the brackets of an IPv6 literal.
pub fn host_of(hostport: &str) -> &str {
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Parses an upstream address with the same spelling as listeners.
pub fn parse_upstream(s: &str) -> Result<UpstreamAddr, AddrError> {
    let (unix, rest) = parse_addr(s)?;
    Ok(if unix { UpstreamAddr::Unix(rest.into()) } else { UpstreamAddr::Tcp(rest) })
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listeners: Vec<ListenerConfig>,
    pub upstream: UpstreamConfig,
    /// How long in-flight requests may take to finish after a stop signal.
    pub grace_period: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// Threads serving connections; 0 is one per core.
    pub workers: usize,
    /// How long a worker serving a lone request keeps polling after its last activity before it
    /// sleeps; zero never.
    pub spin: Duration,
    /// The largest request body read for inspection; larger ones get 413.
    pub max_body_bytes: usize,
    /// The lowest API version served (the engine's own range applies too).
    pub min_api_version: crate::versions::ApiVersion,
    /// Follow the engine's containers, to recognise callers that are containers.
    pub container_discovery: bool,
    /// Where `/metrics`, `/health` and `/ready` are served, if anywhere.
    pub admin_listen: Option<ListenAddr>,
    /// Where audit lines go, if anywhere.
    pub audit_log: Option<AuditTarget>,
    pub mode: Mode,
    /// Where learn mode writes its policy.
    pub learn_output: PathBuf,
    /// The configuration file this came from, read again on reload.
    pub config_file: Option<PathBuf>,
}

/// The engine and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub addr: UpstreamAddr,
    pub tls: Option<ClientTls>,
}

/// One listener and who may do what through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub addr: ListenAddr,
    /// Permission bits of a unix socket sockgate creates.
    pub socket_mode: u32,
    /// Group (name or numeric id) to own a unix socket sockgate creates.
    pub socket_group: Option<String>,
    pub tls: Option<ServerTls>,
    /// Source networks a TCP listener accepts; empty for any.
    pub allow_cidrs: Vec<Cidr>,
    /// Serve a non-loopback TCP address without TLS.
    pub insecure: bool,
    /// The policy of callers no profile matches.
    pub policy: PolicySource,
    /// Policies for particular callers; the first that matches applies.
    pub profiles: Vec<Profile>,
    /// One owner name for every caller of this listener (one sockgate per job): ownership is on
    /// for all its policies, whatever they say (see [`crate::tenancy`]).
    pub owner: Option<String>,
}

/// Where a policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Files(Vec<PathBuf>),
    /// Policy text given whole (the docker-socket-proxy compatibility mode).
    Inline {
        name: String,
        text: String,
    },
    /// `policies/read-only.toml`, built in.
    BuiltinReadOnly,
    /// No rule: everything is denied.
    DenyAll,
}

/// A policy for the callers a [`Match`] selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub matches: Match,
    pub policy: PolicySource,
}

/// What a caller must be for a profile to apply; every given field must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The client certificate's subject common name; a certificate with several has none.
    pub cn: Option<String>,
    /// Subject alternative names of the client certificate, each compared with its own type only.
    pub san_dns: Option<String>,
    pub san_uri: Option<String>,
    pub san_email: Option<String>,
    pub san_ip: Option<IpAddr>,
    pub cidr: Option<Cidr>,
    /// A glob over the calling container's name.
    pub container_name: Option<String>,
    /// `key=value`, or `key` for any value, among the calling container's labels.
    pub container_label: Option<String>,
    /// The images the calling container must run: ids (`sha256:...`) or name patterns.
    pub container_image: Option<Vec<crate::inspect::image::Pin>>,
    /// Whether `uid` and `gid` also match processes inside containers (root in a container is
    /// uid 0 on the host). Off, they match host processes only.
    pub include_containers: bool,
}

impl Match {
    /// Whether any condition names a caller at all.
    pub fn names_someone(&self) -> bool {
        self.uid.is_some() || self.gid.is_some() || self.on_certificate() || self.cidr.is_some() || self.on_container()
    }

    /// Whether it matches on the client certificate.
    pub fn on_certificate(&self) -> bool {
        self.cn.is_some()
            || self.san_dns.is_some()
            || self.san_uri.is_some()
            || self.san_email.is_some()
            || self.san_ip.is_some()
    }

    /// Whether it matches on what a container is (its name or labels): facts whoever creates a
    /// container chooses, which sockgate therefore reserves (see [`crate::profile`]).
    pub fn on_container(&self) -> bool {
        self.container_name.is_some() || self.container_label.is_some()
    }
}

/// An IP network such as `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an IP network such as 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!("unix:///run/x.sock".parse(), Ok(ListenAddr::Unix("/run/x.sock".into())));
        assert_eq!("tcp://127.0.0.1:2375".parse(), Ok(ListenAddr::Tcp("127.0.0.1:2375".into())));
        assert_eq!("tcp://[::1]:2375".parse(), Ok(ListenAddr::Tcp("[::1]:2375".into())));
        for bad in ["unix://relative.sock", "tcp://127.0.0.1", "tcp://:2375", "http://x:1", "/var/run/docker.sock"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
        assert_eq!(parse_upstream(DEFAULT_UPSTREAM), Ok(UpstreamAddr::Unix("/var/run/docker.sock".into())));
    }

    #[test]
    fn cidrs() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(net.contains("10.1.2.3".parse().unwrap_or_else(|_| unreachable!())));
        assert!(!net.contains("10.2.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap_or_else(|_| unreachable!())));
        let one: Cidr = "::1".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(one.prefix, 128);
        assert!(one.contains("::1".parse().unwrap_or_else(|_| unreachable!())));
        let all: Cidr = "0.0.0.0/0".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(all.contains("192.0.2.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("host/8".parse::<Cidr>().is_err());
    }
}
