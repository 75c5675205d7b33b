//! The engine connections kept alive between requests: one HTTP/1.1 connection ([`Link`]) that
//! whoever holds it drives, and the idle ones per worker thread ([`Pool`]), dropped after
//! [`IDLE_TIMEOUT`]. It never sends a request of its own and never lends a connection to another
//! thread's runtime.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::Method;
use http_body::Body as _;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};

use super::client::Outgoing;
use super::connector::Stream;
use super::wire::{self, BodySize, Framing, Head};
use crate::body::Body;
use crate::clock::Coarse;

/// How long a pooled connection may stay idle: shorter than dockerd keeps idle connections, so
/// sockgate closes them first.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_IDLE: usize = 256;

/// The first read from a connection asks for this much; reads that fill what they asked for
/// double it, up to [`MAX_READ`], so a long answer is read in few calls.
const FIRST_READ: usize = 32 * 1024;
const MAX_READ: usize = 256 * 1024;
/// How many read buffers a worker keeps for its next answers (see [`Link::poll_fill`]).
const SPARE_BUFFERS: usize = 4;

thread_local! {
    /// The read buffers of this thread's connections that went back to the pool, most recent
    /// last (see [`Link::poll_fill`]).
    static SPARE: std::cell::RefCell<Vec<BytesMut>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Whether a spare buffer was taken since the thread last pruned its connections.
    static SPARE_USED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Body frames up to this size are copied after the head, so that a small request goes out in
/// one write; larger ones are written from where they are.
const COPY_UP_TO: usize = 16 * 1024;

/// One HTTP/1.1 connection to the engine, driven by whoever holds it: it sends one request at a
/// time and reads its answer (see [`super::body::EngineBody`] for the answer's body).
pub(super) struct Link {
    io: Stream,
    /// Bytes read from the engine and not yet used.
    pub(super) read: BytesMut,
    read_size: usize,
    /// What is to be written first: a request's head and small body frames, from `written` on.
    out: BytesMut,
    written: usize,
    /// Some of the current request was written.
    sent: bool,
    /// What is to be written after `out`, in order.
    queue: VecDeque<Bytes>,
    /// The request body still being sent.
    sending: Option<Sending>,
    /// The request being sent until its answer's head is read, kept should it go again.
    asked: Option<Asked>,
    /// Taken from the pool rather than just opened.
    pub(super) reused: bool,
}

/// A request body on its way to the engine.
struct Sending {
    body: Body,
    /// Bytes left to send under a `Content-Length`; `None` when it is sent chunked.
    left: Option<u64>,
    /// A frame was taken from the body: it cannot be sent again.
    started: bool,
}

/// A request whose answer's head is awaited: its method tells how the answer is framed, and the
/// rest makes it again should it turn out never to have reached the engine.
struct Asked {
    method: Method,
    uri: http::Uri,
    fields: crate::http1::Fields,
    /// The body, when none is sent (see `wire::encode_head`).
    unused: Option<Body>,
}

/// Why an exchange failed.
pub(super) enum Failure {
    /// Not a byte of the request reached the engine: it can be sent again on another connection.
    Unsent(io::Error),
    /// The engine's connection failed, or its answer is malformed.
    Engine(io::Error),
    /// The client's request body failed: the engine got a request cut short.
    Client(String),
}

/// A failed exchange, and the request when it can be sent again.
pub(super) struct Failed {
    pub(super) failure: Failure,
    pub(super) unsent: Option<Outgoing>,
}

impl Link {
    /// A new connection's link, boxed: it moves between the pool, the request and the answer's
    /// body as a pointer.
    pub(super) fn new(io: Stream) -> Box<Link> {
        Box::new(Link {
            io,
            read: BytesMut::new(),
            read_size: FIRST_READ,
            out: BytesMut::new(),
            written: 0,
            sent: false,
            queue: VecDeque::new(),
            sending: None,
            asked: None,
            reused: false,
        })
    }

    /// Reads the answer's head to the request [`Link::start`] wrote out; the request's body goes
    /// on being sent while the answer's body is read.
    pub(super) fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Result<Head, Failed>> {
        Poll::Ready(match ready!(self.poll_exchange(cx)) {
            Ok(head) => {
                self.asked = None;
                Ok(head)
            }
            Err(failure) => Err(self.failed(failure)),
        })
    }

    /// Writes `request`'s head out, to be sent with what its body has ready, and keeps the rest:
    /// the request waits in the link, not in the future that sends it.
    pub(super) fn start(&mut self, request: Outgoing, host: &[u8]) {
        let Outgoing { method, uri, fields, body } = request;
        let size = if body.is_end_stream() {
            BodySize::Empty
        } else {
            body.size_hint().exact().map_or(BodySize::Unknown, BodySize::Exact)
        };
        let target = uri.path_and_query().map_or("/", |target| target.as_str());
        self.out.clear();
        self.written = 0;
        self.sent = false;
        self.queue.clear();
        let framing = wire::encode_head(&method, target, &fields, host, size, &mut self.out);
        let (sending, unused) = match framing {
            Framing::Length(length) => (Some(Sending { body, left: Some(length), started: false }), None),
            Framing::Chunked => (Some(Sending { body, left: None, started: false }), None),
            // Not sent (see `wire::encode_head`), but kept should the request be sent again.
            Framing::Empty | Framing::Close => (None, Some(body)),
        };
        self.sending = sending;
        self.asked = Some(Asked { method, uri, fields, unused });
    }

    /// The exchange that failed with `failure`, with the request when it can be sent again.
    fn failed(&mut self, failure: Failure) -> Failed {
        let sending = self.sending.take();
        let unsent = match (&failure, self.asked.take()) {
            (Failure::Unsent(_), Some(Asked { method, uri, fields, unused })) => {
                let body = match (sending, unused) {
                    (Some(Sending { body, started: false, .. }), _) | (None, Some(body)) => Some(body),
                    _ => None,
                };
                body.map(|body| Outgoing { method, uri, fields, body })
            }
            _ => None,
        };
        let failure = match (failure, &unsent) {
            (Failure::Unsent(e), None) => Failure::Engine(e),
            (failure, _) => failure,
        };
        Failed { failure, unsent }
    }

    fn poll_exchange(&mut self, cx: &mut Context<'_>) -> Poll<Result<Head, Failure>> {
        // As much of the request as can go now; the rest goes while the answer is read, as the
        // engine may answer (and wait for its answer to be read) before it has read it all.
        if let Poll::Ready(Err(failure)) = self.poll_send(cx) {
            return Poll::Ready(Err(failure));
        }
        loop {
            // Nothing read yet (the usual case when the answer is first waited for): nothing to parse.
            if !self.read.is_empty() {
                let method = self.asked.as_ref().map_or(&Method::GET, |asked| &asked.method);
                if let Some(head) = wire::parse_head(&mut self.read, method).map_err(Failure::Engine)? {
                    return Poll::Ready(Ok(head));
                }
            }
            match ready!(self.poll_fill(cx, None)) {
                Ok(0) => {
                    let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "the engine closed the connection");
                    return Poll::Ready(Err(Failure::Engine(closed)));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(Failure::Engine(e))),
            }
        }
    }

    /// Whether the request's body is still being sent.
    pub(super) fn is_sending(&self) -> bool {
        self.sending.is_some() || self.written < self.out.len() || !self.queue.is_empty()
    }

    /// Writes what the request has ready; ready once all of it is written.
    pub(super) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        // Before the head goes out, small frames the body has ready join it.
        if self.written == 0 {
            while self.queue.is_empty() && self.out.len() < COPY_UP_TO && self.sending.is_some() {
                match self.poll_frame(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(failure)) => return Poll::Ready(Err(failure)),
                    Poll::Pending => break,
                }
            }
        }
        loop {
            ready!(self.poll_write_out(cx))?;
            if self.sending.is_none() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_frame(cx))?;
        }
    }

    /// Takes the body's next frame, framed, into what is to be written.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        let Some(sending) = self.sending.as_mut() else { return Poll::Ready(Ok(())) };
        let frame = ready!(Pin::new(&mut sending.body).poll_frame(cx));
        let data = match frame {
            None => {
                match sending.left {
                    Some(0) => {}
                    Some(left) => {
                        return Poll::Ready(Err(Failure::Client(format!("the body ended {left} bytes short"))))
                    }
                    None => self.push(Bytes::from_static(wire::LAST_CHUNK)),
                }
                self.sending = None;
                return Poll::Ready(Ok(()));
            }
            Some(Err(e)) => return Poll::Ready(Err(Failure::Client(super::error_chain(&e)))),
            // Trailers are not passed on.
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => return Poll::Ready(Ok(())),
            },
        };
        sending.started = true;
        match &mut sending.left {
            Some(left) => {
                // Never a byte more than the head announced: the rest would be read as a request.
                let Some(rest) = left.checked_sub(data.len() as u64) else {
                    return Poll::Ready(Err(Failure::Client("the body is longer than its Content-Length".into())));
                };
                *left = rest;
                self.push(data);
            }
            None => {
                self.push(wire::chunk_line(data.len()));
                self.push(data);
                self.push(Bytes::from_static(wire::CHUNK_END));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues `bytes` to be written, copying small ones after the head when nothing waits before them.
    fn push(&mut self, bytes: Bytes) {
        if self.queue.is_empty() && self.out.len() + bytes.len() <= COPY_UP_TO {
            self.out.extend_from_slice(&bytes);
        } else {
            self.queue.push_back(bytes);
        }
    }

    /// Writes `out` and then the queue; ready once both are empty.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        loop {
            let pending = &self.out[self.written..];
            if pending.is_empty() && self.queue.is_empty() {
                self.out.clear();
                self.written = 0;
                // A TLS stream may hold written bytes until flushed.
                return Pin::new(&mut self.io).poll_flush(cx).map_err(Failure::Engine);
            }
            let mut slices = [IoSlice::new(pending), IoSlice::new(&[]), IoSlice::new(&[]), IoSlice::new(&[])];
            let mut count = 1;
            for bytes in self.queue.iter().take(slices.len() - 1) {
                slices[count] = IoSlice::new(bytes);
                count += 1;
            }
            let nothing_sent = !self.sent && !self.sending.as_ref().is_some_and(|s| s.started);
            let result = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]));
            let mut n = match result {
                Ok(0) => return Poll::Ready(Err(Failure::Engine(io::ErrorKind::WriteZero.into()))),
                Ok(n) => {
                    self.sent = true;
                    n
                }
                Err(e) if nothing_sent => return Poll::Ready(Err(Failure::Unsent(e))),
                Err(e) => return Poll::Ready(Err(Failure::Engine(e))),
            };
            let from_out = n.min(pending.len());
            self.written += from_out;
            n -= from_out;
            while n > 0 {
                let Some(front) = self.queue.front_mut() else { break };
                let step = n.min(front.len());
                front.advance(step);
                n -= step;
                if front.is_empty() {
                    self.queue.pop_front();
                }
            }
        }
    }

    /// Reads more of the engine's bytes into `read`; `0` when the engine closed the connection.
    /// `expected`: how many more bytes the answer is known to have, so that one read can take them.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>, expected: Option<u64>) -> Poll<io::Result<usize>> {
        if self.read.capacity() == 0 {
            // No buffer is taken before the engine has sent something: a worker's requests
            // waiting for their answers hold none, so the few its answers are read into one at
            // a time are used again and again.
            ready!(self.io.poll_readable(cx))?;
            // The buffer this thread's last answer was read into, rather than one this connection
            // used before other answers passed: an answer of tens of kilobytes is copied into
            // memory still in the cache, as a server that takes its buffer when it reads does.
            if let Some(spare) = SPARE.with_borrow_mut(Vec::pop) {
                self.read = spare;
                SPARE_USED.set(true);
            }
        }
        let space = self.read.capacity() - self.read.len();
        // Room for a little more than is expected: a read that fills its buffer leaves the
        // socket marked readable, and the next read would find nothing.
        let wanted = expected.map_or(0, |left| usize::try_from(left).unwrap_or(MAX_READ).min(MAX_READ) + 1024);
        // Room for at least half a read as large as the last ones, so that an answer of a few
        // tens of kilobytes is read in one call rather than into the ends of earlier buffers.
        if space < wanted.max(self.read_size / 2) {
            self.read.reserve(wanted.max(self.read_size));
        }
        let space = self.read.capacity() - self.read.len();
        let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read))?;
        if n == space && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        Poll::Ready(Ok(n))
    }

    /// Whether the last exchange is complete: its request all sent, nothing read beyond its answer.
    fn is_complete(&self) -> bool {
        !self.is_sending() && self.read.is_empty()
    }

    /// True when the connection can take another request: the last exchange is complete and the
    /// engine has neither closed it nor sent anything unasked.
    ///
    /// It looks with a byte of its own rather than into the read buffer, which the answer's last
    /// frame may still share: made to grow now, that buffer would be given up for a new one, where
    /// the next answer's read, once that frame is written and dropped, reuses it while it is still
    /// in the cache.
    fn reusable(&mut self) -> bool {
        if !self.is_complete() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut probe = tokio::io::ReadBuf::new(&mut byte);
        // Pending: nothing to read and not closed. Anything else (a byte unasked, the end, an
        // error) leaves the connection unusable, and it is dropped with what was read.
        Pin::new(&mut self.io).poll_read(&mut cx, &mut probe).is_pending()
    }
}

