//! An answer's body from the engine, which drives the engine connection it is read from and
//! puts that connection back in the pool once read to its end. It passes data on as it comes:
//! it buffers nothing and judges nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::pool::{Failure, Link, Shard};
use crate::http1::{Decoded, Decoder, Framing};

/// An answer's body from the engine. Reading it drives the engine connection, which also sends
/// what is left of the request's body; read to its end, it puts the connection back in the pool.
/// Dropped early, it closes the connection (HTTP/1.1 cannot abandon an answer half read).
pub struct EngineBody {
    link: Option<Box<Link>>,
    decoder: Decoder,
    /// The connection may carry another request once this answer is read.
    keep_alive: bool,
    pool: Arc<Shard>,
}

impl EngineBody {
    /// The body of an answer framed as `framing`, read from `link`; with no body, the connection
    /// goes back to the pool at once.
    pub(super) fn new(link: Box<Link>, framing: Framing, keep_alive: bool, pool: Arc<Shard>) -> EngineBody {
        let mut body = EngineBody { link: Some(link), decoder: Decoder::new(framing), keep_alive, pool };
        if body.decoder.is_done() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(link) = self.link.take() {
            if self.keep_alive {
                self.pool.put(link);
            }
        }
    }

    /// Drops the connection after a failure: nothing more is read from it.
    fn fail(&mut self, error: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.link = None;
        self.decoder = Decoder::Done;
        Poll::Ready(Some(Err(error)))
    }
}

impl http_body::Body for EngineBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            let Some(link) = this.link.as_mut() else { return Poll::Ready(None) };
            if link.is_sending() {
                if let Poll::Ready(Err(failure)) = link.poll_send(cx) {
                    let error = match failure {
                        Failure::Unsent(e) | Failure::Engine(e) => e,
                        Failure::Client(message) => io::Error::other(message),
                    };
                    return this.fail(error);
                }
            }
            let decoded = match this.decoder.decode(&mut link.read) {
                Ok(Decoded::More) => match link.poll_fill(cx, this.decoder.exact_left()) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) => this.decoder.eof(),
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Ready(Err(e)) => Err(e),
                },
                decoded => decoded,
            };
            return match decoded {
                Ok(Decoded::Data(data)) => {
                    if this.decoder.is_done() {
                        this.release();
                    }
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Ok(Decoded::End) => {
                    this.release();
                    Poll::Ready(None)
                }
                Ok(Decoded::More) => continue,
                Err(e) => this.fail(e),
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.exact_left() {
            Some(left) => SizeHint::with_exact(left),
            None => SizeHint::default(),
        }
    }
}
