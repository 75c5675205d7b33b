//! The load generator: keep-alive HTTP/1.1 connections over a unix socket, each sending requests
//! one after another for a fixed window, or one long stream after another. Every wait is bounded;
//! it never pipelines and never retries a request inside the window.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{Either, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::time::{sleep_until, timeout, Instant};

use crate::body::{self, Repeat};
use crate::cpu::Cpu;
use crate::stub::{self, Counts};

type ReqBody = Either<Empty<Bytes>, Repeat>;

/// Bound on one short request, far above any sane latency.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one 200 MB transfer: 2 MB/s would already be a failure worth seeing.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(100);
/// A phase that hits this many failed requests stops and reports the last error.
const MAX_ERRORS: u64 = 50;
/// Latency samples kept per phase; at 3 s windows this is never reached.
const MAX_SAMPLES: usize = 4_000_000;
/// Streams per phase at most, whatever the phase length.
const MAX_TRANSFERS: u32 = 500;

/// What a request phase measured inside its window.
pub struct RequestStats {
    pub requests: u64,
    /// Requests answered whole, warm-up and the last one past the window included: every request
    /// the path forwarded to the engine.
    pub answered: u64,
    pub errors: u64,
    pub window: Duration,
    /// Sorted, in nanoseconds.
    pub latencies: Vec<u64>,
    /// CPU time the proxy used inside the window, when there is a proxy.
    pub cpu: Option<Duration>,
    /// What the engine served while the path ran, warm-up included, when it was counted.
    pub engine: Option<Counts>,
}

impl RequestStats {
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Latency at quantile `q` (0..=1), in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let last = self.latencies.len() - 1;
        let at = ((last as f64) * q).round() as usize;
        self.latencies[at.min(last)] as f64 / 1_000.0
    }

    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.cpu?;
        Some(cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }
}

/// Figures of one path in two rounds of the same phase, added up.
pub trait Merge {
    fn merge(self, other: Self) -> Self;
}

impl Merge for RequestStats {
    fn merge(mut self, other: Self) -> Self {
        self.requests += other.requests;
        self.answered += other.answered;
        self.errors += other.errors;
        self.window += other.window;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.cpu = add(self.cpu, other.cpu);
        self.engine = match (self.engine, other.engine) {
            (Some(a), Some(b)) => Some(a.add(&b)),
            _ => None,
        };
        self
    }
}

impl Merge for StreamStats {
    fn merge(mut self, other: Self) -> Self {
        self.bytes += other.bytes;
        self.transfers += other.transfers;
        self.elapsed += other.elapsed;
        self.cpu = add(self.cpu, other.cpu);
        self
    }
}

/// Two CPU times added up, if both were measured.
pub fn add(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    Some(a? + b?)
}

/// What a streaming phase measured.
pub struct StreamStats {
    pub bytes: u64,
    pub transfers: u32,
    pub elapsed: Duration,
    pub cpu: Option<Duration>,
}

impl StreamStats {
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }

    pub fn cpu_us_per_mb(&self) -> Option<f64> {
        let cpu = self.cpu?;
        Some(cpu.as_secs_f64() * 1e6 / (self.bytes as f64 / 1e6))
    }
}

#[derive(Clone, Copy)]
pub enum Direction {
    Download,
    Upload,
}

async fn connect(socket: &Path) -> anyhow::Result<SendRequest<ReqBody>> {
    let stream = UnixStream::connect(socket).await.with_context(|| format!("connecting to `{}`", socket.display()))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the peer closes; both are fine here.
        let _ = conn.await;
    });
    Ok(sender)
}

/// A request as the docker CLI sends it over its unix socket.
fn request(method: Method, uri: &'static str, body: ReqBody) -> Request<ReqBody> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = Uri::from_static(uri);
    let headers = req.headers_mut();
    headers.insert(HOST, HeaderValue::from_static("api.moby.localhost"));
    headers.insert(USER_AGENT, HeaderValue::from_static("Docker-Client/27.3.1 (linux)"));
    req
}

/// Sends one request, reads the whole answer and returns its body size.
async fn exchange(sender: &mut SendRequest<ReqBody>, req: Request<ReqBody>) -> anyhow::Result<u64> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let len = body::count(resp.into_body()).await?;
    if !status.is_success() {
        bail!("answered {status}");
    }
    Ok(len)
}

#[derive(Default)]
struct ConnStats {
    requests: u64,
    answered: u64,
    errors: u64,
    latencies: Vec<u64>,
}

