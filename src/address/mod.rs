//! Where sockgate listens and where the engine is: `unix:///path` and `tcp://host:port` addresses,
//! the host part of `host:port`, and IP networks ([`Cidr`]). It parses and compares addresses
//! only: it opens no socket, resolves no name and decides nothing about who may connect.

mod cidr;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use cidr::Cidr;

/// A listener address: `unix:///path` or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(String),
}

/// Where the real engine listens, spelled as a listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddr {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// A malformed address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{0}`: expected `unix:///path/to.sock` or `tcp://host:port`")]
pub struct AddrError(pub String);

/// An absolute socket path (`true`) or a `host:port` with a port (`false`).
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

/// The host part of `host:port`, without the brackets of an IPv6 literal.
pub fn host_of(hostport: &str) -> &str {
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
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
        assert_eq!(
            parse_upstream("unix:///var/run/docker.sock"),
            Ok(UpstreamAddr::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(parse_upstream("tcp://engine:2376/"), Ok(UpstreamAddr::Tcp("engine:2376".into())));
    }

    #[test]
    fn host_of_drops_the_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:2375"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2375"), "::1");
        assert_eq!(host_of("engine.example:2376"), "engine.example");
    }
}
