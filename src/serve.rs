//! Runs the server: loads every listener's policies, opens the listeners, accepts connections
//! within the connection bound (refusing sources outside a listener's networks, completing TLS
//! handshakes, recognising callers), serves each with HTTP/1.1 (upgrades included), serves the
//! admin endpoints, reloads certificates and policies on `SIGHUP` or a file change, and on a stop
//! signal stops accepting and lets in-flight requests and tunnels finish within the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, Admin};
use crate::config::{Cidr, ListenAddr, ListenerConfig, PolicySource, ServeConfig};
use crate::decide::Mode;
use crate::diagnostics::Problems;
use crate::forward::{Upstream, UpstreamAddr};
use crate::gateway::{Caller, Gateway};
use crate::hangup::HangUp;
use crate::identify::cert::CertIdentity;
use crate::identify::containers::Directory;
use crate::identify::{Identity, Peer};
use crate::listen::{Accepted, ListenError, Listener, SocketOptions};
use crate::profile::Profiles;
use crate::record::audit::AuditLog;
use crate::record::learn::{LearnError, Learner};
use crate::record::Recorder;
use crate::tls::{self, Reloadable, TlsError};
use crate::workers::Workers;

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// How long a connection may take to send a complete request head, idle keep-alive time included.
/// Longer than Go's `http.Transport` keeps idle connections (90 s), so clients close them first.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a client may take to complete a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often policy and configuration files are checked for changes.
const FILE_POLL: Duration = Duration::from_secs(2);

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

/// One listener and what its callers may do.
struct ListenerState {
    listener: Listener,
    tls: Option<Reloadable>,
    allow_cidrs: Vec<Cidr>,
    profiles: RwLock<Arc<Profiles>>,
}

impl ListenerState {
    fn profiles(&self) -> Arc<Profiles> {
        self.profiles.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Serves until `shutdown` completes, then drains within the grace period.
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    crate::classify::warm();
    crate::inspect::image::warm();
    for listener in &config.listeners {
        check_exposure(listener)?;
    }
    let loaded = Profiles::load_all(&config.listeners)?;

    let tunnels = TaskTracker::new();
    let client_tls = match (&config.upstream.tls, &config.upstream.addr) {
        (Some(files), UpstreamAddr::Tcp(hostport)) => Some((tls::client_config(files)?, tls::server_name(hostport)?)),
        (Some(_), UpstreamAddr::Unix(_)) => {
            return Err(TlsError::Config("TLS to the engine needs a `tcp://` upstream".into()).into())
        }
        (None, _) => None,
    };
    let workers = Arc::new(Workers::start(config.workers).map_err(ServeError::Workers)?);
    let upstream = Upstream::new(config.upstream.addr.clone(), client_tls, tunnels.clone(), workers.len());
    // Owners taken from the calling container need to know the engine's containers.
    let discovery = config.container_discovery || loaded.iter().any(Profiles::needs_containers);
    let directory = if discovery { Directory::start(upstream.clone()) } else { Directory::empty() };
    let audit = match &config.audit_log {
        Some(target) => Some(AuditLog::open(target.clone()).map_err(|e| ServeError::Audit(format!("{target}: {e}")))?),
        None => None,
    };
    let learner = (config.mode == Mode::Learn).then(|| Learner::open(config.learn_output.clone())).transpose()?;
    if config.mode != Mode::Enforce {
        tracing::warn!(mode = config.mode.name(), "denials are logged but not enforced");
    }
    let recorder = Arc::new(Recorder::new(config.mode, audit, learner));
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
            profiles: RwLock::new(Arc::new(profiles)),
        }));
    }

    let names: Vec<String> = states.iter().map(|s| s.listener.name().to_string()).collect();
    let policies = crate::announce::policies(&config.listeners);
    let addr = config.upstream.addr.clone();
    tokio::spawn(crate::announce::started(policies, config.mode, names.join(", "), upstream.clone(), addr));

    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let accept_loops = TaskTracker::new();
    for state in &states {
        let context = Accepting {
            state: state.clone(),
            gateway: gateway.clone(),
            directory: directory.clone(),
            stop: stop.clone(),
            connections: connections.clone(),
            workers: workers.clone(),
            slots: slots.clone(),
        };
        accept_loops.spawn(accept_loop(context));
    }
    if let Some(addr) = &config.admin_listen {
        let admin_listener = Listener::bind(addr, &SocketOptions { mode: 0o660, group: None }).await?;
        tracing::info!("admin endpoints (/metrics, /health, /ready) on {}", admin_listener.name());
        let admin = Admin {
            recorder: recorder.clone(),
            upstream: upstream.clone(),
            connections: connections.clone(),
            tunnels: tunnels.clone(),
        };
        // Tracked with the accept loops, so its socket file is removed before sockgate exits.
        accept_loops.spawn(admin::serve(admin_listener, admin, stop.clone()));
    }
    accept_loops.close();
    let reloader = Arc::new(Reloader {
        config_file: config.config_file.clone(),
        listeners: Mutex::new(config.listeners.clone()),
        states: states.clone(),
        recorder: recorder.clone(),
    });
    let signals = tokio::spawn(handle_signals(reloader.clone()));
    let watcher = tokio::spawn(watch_files(reloader));
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
    stop.cancel();
    accept_loops.wait().await;
    for state in &states {
        state.listener.cleanup();
    }
    connections.close();
    tunnels.close();
    let drained = tokio::time::timeout(config.grace_period, async {
        connections.wait().await;
        tunnels.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            tunnels = tunnels.len(),
            "grace period over, closing what is still open"
        );
    }
    // What was learnt is the point of the run: failing to keep it is a failed run.
    write_learned(&recorder)?;
    Ok(())
}

