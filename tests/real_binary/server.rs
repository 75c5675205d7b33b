//! `sockgate serve` with any command line or configuration file (TLS listeners, several
//! listeners, profiles), ready once it has announced every listener it was asked for; stopped
//! with SIGTERM when the test ends, its stderr kept to explain failures. `Gateway` covers the
//! common case of one unix socket with a policy; this covers the rest.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use super::gateway::{clear_compat_env, clear_sockgate_env};
use super::process::{run, wait_until, CmdOutput};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A sockgate command that is expected to end by itself (`check-config`, a refused start).
pub const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// `sockgate <args>` with a clean environment, stdin from `/dev/null`.
pub fn sockgate_command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockgate"));
    cmd.args(args);
    clear_compat_env(&mut cmd);
    clear_sockgate_env(&mut cmd);
    // Allowed requests are logged at `debug`; the tests read those lines to see who was judged.
    cmd.env("SOCKGATE_LOG", "info,sockgate=debug");
    cmd
}

/// Runs a sockgate command that ends by itself, such as `check-config` or a refused `serve`.
pub fn sockgate_once<S: AsRef<OsStr>>(args: &[S]) -> Result<CmdOutput> {
    run(sockgate_command(args), None, ONE_SHOT_TIMEOUT)
}

/// A running `sockgate serve`.
pub struct Sockgate {
    child: Child,
    stderr_path: PathBuf,
    /// Each listener as asked for, and as bound (a `:0` port is the one the system gave).
    bound: Vec<(String, String)>,
    _logs: TempDir,
}

impl Sockgate {
    /// Starts `sockgate serve <args>` and waits until it has logged `listening on <addr>` for
    /// every address in `listeners` (as written there, e.g. `tcp://127.0.0.1:0`; a `:0` port,
    /// which the system picks, is read back from the log: see [`Sockgate::bound`]).
    pub fn serve<S: AsRef<OsStr>>(args: &[S], listeners: &[&str]) -> Result<Sockgate> {
        Sockgate::serve_with_env(args, &[], listeners)
    }

    /// As [`Sockgate::serve`], with these environment variables set.
    pub fn serve_with_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)], listeners: &[&str]) -> Result<Sockgate> {
        let mut cmd = sockgate_command(&[OsStr::new("serve")]);
        cmd.args(args).envs(env.iter().copied());
        Self::start(cmd, listeners)
    }

    /// Starts `cmd`, a `sockgate serve` command line the caller built with its own environment
    /// (see [`super::gateway::Gateway`]), and waits as [`Sockgate::serve`] does. This is the one
    /// place the tests start the binary as a server.
    pub fn start(mut cmd: Command, listeners: &[&str]) -> Result<Sockgate> {
        let logs = tempfile::Builder::new().prefix("sockgate-e2e-log-").tempdir()?;
        let stderr_path = logs.path().join("stderr.log");
        let stderr = File::create(&stderr_path)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(stderr));
        let child = cmd.spawn().context("cannot start sockgate")?;
        let mut server = Sockgate { child, stderr_path, bound: Vec::new(), _logs: logs };
        server.wait_ready(listeners)?;
        Ok(server)
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Starts `sockgate serve --config <file>`.
    pub fn with_config(file: &Path, listeners: &[&str]) -> Result<Sockgate> {
        Self::serve(&[OsStr::new("--config"), file.as_os_str()], listeners)
    }

    fn wait_ready(&mut self, listeners: &[&str]) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("sockgate exited during startup with {status}\n--- sockgate stderr ---\n{}", self.stderr());
            }
            let log = self.stderr();
            // The announcement is `listening on <addr>` or `listening on <addr> with TLS`.
            let announced: Vec<&str> = log
                .lines()
                .filter_map(|line| line.split_once("listening on ").map(|(_, rest)| rest))
                .filter_map(|rest| rest.split([' ', '`']).next())
                .collect();
            let bound = |wanted: &&str| -> Option<(String, String)> {
                let found = match wanted.strip_suffix(":0") {
                    Some(host) => announced.iter().find(|a| {
                        a.strip_prefix(host).and_then(|p| p.strip_prefix(':')).is_some_and(|p| p.parse::<u16>().is_ok())
                    }),
                    None => announced.iter().find(|a| *a == wanted),
                };
                found.map(|a| ((*wanted).to_owned(), (*a).to_owned()))
            };
            let all: Option<Vec<(String, String)>> = listeners.iter().map(bound).collect();
            if let Some(all) = all {
                self.bound = all;
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "sockgate did not announce {listeners:?} within {STARTUP_TIMEOUT:?}\n--- sockgate stderr ---\n{log}"
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address a listener asked for as `requested` (say `tcp://127.0.0.1:0`) is served on.
    pub fn bound(&self, requested: &str) -> String {
        self.bound
            .iter()
            .find(|(asked, _)| asked == requested)
            .map_or_else(|| requested.to_owned(), |(_, at)| at.clone())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) with the host's `kill`.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let mut kill = Command::new("kill");
        kill.arg(format!("-{signal}")).arg(self.pid().to_string());
        run(kill, None, ONE_SHOT_TIMEOUT)?.ok()?;
        Ok(())
    }

    /// SIGTERM, then waits (within the grace period) for the exit status.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        self.signal("TERM")?;
        match wait_until(&mut self.child, Instant::now() + SHUTDOWN_GRACE)? {
            Some(status) => Ok(status),
            None => bail!("sockgate did not exit within {SHUTDOWN_GRACE:?} of SIGTERM\n{}", self.stderr()),
        }
    }

    /// What sockgate wrote to stderr so far (its log).
    pub fn stderr(&self) -> String {
        std::fs::read(&self.stderr_path)
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .unwrap_or_else(|e| format!("<cannot read sockgate stderr: {e}>"))
    }

    /// Waits until the log holds more than `already` lines containing `needle`; returns them all.
    pub fn wait_for_log(&self, needle: &str, already: usize, timeout: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.stderr();
            let found: Vec<String> = log.lines().filter(|l| l.contains(needle)).map(str::to_owned).collect();
            if found.len() > already {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                bail!("sockgate logged no new `{needle}` within {timeout:?}\n--- sockgate stderr ---\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The number of log lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.stderr().lines().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Sockgate {
    fn drop(&mut self) {
        // Not when it already exited (`stop`): its pid may belong to another process by now.
        if !matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("--- sockgate stderr (pid {}) ---\n{}", self.child.id(), self.stderr());
            return;
        }
        let _ = self.signal("TERM");
        let stopped = wait_until(&mut self.child, Instant::now() + SHUTDOWN_GRACE);
        if !matches!(stopped, Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The test harness captures this and shows it only for a failed test.
        eprintln!("--- sockgate stderr (pid {}) ---\n{}", self.child.id(), self.stderr());
    }
}