/// One connection's loop: requests completing inside `[from, until)` count.
async fn drive(
    socket: PathBuf,
    path: &'static str,
    mut sender: SendRequest<ReqBody>,
    from: Instant,
    until: Instant,
    cap: usize,
) -> anyhow::Result<ConnStats> {
    let mut stats = ConnStats::default();
    loop {
        let sent = Instant::now();
        if sent >= until {
            return Ok(stats);
        }
        let req = request(Method::GET, path, Either::Left(Empty::new()));
        match timeout(REQUEST_TIMEOUT, exchange(&mut sender, req)).await {
            Ok(Ok(_)) => {
                stats.answered += 1;
                let done = Instant::now();
                if done >= from && done < until {
                    stats.requests += 1;
                    if stats.latencies.len() < cap {
                        let ns = u64::try_from((done - sent).as_nanos()).unwrap_or(u64::MAX);
                        stats.latencies.push(ns);
                    }
                }
            }
            outcome => {
                stats.errors += 1;
                let err = match outcome {
                    Ok(Err(err)) => err,
                    _ => anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"),
                };
                if stats.errors >= MAX_ERRORS {
                    return Err(err.context(format!("{MAX_ERRORS} failed requests to `{path}`")));
                }
                sender = connect(&socket).await?;
            }
        }
    }
}

/// `conns` connections send `GET path` back to back for `warmup + window`; only the window counts.
pub async fn requests(
    socket: &Path,
    path: &'static str,
    conns: usize,
    warmup: Duration,
    window: Duration,
    cpu: Option<Cpu>,
) -> anyhow::Result<RequestStats> {
    let mut senders = Vec::with_capacity(conns);
    for _ in 0..conns {
        senders.push(connect(socket).await?);
    }
    let from = Instant::now() + warmup;
    let until = from + window;
    let cpu_task = cpu.map(|cpu| {
        tokio::spawn(async move {
            sleep_until(from).await;
            let before = cpu.read()?;
            sleep_until(until).await;
            Ok::<_, anyhow::Error>(cpu.read()?.saturating_sub(before))
        })
    });
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let socket = socket.to_path_buf();
            tokio::spawn(drive(socket, path, sender, from, until, MAX_SAMPLES / conns))
        })
        .collect();
    let mut stats =
        RequestStats { requests: 0, answered: 0, errors: 0, window, latencies: Vec::new(), cpu: None, engine: None };
    for task in tasks {
        let conn = task.await??;
        stats.requests += conn.requests;
        stats.answered += conn.answered;
        stats.errors += conn.errors;
        stats.latencies.extend(conn.latencies);
    }
    if let Some(task) = cpu_task {
        stats.cpu = Some(task.await??);
    }
    stats.latencies.sort_unstable();
    if stats.requests == 0 {
        bail!("no request to `{path}` completed in the window");
    }
    Ok(stats)
}

/// Streams `size` bytes in `direction` over one connection, again and again until `min_time` has
/// passed (at least once), and checks every transfer arrived whole.
pub async fn stream(
    socket: &Path,
    direction: Direction,
    size: u64,
    min_time: Duration,
    cpu: Option<Cpu>,
) -> anyhow::Result<StreamStats> {
    let mut sender = connect(socket).await?;
    // One short request first, so the proxy's upstream connection exists before the clock starts.
    timeout(REQUEST_TIMEOUT, exchange(&mut sender, request(Method::GET, stub::PING, Either::Left(Empty::new()))))
        .await
        .context("warm-up ping timed out")??;
    let chunk = body::chunk();
    let before = cpu.as_ref().map(Cpu::read).transpose()?;
    let start = Instant::now();
    let mut transfers = 0;
    while transfers == 0 || (start.elapsed() < min_time && transfers < MAX_TRANSFERS) {
        let moved = match direction {
            Direction::Download => {
                let req = request(Method::GET, stub::DOWNLOAD, Either::Left(Empty::new()));
                timeout(TRANSFER_TIMEOUT, exchange(&mut sender, req)).await
            }
            Direction::Upload => {
                let body = Either::Right(Repeat::new(chunk.clone(), size));
                let mut req = request(Method::PUT, stub::UPLOAD, body);
                req.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
                timeout(TRANSFER_TIMEOUT, upload(&mut sender, req)).await
            }
        }
        .with_context(|| format!("transfer not done within {TRANSFER_TIMEOUT:?}"))??;
        if moved != size {
            bail!("transfer moved {moved} bytes, expected {size}");
        }
        transfers += 1;
    }
    let elapsed = start.elapsed();
    let cpu = match (cpu, before) {
        (Some(cpu), Some(before)) => Some(cpu.read()?.saturating_sub(before)),
        _ => None,
    };
    Ok(StreamStats { bytes: size * u64::from(transfers), transfers, elapsed, cpu })
}

/// An upload's answer is the byte count the stub received.
async fn upload(sender: &mut SendRequest<ReqBody>, req: Request<ReqBody>) -> anyhow::Result<u64> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        bail!("upload answered {status}: {text}");
    }
    text.trim().parse().with_context(|| format!("upload answered `{text}`, not a byte count"))
}
