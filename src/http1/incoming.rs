//! A client's request body as the server hands it to whoever answers the request: the server
//! reads and unframes the body from the connection and feeds it in ([`Feed`]); the answering
//! side reads it frame by frame ([`Incoming`]). At most [`BUFFERED`] bytes wait between the two,
//! so a client sending faster than the engine takes its upload is slowed down, not buffered.
//! Both run on the connection's task; each wakes the other when it has made room or data.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use parking_lot::Mutex;

/// The most bytes of a body read from the client and not yet taken.
pub const BUFFERED: usize = 256 * 1024;

/// The client's request body failed: it is malformed, or the client closed the connection
/// before it ended.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct IncomingError(pub String);

#[derive(Default)]
struct Shared {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// `None` while more may come; then `Ok` at the body's end or the error it failed with.
    end: Option<Result<(), IncomingError>>,
    /// Bytes of a body of known length not yet taken.
    left: Option<u64>,
    /// The reader found nothing to take and waits.
    wanted: bool,
    /// The reader was dropped: nothing more need be fed.
    dropped: bool,
    reader: Option<Waker>,
    feeder: Option<Waker>,
}

/// A request body being read from a client.
pub struct Incoming {
    shared: Option<Arc<Mutex<Shared>>>,
}

/// The server's end of an [`Incoming`].
pub struct Feed {
    shared: Arc<Mutex<Shared>>,
}

impl Incoming {
    /// A request without a body.
    pub fn empty() -> Incoming {
        Incoming { shared: None }
    }

    /// A body to be fed, of `length` bytes when that is known.
    pub fn channel(length: Option<u64>) -> (Feed, Incoming) {
        let shared = Arc::new(Mutex::new(Shared { left: length, ..Shared::default() }));
        (Feed { shared: shared.clone() }, Incoming { shared: Some(shared) })
    }
}

impl Feed {
    /// Whether the reader could take more now: it is still there and the buffer has room.
    pub fn has_room(&self, cx: &Context<'_>) -> bool {
        let mut shared = self.shared.lock();
        let room = !shared.dropped && shared.buffered < BUFFERED;
        if !room && !shared.dropped {
            shared.feeder = Some(cx.waker().clone());
        }
        room
    }

    /// Whether the reader has asked for data; if not, the feeder is woken when it does.
    pub fn is_wanted(&self, cx: &Context<'_>) -> bool {
        let mut shared = self.shared.lock();
        if !shared.wanted && !shared.dropped {
            shared.feeder = Some(cx.waker().clone());
        }
        shared.wanted
    }

    /// Whether the reader is gone.
    pub fn is_dropped(&self) -> bool {
        self.shared.lock().dropped
    }

    pub fn push(&self, data: Bytes) {
        let mut shared = self.shared.lock();
        shared.buffered += data.len();
        shared.chunks.push_back(data);
        shared.wanted = false;
        if let Some(reader) = shared.reader.take() {
            reader.wake();
        }
    }

    /// The body ended, well or not.
    pub fn end(&self, end: Result<(), IncomingError>) {
        let mut shared = self.shared.lock();
        shared.end = Some(end);
        if let Some(reader) = shared.reader.take() {
            reader.wake();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut shared = self.shared.lock();
        if shared.end.is_none() {
            shared.end = Some(Err(IncomingError("the connection ended before the body".into())));
            if let Some(reader) = shared.reader.take() {
                reader.wake();
            }
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            let mut shared = shared.lock();
            shared.dropped = true;
            shared.chunks.clear();
            if let Some(feeder) = shared.feeder.take() {
                feeder.wake();
            }
        }
    }
}

impl http_body::Body for Incoming {
    type Data = Bytes;
    type Error = IncomingError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, IncomingError>>> {
        let Some(shared) = &self.shared else { return Poll::Ready(None) };
        let mut shared = shared.lock();
        if let Some(data) = shared.chunks.pop_front() {
            let full = shared.buffered >= BUFFERED;
            shared.buffered -= data.len();
            if let Some(left) = &mut shared.left {
                *left = left.saturating_sub(data.len() as u64);
            }
            if full && shared.buffered < BUFFERED {
                if let Some(feeder) = shared.feeder.take() {
                    feeder.wake();
                }
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match &mut shared.end {
            Some(Ok(())) => Poll::Ready(None),
            Some(end @ Err(_)) => {
                let failed = std::mem::replace(end, Ok(()));
                Poll::Ready(failed.err().map(Err))
            }
            None => {
                if !shared.wanted {
                    shared.wanted = true;
                    if let Some(feeder) = shared.feeder.take() {
                        feeder.wake();
                    }
                }
                shared.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.shared.as_ref().is_none_or(|shared| {
            let shared = shared.lock();
            shared.chunks.is_empty() && matches!(shared.end, Some(Ok(())))
        })
    }

    fn size_hint(&self) -> SizeHint {
        match &self.shared {
            None => SizeHint::with_exact(0),
            Some(shared) => match shared.lock().left {
                Some(left) => SizeHint::with_exact(left),
                None => SizeHint::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    type Outcome = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn what_is_fed_is_read_in_order_then_the_end() -> Outcome {
        let (feed, incoming) = Incoming::channel(Some(11));
        assert_eq!(http_body::Body::size_hint(&incoming).exact(), Some(11));
        feed.push(Bytes::from_static(b"hello"));
        feed.push(Bytes::from_static(b" world"));
        feed.end(Ok(()));
        assert_eq!(&incoming.collect().await?.to_bytes()[..], b"hello world");
        Ok(())
    }

    #[tokio::test]
    async fn a_failure_is_the_readers_error_and_a_vanished_feeder_one_too() {
        let (feed, incoming) = Incoming::channel(None);
        feed.push(Bytes::from_static(b"he"));
        feed.end(Err(IncomingError("invalid chunk size".into())));
        let failed = incoming.collect().await.err().map(|e| e.to_string());
        assert_eq!(failed.as_deref(), Some("invalid chunk size"));
        let (feed, incoming) = Incoming::channel(None);
        drop(feed);
        assert!(incoming.collect().await.is_err());
    }

    #[test]
    fn the_feeder_stops_at_the_buffer_bound_and_when_the_reader_leaves() {
        let waker = Waker::noop();
        let cx = Context::from_waker(waker);
        let (feed, incoming) = Incoming::channel(None);
        assert!(feed.has_room(&cx));
        feed.push(Bytes::from(vec![0u8; BUFFERED]));
        assert!(!feed.has_room(&cx));
        assert!(!feed.is_wanted(&cx));
        drop(incoming);
        assert!(feed.is_dropped());
        assert!(!feed.has_room(&cx));
    }
}
