//! The proxy under test: starts `sockgate serve` as a child process, waits for its `listening on`
//! line and drains its output. It never signals any process but its own child.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::cpu::Cpu;

const START_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);
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
        let needle_shown = needle.clone();
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
        // Ready when it says so, or when its socket takes connections: with `SOCKGATE_LOG=warn`
        // in the environment the `listening on` line is not printed.
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            match ready_rx.recv_timeout(POLL) {
                Ok(()) => return Ok(sockgate),
                Err(RecvTimeoutError::Timeout) if UnixStream::connect(listen).is_ok() => return Ok(sockgate),
                Err(RecvTimeoutError::Timeout) => sockgate.check_alive()?,
                // Its output is closed: it is exiting, and `check_alive` will say so shortly.
                Err(RecvTimeoutError::Disconnected) => {
                    sockgate.check_alive()?;
                    std::thread::sleep(POLL);
                }
            }
        }
        bail!(
            "sockgate did not print `{needle_shown}` nor accept connections within {START_TIMEOUT:?}; \
             its last output:\n{}",
            sockgate.tail()
        )
    }

    pub fn cpu(&self, tick: Duration) -> Cpu {
        Cpu::of(self.child.id(), tick)
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
