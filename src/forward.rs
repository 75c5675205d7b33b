//! Sends allowed requests to the real engine and streams the answers back.
//!
//! Connections to the engine are kept alive and pooled, and each is driven by the task serving the
//! client it is lent to, so a request and its answer never hop between threads. Bodies stream
//! frame by frame in both directions and are never buffered whole. Hop-by-hop headers are dropped
//! both ways (RFC 9110 section 7.6.1). A hijacked connection (`attach`, `exec start`, BuildKit
//! `/session` and `/grpc`) becomes a raw tunnel only after the engine answered `101`, and the
//! tunnel keeps half-closes, so stdin EOF reaches the container while its output keeps flowing.
//! Nothing here has a timeout: `logs -f`, `events` and tunnels last as long as both ends want. It
//! does not judge requests.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::client::conn::TrySendError;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use tokio_util::task::TaskTracker;

use crate::address::UpstreamAddr;
use crate::body::{self, Body, BodyError};
use crate::normalize::Target;

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("docker engine at `{addr}` is unavailable: {reason}")]
    Unavailable { addr: String, reason: String },
    #[error("cannot build the upstream request: {0}")]
    Request(String),
    /// The client's request body failed while it was forwarded: the client's error (see
    /// [`crate::body::BodyError`]). The engine got a request cut short, as when a client goes away
    /// mid-upload.
    #[error("cannot read the request body: {0}")]
    ClientBody(String),
}

/// The engine's HTTP/1.1 client: connections are kept alive and pooled.
///
/// A request does not hand its connection to a task of its own, as general-purpose clients do:
/// the task serving the caller's connection drives the engine connection itself, first while
/// waiting for the answer's head and then from the answer's body, and puts it back in the pool
/// once that body has been read to its end. A request and its answer cross no thread.
#[derive(Clone)]
pub struct Upstream {
    connector: Connector,
    pool: Arc<Pool>,
    addr: String,
    host: HeaderValue,
    tunnels: TaskTracker,
}

impl Upstream {
    /// A client for the engine at `addr`, used from `workers` worker threads (see
    /// [`crate::workers`]) and any other; hijacked connections are tracked in `tunnels`.
    pub fn new(
        addr: UpstreamAddr,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        tunnels: TaskTracker,
        workers: usize,
    ) -> Upstream {
        let (display, authority) = match &addr {
            UpstreamAddr::Unix(path) => (format!("unix://{}", path.display()), "docker".to_string()),
            UpstreamAddr::Tcp(hostport) if tls.is_some() => (format!("tcp://{hostport} (TLS)"), hostport.clone()),
            UpstreamAddr::Tcp(hostport) => (format!("tcp://{hostport}"), hostport.clone()),
        };
        let tls = tls.map(|(config, name)| (TlsConnector::from(config), name));
        let connector = Connector { addr: Arc::new(addr), tls: tls.map(Arc::new) };
        let host = HeaderValue::try_from(authority).unwrap_or_else(|_| HeaderValue::from_static("docker"));
        Upstream { connector, pool: Arc::new(Pool::new(workers)), addr: display, host, tunnels }
    }

    /// Where the engine is, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Closes the calling thread's pooled connections that have been idle too long; call it now and
    /// then on every thread that sends requests.
    pub fn prune(&self) {
        self.pool.prune(Instant::now());
    }

    /// Sends sockgate's own `GET` to the engine (container discovery, readiness), not a client's.
    pub async fn get(&self, path_and_query: &str) -> Result<Response<Body>, ForwardError> {
        let mut request = Request::new(body::full(bytes::Bytes::new()));
        *request.uri_mut() = self.uri(path_and_query)?;
        self.send(request).await
    }

