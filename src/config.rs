//! What `sockgate serve` is told: listeners, the engine's address, policy files and bounds, parsed
//! from their command-line spelling. It opens nothing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::forward::UpstreamAddr;

/// Where sockgate listens when not told otherwise.
pub const DEFAULT_LISTEN: &str = "unix:///run/sockgate/docker.sock";
/// The engine's default socket.
pub const DEFAULT_UPSTREAM: &str = "unix:///var/run/docker.sock";

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

/// Parses an upstream address with the same spelling as listeners.
pub fn parse_upstream(s: &str) -> Result<UpstreamAddr, AddrError> {
    let (unix, rest) = parse_addr(s)?;
    Ok(if unix { UpstreamAddr::Unix(rest.into()) } else { UpstreamAddr::Tcp(rest) })
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: Vec<ListenAddr>,
    pub upstream: UpstreamAddr,
    /// Policy files making up one policy; empty for the built-in read-only policy.
    pub policy: Vec<PathBuf>,
    /// Permission bits of unix sockets sockgate creates.
    pub socket_mode: u32,
    /// Group (name or numeric id) to own unix sockets sockgate creates.
    pub socket_group: Option<String>,
    /// How long in-flight requests may take to finish after a stop signal.
    pub grace_period: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// The largest request body read for inspection; larger ones get 413.
    pub max_body_bytes: usize,
}

/// The default bound on inspected bodies: far above any container spec the CLI sends.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

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
}