/// Idle connections, most recently used last, kept apart per worker thread (see
/// [`crate::workers`]): a connection belongs to the runtime of the thread that opened it, so it is
/// lent only to tasks on that thread, and no thread waits on another's lock.
pub(super) struct Pool {
    shards: Box<[Arc<Shard>]>,
}

/// One thread's idle connections, on cache lines of their own: a worker's lock and reference
/// count are written by that worker alone, never passed back and forth with another's.
#[repr(align(128))]
pub(super) struct Shard {
    idle: Mutex<Idle>,
}

/// Idle connections and since when, most recently used last.
type Idle = VecDeque<(Box<Link>, Coarse)>;

impl Pool {
    /// One shard per worker slot, plus one for every other thread.
    pub(super) fn new(workers: usize) -> Pool {
        Pool { shards: (0..=workers).map(|_| Arc::new(Shard { idle: Mutex::default() })).collect() }
    }

    /// The calling thread's idle connections.
    pub(super) fn shard(&self) -> &Arc<Shard> {
        &self.shards[crate::workers::slot() % self.shards.len()]
    }

    pub(super) fn take(&self) -> Option<Box<Link>> {
        self.shard().take()
    }

    pub(super) fn prune(&self, now: Coarse) {
        self.shard().prune(now);
    }
}