    /// Sends sockgate's own `POST` with a JSON body (a volume it makes for a tenant).
    pub async fn post_json(&self, path_and_query: &str, json: String) -> Result<Response<Body>, ForwardError> {
        let length = json.len();
        let mut request = Request::new(body::full(bytes::Bytes::from(json)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri(path_and_query)?;
        let headers = request.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        self.send(request).await
    }

    /// The request target in origin form, as HTTP/1.1 sends it to a server.
    fn uri(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        Uri::builder().path_and_query(path_and_query).build().map_err(|e| ForwardError::Request(e.to_string()))
    }

    /// Forwards one request to `target`. With `upgrade`, the request asks to hijack the connection,
    /// and a `101` from the engine turns both connections into one tunnel.
    pub async fn forward(
        &self,
        parts: &mut Parts,
        body: Body,
        target: &Target,
        upgrade: Option<OnUpgrade>,
    ) -> Result<Response<Body>, ForwardError> {
        let uri = self.uri(&target.to_origin_form())?;
        let mut headers = std::mem::take(&mut parts.headers);
        let upgrade_protocol = headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut headers);
        if let (Some(_), Some(protocol)) = (&upgrade, &upgrade_protocol) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        let mut outgoing = Request::new(body);
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;

        let Some(client_side) = upgrade else {
            let response = self.send(outgoing).await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                // The engine switched protocols on a request that did not ask to: refuse to pass that on.
                return Err(self.unavailable("engine switched protocols on a request that did not ask for it"));
            }
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Ok(Response::from_parts(parts, body));
        };

        // A hijacked connection is new and never pooled: its own task drives it until the tunnel
        // takes it over.
        self.set_host(&mut outgoing);
        let Link { mut sender, conn, .. } = self.connect().await?;
        let conn = *conn;
        self.tunnels.spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("engine connection ended: {e}");
            }
        });
        let mut response = sender.send_request(outgoing).await.map_err(|e| self.failed(&e))?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (mut parts, incoming) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Ok(Response::from_parts(parts, body::streamed(incoming)));
        }
        let engine_side = hyper::upgrade::on(&mut response);
        let (parts, _) = response.into_parts();
        let mut headers = parts.headers;
        let protocol = headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut headers);
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Some(protocol) = protocol {
            headers.insert(header::UPGRADE, protocol);
        }
        self.tunnels.spawn(tunnel(client_side, engine_side));
        let mut switching = Response::new(body::full(bytes::Bytes::new()));
        *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *switching.headers_mut() = headers;
        Ok(switching)
    }

    /// Sends `request` on a pooled connection (or a new one when the pooled one turns out to have
    /// been closed before the request went out) and answers with a body that drives the connection
    /// and returns it to the pool when read to its end.
    async fn send(&self, mut request: Request<Body>) -> Result<Response<Body>, ForwardError> {
        self.set_host(&mut request);
        let mut link = self.link().await?;
        let response = loop {
            match link.exchange(request).await {
                Ok(response) => break response,
                Err(mut e) => match e.take_message() {
                    // Not a byte was written: the pooled connection was already gone.
                    Some(unsent) if link.reused => {
                        request = unsent;
                        link = self.connect().await?;
                    }
                    _ => return Err(self.failed(e.error())),
                },
            }
        };
        let (parts, incoming) = response.into_parts();
        let body = EngineBody { incoming, link: Some(link), pool: self.pool.clone() };
        Ok(Response::from_parts(parts, body::engine(body)))
    }

    /// An idle pooled connection that is still open, or a new one.
    async fn link(&self) -> Result<Link, ForwardError> {
        match self.pool.take() {
            Some(link) => Ok(link),
            None => self.connect().await,
        }
    }

    async fn connect(&self) -> Result<Link, ForwardError> {
        let stream = self.connector.connect().await.map_err(|e| self.unavailable(&e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unavailable(&error_chain(&e)))?;
        Ok(Link { sender, conn: Box::new(conn), reused: false, closed: false })
    }

    /// HTTP/1.1 needs a `Host`: the client's, or the engine's address.
    fn set_host(&self, request: &mut Request<Body>) {
        if let Entry::Vacant(host) = request.headers_mut().entry(header::HOST) {
            host.insert(self.host.clone());
        }
    }

    /// A failed exchange: the client's body, when that is what failed, else the engine.
    fn failed(&self, error: &hyper::Error) -> ForwardError {
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            if let Some(BodyError::Client(client)) = e.downcast_ref::<BodyError>() {
                return ForwardError::ClientBody(error_chain(client));
            }
            source = e.source();
        }
        self.unavailable(&error_chain(error))
    }

    fn unavailable(&self, reason: &str) -> ForwardError {
        ForwardError::Unavailable { addr: self.addr.clone(), reason: reason.to_owned() }
    }
}

