//! `cargo bench --bench proxy`: measures sockgate against direct socket access, side by side in
//! one run, on this machine's unix sockets only. An in-process stub stands in for dockerd, a
//! release `sockgate serve` with a full-access policy sits in front of it, and an in-process load
//! generator drives both paths in turn, then the same through a plain nginx reverse proxy when
//! there is one. The ownership phases set a second sockgate, the same with `--owner bench`,
//! against the first instead of nginx, and count the engine requests each client request cost.
//! It prints figures and targets; it never fails on speed.
//!
//! Knobs (environment):
//! - `SOCKGATE_BENCH_PHASES`: comma-separated phases to run, of `ping1`, `ping32`, `list32`,
//!   `download`, `upload`, and with ownership `inspect1` (`GET /v1.41/containers/{id}/json` by
//!   full id) and `list1` (`GET /containers/json`), both on one connection, and `memory`
//!   (sockgate's resident set idle and with many idle keep-alive connections), `limits` (one
//!   caller at its connection cap while another is served), and `oha` (the
//!   32-connection requests driven by oha, an external load generator, when it is installed)
//!   (default all); the others show as `-`.
//! - `SOCKGATE_BENCH_OHA`: the oha binary, `0` or `off` for none (default: `oha` on `PATH` or in
//!   `~/.cargo/bin`).
//! - `SOCKGATE_BENCH_IDLE_CONNECTIONS`: idle connections the memory phase opens (default 10,000;
//!   200 in a smoke run).
//! - `SOCKGATE_BENCH_SECS`: seconds measured per phase and path (default 3).
//! - `SOCKGATE_BENCH_ROUNDS`: rounds each phase's time is split into, each measuring direct access,
//!   sockgate and nginx in turn after a 0.5 s warm-up (default 3), so that a slow spell of the
//!   machine falls on every path alike.
//! - `SOCKGATE_BENCH_STREAM_MB`: size of one streamed transfer (default 200).
//! - `SOCKGATE_BENCH_DIRECT_ONLY=1`: skip sockgate, measure the stub alone.
//! - `SOCKGATE_BENCH_BIN`: the sockgate binary to measure (default: the one cargo just built).
//! - `SOCKGATE_BENCH_ARGS`: more `sockgate serve` flags, split at spaces (`--spin-us 0`).
//! - `SOCKGATE_BENCH_NGINX`: the nginx binary to measure as well, `0` or `off` for none (default:
//!   `/usr/sbin/nginx` when it exists, in a `cargo bench` run that measures sockgate).
//! - `SOCKGATE_LOG`: passed on to sockgate like the rest of the environment (`warn` drops its
//!   per-request log line).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it is a quick smoke run.

// `serde_json::json!` recurses once per token tree: the stub's container inspect needs more.
#![recursion_limit = "256"]

// The crate root of a bench resolves `mod` beside itself; the modules live in `benches/proxy/`.
#[path = "proxy/answers.rs"]
mod answers;
#[path = "proxy/body.rs"]
mod body;
#[path = "proxy/child.rs"]
mod child;
#[path = "proxy/cpu.rs"]
mod cpu;
#[path = "proxy/instructions.rs"]
mod instructions;
#[path = "proxy/limits.rs"]
mod limits;
#[path = "proxy/load.rs"]
mod load;
#[path = "proxy/memory.rs"]
mod memory;
#[path = "proxy/nginx.rs"]
mod nginx;
#[path = "proxy/oha.rs"]
mod oha;
#[path = "proxy/phase.rs"]
mod phase;
#[path = "proxy/report.rs"]
mod report;
#[path = "proxy/stub.rs"]
mod stub;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};

use child::Proxy;
use cpu::{Cpu, Others};
use load::{Direction, Merge, RequestStats};
use phase::Phase;
use report::{Results, Scenario};
use stub::Served;

const FULL_ACCESS: &str = "version = 1\n\n[[rule]]\nid = \"full-access\"\nallow = [\"*\"]\n";

struct Config {
    window: Duration,
    rounds: u32,
    warmup: Duration,
    stream_bytes: u64,
    phases: Vec<Phase>,
    direct_only: bool,
    bin: PathBuf,
    nginx: Option<PathBuf>,
    smoke: bool,
    idle_connections: usize,
}

