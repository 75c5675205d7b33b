//! Creates a unix socket to listen on: with the requested mode and group before anyone can connect
//! to it (the umask is narrowed while binding), replacing an existing file only if it is a socket
//! nobody answers on. A socket another process serves is refused, never taken over. It accepts no
//! connection.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, Gid, Group};
use tokio::net::UnixListener;

use super::{ListenError, SocketOptions};

/// Binds a unix socket at `path`; answers the listener and the device and inode of its file.
pub(super) fn bind(path: &Path, options: &SocketOptions) -> Result<(UnixListener, (u64, u64)), ListenError> {
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
    use crate::address::ListenAddr;
    use crate::listen::Listener;

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
