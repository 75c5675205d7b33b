//! Runs the server: loads the policy, opens the listeners, serves each connection with HTTP/1.1
//! (upgrades included) within the connection bound, and on a stop signal stops accepting and lets
//! in-flight requests and tunnels finish within the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServeConfig;
use crate::forward::Upstream;
use crate::gateway::Gateway;
use crate::identify::Identity;
use crate::listen::{Accepted, ListenError, Listener, SocketOptions};
use crate::policy::{Policy, PolicyErrors};

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// How long a connection may take to send a complete request head, idle keep-alive time included.
/// Longer than Go's `http.Transport` keeps idle connections (90 s), so clients close them first.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid policy:\n{0}")]
    Policy(#[from] PolicyErrors),
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// Serves until `shutdown` completes, then drains within the grace period.
///
/// `inline_policy` is policy text used when `config.policy` names no file (the docker-socket-proxy
/// compatibility mode); with neither, the built-in read-only policy applies.
pub async fn run(
    config: ServeConfig,
    inline_policy: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let policy = match (&inline_policy, config.policy.is_empty()) {
        (_, false) => Policy::load(&config.policy)?,
        (Some(text), true) => Policy::from_sources("docker-socket-proxy", &[("<environment>".into(), text.clone())])?,
        (None, true) => Policy::builtin_read_only()?,
    };
    let tunnels = TaskTracker::new();
    let upstream = Upstream::new(config.upstream.clone(), tunnels.clone());
    tracing::info!(policy = %policy.name, upstream = %upstream.addr(), "policy loaded");
    let gateway = Arc::new(Gateway::new(policy, upstream, config.max_body_bytes));

    let options = SocketOptions { mode: config.socket_mode, group: config.socket_group.clone() };
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let listener = Listener::bind(addr, &options).await?;
        tracing::info!("listening on {}", listener.name());
        listeners.push(Arc::new(listener));
    }

    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let accept_loops = TaskTracker::new();
    for listener in &listeners {
        accept_loops.spawn(accept_loop(
            listener.clone(),
            gateway.clone(),
            stop.clone(),
            connections.clone(),
            slots.clone(),
        ));
    }
    accept_loops.close();

    shutdown.await;
    tracing::info!(grace_period = ?config.grace_period, "stopping: no new connections, draining in-flight requests");
    stop.cancel();
    accept_loops.wait().await;
    for listener in &listeners {
        listener.cleanup();
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
    Ok(())
}

async fn accept_loop(
    listener: Arc<Listener>,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
    connections: TaskTracker,
    slots: Arc<Semaphore>,
) {
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            () = stop.cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        match accepted {
            Ok((Accepted::Unix(stream), identity)) => {
                connections.spawn(serve_connection(stream, identity, gateway.clone(), stop.clone(), permit));
            }
            Ok((Accepted::Tcp(stream), identity)) => {
                connections.spawn(serve_connection(stream, identity, gateway.clone(), stop.clone(), permit));
            }
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(listener = %listener.name(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves or a stop asks it to finish.
pub async fn serve_connection<I>(
    io: I,
    identity: Identity,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let identity = Arc::new(identity);
    let service = {
        let identity = identity.clone();
        service_fn(move |request| {
            let gateway = gateway.clone();
            let identity = identity.clone();
            async move { Ok::<_, Infallible>(gateway.handle(&identity, request).await) }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %identity, "connection ended: {e}");
    }
}
