//! Opens connections to the engine: a unix socket, plain TCP, or TCP with TLS, as one stream
//! type. It only connects: it speaks no HTTP, keeps no connection and retries nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::address::UpstreamAddr;
use crate::socket::{Socket, TcpSocket, UnixSocket};

/// Opens connections to the engine.
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) addr: Arc<UpstreamAddr>,
    pub(super) tls: Option<Arc<(TlsConnector, ServerName<'static>)>>,
}

impl Connector {
    pub(super) async fn connect(&self) -> io::Result<Stream> {
        match &*self.addr {
            // Connected by tokio, then registered for reading only (see `crate::socket`).
            UpstreamAddr::Unix(path) => Ok(Stream::Unix(Socket::new(UnixStream::connect(path).await?.into_std()?)?)),
            UpstreamAddr::Tcp(hostport) => {
                let tcp = TcpStream::connect(hostport.as_str()).await?;
                tcp.set_nodelay(true)?;
                let tcp = Socket::new(tcp.into_std()?)?;
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
    Unix(UnixSocket),
    Tcp(TcpSocket),
    Tls(Box<TlsStream<TcpSocket>>),
}

impl Stream {
    /// Ready once there may be bytes to read: at once for TLS, whose stream may hold bytes it
    /// already decrypted.
    pub(super) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Unix(s) => s.poll_readable(cx),
            Stream::Tcp(s) => s.poll_readable(cx),
            Stream::Tls(_) => Poll::Ready(Ok(())),
        }
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
