//! Runs a connection's future so that the wake-ups it causes itself are handled in place.
//!
//! Serving one connection means several state machines in one task: the client connection, the
//! engine connection lent to it, and the body channels between them. Each hands data to the next
//! through a channel that wakes the task, while the task is running. A multi-threaded runtime
//! treats such a wake-up as new work, queues the task again and rouses an idle worker to take it,
//! so the connection would hop between threads at every hand-over. [`Coalesced`] notices a wake-up
//! that arrives while its future is being polled and polls it again at once instead; wake-ups
//! from elsewhere (the I/O driver, other tasks) reach the runtime as usual.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// Polls in a row before yielding to the runtime, so one busy connection cannot hold a worker
/// (the runtime's cooperative budget usually ends a run of polls first).
const MAX_POLLS: usize = 32;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// A future whose own wake-ups during a poll lead to another poll rather than a reschedule.
pub struct Coalesced<F> {
    inner: Pin<Box<F>>,
    shared: Arc<Shared>,
    waker: Waker,
}

impl<F: Future> Coalesced<F> {
    pub fn new(inner: F) -> Coalesced<F> {
        let shared = Arc::new(Shared { state: AtomicU8::new(IDLE), task: Mutex::new(None) });
        let waker = Waker::from(shared.clone());
        Coalesced { inner: Box::pin(inner), shared, waker }
    }
}

struct Shared {
    state: AtomicU8,
    /// The runtime's waker for the task, for wake-ups that arrive between polls.
    task: Mutex<Option<Waker>>,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // While a poll is running, noting the wake-up is enough: the poller checks before it
        // returns. Otherwise the task must be scheduled.
        let noted = self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .map_or_else(|state| state == WOKEN, |_| true);
        if !noted {
            if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                task.wake_by_ref();
            }
        }
    }
}

impl<F: Future> Future for Coalesced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut task = this.shared.task.lock().unwrap_or_else(PoisonError::into_inner);
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..MAX_POLLS {
            this.shared.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(output) = this.inner.as_mut().poll(&mut inner_cx) {
                this.shared.state.store(IDLE, Ordering::Release);
                return Poll::Ready(output);
            }
            if this.shared.state.compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Poll::Pending;
            }
            // Woken while polling: there is more to do now, unless the wake-up came from the
            // runtime's budget running out, which only a return to the runtime restores.
            if !tokio::task::coop::has_budget_remaining() {
                break;
            }
        }
        this.shared.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself `left` times while being polled, then is ready.
    struct SelfWaking {
        left: usize,
        polls: usize,
    }

    impl Future for SelfWaking {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.left == 0 {
                return Poll::Ready(self.polls);
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn wake_ups_during_a_poll_are_polls_not_reschedules() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = Coalesced::new(SelfWaking { left: 5, polls: 0 });
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(6));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_runtime() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = Coalesced::new(SelfWaking { left: MAX_POLLS + 3, polls: 0 });
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(MAX_POLLS + 4));
    }

    #[tokio::test]
    async fn wake_ups_between_polls_reach_the_runtime() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiting = tokio::spawn(Coalesced::new(rx));
        tokio::task::yield_now().await;
        tx.send(7).unwrap_or_default();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await;
        assert!(matches!(got, Ok(Ok(Ok(7)))), "{got:?}");
    }
}
