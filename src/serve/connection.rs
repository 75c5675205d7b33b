//! One client connection served with HTTP/1.1 (upgrades included) until the client leaves, hangs
//! up, or a stop asks it to finish: the caller is recognised once and held to its share of the
//! listener ([`super::callers`]), then each request is judged as the caller is now, by the
//! listener's profiles as they are now. It bounds the request head, the time to send it and the
//! time to sit idle ([`super::watch`]); it reads no body itself.
//!
//! A connection quiet between requests for [`PARK_AFTER`] is parked: the HTTP layer lets go of
//! the stream (its buffers and request state with it, some 20 kB), and the connection waits on
//! the socket's readiness alone, holding little more than the socket, until the client writes
//! again. A TLS stream keeps its TLS session while parked, and bytes its TLS layer already
//! decrypted count as readable (see [`Park`]).
//!
//! A connection keeps what its requests are judged by (its caller's profile and policy) and
//! chooses it again only when the profiles or the caller change: a request borrows it, and writes
//! no reference count that connections on other workers write too.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::callers::{Holder, Kind};
use super::http::Finished;
use super::watch::{Busy, Verdict, Watch, Watched, PARK_AFTER};
use super::woken::OnWake;
use super::ListenerState;
use crate::body::Body;
use crate::clock::Coarse;
use crate::config::CallerLimits;
use crate::error::GatewayError;
use crate::gateway::{Caller, Gateway, Judging};
use crate::hangup::HangUp;
use crate::http1;
use crate::identify::containers::Directory;
use crate::identify::Identity;
use crate::profile::Profiles;
use crate::socket::{TcpSocket, UnixSocket};

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEADER_BYTES: usize = crate::http1::request::MAX_HEAD_BYTES;

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

/// A client stream a connection can wait on between requests without reading it.
pub(super) trait Park: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Resolves once the stream has bytes to read, has ended, or has failed.
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// A watch for the client hanging up while a request is answered.
    fn hang_up(&self) -> HangUp;
}

impl Park for UnixSocket {
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        UnixSocket::readable(self)
    }

    fn hang_up(&self) -> HangUp {
        HangUp::unix(self.get_ref())
    }
}

impl Park for TcpSocket {
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        TcpSocket::readable(self)
    }

    fn hang_up(&self) -> HangUp {
        HangUp::tcp(self.get_ref())
    }
}

impl Park for tokio_rustls::server::TlsStream<TcpSocket> {
    /// Parked, the connection keeps the TLS layer's state and lets go of the HTTP layer's buffers.
    /// Bytes the TLS layer has already decrypted, or a close the peer already sent, count as
    /// readable: the socket would say nothing of them. What the layer still has to send (a
    /// session ticket, say) is sent first, so nothing waits on a parked connection.
    async fn readable(&mut self) -> io::Result<()> {
        tokio::io::AsyncWriteExt::flush(self).await?;
        match self.get_mut().1.process_new_packets() {
            Ok(state) if state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed() => {}
            // Read at once: the session reads what is there, or meets the error and closes.
            _ => return Ok(()),
        }
        self.get_ref().0.readable().await
    }

    fn hang_up(&self) -> HangUp {
        HangUp::tcp(self.get_ref().0.get_ref())
    }
}

/// What every request on one connection is answered with: who calls, and under which limits.
struct Served {
    gateway: Arc<Gateway>,
    caller: Caller,
    state: Arc<ListenerState>,
    directory: Arc<Directory>,
    /// The caller as this connection holds it, which counts its requests.
    holder: Arc<Holder>,
    watch: Arc<Watch>,
    /// What the connection's requests are judged by, as last chosen.
    chosen: Mutex<Arc<Chosen>>,
}

/// The profile chosen for a caller from a listener's profiles, its policy and its limits.
struct Chosen {
    /// What it was chosen from, kept so that neither is taken for a later one at the same address.
    /// A reload's old profiles stay until the connection's next request.
    profiles: Arc<Profiles>,
    judging: Judging,
    limits: CallerLimits,
}

