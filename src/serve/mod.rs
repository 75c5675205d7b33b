//! Runs the server until it is told to stop: binds its listeners and, when told to, gives up
//! root (`bind`), opens what it serves (`start`), runs one accept loop per listener (`accept`)
//! that serves each connection (`connection`) while its caller stays within its share
//! (`callers`) and the connection is in use (`watch`), serves the admin endpoints, reloads on
//! `SIGHUP` or a file change (`reload`), and on a stop signal stops accepting and lets in-flight
//! requests and tunnels finish within the grace period. Who a caller is, is [`crate::identify`]'s
//! to tell, and what a request may do, [`crate::gateway`]'s to judge.

mod accept;
mod bind;
mod callers;
mod connection;
mod drain;
mod http;
mod reload;
mod start;
mod watch;
mod woken;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use accept::HANDSHAKE_TIMEOUT;
pub use connection::MAX_HEADER_BYTES;
pub use start::ServeError;

use crate::address::Cidr;
use crate::admin::Admin;
use crate::config::ServeConfig;
use crate::forward::Upstream;
use crate::gateway::Gateway;
use crate::identify::containers::Directory;
use crate::listen::Listener;
use crate::profile::Profiles;
use crate::tls::Reloadable;
use crate::workers::{Placement, Workers};

/// One listener and what its callers may do; a reload swaps its profiles.
struct ListenerState {
    listener: Listener,
    tls: Option<Reloadable>,
    allow_cidrs: Vec<Cidr>,
    /// For the drop-in listener, the networks of sockgate's own interfaces, read at start.
    own_networks: Option<Vec<Cidr>>,
    profiles: ArcSwap<Profiles>,
    /// What each caller holds of this listener; its limits stay as started (a restart changes them).
    callers: Arc<callers::Callers>,
}

impl ListenerState {
    /// Whether a TCP peer at `ip` may connect: inside `allow_cidrs` when there are any, and for
    /// the drop-in listener on one of sockgate's own networks (an empty list admits nobody).
    fn admits(&self, ip: IpAddr) -> bool {
        (self.allow_cidrs.is_empty() || self.allow_cidrs.iter().any(|c| c.contains(ip)))
            && self.own_networks.as_ref().is_none_or(|own| own.iter().any(|c| c.contains(ip)))
    }

    /// The listener as the start-up line shows it, with the networks a drop-in listener admits.
    fn shown(&self) -> String {
        match &self.own_networks {
            None => self.listener.name().to_string(),
            Some(own) => {
                let own: Vec<String> = own.iter().map(Cidr::to_string).collect();
                format!("{} (plain TCP, only from sockgate's own networks {})", self.listener.name(), own.join(", "))
            }
        }
    }
}

/// Serves until `shutdown` completes, then drains within the grace period.
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    crate::classify::warm();
    crate::naming::image::warm();
    for listener in &config.listeners {
        start::check_exposure(listener)?;
    }
    let loaded = Profiles::load_all(&config.listeners)?;
    let own_networks = start::own_networks(&config)?;
    // Bound first, while sockgate may still be root; then root is given up (when told to)
    // before anything else is opened.
    let bound = bind::bind(&config).await?;
    let unserved = bind::Unserved::of(&bound);
    bind::give_up_root(&config, &bound)?;

    let tunnels = TaskTracker::new();
    let placement = if config.pin_workers { Placement::OwnCore } else { Placement::AnyCore };
    let workers = Arc::new(Workers::start(config.workers, placement).map_err(ServeError::Workers)?);
    let upstream = start::upstream(&config, tunnels.clone(), workers.len())?;
    // Owners taken from the calling container need to know the engine's containers.
    let discovery = config.container_discovery || loaded.iter().any(Profiles::needs_containers);
    let directory = if discovery { Directory::start(upstream.clone()) } else { Directory::empty() };
    let recorder = start::recorder(&config)?;
    let gateway = Arc::new(Gateway::new(
        upstream.clone(),
        config.max_body_bytes,
        recorder.clone(),
        config.min_api_version.clone(),
    ));
    {
        let gateway = gateway.clone();
        tokio::spawn(async move { gateway.learn_versions().await });
    }

    let states = start::listeners(&config, bound.listeners, loaded, own_networks.as_deref(), &upstream, &recorder)?;
    unserved.serving();

    let names: Vec<String> = states.iter().map(|s| s.shown()).collect();
    let policies = crate::announce::policies(&config.listeners);
    let addr = config.upstream.addr.clone();
    tokio::spawn(crate::announce::started(policies, config.mode, names.join(", "), upstream.clone(), addr));

    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let accept_loops = TaskTracker::new();
    for state in &states {
        let context = accept::Accepting {
            state: state.clone(),
            gateway: gateway.clone(),
            directory: directory.clone(),
            stop: stop.clone(),
            connections: connections.clone(),
            workers: workers.clone(),
            slots: slots.clone(),
            idle_timeout: config.idle_timeout,
            header_timeout: config.header_timeout,
        };
        accept_loops.spawn(accept::accept_loop(context));
    }
    if let Some(listener) = bound.admin {
        let admin = Admin {
            recorder: recorder.clone(),
            upstream: upstream.clone(),
            connections: connections.clone(),
            tunnels: tunnels.clone(),
        };
        // Tracked with the accept loops, so its socket file is removed before sockgate exits.
        accept_loops.spawn(start::admin(listener, admin, stop.clone()));
    }
    accept_loops.close();
    let reloader = Arc::new(reload::Reloader {
        config_file: config.config_file.clone(),
        listeners: Mutex::new(config.listeners.clone()),
        states: states.clone(),
        recorder: recorder.clone(),
    });
    let signals = tokio::spawn(reload::handle_signals(reloader.clone()));
    let watcher = tokio::spawn(reload::watch_files(reloader));
    let pruner = tokio::spawn(prune_idle(upstream.clone()));
    workers.spawn_on_each(|| prune_idle(upstream.clone()));
    if !config.spin.is_zero() {
        let budget = config.spin;
        workers.spawn_on_each(move || crate::workers::spin(budget));
    }

    shutdown.await;
    tracing::info!(grace_period = ?config.grace_period, "stopping: no new connections, draining in-flight requests");
    signals.abort();
    watcher.abort();
    pruner.abort();
    drain::drain(&stop, &accept_loops, &states, &connections, &tunnels, config.grace_period).await;
    // What was learnt is the point of the run: failing to keep it is a failed run.
    reload::write_learned(&recorder)?;
    Ok(())
}

/// Closes the engine connections of this thread's pool that stayed idle too long.
///
/// On a worker it has a second use: its timer keeps the runtime's timer wheel from ever being
/// empty when the worker goes to sleep. Each connection's watch arms a timer now and then (see
/// `watch`); were it the only timer, arming it would wake the runtime's driver through its
/// eventfd (two more system calls), to make it sleep with a deadline. With a nearer deadline
/// always pending, the driver already sleeps short enough and is left alone.
async fn prune_idle(upstream: Upstream) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        upstream.prune();
    }
}