/// Closes the engine connections of this thread's pool that stayed idle too long.
///
/// On a worker it has a second use: its timer keeps the runtime's timer wheel from ever being
/// empty when the worker goes to sleep. Each request arms a header-read timeout (120 s) when its
/// connection starts waiting for the next request; were it the only timer, arming it would wake
/// the runtime's driver through its eventfd (two more system calls per request), to make it
/// sleep with a deadline. With a nearer deadline always pending, the driver already sleeps short
/// enough and is left alone.
async fn prune_idle(upstream: Upstream) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        upstream.prune();
    }
}

fn write_learned(recorder: &Recorder) -> Result<(), LearnError> {
    if let Some(learner) = &recorder.learner {
        learner.write()?;
        tracing::info!(file = %learner.output().display(), "learned policy written");
    }
    Ok(())
}

/// Like dockerd, sockgate does not serve the API unauthenticated beyond the machine unless told to.
fn check_exposure(listener: &ListenerConfig) -> Result<(), ServeError> {
    let ListenAddr::Tcp(hostport) = &listener.addr else { return Ok(()) };
    if listener.tls.is_some() || listener.insecure {
        return Ok(());
    }
    let host = crate::config::host_of(hostport);
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

/// Reloads policies (and the configuration file's profiles) all at once, or not at all.
struct Reloader {
    config_file: Option<PathBuf>,
    listeners: Mutex<Vec<ListenerConfig>>,
    states: Vec<Arc<ListenerState>>,
    recorder: Arc<Recorder>,
}

impl Reloader {
    fn current(&self) -> Vec<ListenerConfig> {
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Loads every listener's policies again; an error anywhere keeps every old policy.
    fn reload(&self) {
        let mut configs = self.current();
        if let Some(file) = &self.config_file {
            match crate::config::file::load(file) {
                Ok(fresh) => {
                    for config in &mut configs {
                        match fresh.listeners.iter().find(|f| f.addr == config.addr) {
                            Some(f) => *config = f.clone(),
                            None => {
                                tracing::warn!(listener = %config.addr, "listener removed from the configuration: a restart applies that")
                            }
                        }
                    }
                }
                Err(errors) => return self.failed(&errors),
            }
        }
        let loaded = match Profiles::load_all(&configs) {
            Ok(loaded) => loaded,
            Err(errors) => return self.failed(&errors),
        };
        for (state, profiles) in self.states.iter().zip(loaded) {
            *state.profiles.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(profiles);
        }
        if let Ok(mut guard) = self.listeners.lock() {
            *guard = configs;
        }
        self.recorder.metrics.reloads.with_label_values(&["ok"]).inc();
        tracing::info!("policies reloaded");
    }

    fn failed(&self, errors: &Problems) {
        self.recorder.metrics.reloads.with_label_values(&["failed"]).inc();
        for error in &errors.0 {
            tracing::error!("reload refused, the old policies stay: {error}");
        }
    }

    /// The files whose change triggers a reload, with what they looked like.
    fn snapshot(&self) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
        let mut files: Vec<PathBuf> = self.config_file.iter().cloned().collect();
        for config in self.current() {
            for source in std::iter::once(&config.policy).chain(config.profiles.iter().map(|p| &p.policy)) {
                if let PolicySource::Files(paths) = source {
                    files.extend(paths.iter().cloned());
                }
            }
        }
        files.sort();
        files.dedup();
        files
            .into_iter()
            .map(|path| {
                let stamp = std::fs::metadata(&path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
                (path, stamp)
            })
            .collect()
    }
}

/// `SIGHUP` reloads certificates, policies and the audit log file; `SIGUSR1` writes what learn mode learnt.
async fn handle_signals(reloader: Arc<Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hangups), Ok(mut user1)) = (signal(SignalKind::hangup()), signal(SignalKind::user_defined1())) else {
        return;
    };
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {
                for state in &reloader.states {
                    if let Some(tls) = &state.tls {
                        match tls.reload() {
                            Ok(()) => tracing::info!(listener = %state.listener.name(), "TLS certificates reloaded"),
                            Err(e) => tracing::error!(listener = %state.listener.name(), "TLS reload failed, keeping the old certificates: {e}"),
                        }
                    }
                }
                if let Some(audit) = &reloader.recorder.audit {
                    if let Err(e) = audit.reopen() {
                        tracing::error!("cannot reopen the audit log: {e}");
                    }
                }
                reloader.reload();
            }
            Some(()) = user1.recv() => {
                if let Err(e) = write_learned(&reloader.recorder) {
                    tracing::error!("{e}");
                }
            }
            else => return,
        }
    }
}

