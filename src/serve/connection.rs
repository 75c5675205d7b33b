//! One client connection served with HTTP/1.1 (upgrades included) until the client leaves, hangs
//! up, or a stop asks it to finish: the caller is recognised once, then each request is judged as
//! the caller is now, by the listener's profiles as they are now. It bounds the request head and
//! the time to send it; it reads no body itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::ListenerState;
use crate::gateway::{Caller, Gateway};
use crate::hangup::HangUp;
use crate::identify::containers::Directory;
use crate::identify::Identity;

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// How long a connection may take to send a complete request head, idle keep-alive time included.
/// Longer than Go's `http.Transport` keeps idle connections (90 s), so clients close them first.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// What serving one connection needs besides its stream.
pub(super) struct Connection {
    pub(super) state: Arc<ListenerState>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) directory: Arc<Directory>,
    pub(super) stop: CancellationToken,
    /// Held while the connection is served: one of the server's connection slots.
    pub(super) _slot: OwnedSemaphorePermit,
}

/// Serves HTTP/1.1 on one connection until the client leaves or a stop asks it to finish.
pub(super) async fn serve_connection<I>(io: I, mut identity: Identity, connection: Connection, hang_up: HangUp)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection { state, gateway, directory, stop, _slot } = connection;
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