impl Config {
    fn from_env() -> anyhow::Result<Self> {
        // cargo passes `--bench` to harness-less benches under `cargo bench`, not under `cargo test`.
        let smoke = !std::env::args().any(|a| a == "--bench");
        let secs = knob("SOCKGATE_BENCH_SECS", "a number of seconds in (0, 600]", |s| *s > 0.0 && *s <= 600.0)?
            .unwrap_or(if smoke { 0.2 } else { 3.0 });
        let rounds = knob("SOCKGATE_BENCH_ROUNDS", "a number of rounds in 1..=100", |r| (1..=100u32).contains(r))?
            .unwrap_or(if smoke { 1 } else { 3 });
        let stream_mb = knob("SOCKGATE_BENCH_STREAM_MB", "a size in MB", |mb| (1..=100_000u64).contains(mb))?
            .unwrap_or(if smoke { 16 } else { 200 });
        let phases = match std::env::var("SOCKGATE_BENCH_PHASES") {
            Ok(s) => phase::parse(&s).map_err(|err| anyhow!("SOCKGATE_BENCH_PHASES=`{s}`: {err}"))?,
            Err(_) => phase::ALL.to_vec(),
        };
        let bin = std::env::var_os("SOCKGATE_BENCH_BIN")
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sockgate")), PathBuf::from);
        let direct_only = std::env::var("SOCKGATE_BENCH_DIRECT_ONLY").is_ok_and(|v| v == "1");
        let idle_connections = knob("SOCKGATE_BENCH_IDLE_CONNECTIONS", "a number of connections in 1..=100000", |n| {
            (1..=100_000usize).contains(n)
        })?
        .unwrap_or(if smoke { 200 } else { 10_000 });
        Ok(Self {
            window: Duration::from_secs_f64(secs),
            rounds,
            warmup: Duration::from_secs_f64((secs / f64::from(rounds)).min(0.5)),
            stream_bytes: stream_mb * 1_000_000,
            phases,
            direct_only,
            bin,
            nginx: nginx::from_env(!smoke && !direct_only),
            smoke,
            idle_connections,
        })
    }
}

/// The number the environment variable `name` holds, if it is set; an error unless it parses and
/// passes `valid`.
fn knob<T: std::str::FromStr>(name: &str, what: &str, valid: impl Fn(&T) -> bool) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(s) => {
            let value = s.parse::<T>().ok().filter(&valid).with_context(|| format!("{name}=`{s}` is not {what}"))?;
            Ok(Some(value))
        }
        Err(_) => Ok(None),
    }
}

fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    if config.smoke {
        nginx::check_docs()?;
    }
    // One thread for the load generator, one for the stub (see `stub::spawn`), and sockgate's own:
    // three parties, like the docker CLI, sockgate and dockerd, on the machine's two cores.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(&config))
}