type Conn = hyper::client::conn::http1::Connection<TokioIo<Stream>, Body>;

/// How long a pooled connection may stay idle: shorter than dockerd keeps idle connections, so
/// sockgate closes them first.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_IDLE: usize = 256;

/// One HTTP/1.1 connection to the engine: the sending half and the connection state machine,
/// which whoever holds the link must poll for anything to happen.
struct Link {
    sender: SendRequest<Body>,
    /// Boxed: the state machine and its buffers are large, and a link moves in and out of the pool
    /// at every request.
    conn: Box<Conn>,
    /// Taken from the pool rather than just opened.
    reused: bool,
    /// The connection is finished (closed, failed or handed over): it is never polled again.
    closed: bool,
}

impl Link {
    /// Sends `request` and drives the connection until the answer's head is in.
    async fn exchange(&mut self, request: Request<Body>) -> Result<Response<Incoming>, TrySendError<Request<Body>>> {
        let mut answer = std::pin::pin!(self.sender.try_send_request(request));
        std::future::poll_fn(|cx| {
            // The connection writes the request and reads the answer into the channel `answer`
            // waits on.
            self.drive(cx);
            answer.as_mut().poll(cx)
        })
        .await
    }

    /// Lets the connection make progress; false once it is finished.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.closed && Pin::new(&mut *self.conn).poll(cx).is_ready() {
            self.closed = true;
        }
        !self.closed
    }

    /// Polls the connection once without waiting, so it notices a close and settles into idle;
    /// true when it can take another request.
    fn reusable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(std::task::Waker::noop())) && self.sender.is_ready()
    }
}

/// Idle connections, most recently used last, kept apart per worker thread (see
/// [`crate::workers`]): a connection belongs to the runtime of the thread that opened it, so it is
/// lent only to tasks on that thread, and no thread waits on another's lock.
struct Pool {
    shards: Box<[Mutex<Idle>]>,
}

/// Idle connections and since when, most recently used last.
type Idle = VecDeque<(Link, Instant)>;

impl Pool {
    /// One shard per worker slot, plus one for every other thread.
    fn new(workers: usize) -> Pool {
        Pool { shards: (0..=workers).map(|_| Mutex::default()).collect() }
    }

    /// The calling thread's idle connections.
    fn lock(&self) -> MutexGuard<'_, Idle> {
        let shard = &self.shards[crate::workers::slot() % self.shards.len()];
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, mut link: Link) {
        if !link.reusable() {
            return;
        }
        link.reused = true;
        let now = Instant::now();
        let mut idle = self.lock();
        idle.push_back((link, now));
        if idle.len() > MAX_IDLE {
            idle.pop_front();
        }
    }

    fn take(&self) -> Option<Link> {
        let now = Instant::now();
        loop {
            let (mut link, since) = self.lock().pop_back()?;
            if now.duration_since(since) < IDLE_TIMEOUT && link.reusable() {
                return Some(link);
            }
        }
    }

    fn prune(&self, now: Instant) {
        let expired: Vec<(Link, Instant)> = {
            let mut idle = self.lock();
            let expired = idle.iter().take_while(|(_, since)| now.duration_since(*since) >= IDLE_TIMEOUT).count();
            idle.drain(..expired).collect()
        };
        drop(expired);
    }
}

/// An answer's body from the engine. Reading it drives the engine connection; read to its end,
/// it puts the connection back in the pool. Dropped early, it closes the connection (HTTP/1.1
/// cannot abandon an answer half read).
pub struct EngineBody {
    incoming: Incoming,
    link: Option<Link>,
    pool: Arc<Pool>,
}

