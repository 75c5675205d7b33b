//! A real `sockgate serve` on a temporary unix socket (and optionally a loopback port, an admin
//! listener, an audit log and any other flag), started and stopped as [`Sockgate`] does, its
//! ports the ones the system gave and the log names.

use std::ffi::OsString;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use super::dockerd::DOCKER_HOST;
use super::server::Sockgate;

pub const FULL_ACCESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/full-access.toml");
pub const READ_ONLY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/read-only.toml");

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Gateway {
    server: Sockgate,
    socket: PathBuf,
    tcp_port: Option<u16>,
    admin_port: Option<u16>,
    audit_log: Option<PathBuf>,
    _dir: TempDir,
}

/// What `sockgate serve` is started with, beyond the unix listener every gateway has.
pub struct GatewayBuilder {
    policies: Vec<PathBuf>,
    tcp: bool,
    env: Vec<(String, String)>,
    upstream: String,
    admin: bool,
    audit_log: bool,
    args: Vec<OsString>,
}

impl GatewayBuilder {
    /// A `--policy` file (repeatable, as the flag is); none: the built-in read-only policy.
    pub fn policy(mut self, path: impl AsRef<Path>) -> Self {
        self.policies.push(path.as_ref().to_path_buf());
        self
    }

    /// `policy` when there is one.
    fn policies(self, policy: Option<&str>) -> Self {
        match policy {
            Some(path) => self.policy(path),
            None => self,
        }
    }

    /// A second listener on `tcp://127.0.0.1:<port>`.
    /// A second listener on loopback TCP, on a port the system picks (read back from the log).
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self
    }

    /// A variable in the gateway's environment (docker-socket-proxy variables and the like).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The engine (`unix:///...` or `tcp://...`); the real dockerd unless told otherwise.
    pub fn upstream(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.upstream);
        self
    }

    /// `--admin-listen` on a free loopback port (see [`Gateway::admin_port`]).
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// `--audit-log` to a file in the gateway's temporary directory (see [`Gateway::audit_log`]).
    pub fn audit_log(mut self) -> Self {
        self.audit_log = true;
        self
    }

    /// Any other flags, passed after the ones above (`--mode audit`, `--learn-output FILE`, ...).
    pub fn args<S: Into<OsString> + Clone>(mut self, args: &[S]) -> Self {
        self.args.extend(args.iter().cloned().map(Into::into));
        self
    }

    /// Starts it and waits until every listener, the admin one included, accepts connections.
    pub fn start(self) -> Result<Gateway> {
        Gateway::launch(self)
    }
}

impl Gateway {
    /// Starts `sockgate serve` on a fresh unix socket with `policy` (none: the built-in one).
    pub fn start(policy: Option<&str>) -> Result<Self> {
        Self::builder().policies(policy).start()
    }

    /// Like `start`, with a second listener on loopback TCP ([`Gateway::tcp_host`]).
    pub fn start_with_tcp(policy: Option<&str>) -> Result<Self> {
        Self::builder().policies(policy).tcp().start()
    }

    /// Like `start`, with docker-socket-proxy variables (`CONTAINERS=1`, `POST=0`, ...) set in
    /// the gateway's environment; without `policy`, sockgate builds its policy from them.
    pub fn start_with_env(policy: Option<&str>, env: &[(&str, &str)]) -> Result<Self> {
        env.iter().fold(Self::builder().policies(policy), |b, (name, value)| b.env(name, value)).start()
    }