async fn run(config: &Config) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("sockgate-bench").tempdir()?;
    let stub_socket = dir.path().join("docker.sock");
    let stub = stub::spawn(&stub_socket, config.stream_bytes)?;
    let (tick, tick_source) = cpu::clock_tick();

    let (sockgate, owned) = if config.direct_only {
        (None, None)
    } else {
        let policy = policy(dir.path())?;
        let listen = dir.path().join("sockgate.sock");
        let proxy = child::sockgate(&config.bin, &listen, &stub_socket, &policy, None)?;
        eprintln!("sockgate: {} with policy {}", config.bin.display(), policy.display());
        // The same with ownership on, only when a phase sets it against the first.
        let owned = if config.phases.iter().any(|p| p.ownership()) {
            let listen = dir.path().join("sockgate-owner.sock");
            let proxy = child::sockgate(&config.bin, &listen, &stub_socket, &policy, Some(stub::OWNER))?;
            eprintln!("sockgate --owner {}: the same, with ownership on", stub::OWNER);
            Some(proxy)
        } else {
            None
        };
        (Some(proxy), owned)
    };
    let nginx = match &config.nginx {
        Some(bin) => {
            let proxy = nginx::start(bin, dir.path(), &dir.path().join("nginx.sock"), &stub_socket)?;
            eprintln!("nginx: {}", bin.display());
            Some(proxy)
        }
        None => None,
    };
    eprintln!(
        "cores: {}; {:.1} s measured per phase and path, in {} round(s) of {:.2} s after {:.2} s of warm-up; \
         CPU tick {:?} ({tick_source})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        config.window.as_secs_f64(),
        config.rounds,
        config.window.as_secs_f64() / f64::from(config.rounds),
        config.warmup.as_secs_f64(),
        tick,
    );
    let mut proxies = Proxies { sockgate, nginx, owned, tick };
    let c = config;
    let (w, win, size) = (c.warmup, c.window / c.rounds, c.stream_bytes);
    let direct = stub_socket.as_path();
    let p = &mut proxies;
    let served = &*stub.served;

    let results = Results {
        list_kb: stub.list_len as f64 / 1000.0,
        inspect_kb: stub.inspect_len as f64 / 1000.0,
        stream_mb: size / 1_000_000,
        nginx: p.nginx.is_some(),
        ping1: measure(p, direct, c, Phase::Ping1, async |socket, cpu| {
            load::requests(socket, stub::PING, 1, w, win, cpu).await
        })
        .await?,
        ping32: measure(p, direct, c, Phase::Ping32, async |socket, cpu| {
            load::requests(socket, stub::PING, 32, w, win, cpu).await
        })
        .await?,
        list32: measure(p, direct, c, Phase::List32, async |socket, cpu| {
            load::requests(socket, stub::LIST, 32, w, win, cpu).await
        })
        .await?,
        download: measure(p, direct, c, Phase::Download, async |socket, cpu| {
            load::stream(socket, Direction::Download, size, win, cpu).await
        })
        .await?,
        upload: measure(p, direct, c, Phase::Upload, async |socket, cpu| {
            load::stream(socket, Direction::Upload, size, win, cpu).await
        })
        .await?,
        inspect1: measure(p, direct, c, Phase::Inspect1, async |socket, cpu| {
            counted(served, load::requests(socket, stub::INSPECT, 1, w, win, cpu)).await
        })
        .await?,
        list1: measure(p, direct, c, Phase::List1, async |socket, cpu| {
            counted(served, load::requests(socket, stub::LIST, 1, w, win, cpu)).await
        })
        .await?,
    };
    if c.smoke {
        println!("\nsmoke run (no `--bench` argument): short phases, figures mean nothing");
    }
    report::print(&results);
    if c.phases.contains(&Phase::Memory) && !c.direct_only {
        let policy = policy(dir.path())?;
        let m = memory::measure(&c.bin, dir.path(), &stub_socket, &policy, c.idle_connections)?;
        let per = m.loaded_kb.saturating_sub(m.idle_kb) as f64 / m.connections.max(1) as f64;
        println!(
            "\nmemory: sockgate's resident set {:.1} MB idle, {:.1} MB with {} idle keep-alive connections \
             ({per:.1} kB each)",
            m.idle_kb as f64 / 1000.0,
            m.loaded_kb as f64 / 1000.0,
            m.connections,
        );
    }
    if c.phases.contains(&Phase::Limits) && !c.direct_only {
        let policy = policy(dir.path())?;
        caller_limits(&limits::measure(&c.bin, dir.path(), &stub_socket, &policy, c.window)?);
    }
    if c.phases.contains(&Phase::Oha) && !c.direct_only {
        match oha::find() {
            Some(bin) => external(&bin, p, direct, c)?,
            None => {
                println!("\noha: not found (`cargo install oha`, or SOCKGATE_BENCH_OHA=PATH); its phase is left out")
            }
        }
    }
    if c.phases.contains(&Phase::Instructions) && !c.direct_only && !c.smoke {
        match (instructions::find(), oha::find()) {
            (Some((valgrind, control)), Some(oha)) => {
                counted_instructions(&valgrind, &control, &oha, dir.path(), &stub_socket, c)?
            }
            _ => println!(
                "\ninstructions: valgrind, callgrind_control or oha not found (`apt-get install valgrind`, \
                 `cargo install oha`); its phase is left out"
            ),
        }
    }
    let wrote: Vec<String> = p
        .all()
        .map(|proxy| {
            let lines = proxy.output_lines();
            let plural = if lines == 1 { "" } else { "s" };
            format!("{} wrote {lines} line{plural} to stdout/stderr during the run", proxy.name())
        })
        .collect();
    if !wrote.is_empty() {
        println!("\n{}", wrote.join("\n"));
    }
    Ok(())
}

