//! Child processes with bounded waits: a one-shot run that collects its output, and a
//! long-running stream read line by line. Neither ever waits without a deadline.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long to wait for a killed process's pipes to drain (a grandchild may hold them open).
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The outcome of a finished command, with enough context to explain a failed assertion.
pub struct CmdOutput {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The output itself when the command exited 0, otherwise an error showing all of it.
    pub fn ok(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            bail!("command failed: {self}")
        }
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// A command line as a person would type it, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion, feeding it `stdin` (then closing it) or `/dev/null`.
/// Fails, after killing it, when it has not exited within `timeout`.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Result<CmdOutput> {
    let command = describe(&cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot start `{command}`"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        // Written from a thread so a child that does not read cannot block us; dropping the
        // pipe afterwards closes the child's stdin (the EOF that half-close tests rely on).
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let status = wait_until(&mut child, Instant::now() + timeout)?;
    let stdout = collect(&stdout);
    let stderr = collect(&stderr);
    match status {
        Some(status) => Ok(CmdOutput { command, status, stdout, stderr }),
        None => bail!(
            "`{command}` did not finish within {timeout:?} and was killed\n\
             --- stdout so far ---\n{stdout}\n--- stderr so far ---\n{stderr}"
        ),
    }
}

/// Waits for `child` until `deadline`; kills it and returns `None` when the deadline passes.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for a child process")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn collect(rx: &Receiver<Vec<u8>>) -> String {
    match rx.recv_timeout(DRAIN_GRACE) {
        Ok(buf) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => "<output still held open by another process>".to_owned(),
    }
}

/// A long-running command (`logs -f`, `events`, `attach`) read line by line. It is killed on
/// drop; a test decides by itself when it has read enough.
pub struct Streaming {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Streaming {
    /// Starts `cmd` with stdin from `/dev/null`.
    pub fn spawn(cmd: Command) -> Result<Self> {
        Self::start(cmd, false)
    }

    /// Starts `cmd` with a stdin pipe that `write_stdin` feeds.
    pub fn spawn_with_stdin(cmd: Command) -> Result<Self> {
        Self::start(cmd, true)
    }

    fn start(mut cmd: Command, with_stdin: bool) -> Result<Self> {
        let command = describe(&cmd);
        cmd.stdin(if with_stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("cannot start `{command}`"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    if tx.send(text.trim_end_matches(['\r', '\n']).to_owned()).is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    if let Ok(mut buf) = sink.lock() {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Self { command, child, stdin, lines, stderr })
    }

    /// The next line of stdout, without its line ending.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("`{}` printed no line within {timeout:?}{}", self.command, self.context())
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                bail!("`{}` closed its output (exit status: {status:?}){}", self.command, self.context())
            }
        }
    }

    /// Reads lines until one equals `wanted`, all within `timeout`; returns the lines read.
    pub fn expect_line(&mut self, wanted: &str, timeout: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left).with_context(|| format!("waiting for line `{wanted}` after {seen:?}"))?;
            let found = line == wanted;
            seen.push(line);
            if found {
                return Ok(seen);
            }
        }
    }

    pub fn write_stdin(&mut self, data: &[u8]) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else { bail!("`{}` was started without a stdin pipe", self.command) };
        stdin
            .write_all(data)
            .and_then(|()| stdin.flush())
            .with_context(|| format!("cannot write to the stdin of `{}`", self.command))
    }

    /// Whether the process is still running (a stream that ended by itself is a failure).
    pub fn is_running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait().context("cannot poll a child process")?.is_none())
    }

    /// What the process printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|buf| String::from_utf8_lossy(&buf).into_owned()).unwrap_or_default()
    }

    fn context(&self) -> String {
        format!("\n--- stderr so far ---\n{}", self.stderr())
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
