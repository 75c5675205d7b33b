//! An answer's body from the engine, which drives the engine connection it is read from and
//! puts that connection back in the pool once read to its end. It passes frames on as they come:
//! it buffers nothing and judges nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Incoming;

use super::pool::{Link, Pool};

/// An answer's body from the engine. Reading it drives the engine connection; read to its end,
/// it puts the connection back in the pool. Dropped early, it closes the connection (HTTP/1.1
/// cannot abandon an answer half read).
pub struct EngineBody {
    pub(super) incoming: Incoming,
    pub(super) link: Option<Link>,
    pub(super) pool: Arc<Pool>,
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
