//! Watches one client connection for the two ways a client can hold it without using it: waiting
//! longer than the idle time for its next request, and taking longer than the header timeout to
//! send a request head. The head's time counts from its first byte (from connecting, for the first
//! request), so a client trickling one header line at a time cannot extend it, as Go's
//! `http.Server` `ReadHeaderTimeout` after `IdleTimeout`. A connection with a request in flight (a
//! `logs -f` stream, an upload, a long answer) is never idle, whether or not bytes move. It
//! closes nothing itself: it says when the connection should go, and why.
//!
//! It also says when a quiet connection may be parked (see [`super::connection`]): after
//! [`PARK_AFTER`] between requests, its stream tells the HTTP layer the client has finished, so
//! the layer lets go of the stream and its buffers without closing it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::Coarse;

/// How long a connection waits for its next request before it is parked.
pub(super) const PARK_AFTER: Duration = Duration::from_secs(1);

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the next request since then, no byte of it read.
    Idle(Coarse),
    /// Reading a request head whose first byte came then.
    Head(Coarse),
    /// This many requests are being answered.
    Busy(usize),
}

/// What the watch says of a connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Fine until then at least: look again.
    Until(Coarse),
    /// Idle longer than the idle time.
    Idle,
    /// The request head took longer than the header timeout.
    HeaderTimeout,
    /// Quiet long enough to be parked.
    Park,
}

/// The state of one connection, shared by its stream, its requests and its serving loop.
pub(super) struct Watch {
    phase: Mutex<Phase>,
    /// Zero: idle connections stay.
    idle: Duration,
    header: Duration,
    /// `None`: never parked.
    park: Option<Duration>,
    /// The stream reads as ended (and its shutdown is skipped) while set.
    parking: AtomicBool,
}

impl Watch {
    /// A fresh connection: its first request head is due within the header timeout.
    pub(super) fn new(idle: Duration, header: Duration, park: Option<Duration>) -> Arc<Watch> {
        Arc::new(Watch {
            phase: Mutex::new(Phase::Head(Coarse::now())),
            idle,
            header,
            park,
            parking: AtomicBool::new(false),
        })
    }

    /// From now on the stream reads as ended: the HTTP layer, idle between requests, finishes
    /// the connection and hands the stream back (see [`Watched`]).
    pub(super) fn start_parking(&self) {
        self.parking.store(true, Ordering::Release);
    }

    /// Whether the stream reads as ended; cleared, so the next session reads it again.
    pub(super) fn take_parking(&self) -> bool {
        self.parking.swap(false, Ordering::AcqRel)
    }

    fn is_parking(&self) -> bool {
        self.parking.load(Ordering::Acquire)
    }

    /// When a parked connection has been idle for the idle time; `None` when idle connections stay.
    pub(super) fn idle_deadline(&self) -> Option<Coarse> {
        match *self.phase.lock() {
            Phase::Idle(since) => self.idle_until(since),
            _ => None,
        }
    }

    /// When a connection idle since `since` has been idle for the idle time; `None` when idle
    /// connections stay.
    fn idle_until(&self, since: Coarse) -> Option<Coarse> {
        (!self.idle.is_zero()).then(|| since + self.idle)
    }

    /// Bytes came from the client.
    fn read(&self) {
        let mut phase = self.phase.lock();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Coarse::now());
        }
    }

    /// Whether a request is being answered.
    pub(super) fn is_busy(&self) -> bool {
        matches!(*self.phase.lock(), Phase::Busy(_))
    }

    /// A request head arrived: the connection is busy until the guard is dropped with the answer.
    pub(super) fn request(self: &Arc<Watch>) -> Busy {
        let mut phase = self.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        };
        Busy(self.clone())
    }

    /// How often the watch is asked at least: within the shortest of its times, so a head or an
    /// idle spell that begins between two questions is not given longer than its time.
    fn interval(&self) -> Duration {
        let idle = if self.idle.is_zero() { self.header } else { self.header.min(self.idle) };
        self.park.map_or(idle, |park| idle.min(park))
    }

    /// When to ask first.
    pub(super) fn first_check(&self) -> Coarse {
        Coarse::now() + self.interval()
    }

    /// Whether the connection should go at `now`, or when to ask again.
    pub(super) fn check(&self, now: Coarse) -> Verdict {
        let soon = now + self.interval();
        match *self.phase.lock() {
            Phase::Busy(_) => Verdict::Until(soon),
            Phase::Head(since) if now >= since + self.header => Verdict::HeaderTimeout,
            Phase::Head(since) => Verdict::Until(since + self.header),
            Phase::Idle(since) => match (self.idle_until(since), self.park) {
                (Some(idle), _) if now >= idle => Verdict::Idle,
                (_, Some(park)) if now >= since + park && !self.is_parking() => Verdict::Park,
                (_, Some(park)) if !self.is_parking() => Verdict::Until((since + park).min(soon)),
                (idle, _) => Verdict::Until(idle.map_or(soon, |idle| idle.min(soon))),
            },
        }
    }
}

