//! Binds the listeners sockgate serves on and accepts their connections.
//!
//! A unix socket is created with the requested mode and group before anyone can connect to it (the
//! umask is narrowed while binding). An existing file at its path is replaced only if it is a
//! socket nobody answers on: a socket another process serves is refused, never taken over, and on
//! exit only the socket this process bound is removed, not one a later process put at the same
//! path. Whether a TCP address may be served without TLS is the server's call, not this module's.
//! It does not speak HTTP.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, Gid, Group};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::address::ListenAddr;
use crate::identify::Identity;

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
    /// Registers the socket with the runtime of the calling task.
    pub fn take_over(self) -> io::Result<Accepted> {
        Ok(match self {
            Handoff::Unix(stream) => Accepted::Unix(UnixStream::from_std(stream)?),
            Handoff::Tcp(stream) => Accepted::Tcp(TcpStream::from_std(stream)?),
        })
    }
}

impl Listener {
    /// Opens a listener at `addr`.
    pub async fn bind(addr: &ListenAddr, options: &SocketOptions) -> Result<Listener, ListenError> {
        let name: Arc<str> = addr.to_string().into();
        match addr {
            ListenAddr::Unix(path) => {
                let (listener, file) = bind_unix(path, options)?;
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
            if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == *file) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

fn bind_unix(path: &Path, options: &SocketOptions) -> Result<(UnixListener, (u64, u64)), ListenError> {
    let addr = format!("unix://{}", path.display());
    let bind_error = |source| ListenError::Bind { addr: addr.clone(), source };
    // Permission denied on the directory is the usual first-run failure (`/run/sockgate` made by
    // root, sockgate run as a user): say who may not write where, and how to fix it.
    let denied = |e: io::Error| match (e.kind(), path.parent()) {
        (io::ErrorKind::PermissionDenied, Some(dir)) => ListenError::DirectoryDenied {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            uid: nix::unistd::geteuid().as_raw(),
        },
        _ => bind_error(e),
    };
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket file outlives a process killed without cleaning up; only one nobody
            // answers on (`ECONNREFUSED`) is such a leftover. Taking over a live one would leave
            // its server running unreachable, its clients sent elsewhere without a word.
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(ListenError::InUse(path.to_path_buf())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    fs::remove_file(path).map_err(bind_error)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ListenError::Probe { path: path.to_path_buf(), source }),
            }
        }
        Ok(_) => return Err(ListenError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(denied(e)),
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(denied)?;
    }
    let gid = options.group.as_deref().map(resolve_group).transpose()?;
    // The socket must never be reachable with wider permissions than asked for, not even between
    // bind and chmod: bind under a umask that leaves only the owner's bits.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(denied)?;
    let permissions = |reason: String| ListenError::Permissions { path: path.to_path_buf(), reason };
    if let Some(gid) = gid {
        chown(path, None, Some(gid)).map_err(|e| permissions(e.to_string()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(options.mode)).map_err(|e| permissions(e.to_string()))?;
    let meta = fs::symlink_metadata(path).map_err(bind_error)?;
    Ok((listener, (meta.dev(), meta.ino())))
}

/// The group a socket is given: a number as is, a name as this host's group database has it.
pub fn resolve_group(group: &str) -> Result<Gid, ListenError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(Gid::from_raw(gid));
    }
    match Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid),
        _ => Err(ListenError::UnknownGroup(group.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(mode: u32) -> SocketOptions {
        SocketOptions { mode, group: None }
    }

    #[tokio::test]
    async fn creates_socket_with_mode_and_replaces_only_sockets() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("sub/gw.sock");
        let addr = ListenAddr::Unix(path.clone());
        let first = Listener::bind(&addr, &options(0o660)).await;
        assert!(first.is_ok());
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o660);
        // A stale socket is replaced.
        drop(first);
        let second = Listener::bind(&addr, &options(0o600)).await;
        assert!(second.is_ok());
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        // A regular file is not.
        let file = dir.path().join("file");
        fs::write(&file, b"keep me").unwrap_or_else(|e| unreachable!("{e}"));
        let third = Listener::bind(&ListenAddr::Unix(file.clone()), &options(0o660)).await;
        assert!(matches!(third, Err(ListenError::NotASocket(_))));
        assert_eq!(fs::read(&file).unwrap_or_default(), b"keep me");
    }

    #[tokio::test]
    async fn a_live_socket_is_refused_and_cleanup_leaves_a_successor() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("live.sock");
        let addr = ListenAddr::Unix(path.clone());
        let first = Listener::bind(&addr, &options(0o600)).await.unwrap_or_else(|e| unreachable!("{e}"));
        let second = Listener::bind(&addr, &options(0o600)).await;
        assert!(matches!(second, Err(ListenError::InUse(_))));
        // Someone else's socket at the path by now: the first listener's cleanup keeps it.
        fs::remove_file(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let successor = std::os::unix::net::UnixListener::bind(&path).unwrap_or_else(|e| unreachable!("{e}"));
        first.cleanup();
        assert!(is_socket(&path));
        drop(successor);
    }

    fn is_socket(path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
    }

    #[tokio::test]
    async fn unknown_group_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let addr = ListenAddr::Unix(dir.path().join("g.sock"));
        let result =
            Listener::bind(&addr, &SocketOptions { mode: 0o660, group: Some("no-such-group-xyz".into()) }).await;
        assert!(matches!(result, Err(ListenError::UnknownGroup(_))));
    }
}