/// Prints the limits phase's findings.
/// The instructions phase: sockgate, then nginx, each under callgrind (see [`instructions`]).
fn counted_instructions(
    valgrind: &Path,
    control: &Path,
    oha: &Path,
    dir: &Path,
    stub_socket: &Path,
    c: &Config,
) -> anyhow::Result<()> {
    let out = instructions::out_dir(dir)?;
    let policy = policy(dir)?;
    let listen = dir.join("sockgate-callgrind.sock");
    // Not spinning: a worker waiting for the next request would count its polls as work.
    let mut command = child::sockgate_command(&c.bin, &listen, stub_socket, &policy);
    command.args(["--spin-us", "0"]).env("SOCKGATE_LOG", "warn");
    let wrapped = instructions::under_callgrind(valgrind, &command, &out, "sockgate");
    let proxy = Proxy::start("sockgate (callgrind)", wrapped, &listen)?;
    let paths = [stub::PING, stub::LIST];
    let sockgate = instructions::per_request(&proxy, control, oha, &out, "sockgate", &paths)?;
    drop(proxy);
    let nginx = match &c.nginx {
        Some(bin) => {
            let listen = dir.join("nginx-callgrind.sock");
            let (mut command, _) = nginx::command(bin, &out, &listen, stub_socket)?;
            // One process serving the requests itself: callgrind_control cannot reach the
            // workers a master forks under valgrind.
            command.args(["-g", "master_process off;"]);
            let wrapped = instructions::under_callgrind(valgrind, &command, &out, "nginx");
            let proxy = nginx::started(wrapped, &listen, 0)?;
            Some(instructions::per_request(&proxy, control, oha, &out, "nginx", &paths)?)
        }
        None => None,
    };
    println!(
        "\ninstructions per proxied request in user space (callgrind, {} requests by oha on 4 connections \
         after a warm-up):",
        report::thousands(instructions::REQUESTS as f64),
    );
    for (i, path) in paths.iter().enumerate() {
        println!(
            "  GET {path}: sockgate {}{}",
            report::thousands(sockgate[i]),
            nginx.as_ref().map_or(String::new(), |n| format!(
                ", nginx {} (sockgate/nginx {:.2}x)",
                report::thousands(n[i]),
                sockgate[i] / n[i]
            )),
        );
    }
    Ok(())
}

fn caller_limits(l: &limits::Limits) {
    println!(
        "\nper-caller limits: `--max-connections-per-caller {}` on loopback TCP, where a caller is its source \
         address; caller B measured alone, then while caller A keeps its {} connections busy:",
        limits::CAP,
        limits::CAP
    );
    let header = ["caller", "connections", "requests", "median", "p99"];
    let b = |label: &str, p: &load::RequestStats| {
        vec![
            label.to_owned(),
            "1".to_owned(),
            format!("{} req/s", report::thousands(p.per_sec())),
            format!("{:.0} µs", p.latency_us(0.5)),
            format!("{:.0} µs", p.latency_us(0.99)),
        ]
    };
    let rows = vec![
        header.map(str::to_owned).to_vec(),
        b("B (127.0.0.2) alone", &l.b_alone),
        vec![
            "A (127.0.0.1), at its cap".to_owned(),
            format!("{} served, {} of {} more closed unanswered", l.held, l.refused, limits::EXTRA),
            {
                let rate = l.a_requests as f64 / l.b_beside.window.as_secs_f64();
                let each = report::thousands(rate / l.held.max(1) as f64);
                format!("{} req/s ({each} per connection)", report::thousands(rate))
            },
            "-".to_owned(),
            "-".to_owned(),
        ],
        b("B (127.0.0.2) beside A", &l.b_beside),
    ];
    report::table(&rows);
    println!("sockgate_limited_total{{reason=\"caller_connections\"}} {}", l.limited);
}

