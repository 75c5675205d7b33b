//! Sends allowed requests to the real engine and streams the answers back.
//!
//! Connections to the engine are pooled and kept alive; bodies stream frame by frame in both
//! directions and are never buffered whole. Hop-by-hop headers are dropped both ways (RFC 9110
//! section 7.6.1). A hijacked connection (`attach`, `exec start`, BuildKit `/session` and `/grpc`)
//! becomes a raw tunnel only after the engine answered `101`, and the tunnel keeps half-closes, so
//! stdin EOF reaches the container while its output keeps flowing. Nothing here has a timeout:
//! `logs -f`, `events` and tunnels last as long as both ends want. It does not judge requests.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use tokio_util::task::TaskTracker;

use crate::body::{self, Body};
use crate::normalize::Target;

/// Where the real engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddr {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("docker engine at `{addr}` is unavailable: {reason}")]
    Unavailable { addr: String, reason: String },
    #[error("cannot build the upstream request: {0}")]
    Request(String),
}

/// A pooled HTTP/1.1 client for the engine.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Body>,
    addr: String,
    authority: String,
    tunnels: TaskTracker,
}

impl Upstream {
    /// A client for the engine at `addr`; hijacked connections are tracked in `tunnels`.
    pub fn new(
        addr: UpstreamAddr,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        tunnels: TaskTracker,
    ) -> Upstream {
        let (display, authority) = match &addr {
            UpstreamAddr::Unix(path) => (format!("unix://{}", path.display()), "docker".to_string()),
            UpstreamAddr::Tcp(hostport) if tls.is_some() => (format!("tcp://{hostport} (TLS)"), hostport.clone()),
            UpstreamAddr::Tcp(hostport) => (format!("tcp://{hostport}"), hostport.clone()),
        };
        let tls = tls.map(|(config, name)| (TlsConnector::from(config), name));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Shorter than dockerd keeps idle connections, so sockgate closes them first.
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(Connector { addr: Arc::new(addr), tls: tls.map(Arc::new) });
        Upstream { client, addr: display, authority, tunnels }
    }

    /// Where the engine is, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends sockgate's own `GET` to the engine (container discovery, readiness), not a client's.
    pub async fn get(&self, path_and_query: &str) -> Result<Response<hyper::body::Incoming>, ForwardError> {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| ForwardError::Request(e.to_string()))?;
        let mut request = Request::new(body::full(bytes::Bytes::new()));
        *request.uri_mut() = uri;
        self.client
            .request(request)
            .await
            .map_err(|e| ForwardError::Unavailable { addr: self.addr.clone(), reason: error_chain(&e) })
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
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(target.to_origin_form())
            .build()
            .map_err(|e| ForwardError::Request(e.to_string()))?;
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

        let mut response = self
            .client
            .request(outgoing)
            .await
            .map_err(|e| ForwardError::Unavailable { addr: self.addr.clone(), reason: error_chain(&e) })?;

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_side) = upgrade {
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
                return Ok(switching);
            }
            // The engine switched protocols on a request that did not ask to: refuse to pass that on.
            return Err(ForwardError::Unavailable {
                addr: self.addr.clone(),
                reason: "engine switched protocols on a request that did not ask for it".into(),
            });
        }
        let (mut parts, incoming) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, body::streamed(incoming)))
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
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}

/// Connects to the engine, whatever URI the client pool asks for.
#[derive(Clone)]
struct Connector {
    addr: Arc<UpstreamAddr>,
    tls: Option<Arc<(TlsConnector, ServerName<'static>)>>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let addr = self.addr.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let stream = match &*addr {
                UpstreamAddr::Unix(path) => Stream::Unix(UnixStream::connect(path).await?),
                UpstreamAddr::Tcp(hostport) => {
                    let tcp = TcpStream::connect(hostport.as_str()).await?;
                    tcp.set_nodelay(true)?;
                    match tls.as_deref() {
                        Some((connector, name)) => Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?)),
                        None => Stream::Tcp(tcp),
                    }
                }
            };
            Ok(TokioIo::new(stream))
        })
    }
}

/// A connection to the engine.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
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
}
