//! The engine's HTTP/1.1 client ([`Upstream`]): sockgate's own requests ([`super::own`]) and
//! clients' requests passed on ([`super::relay`]), each on a pooled connection that the caller's
//! task drives itself. It sets `Host`; it never judges a request and never retries one that
//! reached the engine.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{self, Entry, HeaderValue};
use http::{Method, Request, Response, Uri};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use tokio_util::task::TaskTracker;

use super::body::EngineBody;
use super::connector::{Connector, Stream};
use super::pool::{Failed, Failure, Link, Pool};
use super::{error_chain, ForwardError};
use crate::address::UpstreamAddr;
use crate::body::{self, Body, BodyError};
use crate::http1::Fields;

/// A request for the engine: its header fields as they came from the client (hop-by-hop ones
/// left out) or as sockgate writes its own. The client frames the body by its size and adds a
/// `Host` when there is none (see [`super::wire::encode_head`]).
pub(super) struct Outgoing {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) fields: Fields,
    pub(super) body: Body,
}

/// The engine's HTTP/1.1 client: connections are kept alive and pooled.
///
/// A request does not hand its connection to a task of its own, as general-purpose clients do:
/// the task serving the caller's connection drives the engine connection itself, first while
/// waiting for the answer's head and then from the answer's body, and puts it back in the pool
/// once that body has been read to its end. A request and its answer cross no thread. The
/// HTTP/1.1 it speaks is its own (see [`super::wire`]), except on hijacked connections, which
/// hyper's client drives (see [`super::tunnel`]).
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

    /// The tasks that drive hijacked connections and their tunnels.
    pub(super) fn tunnels(&self) -> &TaskTracker {
        &self.tunnels
    }

    /// Where the engine is, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Closes the calling thread's pooled connections that have been idle too long; call it now and
    /// then on every thread that sends requests.
    pub fn prune(&self) {
        self.pool.prune(crate::clock::Coarse::now());
    }

    /// The request target in origin form, as HTTP/1.1 sends it to a server.
    pub(super) fn uri(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        Uri::builder().path_and_query(path_and_query).build().map_err(|e| ForwardError::Request(e.to_string()))
    }

    /// Sends `request` on a pooled connection (or a new one when the pooled one turns out to have
    /// been closed before a byte of the request went out) and answers with a body that drives the
    /// connection and returns it to the pool when read to its end.
    pub(super) fn send(&self, request: Outgoing) -> Send<'_> {
        let state = match self.pool.take() {
            Some(mut link) => {
                link.start(request, self.host.as_bytes());
                State::Answer(link)
            }
            None => State::Connect(self.connect_for(request)),
        };
        Send { upstream: self, state }
    }

    /// A new connection with `request` written out on it. Boxed: rare once the pool is warm, and
    /// its state would otherwise make every request's future as large as itself.
    fn connect_for(&self, request: Outgoing) -> Connecting<'_> {
        Box::pin(async move {
            let mut link = self.connect().await?;
            link.start(request, self.host.as_bytes());
            Ok(link)
        })
    }

    async fn connect(&self) -> Result<Box<Link>, ForwardError> {
        Ok(Link::new(self.open().await?))
    }

    /// A new connection to the engine.
    pub(super) async fn open(&self) -> Result<Stream, ForwardError> {
        self.connector.connect().await.map_err(|e| self.unavailable(&e.to_string()))
    }

    /// HTTP/1.1 needs a `Host`: the client's, or the engine's address.
    pub(super) fn set_host(&self, request: &mut Request<Body>) {
        if let Entry::Vacant(host) = request.headers_mut().entry(header::HOST) {
            host.insert(self.host.clone());
        }
    }

    /// A failed exchange: the client's body, when that is what failed, else the engine.
    pub(super) fn failed(&self, error: &hyper::Error) -> ForwardError {
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            if let Some(BodyError::Client(client)) = e.downcast_ref::<BodyError>() {
                return ForwardError::ClientBody(error_chain(client));
            }
            source = e.source();
        }
        self.unavailable(&error_chain(error))
    }

    pub(super) fn unavailable(&self, reason: &str) -> ForwardError {
        ForwardError::Unavailable { addr: self.addr.clone(), reason: reason.to_owned() }
    }
}

/// A new connection being opened for a request.
type Connecting<'a> = Pin<Box<dyn Future<Output = Result<Box<Link>, ForwardError>> + std::marker::Send + 'a>>;

/// A request on its way to the engine, until its answer's head is read ([`Upstream::send`]).
///
/// Written by hand rather than as an `async fn`: the request waits in its connection, so this
/// holds four words, where an `async fn`'s state would hold the request and the exchange's state
/// beside it, and every request's future would carry and copy them.
pub(super) struct Send<'a> {
    upstream: &'a Upstream,
    state: State<'a>,
}

enum State<'a> {
    /// A connection is being opened, the request to be written out on it.
    Connect(Connecting<'a>),
    /// The request is written out on the connection, or being written; its answer is awaited.
    Answer(Box<Link>),
    /// The answer was given.
    Done,
}

impl Future for Send<'_> {
    type Output = Result<Response<Body>, ForwardError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let upstream = this.upstream;
        loop {
            match &mut this.state {
                State::Connect(connecting) => match ready!(connecting.as_mut().poll(cx)) {
                    Ok(link) => this.state = State::Answer(link),
                    Err(e) => {
                        this.state = State::Done;
                        return Poll::Ready(Err(e));
                    }
                },
                State::Answer(link) => {
                    let answered = ready!(link.poll_answer(cx));
                    let State::Answer(link) = std::mem::replace(&mut this.state, State::Done) else {
                        return Poll::Ready(Err(upstream.unavailable("the request was sent twice")));
                    };
                    match answered {
                        Ok(head) => {
                            // The thread's own shard: its reference count is this worker's alone.
                            let shard = upstream.pool.shard().clone();
                            let body = EngineBody::new(link, head.framing, head.keep_alive, shard);
                            // Written out as they came by the listeners' server (see `crate::http1::Fields`).
                            let body = body::engine(body).with_fields(head.fields);
                            return Poll::Ready(Ok(Response::from_parts(head.parts, body)));
                        }
                        // A pooled connection the engine had closed: the request goes on a new one.
                        Err(Failed { unsent: Some(unsent), .. }) if link.reused => {
                            this.state = State::Connect(upstream.connect_for(unsent));
                        }
                        Err(Failed { failure, .. }) => {
                            return Poll::Ready(Err(match failure {
                                Failure::Unsent(e) | Failure::Engine(e) => upstream.unavailable(&e.to_string()),
                                Failure::Client(message) => ForwardError::ClientBody(message),
                            }))
                        }
                    }
                }
                State::Done => return Poll::Ready(Err(upstream.unavailable("the request's answer was already given"))),
            }
        }
    }
}
