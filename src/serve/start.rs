//! What the server opens before it serves, and why that can fail ([`ServeError`]): the engine
//! client (with TLS when asked), the recorder (audit log, learn mode), the listeners, each with
//! its TLS and policies, and the admin listener. It refuses to serve a non-loopback TCP address
//! without TLS unless told to; it accepts no connection.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::callers::Callers;
use super::ListenerState;
use crate::address::{ListenAddr, UpstreamAddr};
use crate::admin::{self, Admin};
use crate::config::{ListenerConfig, ServeConfig};
use crate::decide::Mode;
use crate::diagnostics::Problems;
use crate::forward::Upstream;
use crate::listen::{ListenError, Listener, SocketOptions};
use crate::profile::Profiles;
use crate::record::audit::AuditLog;
use crate::record::learn::{LearnError, Learner};
use crate::record::Recorder;
use crate::tls::{self, Reloadable, TlsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid policy:\n{0}")]
    Policy(#[from] Problems),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot open the audit log {0}")]
    Audit(String),
    #[error(
        "refusing to listen on `{0}` without TLS: anyone who can reach it would get what its policy allows, \
         unauthenticated; add --tlscert/--tlskey (and --tlsverify), listen on loopback, or pass --insecure-tcp"
    )]
    Insecure(String),
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
    #[error(transparent)]
    Learn(#[from] LearnError),
}

/// The engine's client, over TLS when the configuration asks for it.
pub(super) fn upstream(config: &ServeConfig, tunnels: TaskTracker, workers: usize) -> Result<Upstream, ServeError> {
    let client_tls = match (&config.upstream.tls, &config.upstream.addr) {
        (Some(files), UpstreamAddr::Tcp(hostport)) => Some((tls::client_config(files)?, tls::server_name(hostport)?)),
        (Some(_), UpstreamAddr::Unix(_)) => {
            return Err(TlsError::Config("TLS to the engine needs a `tcp://` upstream".into()).into())
        }
        (None, _) => None,
    };
    Ok(Upstream::new(config.upstream.addr.clone(), client_tls, tunnels, workers))
}

/// The recorder, with the audit log and the learner the configuration asks for.
pub(super) fn recorder(config: &ServeConfig) -> Result<Arc<Recorder>, ServeError> {
    let audit = match &config.audit_log {
        Some(target) => Some(AuditLog::open(target.clone()).map_err(|e| ServeError::Audit(format!("{target}: {e}")))?),
        None => None,
    };
    let learner = (config.mode == Mode::Learn).then(|| Learner::open(config.learn_output.clone())).transpose()?;
    if config.mode != Mode::Enforce {
        tracing::warn!(mode = config.mode.name(), "denials are logged but not enforced");
    }
    Ok(Arc::new(Recorder::new(config.mode, audit, learner)))
}

/// Opens every listener with its TLS and the policies loaded for it.
pub(super) async fn listeners(
    config: &ServeConfig,
    loaded: Vec<Profiles>,
    upstream: &Upstream,
    recorder: &Arc<Recorder>,
) -> Result<Vec<Arc<ListenerState>>, ServeError> {
    let mut states = Vec::new();
    for (listener, profiles) in config.listeners.iter().zip(loaded) {
        let tls = listener.tls.clone().map(Reloadable::new).transpose()?;
        let options = SocketOptions { mode: listener.socket_mode, group: listener.socket_group.clone() };
        let bound = Listener::bind(&listener.addr, &options).await?;
        if listener.insecure && tls.is_none() && matches!(listener.addr, ListenAddr::Tcp(_)) {
            tracing::warn!(
                "listening on `{}` without TLS: anyone who can reach it gets what its policy allows, unauthenticated",
                bound.name()
            );
        }
        let scheme = if tls.is_some() { " with TLS" } else { "" };
        tracing::info!(upstream = %upstream.addr(), "listening on {}{scheme}", bound.name());
        states.push(Arc::new(ListenerState {
            listener: bound,
            tls,
            allow_cidrs: listener.allow_cidrs.clone(),
            profiles: ArcSwap::from_pointee(profiles),
            callers: Callers::new(listener.caller_limits, recorder.clone()),
        }));
    }
    Ok(states)
}

/// Like dockerd, sockgate does not serve the API unauthenticated beyond the machine unless told to.
pub(super) fn check_exposure(listener: &ListenerConfig) -> Result<(), ServeError> {
    let ListenAddr::Tcp(hostport) = &listener.addr else { return Ok(()) };
    if listener.tls.is_some() || listener.insecure {
        return Ok(());
    }
    let host = crate::address::host_of(hostport);
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost",
    };
    if loopback {
        Ok(())
    } else {
        Err(ServeError::Insecure(listener.addr.to_string()))
    }
}

/// Opens the admin listener at `addr`; the future it answers serves it until `stop`.
pub(super) async fn admin(
    addr: &ListenAddr,
    admin: Admin,
    stop: CancellationToken,
) -> Result<impl std::future::Future<Output = ()>, ServeError> {
    let listener = Listener::bind(addr, &SocketOptions { mode: 0o660, group: None }).await?;
    tracing::info!("admin endpoints (/metrics, /health, /ready) on {}", listener.name());
    Ok(admin::serve(listener, admin, stop))
}
