//! Binds the listeners sockgate serves on and accepts their connections.
//!
//! A unix socket is created with the requested mode and group before anyone can connect to it (the
//! umask is narrowed while binding). An existing file at its path is replaced only if it is a
//! socket nobody answers on: a socket another process serves is refused, never taken over, and on
//! exit only the socket this process bound is removed, not one a later process put at the same
//! path. Whether a TCP address may be served without TLS is the server's call, not this module's.
//! It does not speak HTTP.

mod unix;

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::address::ListenAddr;
use crate::identify::Identity;
use crate::socket::{Socket, TcpSocket, UnixSocket};

pub use unix::resolve_group;

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on `{addr}`: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("refusing to replace `{0}`: it exists and is not a socket")]
    NotASocket(PathBuf),
    #[error(
        "`{0}` is in use: another process (another sockgate?) answers on it; stop that one first, or listen on another path"
    )]
    InUse(PathBuf),
    #[error(
        "cannot create the socket `{path}`: uid {uid} cannot create files in `{dir}`; make that directory writable \
         for uid {uid} (as root: `install -d -o {uid} {dir}`), or pass --listen with a path in a directory it can write",
        path = path.display(),
        dir = dir.display()
    )]
    DirectoryDenied { path: PathBuf, dir: PathBuf, uid: u32 },
    #[error("cannot tell whether `{path}` is in use, so it is left alone: {source}")]
    Probe { path: PathBuf, source: io::Error },
    #[error("unknown group `{0}` for the socket: no such group on this host (give its number, or create it)")]
    UnknownGroup(String),
    #[error("cannot set owner or mode of `{path}`: {reason}")]
    Permissions { path: PathBuf, reason: String },
}

/// How unix sockets are created.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub mode: u32,
    pub group: Option<String>,
}

/// An open listener.
pub enum Listener {
    /// `file` is the device and inode of the socket file it bound, to recognise it at exit.
    Unix {
        listener: UnixListener,
        path: PathBuf,
        name: Arc<str>,
        file: (u64, u64),
    },
    Tcp {
        listener: TcpListener,
        name: Arc<str>,
    },
}

/// An accepted connection.
pub enum Accepted {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// An accepted connection taken over by the worker that serves it.
pub enum TakenOver {
    Unix(UnixSocket),
    Tcp(TcpSocket),
}

/// An accepted connection on its way to the worker that will serve it: detached from the
/// accepting runtime, not yet registered with another.
pub enum Handoff {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Accepted {
    /// Detaches the socket from the runtime that accepted it.
    pub fn hand_off(self) -> io::Result<Handoff> {
        Ok(match self {
            Accepted::Unix(stream) => Handoff::Unix(stream.into_std()?),
            Accepted::Tcp(stream) => Handoff::Tcp(stream.into_std()?),
        })
    }
}

impl Handoff {
    /// Registers the socket with the runtime of the calling task, for reading (see
    /// [`crate::socket`]).
    pub fn take_over(self) -> io::Result<TakenOver> {
        Ok(match self {
            Handoff::Unix(stream) => TakenOver::Unix(Socket::new(stream)?),
            Handoff::Tcp(stream) => TakenOver::Tcp(Socket::new(stream)?),
        })
    }
}

impl Listener {
    /// Opens a listener at `addr`.
    pub async fn bind(addr: &ListenAddr, options: &SocketOptions) -> Result<Listener, ListenError> {
        let name: Arc<str> = addr.to_string().into();
        match addr {
            ListenAddr::Unix(path) => {
                let (listener, file) = unix::bind(path, options)?;
                Ok(Listener::Unix { listener, path: path.clone(), name, file })
            }
            ListenAddr::Tcp(hostport) => {
                let listener = TcpListener::bind(hostport.as_str())
                    .await
                    .map_err(|source| ListenError::Bind { addr: name.to_string(), source })?;
                let local =
                    listener.local_addr().map_err(|source| ListenError::Bind { addr: name.to_string(), source })?;
                Ok(Listener::Tcp { listener, name: format!("tcp://{local}").into() })
            }
        }
    }

    /// The address it listens on, as shown to users (with the real port for `:0`).
    pub fn name(&self) -> &Arc<str> {
        match self {
            Listener::Unix { name, .. } | Listener::Tcp { name, .. } => name,
        }
    }

    /// Waits for the next connection and tells who made it.
    pub async fn accept(&self) -> io::Result<(Accepted, Identity)> {
        match self {
            Listener::Unix { listener, name, .. } => {
                let (stream, _) = listener.accept().await?;
                let identity = Identity::unix(name.clone(), &stream);
                Ok((Accepted::Unix(stream), identity))
            }
            Listener::Tcp { listener, name } => {
                let (stream, addr) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok((Accepted::Tcp(stream), Identity::tcp(name.clone(), addr)))
            }
        }
    }

    /// Removes the socket file of a unix listener, if it is still the one this listener bound: a
    /// process started on the same path since (after removing this one's file as stale, or by
    /// hand) owns the path now, and its clients must keep reaching it.
    pub fn cleanup(&self) {
        if let Listener::Unix { path, file, .. } = self {
            remove_socket(path, *file);
        }
    }
}

/// Removes the socket file at `path` if it is still the one with this device and inode.
pub fn remove_socket(path: &std::path::Path, file: (u64, u64)) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == file) {
        let _ = fs::remove_file(path);
    }
}
