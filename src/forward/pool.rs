//! The engine connections kept alive between requests: one HTTP/1.1 connection ([`Link`]) that
//! whoever holds it drives, and the idle ones per worker thread ([`Pool`]), dropped after
//! [`IDLE_TIMEOUT`]. It never sends a request of its own and never lends a connection to another
//! thread's runtime.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::client::conn::TrySendError;
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, MutexGuard};

use super::connector::Stream;
use crate::body::Body;

pub(super) type Conn = hyper::client::conn::http1::Connection<TokioIo<Stream>, Body>;

/// How long a pooled connection may stay idle: shorter than dockerd keeps idle connections, so
/// sockgate closes them first.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_IDLE: usize = 256;

/// One HTTP/1.1 connection to the engine: the sending half and the connection state machine,
/// which whoever holds the link must poll for anything to happen.
pub(super) struct Link {
    pub(super) sender: SendRequest<Body>,
    /// Boxed: the state machine and its buffers are large, and a link moves in and out of the pool
    /// at every request.
    pub(super) conn: Box<Conn>,
    /// Taken from the pool rather than just opened.
    pub(super) reused: bool,
    /// The connection is finished (closed, failed or handed over): it is never polled again.
    pub(super) closed: bool,
}

impl Link {
    /// Sends `request` and drives the connection until the answer's head is in.
    pub(super) async fn exchange(
        &mut self,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Body>>> {
        let mut answer = std::pin::pin!(self.sender.try_send_request(request));
        std::future::poll_fn(|cx| {
            // The connection writes the request and reads the answer into the channel `answer`
            // waits on.
            self.drive(cx);
            answer.as_mut().poll(cx)
        })
        .await
    }

    /// Lets the connection make progress; false once it is finished.
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.closed && Pin::new(&mut *self.conn).poll(cx).is_ready() {
            self.closed = true;
        }
        !self.closed
    }

    /// Polls the connection once without waiting, so it notices a close and settles into idle;
    /// true when it can take another request.
    fn reusable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(std::task::Waker::noop())) && self.sender.is_ready()
    }
}

/// Idle connections, most recently used last, kept apart per worker thread (see
/// [`crate::workers`]): a connection belongs to the runtime of the thread that opened it, so it is
/// lent only to tasks on that thread, and no thread waits on another's lock.
pub(super) struct Pool {
    shards: Box<[Mutex<Idle>]>,
}

/// Idle connections and since when, most recently used last.
type Idle = VecDeque<(Link, Instant)>;

impl Pool {
    /// One shard per worker slot, plus one for every other thread.
    pub(super) fn new(workers: usize) -> Pool {
        Pool { shards: (0..=workers).map(|_| Mutex::default()).collect() }
    }

    /// The calling thread's idle connections.
    fn lock(&self) -> MutexGuard<'_, Idle> {
        let shard = &self.shards[crate::workers::slot() % self.shards.len()];
        shard.lock()
    }

    pub(super) fn put(&self, mut link: Link) {
        if !link.reusable() {
            return;
        }
        link.reused = true;
        let now = Instant::now();
        let mut idle = self.lock();
        idle.push_back((link, now));
        if idle.len() > MAX_IDLE {
            idle.pop_front();
        }
    }

    pub(super) fn take(&self) -> Option<Link> {
        let now = Instant::now();
        loop {
            let (mut link, since) = self.lock().pop_back()?;
            if now.duration_since(since) < IDLE_TIMEOUT && link.reusable() {
                return Some(link);
            }
        }
    }

    pub(super) fn prune(&self, now: Instant) {
        let expired: Vec<(Link, Instant)> = {
            let mut idle = self.lock();
            let expired = idle.iter().take_while(|(_, since)| now.duration_since(*since) >= IDLE_TIMEOUT).count();
            idle.drain(..expired).collect()
        };
        drop(expired);
    }
}