impl Shard {
    /// Keeps `link` for another request if its exchange is complete; whether the engine closed it
    /// meanwhile is checked when it is taken.
    pub(super) fn put(&self, mut link: Box<Link>) {
        if !link.is_complete() {
            return;
        }
        link.reused = true;
        // An idle connection keeps no buffer: a small one goes to the thread's next answer (see
        // `Link::poll_fill`), one a long answer grew is dropped; the next answer starts small.
        link.read_size = FIRST_READ;
        let read = std::mem::take(&mut link.read);
        if read.capacity() <= 2 * FIRST_READ {
            SPARE.with_borrow_mut(|spare| {
                if spare.len() == SPARE_BUFFERS {
                    spare.remove(0);
                }
                spare.push(read);
            });
        }
        let now = Coarse::now();
        let mut idle = self.idle.lock();
        idle.push_back((link, now));
        if idle.len() > MAX_IDLE {
            idle.pop_front();
        }
    }

    fn take(&self) -> Option<Box<Link>> {
        let now = Coarse::now();
        loop {
            let (mut link, since) = self.idle.lock().pop_back()?;
            if now.since(since) < IDLE_TIMEOUT && link.reusable() {
                return Some(link);
            }
        }
    }

    fn prune(&self, now: Coarse) {
        // A thread that read no answer since it last pruned keeps no spare buffer.
        if !SPARE_USED.replace(false) {
            SPARE.with_borrow_mut(Vec::clear);
        }
        let expired: Vec<(Box<Link>, Coarse)> = {
            let mut idle = self.idle.lock();
            let expired = idle.iter().take_while(|(_, since)| now.since(*since) >= IDLE_TIMEOUT).count();
            idle.drain(..expired).collect()
        };
        drop(expired);
    }
}

#[cfg(test)]
mod tests;