impl Chosen {
    /// Chooses for `identity`; limits the profile does not set are `listener`'s.
    fn new(profiles: Arc<Profiles>, identity: Arc<Identity>, listener: CallerLimits) -> Chosen {
        let (profile, policy) = profiles.select(&identity);
        let limits = profiles.limits(profile.as_deref()).unwrap_or(listener);
        Chosen { profiles, judging: Judging::new(identity, profile, policy), limits }
    }
}

impl Served {
    /// Answers one request, judged as the caller is now, by the profiles as they are now.
    #[allow(clippy::manual_async_fn, reason = "an `async fn` would hold the request twice (see below)")]
    fn answer(self: Arc<Served>, request: http1::Request, busy: Busy) -> impl Future<Output = http::Response<Body>> {
        // An `async` block, not an `async fn`: it holds the request once, where an `async fn`
        // would hold its argument and its own copy.
        async move {
            self.caller.refresh(&self.directory).await;
            let chosen = self.chosen();
            let limit = chosen.limits.requests;
            let Some(permit) = self.holder.take_request(limit) else {
                let refused = GatewayError::CallerBusy { caller: self.holder.key().to_string(), limit };
                let mut response = self.gateway.refuse(&self.caller, &chosen.judging, &request, &refused);
                response.body_mut().holding(busy);
                return response;
            };
            let mut response = self.gateway.handle(&self.caller, &chosen.judging, request).await;
            response.body_mut().holding((busy, permit));
            response
        }
    }

    /// What the next request is judged by: as last chosen, unless the listener's profiles were
    /// reloaded or the caller was identified as another since.
    fn chosen(&self) -> Arc<Chosen> {
        let identity = self.caller.identity();
        let profiles = self.state.profiles.load();
        let mut chosen = self.chosen.lock();
        if !Arc::ptr_eq(&chosen.profiles, &profiles) || !Arc::ptr_eq(&chosen.judging.identity, &identity) {
            let listener = self.holder.callers().limits();
            *chosen = Arc::new(Chosen::new(Arc::clone(&profiles), identity, listener));
        }
        chosen.clone()
    }
}

/// What ended a wait of a session besides its connection.
enum Rare {
    HangUp,
    Stop,
    Check,
}

/// How one session of HTTP on a connection ended.
enum Ended<I> {
    /// The connection is over (or was upgraded into a tunnel that now owns it).
    Closed,
    /// Parked: the stream, and bytes already read from it that the next session must read first.
    Parked(I, Bytes),
}

/// Serves HTTP/1.1 on one connection until the client leaves or a stop asks it to finish.
pub(super) async fn serve_connection<I: Park>(mut io: I, mut identity: Box<Identity>, connection: Box<Connection>) {
    let Connection { state, gateway, directory, stop, idle_timeout, header_timeout, _slot } = *connection;
    // Taken before the identity is resolved, so any change meanwhile makes it resolved again.
    let generation = directory.generation();
    // Boxed: looking the caller up takes more state than the rest of the connection.
    Box::pin(identity.discover(&directory)).await;
    let key = identity.key();
    let callers = state.callers.clone();
    let identity = Arc::<Identity>::from(identity);
    // The caller's profile may set limits of its own; the listener's apply otherwise.
    let chosen = Chosen::new(state.profiles.load_full(), identity.clone(), callers.limits());
    let Some(_held) = callers.take(&key, Kind::Connections, chosen.limits.connections) else {
        // Closed before a byte is read: the caller's other connections are what it may use.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
        return;
    };
    let watch = Watch::new(idle_timeout, header_timeout, Some(PARK_AFTER));
    let caller = Caller::new(identity.clone(), generation, gateway.recorder());
    let served = Arc::new(Served {
        gateway,
        caller,
        state,
        directory,
        holder: _held.holder().clone(),
        watch,
        chosen: Mutex::new(Arc::new(chosen)),
    });
    let mut unread = Bytes::new();
    loop {
        // Boxed: while parked, the connection holds none of a session's state.
        let session = Box::pin(session(io, unread, &served, &identity, &stop));
        let Ended::Parked(mut stream, rest) = session.await else { return };
        if rest.is_empty() {
            tracing::trace!(client = %identity, "connection parked");
            let idle = served.watch.idle_deadline().map(Coarse::to_timer);
            tokio::select! {
                ready = stream.readable() => if ready.is_err() { return },
                () = stop.cancelled() => return,
                () = until(idle) => {
                    served.holder.closed_idle();
                    return;
                }
            }
        }
        (io, unread) = (stream, rest);
    }
}

