//! One client connection served with HTTP/1.1 (upgrades included) until the client leaves, hangs
//! up, or a stop asks it to finish: the caller is recognised once and held to its share of the
//! listener ([`super::callers`]), then each request is judged as the caller is now, by the
//! listener's profiles as they are now. It bounds the request head, the time to send it and the
//! time to sit idle ([`super::watch`]); it reads no body itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::callers::Kind;
use super::watch::{Verdict, Watch, Watched};
use super::ListenerState;
use crate::error::GatewayError;
use crate::gateway::{Caller, Gateway};
use crate::hangup::HangUp;
use crate::identify::containers::Directory;
use crate::identify::Identity;

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// How long a refused connection's close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What serving one connection needs besides its stream.
pub(super) struct Connection {
    pub(super) state: Arc<ListenerState>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) directory: Arc<Directory>,
    pub(super) stop: CancellationToken,
    pub(super) idle_timeout: Duration,
    pub(super) header_timeout: Duration,
    /// Held while the connection is served: one of the server's connection slots.
    pub(super) _slot: OwnedSemaphorePermit,
}

/// Serves HTTP/1.1 on one connection until the client leaves or a stop asks it to finish.
pub(super) async fn serve_connection<I>(mut io: I, mut identity: Identity, connection: Connection, hang_up: HangUp)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection { state, gateway, directory, stop, idle_timeout, header_timeout, _slot } = connection;
    // Taken before the identity is resolved, so any change meanwhile makes it resolved again.
    let generation = directory.generation();
    identity.discover(&directory).await;
    let key = identity.key();
    let callers = state.callers.clone();
    // The caller's profile may set limits of its own; the listener's apply otherwise.
    let connections = {
        let profiles = state.profiles();
        let (profile, _) = profiles.select(&identity);
        profiles.limits(profile.as_deref()).unwrap_or_else(|| callers.limits()).connections
    };
    let Some(_held) = callers.take(&key, Kind::Connections, connections) else {
        // Closed before a byte is read: the caller's other connections are what it may use.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
        return;
    };
    let identity = Arc::new(identity);
    let watch = Watch::new(idle_timeout, header_timeout);
    let service = {
        let caller = Arc::new(Caller::new(identity.clone(), generation));
        let (watch, key, callers) = (watch.clone(), key.clone(), callers.clone());
        service_fn(move |request| {
            let busy = watch.request();
            let gateway = gateway.clone();
            let caller = caller.clone();
            let state = state.clone();
            let directory = directory.clone();
            let callers = callers.clone();
            let key = key.clone();
            async move {
                // Each request is judged as the caller is now, by the profiles as they are now.
                caller.refresh(&directory).await;
                let profiles = state.profiles();
                let (profile, policy) = profiles.select(&caller.identity());
                let limit = profiles.limits(profile.as_deref()).unwrap_or_else(|| callers.limits()).requests;
                drop(profiles);
                let Some(permit) = callers.take(&key, Kind::Requests, limit) else {
                    let refused = GatewayError::CallerBusy { caller: key.to_string(), limit };
                    let response = gateway.refuse(&caller, profile, &request, &refused);
                    return Ok::<_, Infallible>(response.map(|body| body.holding(busy)));
                };
                let response = gateway.handle(&caller, profile, &policy, request).await;
                Ok(response.map(|body| body.holding((busy, permit))))
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // The head's deadline is the watch's: hyper's would count idle time as head time.
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        // A client that shut down its sending side after its request still gets the answer, as
        // from dockerd; one that left altogether is noticed by `hang_up` (see `crate::hangup`).
        .half_close(true)
        .serve_connection(TokioIo::new(Watched::new(io, watch.clone())), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut next_check = watch.first_check();
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            // Gone: whatever the connection was answering is dropped, the engine connection with it.
            () = hang_up.wait() => break Ok(()),
            () = stop.cancelled() => {
                connection.as_mut().graceful_shutdown();
                break connection.await;
            }
            () = tokio::time::sleep_until(next_check) => match watch.check(tokio::time::Instant::now()) {
                Verdict::Until(when) => next_check = when,
                Verdict::Idle => {
                    callers.closed_idle(&key);
                    break Ok(());
                }
                Verdict::HeaderTimeout => {
                    callers.header_timeout(&key);
                    break Ok(());
                }
            },
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %identity, "connection ended: {e}");
    }
}
