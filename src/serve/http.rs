//! HTTP/1.1 served on one client connection: request heads read one after the other
//! ([`crate::http1::request`]), each request answered before the next head is read, its body fed
//! to the answer while the answer is written ([`crate::http1::Incoming`]), the answer's head and
//! body framed as the client can read them ([`crate::http1::answer`]), and a connection whose
//! answer switched protocols handed over whole ([`crate::http1::OnUpgrade`]).
//!
//! A small answer leaves in one write with its head; a body is written as it comes, and what was
//! written is flushed whenever the answer has nothing more ready, so streams (`logs -f`,
//! `events`) reach the client at once. A head that cannot be read one way only is answered with
//! its status and a JSON message, and the connection is closed. A connection whose request body
//! was not read to its end is closed after the answer: the next request could not be found.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::body::Body;
use crate::http1::{self, answer, request, Decoded, Decoder, Feed, Framing, Incoming, IncomingError, OnUpgrade};

/// Bytes read at a time while a request head is read.
const HEAD_READ: usize = 8 * 1024;
/// Bytes read at a time while a request body is read.
const BODY_READ: usize = 64 * 1024;
/// A body frame at most this long is copied next to what is being written; a longer one is
/// written from where it is.
const COALESCE: usize = 16 * 1024;
/// Written out once this much is waiting, even if more of the body is ready.
const WRITE_AT: usize = 64 * 1024;
/// What is read and dropped of a request body left unread, after its answer and before the
/// connection closes, so the client reads the answer rather than a reset.
const LINGER_BYTES: usize = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How serving a connection ended.
pub(super) enum Finished<I> {
    /// The connection is done with: closed, or handed over after `101`.
    Closed,
    /// The stream read as ended between requests: the stream, and bytes of a next request head
    /// already read from it.
    Ended(I, Bytes),
}

/// One client connection and its buffers.
struct Conn<I> {
    io: I,
    read: BytesMut,
    out: BytesMut,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    /// Reads what the stream has, with room for `size` bytes; 0 at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>, size: usize) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < size / 4 {
            self.read.reserve(size);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }

    /// Writes everything waiting in `out`, then flushes.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writes everything waiting in `out`, then all of `data` from where it is: in one write
    /// when the stream takes several buffers at once.
    fn poll_write_held(&mut self, cx: &mut Context<'_>, data: &mut Bytes) -> Poll<io::Result<()>> {
        if self.io.is_write_vectored() {
            while !self.out.is_empty() {
                let slices = [IoSlice::new(&self.out), IoSlice::new(data)];
                let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                let from_out = n.min(self.out.len());
                self.out.advance(from_out);
                data.advance(n - from_out);
            }
        } else {
            ready!(self.poll_write_out(cx))?;
        }
        while !data.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, data))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            data.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// A request body being read from the client and fed to its answer.
struct Feeding {
    feed: Feed,
    decoder: Decoder,
    /// The client waits for `100 Continue` before it sends the body.
    continue_due: bool,
    /// The body was read to its end, or failed: nothing more is read for it.
    over: bool,
}

impl Feeding {
    /// Reads and feeds what it can of the body without waiting; `answering` once the answer's
    /// head is out (a client still waiting for `100 Continue` then sends no body).
    fn poll<I: AsyncRead + AsyncWrite + Unpin>(&mut self, cx: &mut Context<'_>, conn: &mut Conn<I>, answering: bool) {
        if self.over {
            return;
        }
        if self.continue_due {
            if answering || !self.feed.is_wanted(cx) {
                return;
            }
            self.continue_due = false;
            conn.out.extend_from_slice(CONTINUE);
        }
        if !conn.out.is_empty() && !answering {
            // `100 Continue` must leave before the body can come.
            if let Poll::Ready(Err(e)) = conn.poll_write_out(cx) {
                return self.fail(format!("cannot write 100 Continue: {e}"));
            }
        }
        loop {
            if !self.feed.has_room(cx) {
                return;
            }
            match self.decoder.decode(&mut conn.read) {
                Ok(Decoded::Data(data)) => self.feed.push(data),
                Ok(Decoded::End) => {
                    self.over = true;
                    return self.feed.end(Ok(()));
                }
                Ok(Decoded::More) => match conn.poll_fill(cx, BODY_READ) {
                    Poll::Pending => return,
                    // A request body is never read until close: an end here cuts it short.
                    Poll::Ready(Ok(0)) => return self.fail("the client closed the connection mid-body".into()),
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => return self.fail(e.to_string()),
                },
                Err(e) => return self.fail(e.to_string()),
            }
        }
    }

