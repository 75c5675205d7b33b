//! The first thing the server opens: its listeners and the admin listener, bound while sockgate
//! may still be root, after which root is given up ([`crate::privileges`]) before anything else is
//! opened or read, so audit logs, learned policies and certificates are the user's. It accepts no
//! connection and loads no policy.

use std::path::{Path, PathBuf};

use super::ServeError;
use crate::address::UpstreamAddr;
use crate::config::ServeConfig;
use crate::listen::{Listener, SocketOptions};
use crate::privileges::{self, Created, Dropped};

/// The listeners of the configuration, in its order, and the admin listener if there is one.
pub(super) struct Bound {
    pub(super) listeners: Vec<Listener>,
    pub(super) admin: Option<Listener>,
}

/// The socket files just bound, removed when dropped unless serving began ([`Unserved::serving`]):
/// a start that fails after binding (switching users, the learn output, an audit log, TLS files)
/// leaves no socket behind.
pub(super) struct Unserved(Vec<(PathBuf, (u64, u64))>);

impl Unserved {
    pub(super) fn of(bound: &Bound) -> Unserved {
        let files = bound.listeners.iter().chain(&bound.admin).filter_map(|listener| match listener {
            Listener::Unix { path, file, .. } => Some((path.clone(), *file)),
            Listener::Tcp { .. } => None,
        });
        Unserved(files.collect())
    }

    /// The listeners are served: their accept loops remove their files at exit.
    pub(super) fn serving(mut self) {
        self.0.clear();
    }
}

impl Drop for Unserved {
    fn drop(&mut self) {
        for (path, file) in &self.0 {
            crate::listen::remove_socket(path, *file);
        }
    }
}

/// Binds every listener and the admin listener.
pub(super) async fn bind(config: &ServeConfig) -> Result<Bound, ServeError> {
    if let Some(run_as) = config.run_as {
        privileges::check_can_drop(run_as)?;
    }
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let options = SocketOptions { mode: listener.socket_mode, group: listener.socket_group.clone() };
        listeners.push(Listener::bind(&listener.addr, &options).await?);
    }
    let admin = match &config.admin_listen {
        Some(addr) => Some(Listener::bind(addr, &SocketOptions { mode: 0o660, group: None }).await?),
        None => None,
    };
    Ok(Bound { listeners, admin })
}

/// Started as root with a user to run as, becomes that user, giving it the sockets just created;
/// else changes nothing.
pub(super) fn give_up_root(config: &ServeConfig, bound: &Bound) -> Result<(), ServeError> {
    let Some(run_as) = config.run_as else { return Ok(()) };
    let engine = match &config.upstream.addr {
        UpstreamAddr::Unix(path) => Some(path.as_path()),
        UpstreamAddr::Tcp(_) => None,
    };
    let mut created = Vec::new();
    for (listener, wanted) in bound.listeners.iter().zip(&config.listeners) {
        if let Some(path) = socket_path(listener) {
            created.push(Created { path: path.to_path_buf(), keep_group: wanted.socket_group.is_some() });
        }
    }
    if let Some(path) = bound.admin.as_ref().and_then(socket_path) {
        created.push(Created { path: path.to_path_buf(), keep_group: false });
    }
    match privileges::drop_to(run_as, engine, &created)? {
        Dropped::NotRoot => {}
        Dropped::To { run_as, socket_group } => {
            let group = match socket_group {
                Some(gid) => format!(" with the engine socket's group {gid}"),
                None => String::new(),
            };
            tracing::info!("started as root: listeners bound, now running as {run_as}{group}");
        }
    }
    Ok(())
}

fn socket_path(listener: &Listener) -> Option<&Path> {
    match listener {
        Listener::Unix { path, .. } => Some(path),
        Listener::Tcp { .. } => None,
    }
}
