//! Tells who is on the other end of a connection: unix peer credentials or the TCP source address,
//! the verified TLS client certificate ([`cert`]), the container it is ([`containers`]), and the
//! listener it came in on. It does not decide what that caller may do.

pub mod cert;

pub mod containers;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UnixStream;

/// The caller at the other end of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A unix socket peer, from `SO_PEERCRED`. `host` says whether the process is one of the
    /// host's: visible here, in sockgate's own PID namespace, and in no docker container's cgroup.
    /// Root in a container is uid 0 too, so uid and gid alone do not tell.
    Unix { uid: u32, gid: u32, pid: Option<i32>, host: bool },
    /// A unix socket peer whose credentials could not be read.
    UnixUnknown,
    /// A TCP peer.
    Tcp { addr: SocketAddr },
}

/// Who made a request, as judged and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The listener the connection arrived on, as given on the command line.
    pub listener: Arc<str>,
    pub peer: Peer,
    /// The verified client certificate, on a TLS listener that asks for one.
    pub certificate: Option<cert::CertIdentity>,
    /// The container making the call, when the caller is one on the same engine.
    pub container: Option<containers::ContainerInfo>,
}

impl Identity {
    /// The identity of a unix socket peer.
    pub fn unix(listener: Arc<str>, stream: &UnixStream) -> Identity {
        let peer = match stream.peer_cred() {
            Ok(cred) => {
                let host = cred.pid().is_some_and(is_host_process);
                Peer::Unix { uid: cred.uid(), gid: cred.gid(), pid: cred.pid(), host }
            }
            Err(_) => Peer::UnixUnknown,
        };
        Identity { listener, peer, certificate: None, container: None }
    }

    /// The identity of a TCP peer.
    pub fn tcp(listener: Arc<str>, addr: SocketAddr) -> Identity {
        Identity { listener, peer: Peer::Tcp { addr }, certificate: None, container: None }
    }

    /// Adds what can be learnt beyond the socket: the container behind the peer address or pid.
    pub async fn discover(&mut self, directory: &containers::Directory) {
        self.container = match self.peer {
            Peer::Tcp { addr } => directory.lookup_ip(addr.ip()).await,
            Peer::Unix { pid: Some(pid), .. } => directory.by_pid(pid).await,
            _ => None,
        };
    }
}

/// Whether process `pid` is a host process as seen from here: the kernel reports pid 0 for a peer
/// outside sockgate's PID namespace, a process in its own PID namespace is in some container, and
/// one in a docker container's cgroup is in that container even when it shares the host's PIDs
/// (`--pid host`). Anything that cannot be read counts as not the host's.
fn is_host_process(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let namespace = |of: &str| std::fs::read_link(format!("/proc/{of}/ns/pid")).ok();
    let same_namespace = match (namespace(&pid.to_string()), namespace("self")) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => false,
    };
    same_namespace
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|cgroup| containers::container_id_from_cgroup(&cgroup).is_none())
}

impl Identity {
    /// The name per-caller limits count under: the certificate's name if the client presented
    /// one, else the calling container, else the unix uid or the TCP source address (without its
    /// port, which every new connection changes). Not a name to judge requests by: two
    /// certificates with the same common name count as one caller here.
    pub fn key(&self) -> Arc<str> {
        let key = match (&self.certificate, &self.container, &self.peer) {
            (Some(cert), _, _) => match &cert.common_name {
                Some(cn) => format!("cn={cn}"),
                None => format!("cert={}", cert.fingerprint),
            },
            (None, Some(container), _) => format!("container={}", container.id),
            (None, None, Peer::Unix { uid, .. }) => format!("uid={uid}"),
            (None, None, Peer::UnixUnknown) => "unix peer".to_string(),
            (None, None, Peer::Tcp { addr }) => format!("address={}", addr.ip()),
        };
        key.into()
    }

    /// The same caller as the directory names it now: only what the map holds (no listing), so an
    /// address whose container is being asked about names nobody until the answer comes.
    pub async fn rediscover(&self, directory: &containers::Directory) -> Identity {
        let mut fresh = self.clone();
        fresh.container = match self.peer {
            Peer::Tcp { addr } => directory.by_ip_settled(addr.ip()).await,
            Peer::Unix { pid: Some(pid), .. } => directory.by_pid(pid).await,
            _ => None,
        };
        fresh
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Unix { uid, gid, pid: Some(pid), .. } => write!(f, "uid={uid} gid={gid} pid={pid}"),
            Peer::Unix { uid, gid, pid: None, .. } => write!(f, "uid={uid} gid={gid}"),
            Peer::UnixUnknown => f.write_str("unix peer"),
            Peer::Tcp { addr } => write!(f, "{addr}"),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cert) = &self.certificate {
            write!(f, "{cert} ")?;
        }
        if let Some(container) = &self.container {
            write!(f, "container {} ", container.name)?;
        }
        write!(f, "{} via {}", self.peer, self.listener)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_counted_by_its_strongest_name() {
        let tcp = |port| Identity::tcp("tcp://0.0.0.0:2375".into(), SocketAddr::from(([10, 0, 0, 7], port)));
        assert_eq!(tcp(40000).key(), tcp(40001).key(), "the source port changes with every connection");
        assert_eq!(&*tcp(40000).key(), "address=10.0.0.7");
        let mut with_cert = tcp(40000);
        with_cert.certificate = Some(cert::CertIdentity {
            common_name: Some("ci".into()),
            common_names: 1,
            sans: Vec::new(),
            fingerprint: "ab".into(),
        });
        assert_eq!(&*with_cert.key(), "cn=ci");
        let unix = Identity {
            listener: "unix:///s".into(),
            peer: Peer::Unix { uid: 1000, gid: 1000, pid: Some(5), host: true },
            certificate: None,
            container: None,
        };
        assert_eq!(&*unix.key(), "uid=1000");
    }
}
