//! A cheap clock for deadlines counted in seconds: how long a connection has been idle or has
//! taken to send its request head, how long an engine connection has waited in the pool.
//!
//! It reads the kernel's coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`), the time as of the
//! last scheduler tick: a few milliseconds behind at most, and read from memory the kernel
//! shares, without asking the processor's time counter as the precise clock does (about 7 ns a
//! read against 30 ns on a 2-core virtual machine). A request stamps four such moments; request
//! durations, which are measured in microseconds, keep the precise clock.

use std::ops::Add;
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

/// A moment on the coarse monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Coarse(Duration);

impl Coarse {
    /// Now, as of the last scheduler tick. Should the clock be unreadable (it is on every Linux
    /// since 2.6.32), time stands still at zero: deadlines are then never reached, and nothing is
    /// cut short.
    pub fn now() -> Coarse {
        Coarse(clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE).map_or(Duration::ZERO, Duration::from))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn since(self, earlier: Coarse) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The runtime's timer instant for this moment, for sleeping until it.
    pub fn to_timer(self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.since(Coarse::now())
    }
}

impl Add<Duration> for Coarse {
    type Output = Coarse;

    fn add(self, later: Duration) -> Coarse {
        Coarse(self.0.saturating_add(later))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn it_keeps_up_with_the_precise_clock_within_a_tick_or_two() {
        // Each coarse read between two precise ones, so that a thread preempted between reads
        // widens the bounds rather than failing the test.
        let (before, coarse, after) = (Instant::now(), Coarse::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(200));
        let (before_end, coarse_end, after_end) = (Instant::now(), Coarse::now(), Instant::now());
        let waited = coarse_end.since(coarse);
        // A scheduler tick is 1 to 10 ms (HZ 1000 to 100), and each read may lag by one.
        let tick = Duration::from_millis(10);
        let (least, most) = (before_end - after, after_end - before);
        assert!(waited > Duration::ZERO, "the coarse clock did not move in 200 ms");
        assert!(waited + tick >= least && waited <= most + tick, "{waited:?}, not within {least:?} to {most:?}");
    }

    #[test]
    fn a_moment_ahead_is_a_timer_instant_as_far_ahead() {
        let ahead = Coarse::now() + Duration::from_secs(5);
        let timer = ahead.to_timer();
        let left = timer - tokio::time::Instant::now();
        // Never further than asked; nearer by a tick, or by as long as the thread was preempted.
        assert!(left <= Duration::from_secs(5) && left >= Duration::from_secs(4), "{left:?}");
        // A moment past is due now.
        let past = Coarse(Duration::ZERO).to_timer();
        assert!(past <= tokio::time::Instant::now());
        assert_eq!(Coarse::now().since(Coarse::now() + Duration::from_secs(1)), Duration::ZERO);
    }
}
