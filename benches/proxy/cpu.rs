//! CPU accounting from `/proc`: some processes' user + system time, and the whole machine's busy
//! time, so the report can say how much CPU the proxy used and whether anything else was running.
//! It only reads; it never changes what runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;

/// Reads user + system CPU time from `/proc/PID/stat`: of some processes together (a proxy and
/// its workers), or of the bench's own.
#[derive(Clone)]
pub struct Cpu {
    /// Empty for the bench's own process.
    pids: Vec<u32>,
    tick: Duration,
}

impl Cpu {
    pub fn of(pids: Vec<u32>, tick: Duration) -> Self {
        Self { pids, tick }
    }

    /// The bench's own process: the stub and the load generator.
    pub fn this_process(tick: Duration) -> Self {
        Self { pids: Vec::new(), tick }
    }

    /// Context switches of every thread of the processes, voluntary and not, as of now: each is
    /// a thread put to sleep or taken off its core.
    pub fn switches(&self) -> u64 {
        self.pids
            .iter()
            .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
            .flat_map(|tasks| tasks.flatten())
            .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    pub fn read(&self) -> anyhow::Result<Duration> {
        if self.pids.is_empty() {
            return process_time(Path::new("/proc/self/stat"), self.tick);
        }
        self.pids.iter().map(|pid| process_time(&PathBuf::from(format!("/proc/{pid}/stat")), self.tick)).sum()
    }
}

fn process_time(path: &Path, tick: Duration) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading `{}`", path.display()))?;
    // proc(5): the command name in field 2 may hold spaces and parentheses, so count fields
    // from the last `)`; field 3 (state) comes first, utime is field 14 and stime field 15.
    let rest = stat.rfind(')').map(|at| &stat[at + 1..]).context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        let field = fields.get(i).context("short /proc stat")?;
        Ok(field.parse()?)
    };
    Ok(ticks_to(tick, ticks(11)? + ticks(12)?))
}

/// CPU time all processes on the machine spent busy, from the `cpu` line of `/proc/stat`:
/// user, nice, system, irq and softirq (proc(5)); idle, iowait and steal are not busy here.
pub fn machine_busy(tick: Duration) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading `/proc/stat`")?;
    let line = stat.lines().find(|l| l.starts_with("cpu ")).context("no `cpu` line in /proc/stat")?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>()?;
    let busy = [0, 1, 2, 5, 6].iter().map(|&i| fields.get(i).copied().unwrap_or(0)).sum();
    Ok(ticks_to(tick, busy))
}

fn ticks_to(tick: Duration, ticks: u64) -> Duration {
    Duration::from_nanos(u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).saturating_mul(ticks))
}

/// Length of one clock tick, the unit of `/proc` CPU times: from `getconf CLK_TCK`, or 100 Hz,
/// the value on every mainstream Linux build, when `getconf` is missing.
pub fn clock_tick() -> (Duration, &'static str) {
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|hz| *hz > 0);
    match hz {
        Some(hz) => (Duration::from_secs(1) / hz, "getconf CLK_TCK"),
        None => (Duration::from_millis(10), "assumed 100 Hz"),
    }
}

/// How much CPU other processes on the machine used over a stretch of the run: busy time minus
/// the bench's own and the proxies'. Anything well above zero means the figures are disturbed.
pub struct Others {
    tick: Duration,
    ours: Vec<Cpu>,
    busy: Duration,
    own: Duration,
    at: std::time::Instant,
}

impl Others {
    pub fn start(tick: Duration, proxies: impl IntoIterator<Item = Cpu>) -> anyhow::Result<Self> {
        let mut ours = vec![Cpu::this_process(tick)];
        ours.extend(proxies);
        let own = ours.iter().map(Cpu::read).sum::<anyhow::Result<Duration>>()?;
        Ok(Self { tick, busy: machine_busy(tick)?, own, ours, at: std::time::Instant::now() })
    }

    /// Average number of cores other processes kept busy since `start`.
    pub fn cores(&self) -> anyhow::Result<f64> {
        let own = self.ours.iter().map(Cpu::read).sum::<anyhow::Result<Duration>>()?;
        let busy = machine_busy(self.tick)?.saturating_sub(self.busy);
        let others = busy.saturating_sub(own.saturating_sub(self.own));
        Ok(others.as_secs_f64() / self.at.elapsed().as_secs_f64())
    }
}
