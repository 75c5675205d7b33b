//! A future polled only after it asked to be: [`OnWake`] wraps one branch of a connection's
//! `select!`, so the wake-ups the HTTP connection causes (several per request) do not poll the
//! branches that wait for something rare (a stop, a hang-up, the next watch check). A wrapped future
//! is polled on its first poll and after each time it woke its task itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

/// `inner`, polled only when it has woken since its last poll.
pub(super) struct OnWake<F> {
    inner: Pin<Box<F>>,
    flag: Arc<Flag>,
    waker: Waker,
    polled: bool,
    /// The task's waker last handed to the flag: while it stays the same, a poll takes no lock.
    task: Option<Waker>,
}

/// Set when the inner future wakes; holds the task to wake in turn.
#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = &*self.task.lock() {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> OnWake<F> {
    pub(super) fn new(inner: F) -> OnWake<F> {
        let flag = Arc::new(Flag::default());
        OnWake { inner: Box::pin(inner), waker: Waker::from(flag.clone()), flag, polled: false, task: None }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if !this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            this.task = Some(cx.waker().clone());
            *this.flag.task.lock() = Some(cx.waker().clone());
        }
        // Read first, and cleared only when set: most polls find it clear. Cleared before the
        // inner poll: a wake-up during it is kept for the next.
        if this.polled && !this.flag.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        this.flag.woken.store(false, Ordering::Release);
        this.polled = true;
        this.inner.as_mut().poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `ready` is set, and wakes its waker when told to.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            *self.waker.lock() = Some(cx.waker().clone());
            if self.ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn the_inner_future_is_polled_first_and_then_only_after_it_woke() {
        let (polls, ready, waker) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)), Arc::default());
        let probe = Probe { polls: polls.clone(), ready: ready.clone(), waker: Arc::clone(&waker) };
        let mut wrapped = Box::pin(OnWake::new(probe));
        let task_woken = Arc::new(Counter::default());
        let task = Waker::from(task_woken.clone());
        let mut cx = Context::from_waker(&task);
        assert!(wrapped.as_mut().poll(&mut cx).is_pending());
        // Woken for other reasons: the inner future is left alone.
        for _ in 0..3 {
            assert!(wrapped.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        // It wakes itself: the task is woken, and the next poll reaches it.
        ready.store(true, Ordering::SeqCst);
        let inner_waker = waker.lock().clone();
        inner_waker.unwrap_or_else(|| unreachable!("never polled")).wake();
        assert_eq!(task_woken.0.load(Ordering::SeqCst), 1, "the task was not woken");
        assert!(wrapped.as_mut().poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