/// One request being answered; dropped with its answer.
pub(super) struct Busy(Arc<Watch>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Coarse::now()),
        };
    }
}

/// A client stream that tells its [`Watch`] when bytes arrive. It first gives back what an earlier
/// session had read and not used, and reads as ended while its watch is parking.
pub(super) struct Watched<I> {
    io: I,
    watch: Arc<Watch>,
    unread: Bytes,
}

impl<I> Watched<I> {
    pub(super) fn new(io: I, unread: Bytes, watch: Arc<Watch>) -> Watched<I> {
        Watched { io, watch, unread }
    }

    /// The stream, and what was given back and not read again.
    pub(super) fn into_parts(self) -> (I, Bytes) {
        (self.io, self.unread)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread[..n]);
            self.unread.advance(n);
            // Part of a request head: its deadline runs from now.
            self.watch.read();
            return Poll::Ready(Ok(()));
        }
        if self.watch.is_parking() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.watch.is_parking() {
            // Parked, not closed: the stream is handed back open.
            return Pin::new(&mut self.io).poll_flush(cx);
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);
    const HEADER: Duration = Duration::from_secs(30);

    #[test]
    fn a_trickled_head_is_cut_at_its_deadline_however_it_trickles() {
        let watch = Watch::new(IDLE, HEADER, None);
        let start = Coarse::now();
        watch.read();
        watch.read();
        assert!(
            matches!(watch.check(start + (HEADER - Duration::from_secs(1))), Verdict::Until(t) if t <= start + HEADER)
        );
        assert_eq!(watch.check(start + HEADER + Duration::from_millis(10)), Verdict::HeaderTimeout);
    }

    #[test]
    fn a_request_in_flight_is_never_idle_and_idleness_counts_from_its_end() {
        let watch = Watch::new(IDLE, HEADER, None);
        let busy = watch.request();
        let later = Coarse::now() + 10 * IDLE;
        assert!(matches!(watch.check(later), Verdict::Until(_)));
        drop(busy);
        let done = Coarse::now();
        assert!(matches!(watch.check(done + (IDLE - Duration::from_secs(1))), Verdict::Until(_)));
        assert_eq!(watch.check(done + IDLE + Duration::from_millis(10)), Verdict::Idle);
        // A head begun while idle has the header timeout from its first byte, not the idle time.
        watch.read();
        let first_byte = Coarse::now();
        assert_eq!(watch.check(first_byte + HEADER + Duration::from_millis(10)), Verdict::HeaderTimeout);
    }

    #[test]
    fn an_idle_time_shorter_than_the_header_timeout_is_kept() {
        let watch = Watch::new(Duration::from_secs(1), HEADER, None);
        let first = watch.first_check();
        assert!(first <= Coarse::now() + Duration::from_secs(1));
        drop(watch.request());
        let done = Coarse::now();
        assert!(matches!(watch.check(done), Verdict::Until(t) if t <= done + Duration::from_secs(1)));
    }

    #[test]
    fn zero_idle_time_keeps_idle_connections() {
        let watch = Watch::new(Duration::ZERO, HEADER, None);
        drop(watch.request());
        assert!(matches!(watch.check(Coarse::now() + 100 * HEADER), Verdict::Until(_)));
    }

    #[test]
    fn a_quiet_connection_is_parked_before_it_is_idle_and_only_once() {
        let watch = Watch::new(IDLE, HEADER, Some(PARK_AFTER));
        drop(watch.request());
        let done = Coarse::now();
        assert!(matches!(watch.check(done), Verdict::Until(t) if t <= done + PARK_AFTER));
        assert_eq!(watch.check(done + PARK_AFTER + Duration::from_millis(10)), Verdict::Park);
        watch.start_parking();
        assert!(matches!(watch.check(done + PARK_AFTER + Duration::from_millis(10)), Verdict::Until(_)));
        assert!(watch.idle_deadline().is_some_and(|d| d <= done + IDLE));
        assert!(watch.take_parking());
        assert!(!watch.take_parking());
        // Busy or mid-head, never parked.
        let busy = watch.request();
        assert!(matches!(watch.check(Coarse::now() + IDLE / 2), Verdict::Until(_)));
        drop(busy);
        watch.read();
        assert!(matches!(watch.check(Coarse::now() + PARK_AFTER * 2), Verdict::Until(_)));
    }
}