    fn fail(&mut self, message: String) {
        self.over = true;
        self.feed.end(Err(IncomingError(message)));
    }

    /// Whether the body was read to its end.
    fn is_done(&self) -> bool {
        self.decoder.is_done()
    }
}

/// Where an answer is.
#[allow(clippy::large_enum_variant, reason = "one per connection, in its future; boxing would allocate per answer")]
enum Answering {
    /// Waiting for the answer.
    Waiting,
    /// Sending its body, framed as `framing`, `sent` bytes of it so far, and a long frame being
    /// written from where it is (then, for `chunked`, the end of its chunk).
    Sending { body: Body, framing: Framing, sent: u64, held: Option<(Bytes, bool)> },
    /// The last of it is being written.
    Finishing,
}

/// What came of one exchange.
struct Exchanged {
    keep_alive: bool,
    /// The answer switched protocols.
    switched: bool,
}

/// Serves HTTP/1.1 on `io` until the client leaves, a request or an answer ends the connection,
/// or `stop` is set between requests. Each request is answered by `answer`. A stop is noticed
/// when the server is next polled: whoever sets `stop` must poll it again (a session waits on its
/// stop token beside it and sets the flag when the token is cancelled). A flag, not the token: a
/// token's state is read under a lock, and this one is read at least twice a request.
pub(super) async fn serve<I, F, Fut>(io: I, answer: F, stop: &AtomicBool) -> io::Result<Finished<I>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut(http1::Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let mut answer = answer;
    let mut conn = Conn { io, read: BytesMut::new(), out: BytesMut::new() };
    loop {
        let head = loop {
            let parsed = if conn.read.is_empty() { Ok(None) } else { request::parse(&mut conn.read) };
            match parsed {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(refused) => {
                    tracing::debug!("request refused: {refused}");
                    refuse(&mut conn, &refused).await;
                    return Ok(Finished::Closed);
                }
            }
            let read = poll_fn(|cx| {
                if conn.read.is_empty() && stop.load(Ordering::Relaxed) {
                    return Poll::Ready(Ok(None));
                }
                conn.poll_fill(cx, HEAD_READ).map_ok(Some)
            })
            .await?;
            match read {
                None => return Ok(Finished::Closed),
                Some(0) => return Ok(Finished::Ended(conn.io, conn.read.freeze())),
                Some(_) => {}
            }
        };
        let request::Head { mut parts, fields, framing, keep_alive, expects_continue, upgrade } = head;
        let (feeding, body) = match framing {
            Framing::Length(length) => {
                let (feed, body) = Incoming::channel(Some(length));
                (Some(feed), body)
            }
            Framing::Chunked => {
                let (feed, body) = Incoming::channel(None);
                (Some(feed), body)
            }
            Framing::Empty | Framing::Close => (None, Incoming::empty()),
        };
        let mut feeding = feeding.map(|feed| Feeding {
            feed,
            decoder: Decoder::new(framing),
            continue_due: expects_continue,
            over: false,
        });
        let pending = upgrade.then(|| {
            let (pending, on_upgrade) = OnUpgrade::pending();
            parts.extensions.insert(on_upgrade);
            pending
        });
        let method = parts.method.clone();
        let version = parts.version;
        let mut keep_alive = keep_alive && !stop.load(Ordering::Relaxed);
        let mut answered = pin!(answer(http1::Request { parts, fields, body }));
        let mut state = Answering::Waiting;
        let exchanged = poll_fn(|cx| {
            if let Some(feeding) = &mut feeding {
                feeding.poll(cx, &mut conn, !matches!(state, Answering::Waiting));
            }
            loop {
                match &mut state {
                    Answering::Waiting => {
                        let response = ready!(answered.as_mut().poll(cx));
                        let (parts, mut body) = response.into_parts();
                        let fields = body.take_fields();
                        let exact = body.size_hint().exact();
                        if feeding.as_ref().is_some_and(|f| !f.is_done() && f.feed.is_dropped()) {
                            // Nobody reads the rest of the body: the client learns the connection ends.
                            keep_alive = false;
                        }
                        let written =
                            answer::encode(&parts, fields.as_ref(), &method, version, exact, keep_alive, &mut conn.out);
                        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
                            if pending.is_none() {
                                return Poll::Ready(Err(io::Error::other("an answer switched protocols unasked")));
                            }
                            ready!(conn.poll_write_out(cx))?;
                            return Poll::Ready(Ok(Exchanged { keep_alive: false, switched: true }));
                        }
                        keep_alive = written.keep_alive;
                        state = match written.framing {
                            Framing::Empty => Answering::Finishing,
                            framing => Answering::Sending { body, framing, sent: 0, held: None },
                        };
                    }
                    Answering::Sending { .. } | Answering::Finishing => {
                        return poll_sent(cx, &mut conn, &mut state, keep_alive);
                    }
                }
            }
        })
        .await;
        let exchanged = match exchanged {
            Ok(exchanged) => exchanged,
            Err(e) => {
                // Cut mid-answer: the client cannot tell what came, so the connection ends.
                tracing::debug!("answer cut short: {e}");
                return Ok(Finished::Closed);
            }
        };
        if exchanged.switched {
            if let Some(pending) = pending {
                pending.fulfill(conn.io, conn.read.split().freeze());
            }
            return Ok(Finished::Closed);
        }
        let body_done = feeding.as_ref().is_none_or(Feeding::is_done);
        if !exchanged.keep_alive || !body_done {
            drop(feeding);
            linger(&mut conn, !body_done).await;
            return Ok(Finished::Closed);
        }
    }
}

