//! Spinning: a worker serving a lone request keeps polling its sockets for a short budget
//! instead of sleeping. It counts the requests in flight and the connections being served, and
//! notes activity, per thread; it never spins with more than one request in flight or more than
//! one connection being served, and never holds a core past its budget.
//!
//! Why: a request through a proxy crosses between threads four times where a direct one
//! crosses twice, and where waking an idle core is slow (on virtual machines above all) each sleep
//! and wake-up costs about as much as a whole direct round trip. So while a worker has at most one
//! request in flight, it keeps polling its sockets for a few tens of microseconds after its last
//! activity (the engine's answer, the client's next request or a stream's next frame usually comes
//! within that), as Go's scheduler keeps a thread spinning before it parks. With more requests in
//! flight, or more connections being served (a connection quiet for a second is parked and not
//! counted), it never spins: then the cores are busy with real work, events arrive without a
//! wake-up anyway, and spinning would only take CPU from the engine and the clients.

use std::cell::Cell;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::slot;

thread_local! {
    /// The requests in flight on this thread.
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
    /// The connections being served on this thread, parked ones left out.
    static SERVING: Cell<usize> = const { Cell::new(0) };
    /// Bumped whenever a request starts or ends, or a body frame passes, on this thread.
    static ACTIVITY: Cell<u64> = const { Cell::new(0) };
    /// This worker's spinner while it waits for a lone request to arrive.
    static SPINNER: Cell<Option<Waker>> = const { Cell::new(None) };
    /// How many rounds the spinner has polled on this thread.
    static SPUN: Cell<u64> = const { Cell::new(0) };
}

/// One request being served, from its head to the end of its answer. Counted on the thread that
/// made it, where it must also be dropped (a worker's tasks never change threads).
pub struct InFlight {
    slot: usize,
}

impl InFlight {
    pub fn begin() -> InFlight {
        IN_FLIGHT.set(IN_FLIGHT.get() + 1);
        active();
        InFlight { slot: slot() }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.slot == slot() {
            IN_FLIGHT.set(IN_FLIGHT.get().saturating_sub(1));
            active();
        }
    }
}

/// One connection being served, not parked. Counted on the thread that made it, where it must
/// also be dropped.
pub struct Serving {
    slot: usize,
}

impl Serving {
    pub fn begin() -> Serving {
        SERVING.set(SERVING.get() + 1);
        Serving { slot: slot() }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.slot == slot() {
            SERVING.set(SERVING.get().saturating_sub(1));
        }
    }
}

/// Whether this thread's worker serves a lone request, the only time it spins: at most one
/// request in flight, on at most one connection being served.
fn lone() -> bool {
    IN_FLIGHT.get() <= 1 && SERVING.get() <= 1
}

/// Notes activity on this thread's worker: a request starting or ending, or a frame of a body
/// passing. It restarts the spinner's budget, and wakes the spinner if the worker serves a lone
/// request.
pub fn active() {
    ACTIVITY.set(ACTIVITY.get().wrapping_add(1));
    if lone() {
        if let Some(spinner) = SPINNER.take() {
            spinner.wake();
        }
    }
}

/// Runs on a worker for good: while it serves a lone request ([`lone`]), keeps the worker
/// polling its sockets until `budget` has passed without [activity](active), instead of sleeping
/// as soon as it has nothing to do. Each round gives the core to any other runnable
/// thread first.
pub async fn spin(budget: Duration) {
    loop {
        lone_request_active().await;
        let mut seen = ACTIVITY.get();
        let mut since = Instant::now();
        while lone() {
            let now = ACTIVITY.get();
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() >= budget {
                break;
            }
            SPUN.set(SPUN.get() + 1);
            std::thread::yield_now();
            // Lets the runtime poll its sockets without blocking, then runs what became ready.
            tokio::task::yield_now().await;
        }
    }
}

