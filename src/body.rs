//! The one body type that flows through the gateway in both directions: bytes streamed from a
//! peer, or a small body sockgate produced itself. It can count the bytes that pass and run a hook
//! when it is dropped (finished or abandoned), which is how a request is recorded once its response
//! is done. A client's request body that fails (malformed chunks, cut short) fails as the client's
//! error, so whoever forwards it can tell that from a failing engine. It never buffers a stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::http1::{Fields, Incoming, IncomingError};
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// A request or response body.
pub struct Body {
    kind: Kind,
    counter: Option<Arc<AtomicU64>>,
    /// The bytes of data that passed so far.
    passed: u64,
    on_drop: Option<Box<dyn FnOnce(u64) + Send>>,
    /// Kept until the body is dropped (after `on_drop` has run): what the request holds meanwhile.
    held: Option<Box<dyn Send>>,
    /// An engine answer's header fields as they came, which the listeners' server writes out (see
    /// [`Fields`]). They travel with the body rather than in the answer's extensions, a map
    /// allocated and hashed for every answer.
    fields: Option<Fields>,
}

/// An answer's body from the engine as the engine client gives it (it drives the engine
/// connection and pools it when done; see the `forward` module), behind a pointer so this module
/// needs nothing of the client's.
type EngineFrames = Pin<Box<dyn http_body::Body<Data = Bytes, Error = std::io::Error> + Send>>;

enum Kind {
    /// A client's request body, its first frame already read (see [`request`]).
    Request(Option<Bytes>, Incoming),
    Streamed(hyper::body::Incoming),
    Engine(EngineFrames),
    Full(Option<Bytes>),
}

/// A body sockgate produced itself.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    let bytes: Bytes = bytes.into();
    Body::of(Kind::Full((!bytes.is_empty()).then_some(bytes)))
}

/// An answer streamed from the engine, passed on frame by frame.
pub fn engine(body: impl http_body::Body<Data = Bytes, Error = std::io::Error> + Send + 'static) -> Body {
    Body::of(Kind::Engine(Box::pin(body)))
}

/// Why a body stopped short.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client's request body is malformed or was cut short: the client's error, not the engine's.
    #[error("{0}")]
    Client(IncomingError),
    /// A body from the engine failed.
    #[error(transparent)]
    Engine(Box<dyn std::error::Error + Send + Sync>),
}

/// A client's request body, passed on frame by frame after `first`, the data already read from it.
pub fn request(first: Option<Bytes>, incoming: Incoming) -> Body {
    Body::of(Kind::Request(first, incoming))
}

/// An answer streamed from the engine (one that did not switch protocols), passed on frame by frame.
pub fn streamed(incoming: hyper::body::Incoming) -> Body {
    Body::of(Kind::Streamed(incoming))
}

impl Body {
    fn of(kind: Kind) -> Body {
        Body { kind, counter: None, passed: 0, on_drop: None, held: None, fields: None }
    }

    /// The body of an answer whose head had `fields`, to be written out as they came.
    pub fn with_fields(mut self, fields: Fields) -> Body {
        self.fields = Some(fields);
        self
    }

    /// The header fields of the answer this is the body of, if it came from the engine.
    pub fn fields_mut(&mut self) -> Option<&mut Fields> {
        self.fields.as_mut()
    }

    /// Takes the header fields of the answer this is the body of (see [`Body::with_fields`]).
    pub fn take_fields(&mut self) -> Option<Fields> {
        self.fields.take()
    }

    /// Adds the length of every data frame that passes to `counter`.
    pub fn counted(mut self, counter: Arc<AtomicU64>) -> Body {
        self.counter = Some(counter);
        self
    }

    /// Runs `hook` once, when the body is dropped (after its last frame was sent, or when the
    /// connection went away first), with the bytes of data that passed. Set in place: an answer
    /// is not taken apart and made again for it.
    pub fn on_drop(&mut self, hook: impl FnOnce(u64) + Send + 'static) {
        self.on_drop = Some(Box::new(hook));
    }
}

impl Body {
    /// Keeps `guard` until the body is dropped: a request's place among its caller's requests
    /// in flight lasts as long as its answer.
    pub fn holding(&mut self, guard: impl Send + 'static) {
        self.held = Some(Box::new(guard));
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(hook) = self.on_drop.take() {
            hook(self.passed);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let polled = match &mut this.kind {
            Kind::Request(first, incoming) => match first.take() {
                Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                None => Pin::new(incoming).poll_frame(cx).map_err(BodyError::Client),
            },
            Kind::Streamed(incoming) => Pin::new(incoming).poll_frame(cx).map_err(|e| BodyError::Engine(e.into())),
            Kind::Engine(engine) => engine.as_mut().poll_frame(cx).map_err(|e| BodyError::Engine(e.into())),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        };
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.passed += data.len() as u64;
                if let Some(counter) = &this.counter {
                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                if this.counter.is_some() || this.on_drop.is_some() {
                    // A stream in flight keeps its worker spinning while its data flows.
                    crate::workers::active();
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Request(first, incoming) => first.is_none() && incoming.is_end_stream(),
            Kind::Streamed(incoming) => incoming.is_end_stream(),
            Kind::Engine(engine) => engine.is_end_stream(),
            Kind::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Request(first, incoming) => {
                let read = first.as_ref().map_or(0, |data| data.len() as u64);
                let rest = incoming.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(read));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(read));
                }
                hint
            }
            Kind::Streamed(incoming) => incoming.size_hint(),
            Kind::Engine(engine) => engine.size_hint(),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn counts_and_runs_its_hook_once() {
        let counter = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let passed = dropped.clone();
        let mut body = full("hello").counted(counter.clone());
        body.on_drop(move |n| passed.store(n + 1, Ordering::SeqCst));
        assert_eq!(body.size_hint().exact(), Some(5));
        let collected = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        assert_eq!(&collected[..], b"hello");
        assert_eq!(counter.load(Ordering::SeqCst), 5);
        // Run once, with the bytes that passed.
        assert_eq!(dropped.load(Ordering::SeqCst), 6);
        assert!(full(Bytes::new()).is_end_stream());
    }
}