/// Reloads when a policy or configuration file changes (checked every two seconds).
async fn watch_files(reloader: Arc<Reloader>) {
    let mut last = reloader.snapshot();
    loop {
        tokio::time::sleep(FILE_POLL).await;
        let now = reloader.snapshot();
        if now != last {
            tracing::info!("a policy or configuration file changed");
            reloader.reload();
            last = reloader.snapshot();
        }
    }
}

/// What an accept loop needs.
struct Accepting {
    state: Arc<ListenerState>,
    gateway: Arc<Gateway>,
    directory: Arc<Directory>,
    stop: CancellationToken,
    connections: TaskTracker,
    workers: Arc<Workers>,
    slots: Arc<Semaphore>,
}

async fn accept_loop(ctx: Accepting) {
    loop {
        let permit = tokio::select! {
            permit = ctx.slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            () = ctx.stop.cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = ctx.state.listener.accept() => accepted,
            () = ctx.stop.cancelled() => return,
        };
        let (stream, identity) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(listener = %ctx.state.listener.name(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Peer::Tcp { addr } = identity.peer {
            if !ctx.state.allow_cidrs.is_empty() && !ctx.state.allow_cidrs.iter().any(|c| c.contains(addr.ip())) {
                tracing::warn!(client = %identity, "connection refused: source address outside the listener's allowed networks");
                continue;
            }
        }
        let stream = match stream.hand_off() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(client = %identity, "cannot hand the connection to a worker: {e}");
                continue;
            }
        };
        let state = ctx.state.clone();
        let gateway = ctx.gateway.clone();
        let directory = ctx.directory.clone();
        let stop = ctx.stop.clone();
        ctx.workers.spawn(ctx.connections.track_future(async move {
            let stream = match stream.take_over() {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(client = %identity, "cannot serve the connection: {e}");
                    return;
                }
            };
            match (stream, &state.tls) {
                (Accepted::Unix(stream), _) => {
                    let hang_up = HangUp::unix(&stream);
                    serve_connection(stream, identity, gateway, state, directory, stop, permit, hang_up).await;
                }
                (Accepted::Tcp(stream), None) => {
                    let hang_up = HangUp::tcp(&stream);
                    serve_connection(stream, identity, gateway, state, directory, stop, permit, hang_up).await;
                }
                (Accepted::Tcp(stream), Some(tls)) => {
                    let hang_up = HangUp::tcp(&stream);
                    let acceptor = TlsAcceptor::from(tls.current());
                    let tls_stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::warn!(client = %identity, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(client = %identity, "TLS handshake timed out");
                            return;
                        }
                    };
                    let mut identity = identity;
                    identity.certificate = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .and_then(|der| CertIdentity::from_der(der));
                    serve_connection(tls_stream, identity, gateway, state, directory, stop, permit, hang_up).await;
                }
            }
        }));
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves or a stop asks it to finish.
#[expect(clippy::too_many_arguments, reason = "one connection's parts, passed once from the accept loop")]
async fn serve_connection<I>(
    io: I,
    mut identity: Identity,
    gateway: Arc<Gateway>,
    state: Arc<ListenerState>,
    directory: Arc<Directory>,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
    hang_up: HangUp,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Taken before the identity is resolved, so any change meanwhile makes it resolved again.
    let generation = directory.generation();
    identity.discover(&directory).await;
    let identity = Arc::new(identity);
    let service = {
        let caller = Arc::new(Caller::new(identity.clone(), generation));
        service_fn(move |request| {
            let gateway = gateway.clone();
            let caller = caller.clone();
            let state = state.clone();
            let directory = directory.clone();
            async move {
                // Each request is judged as the caller is now, by the profiles as they are now.
                caller.refresh(&directory).await;
                let (profile, policy) = state.profiles().select(&caller.identity());
                Ok::<_, Infallible>(gateway.handle(&caller, profile, &policy, request).await)
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        // A client that shut down its sending side after its request still gets the answer, as
        // from dockerd; one that left altogether is noticed by `hang_up` (see `crate::hangup`).
        .half_close(true)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        // Gone: whatever the connection was answering is dropped, the engine connection with it.
        () = hang_up.wait() => Ok(()),
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %identity, "connection ended: {e}");
    }
}