/// Waits for [activity](active) while the worker serves a lone request.
async fn lone_request_active() {
    let mut waiting = false;
    std::future::poll_fn(|cx| {
        let mut spinner = SPINNER.take();
        // Woken by `active`, which took the waker, rather than polled for another reason.
        if waiting && spinner.is_none() {
            return Poll::Ready(());
        }
        match &mut spinner {
            Some(waker) => waker.clone_from(cx.waker()),
            None => spinner = Some(cx.waker().clone()),
        }
        SPINNER.set(spinner);
        waiting = true;
        Poll::Pending
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::Workers;
    use std::error::Error;
    use std::sync::mpsc;

    /// On one worker with a spinner of `budget`: starts `requests` requests and returns how many
    /// rounds it spun in the first 30 ms after that, and in the 30 ms after those.
    fn spun(budget: Duration, requests: usize) -> Result<(u64, u64), Box<dyn Error>> {
        spun_on(budget, requests, 1)
    }

    /// [`spun`] with the requests spread over `connections` connections being served.
    fn spun_on(budget: Duration, requests: usize, connections: usize) -> Result<(u64, u64), Box<dyn Error>> {
        let workers = Workers::start(1, crate::workers::Placement::AnyCore)?;
        workers.spawn_on_each(move || spin(budget));
        let (tx, rx) = mpsc::channel();
        workers.spawn(async move {
            let serving: Vec<Serving> = (0..connections).map(|_| Serving::begin()).collect();
            let guards: Vec<InFlight> = (0..requests).map(|_| InFlight::begin()).collect();
            let start = SPUN.get();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let middle = SPUN.get();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = tx.send((middle - start, SPUN.get() - middle));
            drop(guards);
            drop(serving);
        });
        Ok(rx.recv_timeout(Duration::from_secs(5))?)
    }

    #[test]
    fn a_lone_request_keeps_its_worker_spinning_within_the_budget() -> Result<(), Box<dyn Error>> {
        let (before, after) = spun(Duration::from_secs(10), 1)?;
        assert!(before > 0 && after > 0, "spun {before} then {after} rounds");
        Ok(())
    }

    #[test]
    fn spinning_stops_when_the_budget_passes_without_activity() -> Result<(), Box<dyn Error>> {
        let (before, after) = spun(Duration::from_millis(5), 1)?;
        assert!(before > 0, "never spun");
        assert_eq!(after, 0, "still spinning 30 ms after a 5 ms budget");
        Ok(())
    }

    #[test]
    fn activity_restarts_a_spent_budget() -> Result<(), Box<dyn Error>> {
        let workers = Workers::start(1, crate::workers::Placement::AnyCore)?;
        workers.spawn_on_each(|| spin(Duration::from_millis(5)));
        let (tx, rx) = mpsc::channel();
        workers.spawn(async move {
            let request = InFlight::begin();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let spent = SPUN.get();
            tokio::time::sleep(Duration::from_millis(10)).await;
            let idle = SPUN.get() - spent;
            // As a frame of a streamed body passing does.
            active();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let _ = tx.send((idle, SPUN.get() - spent));
            drop(request);
        });
        let (idle, after) = rx.recv_timeout(Duration::from_secs(5))?;
        assert_eq!(idle, 0, "spun with its budget spent");
        assert!(after > 0, "activity did not restart spinning");
        Ok(())
    }

    #[test]
    fn a_worker_with_two_requests_in_flight_never_spins() -> Result<(), Box<dyn Error>> {
        assert_eq!(spun(Duration::from_secs(10), 2)?, (0, 0));
        Ok(())
    }

    #[test]
    fn a_worker_serving_two_connections_never_spins_for_the_one_request_of_either() -> Result<(), Box<dyn Error>> {
        assert_eq!(spun_on(Duration::from_secs(10), 1, 2)?, (0, 0));
        let (before, after) = spun_on(Duration::from_secs(10), 1, 1)?;
        assert!(before > 0 && after > 0, "one connection: spun {before} then {after} rounds");
        Ok(())
    }
}
