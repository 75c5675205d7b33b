//! A real `sockgate serve` on a temporary unix socket (and optionally a loopback port),
//! stopped with SIGTERM when the test ends, its stderr kept to explain failures.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use super::dockerd::DOCKER_HOST;
use super::process::wait_until;

pub const FULL_ACCESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/full-access.toml");
pub const READ_ONLY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/read-only.toml");

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct Gateway {
    child: Child,
    socket: PathBuf,
    tcp_port: Option<u16>,
    stderr_path: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// Starts `sockgate serve` on a fresh unix socket with `policy` (none: the built-in one).
    pub fn start(policy: Option<&str>) -> Result<Self> {
        Self::launch(policy, None, &[])
    }

    /// Like `start`, with a second listener on `tcp://127.0.0.1:<port>`.
    pub fn start_with_tcp(policy: Option<&str>, port: u16) -> Result<Self> {
        Self::launch(policy, Some(port), &[])
    }

    /// Like `start`, with docker-socket-proxy variables (`CONTAINERS=1`, `POST=0`, ...) set in
    /// the gateway's environment; without `policy`, sockgate builds its policy from them.
    pub fn start_with_env(policy: Option<&str>, env: &[(&str, &str)]) -> Result<Self> {
        Self::launch(policy, None, env)
    }

    fn launch(policy: Option<&str>, tcp_port: Option<u16>, env: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sockgate-e2e-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let socket = dir.path().join("gw.sock");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = File::create(&stderr_path)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockgate"));
        cmd.arg("serve").arg("--listen").arg(format!("unix://{}", socket.display()));
        if let Some(port) = tcp_port {
            cmd.arg("--listen").arg(format!("tcp://127.0.0.1:{port}"));
        }
        cmd.arg("--upstream").arg(DOCKER_HOST);
        if let Some(policy) = policy {
            cmd.arg("--policy").arg(policy);
        }
        // Only the variables a test names may switch on the docker-socket-proxy mode: one
        // inherited from the test's own environment (`VERSION=1`, `INFO=1`) must not.
        clear_compat_env(&mut cmd);
        cmd.envs(env.iter().copied());
        // The startup line is logged at `info`; an inherited filter must not hide it.
        cmd.env_remove("SOCKGATE_LOG").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(stderr));
        let child = cmd.spawn().context("cannot start sockgate")?;
        let mut gateway = Self { child, socket, tcp_port, stderr_path, _dir: dir };
        gateway.wait_ready()?;
        Ok(gateway)
    }

    /// Waits until every listener accepts connections; fails early if the process exits.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("sockgate exited during startup with {status}\n--- sockgate stderr ---\n{}", self.stderr());
            }
            let unix_ready = UnixStream::connect(&self.socket).is_ok();
            let tcp_ready = self.tcp_port.is_none_or(|port| TcpStream::connect(("127.0.0.1", port)).is_ok());
            if unix_ready && tcp_ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "sockgate did not accept connections on {} within {STARTUP_TIMEOUT:?}\n\
                     --- sockgate stderr ---\n{}",
                    self.host(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The unix listener as a docker host (`unix:///...`).
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The TCP listener as a docker host, when one was asked for.
    pub fn tcp_host(&self) -> Option<String> {
        self.tcp_port.map(|port| format!("tcp://127.0.0.1:{port}"))
    }

    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// What sockgate wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read(&self.stderr_path)
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .unwrap_or_else(|e| format!("<cannot read sockgate stderr: {e}>"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SIGTERM first (the documented way to stop it), then SIGKILL after a grace period.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let stopped = wait_until(&mut self.child, Instant::now() + SHUTDOWN_GRACE);
        if !matches!(stopped, Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The test harness captures this and shows it only for a failed test.
        eprintln!("--- sockgate stderr ({}) ---\n{}", self.host(), self.stderr());
    }
}

/// Removes every docker-socket-proxy variable sockgate reads from a child's environment.
pub fn clear_compat_env(cmd: &mut Command) {
    for name in sockgate::policy::compat::variables() {
        cmd.env_remove(name);
    }
}

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
