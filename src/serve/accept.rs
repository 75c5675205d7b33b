//! The accept loop of one listener: takes a connection slot, accepts, refuses sources outside the
//! listener's networks, hands the connection to a worker, completes the TLS handshake there, and
//! serves it ([`super::connection`]). Who a certificate names is [`crate::identify::cert`]'s to
//! read; this loop only passes it on. It reads no request.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{serve_connection, Connection};
use super::ListenerState;
use crate::gateway::Gateway;
use crate::identify::cert::CertIdentity;
use crate::identify::containers::Directory;
use crate::identify::{Identity, Peer};
use crate::listen::TakenOver;
use crate::socket::TcpSocket;
use crate::tls::Reloadable;
use crate::workers::Workers;

/// How long a client may take to complete a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an accept loop needs.
pub(super) struct Accepting {
    pub(super) state: Arc<ListenerState>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) directory: Arc<Directory>,
    pub(super) stop: CancellationToken,
    pub(super) connections: TaskTracker,
    pub(super) workers: Arc<Workers>,
    pub(super) slots: Arc<Semaphore>,
    pub(super) idle_timeout: Duration,
    pub(super) header_timeout: Duration,
}

pub(super) async fn accept_loop(ctx: Accepting) {
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
            if !ctx.state.admits(addr.ip()) {
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
        // Boxed, as the identity: a task keeps what it captured for as long as it lives.
        let identity = Box::new(identity);
        let connection = Box::new(Connection {
            state: ctx.state.clone(),
            gateway: ctx.gateway.clone(),
            directory: ctx.directory.clone(),
            // A token of its own, which a stop cancels with the rest: waiting on it locks only
            // this connection's state, not one that every connection on every worker shares.
            stop: ctx.stop.child_token(),
            idle_timeout: ctx.idle_timeout,
            header_timeout: ctx.header_timeout,
            _slot: permit,
        });
        ctx.workers.spawn(ctx.connections.track_future(async move {
            let stream = match stream.take_over() {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(client = %identity, "cannot serve the connection: {e}");
                    return;
                }
            };
            let state = connection.state.clone();
            match (stream, state.tls.is_some()) {
                (TakenOver::Unix(stream), _) => serve_connection(stream, identity, connection).await,
                (TakenOver::Tcp(stream), false) => serve_connection(stream, identity, connection).await,
                // Boxed: a handshake's state is large, and every connection's task would be
                // as large as the largest of these arms for as long as it lives.
                (TakenOver::Tcp(stream), true) => {
                    Box::pin(async move {
                        let Some(tls) = &state.tls else { return };
                        let Some(tls_stream) = handshake(tls, stream, &identity).await else { return };
                        let mut identity = identity;
                        identity.certificate = CertIdentity::of_client(tls_stream.get_ref().1);
                        serve_connection(tls_stream, identity, connection).await;
                    })
                    .await;
                }
            }
        }));
    }
}

/// Completes the server side of a TLS handshake within [`HANDSHAKE_TIMEOUT`]; `None` (and a
/// warning naming `identity`) when it fails or takes too long.
async fn handshake(tls: &Reloadable, stream: TcpSocket, identity: &Identity) -> Option<TlsStream<TcpSocket>> {
    let acceptor = TlsAcceptor::from(tls.current());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(client = %identity, "TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(client = %identity, "TLS handshake timed out");
            None
        }
    }
}
