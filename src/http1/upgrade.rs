//! A client connection handed over when its request switched protocols (`101`): the server writes
//! the `101` head, then gives the stream, with any bytes it had read past the request, to whoever
//! asked for it ([`OnUpgrade`], found in the request's extensions).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// A stream a connection can be handed over as.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A client connection after `101`: bytes already read from it come first.
pub struct Upgraded {
    io: Box<dyn Stream>,
    read: Bytes,
}

/// The connection of a request that asked to switch protocols, once the answer switched them.
#[derive(Clone)]
pub struct OnUpgrade(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>);

/// The server's end of an [`OnUpgrade`].
pub struct Pending(oneshot::Sender<Upgraded>);

impl OnUpgrade {
    /// A connection to be handed over, and where it will arrive.
    pub fn pending() -> (Pending, OnUpgrade) {
        let (sender, receiver) = oneshot::channel();
        (Pending(sender), OnUpgrade(Arc::new(Mutex::new(Some(receiver)))))
    }

    /// The connection, once handed over; an error when the server gave it up instead (or it was
    /// asked for twice).
    pub async fn upgraded(self) -> io::Result<Upgraded> {
        let receiver = self.0.lock().take();
        match receiver {
            Some(receiver) => receiver.await.map_err(|_| io::Error::other("the connection was not handed over")),
            None => Err(io::Error::other("the connection was already taken")),
        }
    }
}

impl Pending {
    /// Hands `io` over, with `read`, the bytes read from it past the request.
    pub fn fulfill(self, io: impl Stream, read: Bytes) {
        let _ = self.0.send(Upgraded { io: Box::new(io), read });
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
