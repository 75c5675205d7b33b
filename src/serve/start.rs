//! What the server opens before it serves, and why that can fail ([`ServeError`]): the engine
//! client (with TLS when asked), the recorder (audit log, learn mode), the bound listeners, each
//! with its TLS, policies and the networks it admits, and the admin listener. It refuses to serve
//! a non-loopback TCP address without TLS unless told to or limited to sockgate's own networks;
//! it accepts no connection.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::callers::Callers;
use super::ListenerState;
use crate::address::{Cidr, ListenAddr, UpstreamAddr};
use crate::admin::{self, Admin};
use crate::config::{ListenerConfig, ServeConfig};
use crate::decide::Mode;
use crate::diagnostics::Problems;
use crate::forward::Upstream;
use crate::listen::{ListenError, Listener};
use crate::privileges::PrivilegeError;
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
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    #[error("cannot read the networks of sockgate's own interfaces, which the drop-in listener admits: {0}")]
    Interfaces(String),
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

/// The networks of sockgate's own interfaces, if a listener admits only those (the drop-in
/// listener); read once, at start. Fails closed: unreadable, or none at all, is an error.
pub(super) fn own_networks(config: &ServeConfig) -> Result<Option<Vec<Cidr>>, ServeError> {
    if !config.listeners.iter().any(|l| l.own_networks_only) {
        return Ok(None);
    }
    let networks = crate::interfaces::attached_networks().map_err(|e| ServeError::Interfaces(e.to_string()))?;
    if networks.is_empty() {
        return Err(ServeError::Interfaces("no interface has an address".into()));
    }
    Ok(Some(networks.into_iter().map(Cidr::from).collect()))
}

/// Readies every bound listener with its TLS, the policies loaded for it and the networks it admits.
pub(super) fn listeners(
    config: &ServeConfig,
    bound: Vec<Listener>,
    loaded: Vec<Profiles>,
    own_networks: Option<&[Cidr]>,
    upstream: &Upstream,
    recorder: &Arc<Recorder>,
) -> Result<Vec<Arc<ListenerState>>, ServeError> {
    let mut states = Vec::new();
    for ((listener, bound), profiles) in config.listeners.iter().zip(bound).zip(loaded) {
        let tls = listener.tls.clone().map(Reloadable::new).transpose()?;
        let own_networks = own_networks.filter(|_| listener.own_networks_only).map(<[Cidr]>::to_vec);
        if listener.insecure && tls.is_none() && matches!(listener.addr, ListenAddr::Tcp(_)) {
            tracing::warn!(
                "listening on `{}` without TLS: anyone who can reach it gets what its policy allows, unauthenticated",
                bound.name()
            );
        }
        let scheme = if tls.is_some() { " with TLS" } else { "" };
        let state = ListenerState {
            listener: bound,
            tls,
            allow_cidrs: listener.allow_cidrs.clone(),
            own_networks,
            profiles: ArcSwap::from_pointee(profiles),
            callers: Callers::new(listener.caller_limits, recorder.clone()),
        };
        tracing::info!(upstream = %upstream.addr(), "listening on {}{scheme}", state.shown());
        states.push(Arc::new(state));
    }
    Ok(states)
}

/// Like dockerd, sockgate does not serve the API unauthenticated beyond the machine unless told to.
pub(super) fn check_exposure(listener: &ListenerConfig) -> Result<(), ServeError> {
    let ListenAddr::Tcp(hostport) = &listener.addr else { return Ok(()) };
    if listener.tls.is_some() || listener.insecure || listener.own_networks_only {
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

/// Serves the admin endpoints on the bound `listener` until `stop`.
pub(super) fn admin(
    listener: Listener,
    admin: Admin,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> {
    tracing::info!("admin endpoints (/metrics, /health, /ready) on {}", listener.name());
    admin::serve(listener, admin, stop)
}