impl EngineBody {
    fn release(&mut self) {
        if let Some(link) = self.link.take() {
            self.pool.put(link);
        }
    }
}

impl http_body::Body for EngineBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(link) = this.link.as_mut() {
            // Closed by the engine or failed, what it read is in the channel already.
            link.drive(cx);
        }
        let polled = Pin::new(&mut this.incoming).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.incoming)
    }
}

impl Drop for EngineBody {
    fn drop(&mut self) {
        // An answer without a body (`HEAD`, `204`, `304`) is never read: it is complete all the same.
        if http_body::Body::is_end_stream(&self.incoming) {
            self.release();
        }
    }
}

/// Copies bytes both ways between the client's and the engine's hijacked connections until both
/// directions are done. An EOF on one side is passed on as a write shutdown on the other.
async fn tunnel(client_side: OnUpgrade, engine_side: OnUpgrade) {
    let (client, engine) = tokio::join!(client_side, engine_side);
    let (client, engine) = match (client, engine) {
        (Ok(client), Ok(engine)) => (client, engine),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("hijacked connection failed before the tunnel opened: {e}");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut engine = TokioIo::new(engine);
    match tokio::io::copy_bidirectional(&mut client, &mut engine).await {
        Ok((up, down)) => tracing::debug!(bytes_to_engine = up, bytes_to_client = down, "tunnel closed"),
        Err(e) => tracing::debug!("tunnel ended: {e}"),
    }
}

/// Removes the headers that describe one connection rather than the message (RFC 9110 section
/// 7.6.1): `Connection` and every field it names, plus the well-known hop-by-hop fields.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of a lookup per hop-by-hop name.
    // Any `Connection`-named option comes with a `Connection` field, which this pass notices.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> =
        connection_options(headers).filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok()).collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The well-known hop-by-hop fields.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Whether `name` is in [`HOP_BY_HOP`]. Parsed names are in canonical form (a well-known name is
/// always the predefined constant), so equality is a tag comparison for most names.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.iter().any(|hop| hop == name)
}

/// The options the `Connection` header fields list, trimmed.
pub fn connection_options(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

/// An error and its causes, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}

/// Opens connections to the engine.
#[derive(Clone)]
struct Connector {
    addr: Arc<UpstreamAddr>,
    tls: Option<Arc<(TlsConnector, ServerName<'static>)>>,
}

impl Connector {
    async fn connect(&self) -> io::Result<Stream> {
        match &*self.addr {
            UpstreamAddr::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            UpstreamAddr::Tcp(hostport) => {
                let tcp = TcpStream::connect(hostport.as_str()).await?;
                tcp.set_nodelay(true)?;
                match self.tls.as_deref() {
                    Some((connector, name)) => Ok(Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?))),
                    None => Ok(Stream::Tcp(tcp)),
                }
            }
        }
    }
}

/// A connection to the engine.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        !matches!(self, Stream::Tls(_))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_headers_and_those_connection_names() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close, X-Secret-Hop"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-registry-auth", HeaderValue::from_static("e30="));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type", "x-registry-auth"]);
    }

    #[test]
    fn strips_each_hop_by_hop_header_alone() -> Result<(), http::header::InvalidHeaderName> {
        for name in ["connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate"]
            .into_iter()
            .chain(["proxy-authorization", "keep-alive", "proxy-connection"])
        {
            // As a parser makes them, from the bytes on the wire in any case.
            for spelled in [name.to_owned(), name.to_uppercase()] {
                let mut headers = HeaderMap::new();
                headers.insert(HeaderName::from_bytes(spelled.as_bytes())?, HeaderValue::from_static("x"));
                headers.insert(header::HOST, HeaderValue::from_static("docker"));
                strip_hop_by_hop(&mut headers);
                let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
                assert_eq!(left, ["host"], "`{spelled}` was kept");
            }
        }
        Ok(())
    }
}
