//! The memory phase: sockgate's resident set idle, then with many idle keep-alive client
//! connections open (each has sent one `/_ping` and waits), read from `/proc/PID/status`. It
//! measures a sockgate of its own, with limits raised so that one caller may hold every
//! connection; it sends nothing else and never touches the other proxies.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::child::{self, Proxy};
use crate::limits;

/// How long the phase waits for its idle connections to be parked, with a margin over sockgate's
/// one second.
const PARKED: Duration = Duration::from_millis(2500);

/// What the phase found.
pub struct Memory {
    pub idle_kb: u64,
    pub connections: usize,
    pub loaded_kb: u64,
}

/// Starts sockgate on `listen` before `upstream`, reads its resident set, opens `connections`
/// idle keep-alive connections and reads it again.
pub fn measure(bin: &Path, dir: &Path, upstream: &Path, policy: &Path, connections: usize) -> anyhow::Result<Memory> {
    // Each connection is a descriptor here and one in sockgate, which inherits this limit.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    // Twice: the stub engine runs in this process, and sockgate may keep a connection to it open per client.
    let wanted = (2 * connections as u64 + 256).min(hard);
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard)?;
    }
    let connections = connections.min(usize::try_from(wanted.saturating_sub(256) / 2).unwrap_or(0));
    let listen = dir.join("sockgate-memory.sock");
    let max = (connections + 64).to_string();
    let mut command = child::sockgate_command(bin, &listen, upstream, policy);
    command
        .args(["--max-connections", &max, "--max-connections-per-caller", &max, "--idle-timeout", "0"])
        .env("SOCKGATE_LOG", "warn");
    let proxy = Proxy::start("sockgate (memory)", command, &listen)?;
    let pid = proxy.pid();
    std::thread::sleep(Duration::from_millis(500));
    let mut first = UnixStream::connect(&listen)?;
    ping(&mut first).context("the first connection")?;
    std::thread::sleep(PARKED);
    let idle_kb = resident_kb(pid)?;
    let mut open = Vec::with_capacity(connections);
    for i in 0..connections {
        let mut stream = UnixStream::connect(&listen).with_context(|| format!("connection {i}"))?;
        ping(&mut stream).with_context(|| format!("connection {i}"))?;
        open.push(stream);
    }
    // A connection quiet for a second is parked and lets go of its buffers: wait for the last.
    std::thread::sleep(PARKED);
    let loaded_kb = resident_kb(pid)?;
    drop(open);
    Ok(Memory { idle_kb, connections, loaded_kb })
}

/// One keep-alive `GET /_ping`, read up to its end.
fn ping(stream: &mut UnixStream) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    if !limits::ping(stream)? {
        bail!("closed before the answer ended");
    }
    Ok(())
}

/// `VmRSS` of `pid`, in kB.
fn resident_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}