/// The oha phase: `/_ping` and `/containers/json` at 32 connections, each path in turn per round.
fn external(bin: &Path, p: &Proxies, direct: &Path, c: &Config) -> anyhow::Result<()> {
    let secs = (c.window / c.rounds).as_secs_f64();
    println!("\noha ({}), 32 connections, {} rounds of {secs:.1} s per path:", bin.display(), c.rounds);
    let header = [
        "request",
        "direct",
        "sockgate",
        "nginx",
        "sockgate/direct",
        "nginx/direct",
        "sockgate CPU",
        "nginx CPU",
        "switches per request, sockgate / nginx",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for path in [stub::PING, stub::LIST] {
        let (mut straight, mut through, mut reference) = (None, None, None);
        for round in 1..=c.rounds {
            eprintln!("oha {path} (round {round} of {}): direct, sockgate, nginx", c.rounds);
            let direct = oha::drive(bin, direct, path, 32, secs, None)?;
            straight = merged(straight, Some(direct));
            for (proxy, total) in [(&p.sockgate, &mut through), (&p.nginx, &mut reference)] {
                if let Some(proxy) = proxy {
                    let cpu = proxy.cpu(p.tick);
                    *total = merged(*total, Some(oha::drive(bin, proxy.socket(), path, 32, secs, Some(&cpu))?));
                }
            }
        }
        let direct_rate = straight.map_or(0.0, |f| f.rate());
        let rate =
            |f: Option<oha::Figure>| f.map_or("-".to_owned(), |f| format!("{} req/s", report::thousands(f.rate())));
        let ratio = |f: Option<oha::Figure>| f.map_or("-".to_owned(), |f| format!("{:.2}x", f.rate() / direct_rate));
        let cpu = |f: Option<oha::Figure>| {
            f.and_then(|f| f.cpu_per_request())
                .map_or("-".to_owned(), |d| format!("{:.1} µs/req", d.as_secs_f64() * 1e6))
        };
        let switches =
            |f: Option<oha::Figure>| f.map_or("-".to_owned(), |f| format!("{:.2}", f.switches_per_request()));
        rows.push(vec![
            format!("GET {path}"),
            rate(straight),
            rate(through),
            rate(reference),
            ratio(through),
            ratio(reference),
            cpu(through),
            cpu(reference),
            format!("{} / {}", switches(through), switches(reference)),
        ]);
    }
    report::table(&rows);
    Ok(())
}

/// What each phase measures besides direct access: sockgate unless the run is direct-only, and
/// nginx when the run has one, or in the ownership phases sockgate with `--owner`.
struct Proxies {
    sockgate: Option<Proxy>,
    nginx: Option<Proxy>,
    owned: Option<Proxy>,
    tick: Duration,
}

impl Proxies {
    fn all(&self) -> impl Iterator<Item = &Proxy> {
        self.sockgate.iter().chain(&self.nginx).chain(&self.owned)
    }
}

/// A request phase's figures with what the engine served while it ran. Each path runs alone, so
/// every request the stub served in that time was one the path sent on.
async fn counted(
    served: &Served,
    phase: impl std::future::Future<Output = anyhow::Result<RequestStats>>,
) -> anyhow::Result<RequestStats> {
    let before = served.read();
    let mut stats = phase.await?;
    stats.engine = Some(served.read().since(&before));
    Ok(stats)
}

/// Measures one phase straight on the stub socket, then through each proxy, in as many rounds as
/// the run asks for, unless the run leaves the phase out.
async fn measure<T: Merge>(
    proxies: &mut Proxies,
    direct: &Path,
    c: &Config,
    phase: Phase,
    run: impl AsyncFn(&Path, Option<Cpu>) -> anyhow::Result<T>,
) -> anyhow::Result<Option<Scenario<T>>> {
    if !c.phases.contains(&phase) {
        return Ok(None);
    }
    let tick = proxies.tick;
    let others = Others::start(tick, proxies.all().map(|p| p.cpu(tick)))?;
    let (mut straight, mut sockgate, mut nginx, mut owned) = (None, None, None, None);
    for round in 1..=c.rounds {
        let name = match c.rounds {
            1 => phase.name().to_owned(),
            n => format!("{} (round {round} of {n})", phase.name()),
        };
        eprintln!("{name}: direct");
        straight = merged(straight, Some(run(direct, None).await?));
        sockgate = merged(sockgate, through(proxies.sockgate.as_mut(), &name, tick, &run).await?);
        if phase.ownership() {
            owned = merged(owned, through(proxies.owned.as_mut(), &name, tick, &run).await?);
        } else {
            nginx = merged(nginx, through(proxies.nginx.as_mut(), &name, tick, &run).await?);
        }
    }
    let direct = straight.context("no round measured")?;
    Ok(Some(Scenario { direct, sockgate, nginx, owned, others: others.cores()? }))
}

fn merged<T: Merge>(sum: Option<T>, round: Option<T>) -> Option<T> {
    match (sum, round) {
        (Some(sum), Some(round)) => Some(sum.merge(round)),
        (sum, round) => sum.or(round),
    }
}

/// The phase through `proxy`, if there is one, with the proxy's CPU time; fails if it exited.
async fn through<T>(
    proxy: Option<&mut Proxy>,
    phase: &str,
    tick: Duration,
    run: &impl AsyncFn(&Path, Option<Cpu>) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let Some(proxy) = proxy else { return Ok(None) };
    eprintln!("{phase}: {}", proxy.name());
    let stats = run(proxy.socket(), Some(proxy.cpu(tick))).await;
    proxy.check_alive()?;
    Ok(Some(stats.with_context(|| format!("{phase} through {}", proxy.name()))?))
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