    /// A gateway to the real dockerd with the built-in policy, until the builder says otherwise.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            policies: Vec::new(),
            tcp: false,
            env: Vec::new(),
            upstream: DOCKER_HOST.to_owned(),
            admin: false,
            audit_log: false,
            args: Vec::new(),
        }
    }

    fn launch(options: GatewayBuilder) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sockgate-e2e-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let socket = dir.path().join("gw.sock");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockgate"));
        cmd.arg("serve").arg("--listen").arg(format!("unix://{}", socket.display()));
        // Port 0: the system picks a free port, which sockgate's start-up log names.
        if options.tcp {
            cmd.arg("--listen").arg("tcp://127.0.0.1:0");
        }
        cmd.arg("--upstream").arg(&options.upstream);
        for policy in &options.policies {
            cmd.arg("--policy").arg(policy);
        }
        if options.admin {
            cmd.arg("--admin-listen").arg("tcp://127.0.0.1:0");
        }
        let audit_log = options.audit_log.then(|| dir.path().join("audit.log"));
        if let Some(path) = &audit_log {
            cmd.arg("--audit-log").arg(path);
        }
        cmd.args(&options.args);
        // Only the variables a test names may switch on the docker-socket-proxy mode: one
        // inherited from the test's own environment (`VERSION=1`, `INFO=1`) must not.
        clear_compat_env(&mut cmd);
        // Nor may sockgate's own.
        clear_sockgate_env(&mut cmd);
        cmd.envs(options.env.iter().map(|(k, v)| (k, v)));
        let host = format!("unix://{}", socket.display());
        let server = Sockgate::start(cmd, &[&host])?;
        let mut gateway = Self { server, socket, tcp_port: None, admin_port: None, audit_log, _dir: dir };
        gateway.wait_ports(options.tcp, options.admin)?;
        Ok(gateway)
    }

    /// Reads the TCP and admin ports from the start-up log and waits until they accept
    /// connections; fails early if the process exits.
    fn wait_ports(&mut self, tcp: bool, admin: bool) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.server.exited()? {
                bail!("sockgate exited during startup with {status}\n--- sockgate stderr ---\n{}", self.stderr());
            }
            let log = self.stderr();
            if tcp && self.tcp_port.is_none() {
                self.tcp_port = logged_port(&log, "listening on tcp://127.0.0.1:");
            }
            if admin && self.admin_port.is_none() {
                self.admin_port = logged_port(&log, ") on tcp://127.0.0.1:");
            }
            let ports_known = (!tcp || self.tcp_port.is_some()) && (!admin || self.admin_port.is_some());
            let tcp_ready = [self.tcp_port, self.admin_port]
                .into_iter()
                .flatten()
                .all(|port| TcpStream::connect(("127.0.0.1", port)).is_ok());
            if ports_known && tcp_ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "sockgate did not accept connections on {} within {STARTUP_TIMEOUT:?}\n\
                     --- sockgate stderr ---\n{log}",
                    self.host(),
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
        self.server.stderr()
    }

    /// The admin listener's port, when [`GatewayBuilder::admin`] asked for one.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    /// The admin listener as `sockgate healthcheck` takes it (`tcp://127.0.0.1:<port>`).
    pub fn admin_addr(&self) -> Option<String> {
        self.admin_port.map(|port| format!("tcp://127.0.0.1:{port}"))
    }

    /// The audit log file, when [`GatewayBuilder::audit_log`] asked for one.
    pub fn audit_log(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Sends `signal` (`HUP`, `USR1`, `TERM`, ...) to the running gateway.
    pub fn signal(&mut self, signal: &str) -> Result<()> {
        if let Some(status) = self.server.exited()? {
            bail!("cannot send SIG{signal}: sockgate already exited with {status}\n{}", self.stderr());
        }
        self.server.signal(signal)
    }

    /// SIGTERM, then waits (within the grace period) for the exit status.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        self.server.stop()
    }
}

/// Removes every docker-socket-proxy variable sockgate reads from a child's environment.
pub fn clear_compat_env(cmd: &mut Command) {
    for name in sockgate::policy::compat::variables() {
        cmd.env_remove(name);
    }
}

/// Removes every `SOCKGATE_*` variable of the test's own environment from a child's: none of
/// sockgate's settings may leak in (an inherited `SOCKGATE_LOG` would hide the start-up line, an
/// inherited `SOCKGATE_CONFIG` would conflict with `--listen`, `SOCKGATE_MODE` stop enforcing).
pub fn clear_sockgate_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOCKGATE_") {
            cmd.env_remove(name);
        }
    }
}

/// The port that follows `prefix` in the first log line holding it (`listening on
/// tcp://127.0.0.1:40123`, where sockgate names the port the system gave a `:0` listener).
pub fn logged_port(log: &str, prefix: &str) -> Option<u16> {
    log.lines().find_map(|line| {
        let rest = &line[line.find(prefix)? + prefix.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    })
}
