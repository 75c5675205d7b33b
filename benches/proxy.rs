//! `cargo bench --bench proxy`: measures sockgate against direct socket access, side by side in
//! one run, on this machine's unix sockets only. An in-process stub stands in for dockerd, a
//! release `sockgate serve` with a full-access policy sits in front of it, and an in-process load
//! generator drives both paths in turn. It prints figures and targets; it never fails on speed.
//!
//! Knobs (environment):
//! - `SOCKGATE_BENCH_SECS`: seconds measured per phase (default 3, after a 0.5 s warm-up).
//! - `SOCKGATE_BENCH_STREAM_MB`: size of one streamed transfer (default 200).
//! - `SOCKGATE_BENCH_DIRECT_ONLY=1`: skip sockgate, measure the stub alone.
//! - `SOCKGATE_BENCH_BIN`: the sockgate binary to measure (default: the one cargo just built).
//! - `SOCKGATE_LOG`: passed on to sockgate like the rest of the environment (`warn` drops its
//!   per-request log line).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it is a quick smoke run.

// The crate root of a bench resolves `mod` beside itself; the modules live in `benches/proxy/`.
#[path = "proxy/body.rs"]
mod body;
#[path = "proxy/child.rs"]
mod child;
#[path = "proxy/cpu.rs"]
mod cpu;
#[path = "proxy/load.rs"]
mod load;
#[path = "proxy/report.rs"]
mod report;
#[path = "proxy/stub.rs"]
mod stub;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use child::Sockgate;
use cpu::{Cpu, Others};
use load::Direction;
use report::{Pair, Results};

const FULL_ACCESS: &str = "version = 1\n\n[[rule]]\nid = \"full-access\"\nallow = [\"*\"]\n";

struct Config {
    window: Duration,
    warmup: Duration,
    stream_bytes: u64,
    direct_only: bool,
    bin: PathBuf,
    smoke: bool,
}

impl Config {
    fn from_env() -> anyhow::Result<Self> {
        // cargo passes `--bench` to harness-less benches under `cargo bench`, not under `cargo test`.
        let smoke = !std::env::args().any(|a| a == "--bench");
        let secs = match std::env::var("SOCKGATE_BENCH_SECS") {
            Ok(s) => s
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 600.0)
                .with_context(|| format!("SOCKGATE_BENCH_SECS=`{s}` is not a number of seconds in (0, 600]"))?,
            Err(_) if smoke => 0.2,
            Err(_) => 3.0,
        };
        let stream_mb = match std::env::var("SOCKGATE_BENCH_STREAM_MB") {
            Ok(s) => s
                .parse::<u64>()
                .ok()
                .filter(|mb| (1..=100_000).contains(mb))
                .with_context(|| format!("SOCKGATE_BENCH_STREAM_MB=`{s}` is not a size in MB"))?,
            Err(_) if smoke => 16,
            Err(_) => 200,
        };
        let bin = std::env::var_os("SOCKGATE_BENCH_BIN")
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sockgate")), PathBuf::from);
        Ok(Self {
            window: Duration::from_secs_f64(secs),
            warmup: Duration::from_secs_f64(secs.min(0.5)),
            stream_bytes: stream_mb * 1_000_000,
            direct_only: std::env::var("SOCKGATE_BENCH_DIRECT_ONLY").is_ok_and(|v| v == "1"),
            bin,
            smoke,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // One thread for the load generator, one for the stub (see `stub::spawn`), and sockgate's own:
    // three parties, like the docker CLI, sockgate and dockerd, on the machine's two cores.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(&config))
}

async fn run(config: &Config) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("sockgate-bench").tempdir()?;
    let stub_socket = dir.path().join("docker.sock");
    let proxy_socket = dir.path().join("sockgate.sock");
    let list_len = stub::spawn(&stub_socket, config.stream_bytes)?;
    let (tick, tick_source) = cpu::clock_tick();

    let mut sockgate = if config.direct_only {
        None
    } else {
        let policy = policy(dir.path())?;
        let proxy = Sockgate::start(&config.bin, &proxy_socket, &stub_socket, &policy)?;
        eprintln!("sockgate: {} with policy {}", config.bin.display(), policy.display());
        Some(proxy)
    };
    eprintln!(
        "cores: {}; {:.1} s measured per phase after {:.1} s warm-up; CPU tick {:?} ({tick_source})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        config.window.as_secs_f64(),
        config.warmup.as_secs_f64(),
        tick,
    );
    let mut proxy = Proxy { socket: proxy_socket, sockgate: sockgate.as_mut(), tick };
    let c = config;
    let (w, win) = (c.warmup, c.window);
    let direct = stub_socket.as_path();

    let results = Results {
        list_kb: list_len as f64 / 1000.0,
        stream_mb: c.stream_bytes / 1_000_000,
        ping1: requests(&mut proxy, direct, stub::PING, 1, w, win).await?,
        ping32: requests(&mut proxy, direct, stub::PING, 32, w, win).await?,
        list32: requests(&mut proxy, direct, stub::LIST, 32, w, win).await?,
        download: stream(&mut proxy, direct, Direction::Download, c).await?,
        upload: stream(&mut proxy, direct, Direction::Upload, c).await?,
    };
    if c.smoke {
        println!("\nsmoke run (no `--bench` argument): short phases, figures mean nothing");
    }
    report::print(&results);
    if let Some(sockgate) = proxy.sockgate.as_ref() {
        let lines = sockgate.output_lines();
        let plural = if lines == 1 { "" } else { "s" };
        println!("\nsockgate wrote {lines} line{plural} to stdout/stderr during the run");
    }
    Ok(())
}

/// The proxy side of each phase, or nothing in a direct-only run.
struct Proxy<'a> {
    socket: PathBuf,
    sockgate: Option<&'a mut Sockgate>,
    tick: Duration,
}

