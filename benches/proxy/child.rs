//! The proxy under test: starts `sockgate serve` as a child process, waits for its `listening on`
//! line, drains its output and reads its CPU time from `/proc`. It never signals any other process.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};

const START_TIMEOUT: Duration = Duration::from_secs(15);
const TAIL_LINES: usize = 20;

/// The running proxy; dropping it kills and reaps the child.
pub struct Sockgate {
    child: Child,
    output: Arc<Output>,
}

/// What the child wrote: a line count (per-request logging shows up here) and the last lines.
#[derive(Default)]
struct Output {
    lines: AtomicU64,
    tail: Mutex<VecDeque<String>>,
}

impl Sockgate {
    pub fn start(bin: &Path, listen: &Path, upstream: &Path, policy: &Path) -> anyhow::Result<Self> {
        let listen_url = format!("unix://{}", listen.display());
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--listen")
            .arg(&listen_url)
            .arg("--upstream")
            .arg(format!("unix://{}", upstream.display()))
            .arg("--policy")
            .arg(policy)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{}`", bin.display()))?;
        let output = Arc::new(Output::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let needle = format!("listening on {listen_url}");
        if let Some(stderr) = child.stderr.take() {
            let ready_tx = ready_tx.clone();
            drain(stderr, Arc::clone(&output), move |line| {
                if line.contains(&needle) {
                    let _ = ready_tx.send(());
                }
            });
        }
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&output), |_| {});
        }
        drop(ready_tx);
        let mut sockgate = Self { child, output };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(()) => Ok(sockgate),
            Err(_) => {
                let status = sockgate.child.try_wait()?;
                bail!(
                    "sockgate did not print `listening on {listen_url}` within {START_TIMEOUT:?} \
                     (exit status: {status:?}); its last output:\n{}",
                    sockgate.tail()
                )
            }
        }
    }

    pub fn cpu(&self, tick: Duration) -> Cpu {
        Cpu { pid: self.child.id(), tick }
    }

    pub fn output_lines(&self) -> u64 {
        self.output.lines.load(Ordering::Relaxed)
    }

    pub fn tail(&self) -> String {
        match self.output.tail.lock() {
            Ok(tail) => tail.iter().map(|l| format!("  {l}\n")).collect(),
            Err(_) => String::new(),
        }
    }

    /// Fails if the child has exited, with its last output.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("sockgate exited ({status}); its last output:\n{}", self.tail());
        }
        Ok(())
    }
}

impl Drop for Sockgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the pipe on its own thread until the child closes it, so the child never blocks on a
/// full pipe however much it logs.
fn drain(pipe: impl Read + Send + 'static, output: Arc<Output>, on_line: impl Fn(&str) + Send + 'static) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
            on_line(&line);
            output.lines.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut tail) = output.tail.lock() {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            buf.clear();
        }
    });
}

/// Reads one process's user + system CPU time from `/proc/PID/stat`.
#[derive(Clone, Copy)]
pub struct Cpu {
    pid: u32,
    tick: Duration,
}

impl Cpu {
    pub fn read(&self) -> anyhow::Result<Duration> {
        let path = PathBuf::from(format!("/proc/{}/stat", self.pid));
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
        // proc(5): the command name in field 2 may hold spaces and parentheses, so count fields
        // from the last `)`; field 3 (state) comes first, utime is field 14 and stime field 15.
        let rest = stat.rfind(')').map(|at| &stat[at + 1..]).context("malformed /proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u32> {
            let field = fields.get(i).context("short /proc stat")?;
            Ok(field.parse()?)
        };
        Ok(self.tick * (ticks(11)? + ticks(12)?))
    }
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