/// Sends the rest of the answer `state` holds; resolves once all of it is written.
fn poll_sent<I: AsyncRead + AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    conn: &mut Conn<I>,
    state: &mut Answering,
    keep_alive: bool,
) -> Poll<io::Result<Exchanged>> {
    loop {
        match state {
            Answering::Waiting => return Poll::Ready(Err(io::Error::other("no answer to send"))),
            Answering::Finishing => {
                ready!(conn.poll_write_out(cx))?;
                return Poll::Ready(Ok(Exchanged { keep_alive, switched: false }));
            }
            Answering::Sending { body, framing, sent, held } => {
                if let Some((data, chunk_end)) = held {
                    ready!(conn.poll_write_held(cx, data))?;
                    if *chunk_end {
                        conn.out.extend_from_slice(http1::CHUNK_END);
                    }
                    *held = None;
                }
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Pending => {
                        ready!(conn.poll_write_out(cx))?;
                        return Poll::Pending;
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(io::Error::other(e.to_string()))),
                    Poll::Ready(Some(Ok(frame))) => {
                        let Ok(data) = frame.into_data() else { continue };
                        if data.is_empty() {
                            continue;
                        }
                        *sent += data.len() as u64;
                        let chunked = *framing == Framing::Chunked;
                        if let Framing::Length(length) = *framing {
                            if *sent > length {
                                return Poll::Ready(Err(io::Error::other("the answer is longer than its length")));
                            }
                        }
                        if chunked {
                            conn.out.extend_from_slice(&http1::chunk_line(data.len()));
                        }
                        if data.len() <= COALESCE {
                            conn.out.extend_from_slice(&data);
                            if chunked {
                                conn.out.extend_from_slice(http1::CHUNK_END);
                            }
                        } else {
                            *held = Some((data, chunked));
                        }
                        if conn.out.len() >= WRITE_AT {
                            ready!(conn.poll_write_out(cx))?;
                        }
                    }
                    Poll::Ready(None) => {
                        match *framing {
                            Framing::Chunked => conn.out.extend_from_slice(http1::LAST_CHUNK),
                            Framing::Length(length) if *sent != length => {
                                return Poll::Ready(Err(io::Error::other("the answer is shorter than its length")));
                            }
                            _ => {}
                        }
                        *state = Answering::Finishing;
                    }
                }
            }
        }
    }
}

/// Answers a request head that cannot be read with its status and why, then closes.
async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<I>, refused: &request::Refused) {
    let message = serde_json::json!({ "message": format!("sockgate: {}", refused.reason) }).to_string();
    let mut response = Response::new(());
    *response.status_mut() = refused.status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (parts, ()) = response.into_parts();
    let (method, version) = (http::Method::GET, http::Version::HTTP_11);
    answer::encode(&parts, None, &method, version, Some(message.len() as u64), false, &mut conn.out);
    conn.out.extend_from_slice(message.as_bytes());
    if poll_fn(|cx| conn.poll_write_out(cx)).await.is_ok() {
        linger(conn, true).await;
    }
}

/// Ends the connection: with `unread` bytes of the client's still coming, it first says it
/// sends nothing more, then reads and drops what the client still sends, within bounds, so
/// the client reads the answer rather than a reset.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<I>, unread: bool) {
    let _ = tokio::time::timeout(LINGER_TIME, async {
        if conn.io.shutdown().await.is_err() || !unread {
            return;
        }
        let mut dropped = 0;
        let mut buf = vec![0u8; 16 * 1024];
        while dropped < LINGER_BYTES {
            match conn.io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests;