impl Proxy<'_> {
    fn cpu(&self) -> Option<Cpu> {
        self.sockgate.as_ref().map(|s| s.cpu(self.tick))
    }

    fn check(&mut self) -> anyhow::Result<()> {
        match self.sockgate.as_mut() {
            Some(s) => s.check_alive(),
            None => Ok(()),
        }
    }
}

async fn requests(
    proxy: &mut Proxy<'_>,
    direct: &Path,
    path: &'static str,
    conns: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Pair<load::RequestStats>> {
    eprintln!("GET {path}, {conns} conn(s): direct");
    let others = Others::start(proxy.tick, proxy.cpu())?;
    let direct = load::requests(direct, path, conns, warmup, window, None).await?;
    let sockgate = match proxy.cpu() {
        Some(cpu) => {
            eprintln!("GET {path}, {conns} conn(s): sockgate");
            let stats = load::requests(&proxy.socket, path, conns, warmup, window, Some(cpu)).await;
            proxy.check()?;
            Some(stats.with_context(|| format!("GET {path} through sockgate"))?)
        }
        None => None,
    };
    Ok(Pair { direct, sockgate, others: others.cores()? })
}

async fn stream(
    proxy: &mut Proxy<'_>,
    direct: &Path,
    direction: Direction,
    c: &Config,
) -> anyhow::Result<Pair<load::StreamStats>> {
    let name = match direction {
        Direction::Download => "download",
        Direction::Upload => "upload",
    };
    eprintln!("{name}: direct");
    let others = Others::start(proxy.tick, proxy.cpu())?;
    let direct = load::stream(direct, direction, c.stream_bytes, c.window, None).await?;
    let sockgate = match proxy.cpu() {
        Some(cpu) => {
            eprintln!("{name}: sockgate");
            let stats = load::stream(&proxy.socket, direction, c.stream_bytes, c.window, Some(cpu)).await;
            proxy.check()?;
            Some(stats.with_context(|| format!("{name} through sockgate"))?)
        }
        None => None,
    };
    Ok(Pair { direct, sockgate, others: others.cores()? })
}

/// The repository's full-access policy, or the same rule written into the temp dir while the
/// repository has none.
fn policy(dir: &Path) -> anyhow::Result<PathBuf> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/full-access.toml");
    if shipped.is_file() {
        return Ok(shipped);
    }
    let written = dir.join("full-access.toml");
    std::fs::write(&written, FULL_ACCESS).with_context(|| format!("writing `{}`", written.display()))?;
    Ok(written)
}
