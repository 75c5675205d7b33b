//! The limits phase: per-caller limits in action. A sockgate of its own also listens on loopback
//! TCP, where a caller is its source address, with `--max-connections-per-caller` at [`CAP`].
//! Caller A (127.0.0.1) opens its [`CAP`] connections and keeps every one busy with `/_ping`s
//! back to back; [`EXTRA`] more connections from A are closed unanswered. Meanwhile caller B
//! (127.0.0.2) sends `/_ping`s on one connection, and its figures are set against B's alone. It
//! fails if A is served beyond its cap, short of it, or if B is kept out.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

use crate::child::{self, Proxy};
use crate::load::RequestStats;

/// Connections caller A may hold.
pub const CAP: usize = 8;
/// Connections A tries to open beyond its cap.
pub const EXTRA: usize = 8;

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
/// Bound on one answer, far above any sane latency.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the phase found.
pub struct Limits {
    /// A's connections that were answered: all [`CAP`] of them.
    pub held: usize,
    /// A's connections beyond its cap that were closed unanswered: all [`EXTRA`] of them.
    pub refused: usize,
    /// A's requests on its held connections while B was measured beside it.
    pub a_requests: u64,
    pub b_alone: RequestStats,
    pub b_beside: RequestStats,
    /// `sockgate_limited_total{reason="caller_connections"}` at the end.
    pub limited: f64,
}

/// Runs the phase against a sockgate of its own before `upstream`, measuring B for `window` alone
/// and again beside A.
pub fn measure(bin: &Path, dir: &Path, upstream: &Path, policy: &Path, window: Duration) -> anyhow::Result<Limits> {
    let (port, admin) = (free_port()?, free_port()?);
    let listen = dir.join("sockgate-limits.sock");
    let mut command = child::sockgate_command(bin, &listen, upstream, policy);
    command
        .arg("--listen")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--admin-listen")
        .arg(format!("tcp://127.0.0.1:{admin}"))
        .args(["--max-connections-per-caller", &CAP.to_string()])
        .env("SOCKGATE_LOG", "warn");
    let proxy = Proxy::start("sockgate (limits)", command, &listen)?;
    let server = SocketAddr::from((A, port));
    let found = run(server, window);
    found.with_context(|| format!("the limits phase; sockgate's last output:\n{}", proxy.tail())).and_then(
        |(held, refused, a_requests, b_alone, b_beside)| {
            let limited = limited(admin, &proxy)?;
            Ok(Limits { held, refused, a_requests, b_alone, b_beside, limited })
        },
    )
}

type Found = (usize, usize, u64, RequestStats, RequestStats);

fn run(server: SocketAddr, window: Duration) -> anyhow::Result<Found> {
    let mut b = connect(B, server)?;
    let b_alone = pings(&mut b, window)?;
    let mut held = Vec::with_capacity(CAP);
    for i in 0..CAP {
        let mut stream = connect(A, server)?;
        ensure!(ping(&mut stream)?, "caller A's connection {} of its {CAP} was refused", i + 1);
        held.push(stream);
    }
    let mut refused = 0;
    for _ in 0..EXTRA {
        let mut extra = connect(A, server)?;
        // Closed unanswered, perhaps before the request is even written.
        if !ping(&mut extra).or_else(|e| if gone(&e) { Ok(false) } else { Err(e) })? {
            refused += 1;
        }
    }
    ensure!(refused == EXTRA, "{} connections beyond caller A's cap were served", EXTRA - refused);
    let stop = Arc::new(AtomicBool::new(false));
    let a_requests = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = held
        .into_iter()
        .map(|mut stream| {
            let (stop, count) = (stop.clone(), a_requests.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    ensure!(ping(&mut stream)?, "caller A lost a connection within its cap");
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    // Let A's connections all get going first.
    std::thread::sleep(Duration::from_millis(100));
    let started = a_requests.load(Ordering::Relaxed);
    let b_beside = pings(&mut b, window);
    let a_requests = a_requests.load(Ordering::Relaxed) - started;
    stop.store(true, Ordering::Relaxed);
    for thread in busy {
        thread.join().map_err(|_| anyhow::anyhow!("a thread of caller A panicked"))??;
    }
    Ok((CAP, refused, a_requests, b_alone, b_beside?))
}

/// A loopback TCP connection from `source`.
fn connect(source: Ipv4Addr, server: SocketAddr) -> anyhow::Result<TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(to) = server else { bail!("{server} is no IPv4 address") };
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(source, 0)))?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(to)).with_context(|| format!("connecting from {source} to {server}"))?;
    let stream = TcpStream::from(fd);
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(stream)
}

/// `/_ping`s one after another on `stream` for `window`; fails if one is refused.
fn pings(stream: &mut TcpStream, window: Duration) -> anyhow::Result<RequestStats> {
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed() < window {
        let sent = Instant::now();
        if !ping(stream)? {
            bail!("caller B's connection was closed");
        }
        latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let window = start.elapsed();
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    Ok(RequestStats { requests, answered: requests, errors: 0, window, latencies, cpu: None, engine: None })
}

/// One keep-alive `GET /_ping`, read to its end (the stub's answer is `OK`, 2 bytes): false when
/// the server closed the connection first.
pub fn ping(stream: &mut (impl Read + Write)) -> io::Result<bool> {
    stream.write_all(PING)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"\r\n\r\nOK") {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The server closed the connection under a write or a read.
fn gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// A loopback port free now.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((A, 0))?.local_addr()?.port())
}

/// `sockgate_limited_total{reason="caller_connections"}` from sockgate's admin endpoint.
fn limited(admin: u16, proxy: &Proxy) -> anyhow::Result<f64> {
    let mut stream = TcpStream::connect((A, admin)).with_context(|| format!("{}: admin endpoint", proxy.name()))?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: sockgate\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    text.lines()
        .find(|l| l.starts_with("sockgate_limited_total{") && l.contains(r#"reason="caller_connections""#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .context("no sockgate_limited_total{reason=\"caller_connections\"} in the metrics")
}