/// Sleeps until `deadline`, or for ever.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Serves HTTP/1.1 on `io`, after the bytes `unread`, until the connection ends or is parked.
async fn session<I: Park>(
    io: I,
    unread: Bytes,
    served: &Arc<Served>,
    identity: &Identity,
    stop: &CancellationToken,
) -> Ended<I> {
    let watch = &served.watch;
    // A parked connection is not counted as served: a worker's other lone request may spin.
    let _serving = crate::workers::Serving::begin();
    // Per session: a parked connection holds no second handle on its socket.
    let mut hang_up = io.hang_up();
    let answer = |request| {
        let busy = watch.request();
        served.clone().answer(request, busy)
    };
    // Set once `stop` is cancelled (seen here, between requests): the server reads a flag.
    let stopping = AtomicBool::new(stop.is_cancelled());
    let connection = super::http::serve(Watched::new(io, unread, watch.clone()), answer, &stopping);
    let mut connection = std::pin::pin!(connection);
    let mut next_check = watch.first_check().to_timer();
    let result = loop {
        // What rarely happens, polled only when one of them woke the task (see `super::woken`),
        // not at each of the wake-ups of every request.
        let rare = OnWake::new(async {
            tokio::select! {
                () = hang_up.wait() => Rare::HangUp,
                () = stop.cancelled() => Rare::Stop,
                () = tokio::time::sleep_until(next_check) => Rare::Check,
            }
        });
        let rare = tokio::select! {
            result = connection.as_mut() => break result,
            rare = rare => rare,
        };
        match rare {
            // Gone: whatever the connection was answering is dropped, the engine connection with it.
            Rare::HangUp => return Ended::Closed,
            // Between requests the connection ends now; with one in flight, once it is answered.
            Rare::Stop => {
                stopping.store(true, Ordering::Relaxed);
                break connection.as_mut().await;
            }
            Rare::Check => match watch.check(Coarse::now()) {
                Verdict::Until(when) => {
                    next_check = when.to_timer();
                    // A request in flight at a check may be a long one, a stream: a client that
                    // leaves it must not hold it. Quick requests are never watched (see
                    // `crate::hangup`).
                    hang_up.watch(watch.is_busy());
                }
                // The stream now reads as ended: the server, idle, finishes and hands it back.
                Verdict::Park => watch.start_parking(),
                Verdict::Idle => {
                    served.holder.closed_idle();
                    return Ended::Closed;
                }
                Verdict::HeaderTimeout => {
                    served.holder.header_timeout();
                    return Ended::Closed;
                }
            },
        }
    };
    let parked = watch.take_parking();
    match result {
        // Parked between requests, perhaps with part of a pipelined request head read: the next
        // session reads it first.
        Ok(Finished::Ended(watched, read)) if parked => {
            let (io, rest) = watched.into_parts();
            Ended::Parked(io, joined(read, rest))
        }
        Ok(_) => Ended::Closed,
        Err(e) => {
            tracing::debug!(client = %identity, "connection ended: {e}");
            Ended::Closed
        }
    }
}

/// Bytes the server had read and not used, then those it was given back and did not read again.
fn joined(read: Bytes, rest: Bytes) -> Bytes {
    if read.is_empty() {
        return rest;
    }
    if rest.is_empty() {
        return read;
    }
    let mut all = BytesMut::with_capacity(read.len() + rest.len());
    all.extend_from_slice(&read);
    all.extend_from_slice(&rest);
    all.freeze()
}
