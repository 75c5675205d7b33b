//! Runs client connections on one single-threaded runtime per core.
//!
//! A connection, the engine connections lent to it and every wake-up between them stay on the
//! thread it was handed to: no worker wakes another to share its work, and no connection's state
//! moves between cores mid-request. Each worker waits on its own sockets, as nginx's worker
//! processes do. Connections are dealt out in turn. It does not accept connections nor decide
//! anything; it only owns the threads.
//!
//! What every request writes is kept per worker too, indexed by [`slot`]: the engine connection
//! pool's shards and the per-request metrics' shards. With the per-connection handles a
//! connection takes once (its recorder, its caller's holder, its chosen policy), a request writes
//! no memory that another worker writes, so no cache line passes back and forth between cores on
//! its way, as none does between nginx's worker processes.
//!
//! A worker serving a lone request also spins briefly instead of sleeping (see [`spin()`]).
//!
//! Workers may also be pinned, each to a core of its own ([`Placement::OwnCore`], `--pin-workers`):
//! a worker the kernel moves to another core leaves its caches behind, and under load unpinned
//! workers moved tens of times a second where nginx's moved a few times. It is not the default: on
//! a shared host a pinned worker cannot leave a core another process keeps busy.

mod spin;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub use spin::{active, spin, InFlight, Serving};

thread_local! {
    /// 1 + the index of the worker running on this thread, or 0 on any other thread.
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Which worker runs the calling thread: 1 to [`Workers::len`], or 0 on any other thread. Per-worker
/// state (the engine connection pool) is indexed by it.
pub fn slot() -> usize {
    SLOT.get()
}

/// Where a worker's thread may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the kernel schedules it.
    AnyCore,
    /// On one core of its own, of those the process may use, taken in turn; two workers share a
    /// core only when there are more workers than cores.
    OwnCore,
}

/// The worker threads. Dropping it stops them; tasks still running on them are dropped.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` workers, or one per core this process may use when `count` is 0, placed as
    /// `placement` says. A core that cannot be set is logged, and its worker runs unpinned.
    pub fn start(count: usize, placement: Placement) -> io::Result<Workers> {
        let count = match count {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let cores = match placement {
            Placement::AnyCore => Vec::new(),
            Placement::OwnCore => usable_cores()?,
        };
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for index in 0..count {
            // Sockets and timers only: signals are handled on the main runtime, and a runtime
            // able to reap child processes would look for them each time it wakes.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(runtime.handle().clone());
            stops.push(stop);
            let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
            std::thread::Builder::new().name(format!("sockgate-worker-{index}")).spawn(move || {
                SLOT.set(index + 1);
                if let Some(core) = core {
                    if let Err(e) = pin_to(core) {
                        tracing::warn!("worker {index} cannot be pinned to core {core}, and runs unpinned: {e}");
                    }
                }
                // Returns when the sender is dropped, too.
                let _ = runtime.block_on(stopped);
            })?;
        }
        Ok(Workers { handles, stops, next: AtomicUsize::new(0) })
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Runs a task made by `make` on every worker, for per-worker housekeeping and [`spin`].
    pub fn spawn_on_each<F>(&self, make: impl Fn() -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        for handle in &self.handles {
            drop(handle.spawn(make()));
        }
    }

    /// Runs `task` on the next worker in turn. I/O objects it creates belong to that worker, so a
    /// socket accepted elsewhere must be handed over as a std socket and registered inside `task`.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        drop(self.handles[turn].spawn(task));
    }
}

/// The cores this process may run on.
fn usable_cores() -> io::Result<Vec<usize>> {
    let allowed = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count()).filter(|&core| allowed.is_set(core).unwrap_or(false)).collect())
}

/// Binds the calling thread to `core`.
fn pin_to(core: usize) -> io::Result<()> {
    let mut one = CpuSet::new();
    one.set(core)?;
    sched_setaffinity(Pid::from_raw(0), &one)?;
    Ok(())
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn tasks_run_on_workers_in_turn_and_know_their_slot() -> Result<(), Box<dyn Error>> {
        let workers = Workers::start(2, Placement::AnyCore)?;
        let (tx, rx) = mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            workers.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = tx.send((slot(), name));
            });
        }
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(rx.recv_timeout(Duration::from_secs(5))?);
        }
        seen.sort();
        let expected: Vec<(usize, Option<String>)> =
            [1, 1, 2, 2].into_iter().map(|slot| (slot, Some(format!("sockgate-worker-{}", slot - 1)))).collect();
        assert_eq!(seen, expected);
        assert_eq!(slot(), 0, "the test's own thread is no worker");
        Ok(())
    }

    #[test]
    fn pinned_workers_each_run_on_a_core_of_their_own() -> Result<(), Box<dyn Error>> {
        let usable = usable_cores()?;
        let workers = Workers::start(usable.len() + 1, Placement::OwnCore)?;
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers.len() {
            let tx = tx.clone();
            workers.spawn(async move {
                let allowed = usable_cores().map_err(|e| e.to_string());
                let _ = tx.send((slot(), allowed));
            });
        }
        let mut seen = Vec::new();
        for _ in 0..workers.len() {
            let (slot, allowed) = rx.recv_timeout(Duration::from_secs(5))?;
            seen.push((slot, allowed?));
        }
        seen.sort();
        // Each on one core, taken in turn from the usable ones; the worker past the last core
        // starts again at the first.
        let expected: Vec<(usize, Vec<usize>)> =
            (0..=usable.len()).map(|i| (i + 1, vec![usable[i % usable.len()]])).collect();
        assert_eq!(seen, expected);
        // The process itself, and unpinned workers, may still use every core.
        assert_eq!(usable_cores()?, usable);
        let free = Workers::start(1, Placement::AnyCore)?;
        let (tx, rx) = mpsc::channel();
        free.spawn(async move {
            let _ = tx.send(usable_cores().map_err(|e| e.to_string()));
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5))??, usable);
        Ok(())
    }

    #[test]
    fn dropping_the_workers_drops_their_tasks() -> Result<(), Box<dyn Error>> {
        struct Flag(mpsc::Sender<()>);
        impl Drop for Flag {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let workers = Workers::start(1, Placement::AnyCore)?;
        let (tx, rx) = mpsc::channel();
        let flag = Flag(tx);
        workers.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        drop(workers);
        rx.recv_timeout(Duration::from_secs(5))?;
        Ok(())
    }
}
