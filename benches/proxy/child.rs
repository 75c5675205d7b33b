//! The proxies under test as child processes: starts one, waits until its socket takes
//! connections, drains its output and kills it and its own children when dropped. It never signals
//! any other process.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cpu::Cpu;

const START_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);
const TAIL_LINES: usize = 20;

/// A running proxy and the socket it listens on; dropping it kills and reaps the child.
pub struct Proxy {
    name: &'static str,
    socket: PathBuf,
    child: Child,
    output: Arc<Output>,
}

/// What the child wrote: a line count (per-request logging shows up here) and the last lines.
#[derive(Default)]
struct Output {
    lines: AtomicU64,
    tail: Mutex<VecDeque<String>>,
}

/// `sockgate serve` from `listen` to `upstream` with `policy`, and with ownership on for the one
/// owner name `owner` when there is one.
pub fn sockgate(
    bin: &Path,
    listen: &Path,
    upstream: &Path,
    policy: &Path,
    owner: Option<&str>,
) -> anyhow::Result<Proxy> {
    let mut command = sockgate_command(bin, listen, upstream, policy);
    let name = match owner {
        Some(owner) => {
            command.arg("--owner").arg(owner);
            "sockgate --owner"
        }
        None => "sockgate",
    };
    Proxy::start(name, command, listen)
}

/// The command that runs `sockgate serve` from `listen` to `upstream` with `policy`; callers add
/// their own flags.
pub fn sockgate_command(bin: &Path, listen: &Path, upstream: &Path, policy: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("serve")
        .arg("--listen")
        .arg(format!("unix://{}", listen.display()))
        .arg("--upstream")
        .arg(format!("unix://{}", upstream.display()))
        .arg("--policy")
        .arg(policy)
        // `--owner` also reads `SOCKGATE_OWNER`: the bench's environment must not turn ownership
        // on where it measures sockgate without.
        .env_remove("SOCKGATE_OWNER");
    if pinned() {
        command.arg("--pin-workers");
    }
    if let Ok(args) = std::env::var("SOCKGATE_BENCH_ARGS") {
        command.args(args.split_whitespace());
    }
    command
}

/// Whether `SOCKGATE_BENCH_PIN=1` asks for workers pinned to cores: sockgate's with
/// `--pin-workers`, nginx's with `worker_cpu_affinity auto`, so the two are compared alike.
pub fn pinned() -> bool {
    std::env::var("SOCKGATE_BENCH_PIN").is_ok_and(|v| v == "1")
}

impl Proxy {
    /// Starts `command`, which listens on `socket`, and returns once the socket takes connections.
    /// Not the first line it logs: nginx prints nothing, and sockgate nothing at `SOCKGATE_LOG=warn`.
    pub fn start(name: &'static str, mut command: Command, socket: &Path) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name} (`{}`)", command.get_program().to_string_lossy()))?;
        let output = Arc::new(Output::default());
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, Arc::clone(&output));
        }
        let mut proxy = Self { name, socket: socket.to_owned(), child, output };
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if UnixStream::connect(socket).is_ok() {
                return Ok(proxy);
            }
            proxy.check_alive()?;
            std::thread::sleep(POLL);
        }
        bail!("{name} did not accept connections within {START_TIMEOUT:?}; its last output:\n{}", proxy.tail())
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Its process and those it has forked as of now (nginx's workers).
    pub fn pids(&self) -> Vec<u32> {
        let pid = self.child.id();
        [pid].into_iter().chain(children(pid)).collect()
    }

    /// Its CPU time and that of the processes it has forked as of now (nginx's workers).
    pub fn cpu(&self, tick: Duration) -> Cpu {
        Cpu::of(self.pids(), tick)
    }

    /// Waits until it has forked `n` processes (nginx's workers), or fails with its last output.
    pub fn wait_for_children(&mut self, n: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while children(self.child.id()).len() < n {
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!(
                    "{} did not start {n} workers within {START_TIMEOUT:?}; its last output:\n{}",
                    self.name,
                    self.tail()
                );
            }
            std::thread::sleep(POLL);
        }
        Ok(())
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
            bail!("{} exited ({status}); its last output:\n{}", self.name, self.tail());
        }
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // nginx's workers outlive a killed master process: find them first, end them after.
        let children = children(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in children.into_iter().filter_map(|pid| i32::try_from(pid).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The processes whose parent is `pid`, from every `/proc/PID/stat`: `/proc/PID/task/TID/children`
/// needs a kernel option not every kernel has.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let child_of = |entry: std::fs::DirEntry| -> Option<u32> {
        let child = entry.file_name().to_str()?.parse::<u32>().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        // proc(5): the parent's pid is field 4, the second after the command name's last `)`.
        let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok()?;
        (parent == pid).then_some(child)
    };
    entries.filter_map(|entry| child_of(entry.ok()?)).collect()
}

/// Reads the pipe on its own thread until the child closes it, so the child never blocks on a
/// full pipe however much it logs.
fn drain(pipe: impl Read + Send + 'static, output: Arc<Output>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
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
