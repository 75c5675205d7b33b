//! A recording stub engine and an in-process sockgate, for tests that must see exactly what reaches
//! the engine. The real engine is the proof elsewhere; this stub is for fault injection.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sockgate::address::{ListenAddr, UpstreamAddr};
use sockgate::config::{CallerLimits, ListenerConfig, PolicySource, ServeConfig, UpstreamConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

/// `policies/ci.toml` without its `[ownership]`: with it, sockgate follows the engine's containers
/// to name callers, and those questions would reach the stub alongside the requests under test.
pub fn ci_without_ownership() -> String {
    let text = include_str!("../../policies/ci.toml");
    text.split("\n# Tenancy:").next().unwrap_or(text).to_owned()
}

/// One request as the stub engine received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Which of the engine's connections it came on, counted from 1 in the order of their first
    /// recorded request (a connection that only carried sockgate's own version question has none).
    pub connection: usize,
}

/// A stub engine on a unix socket that records every request and answers `200 {}`; sockgate's own
/// question for the engine's API versions (an unversioned `GET /version`) is answered as dockerd
/// 20.10 answers it and not recorded, since no client sent it; a path ending
/// in `/logs` is answered with [`STREAM_BYTES`] streamed in 64 KiB frames, a request with
/// `X-Stub-Close: 1` with `Connection: close`, and one with `X-Stub-Silent: <ms>` with its head at
/// once and then nothing for that long before a last line, `done` (a quiet `logs -f`).
pub struct Stub {
    pub path: PathBuf,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    hang_up: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

pub const STREAM_BYTES: usize = 64 << 20;

impl Stub {
    /// The stub at `path` on a runtime of its own (one worker thread), which keeps serving while
    /// the test's thread blocks on a gateway in a child process; the runtime is returned with it.
    pub fn on_own_runtime(path: &Path, delay: Duration) -> std::io::Result<(tokio::runtime::Runtime, Stub)> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let stub = runtime.block_on(Stub::start(path, delay));
        Ok((runtime, stub))
    }

    pub async fn start(path: &Path, delay: Duration) -> Stub {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap_or_else(|e| panic!("stub bind: {e}"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let recorded = seen.clone();
        let hang_up = Arc::new(tokio::sync::Notify::new());
        let hung_up = hang_up.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping the stub closes them all, as a dying engine does.
            let mut connections = tokio::task::JoinSet::new();
            let numbered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let number = Arc::new(std::sync::OnceLock::new());
                let numbered = numbered.clone();
                let recorded = recorded.clone();
                let hung_up = hung_up.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let recorded = recorded.clone();
                        let number = number.clone();
                        let numbered = numbered.clone();
                        async move {
                            if req.method() == "GET" && req.uri() == "/version" {
                                let versions = r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;
                                return Ok(Response::new(Full::new(Bytes::from_static(versions.as_bytes())).boxed()));
                            }
                            let connection =
                                *number.get_or_init(|| numbered.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                            let method = req.method().to_string();
                            let target = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            let logs = req.uri().path().ends_with("/logs");
                            let close = req.headers().get("x-stub-close").is_some_and(|v| v == "1");
                            let silent = req
                                .headers()
                                .get("x-stub-silent")
                                .and_then(|v| v.to_str().ok()?.parse().ok())
                                .map(Duration::from_millis);
                            let body =
                                req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                            recorded.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                                method,
                                target,
                                headers,
                                body,
                                connection,
                            });
                            tokio::time::sleep(delay).await;
                            let body = if let Some(quiet) = silent {
                                Silent { sleep: Box::pin(tokio::time::sleep(quiet)), done: false }.boxed()
                            } else if logs {
                                Frames { frame: Bytes::from(vec![b'x'; 64 << 10]), left: STREAM_BYTES >> 16 }.boxed()
                            } else {
                                Full::new(Bytes::from_static(b"{}")).boxed()
                            };
                            let mut response = Response::new(body);
                            if close {
                                response.headers_mut().insert("connection", "close".parse().unwrap());
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let serving =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = serving => {}
                        () = hung_up.notified() => {}
                    }
                });
            }
        });
        Stub { path: path.to_path_buf(), seen, hang_up, task }
    }

    /// Closes every open connection, as an engine does with idle ones, and keeps listening.
    pub fn hang_up(&self) {
        self.hang_up.notify_waiters();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `left` copies of `frame`, one frame at a time.
struct Frames {
    frame: Bytes,
    left: usize,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(self.frame.clone()))))
    }
}

/// Nothing until `sleep` is over, then one line.
struct Silent {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl http_body::Body for Silent {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.done = true;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(b"done\n")))))
    }
}

/// sockgate served in-process on a unix socket, stopped on drop or with [`Gateway::stop`].
pub struct Gateway {
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn start(socket: &Path, upstream: &Path, policy_text: &str, dir: &Path) -> Gateway {
        Gateway::start_with_workers(socket, upstream, policy_text, dir, 0).await
    }

    /// As [`Gateway::start`], with `workers` worker threads (0: one per core).
    pub async fn start_with_workers(
        socket: &Path,
        upstream: &Path,
        policy_text: &str,
        dir: &Path,
        workers: usize,
    ) -> Gateway {
        Gateway::start_configured(socket, upstream, policy_text, dir, |config| config.workers = workers).await
    }

    /// As [`Gateway::start`], with the configuration changed by `change` (limits, timeouts).
    pub async fn start_configured(
        socket: &Path,
        upstream: &Path,
        policy_text: &str,
        dir: &Path,
        change: impl FnOnce(&mut ServeConfig),
    ) -> Gateway {
        let policy = dir.join(format!("policy-{}.toml", socket.file_name().and_then(|s| s.to_str()).unwrap_or("p")));
        std::fs::write(&policy, policy_text).unwrap_or_else(|e| panic!("write policy: {e}"));
        let mut config = ServeConfig {
            listeners: vec![ListenerConfig {
                owner: None,
                addr: ListenAddr::Unix(socket.to_path_buf()),
                socket_mode: 0o600,
                socket_group: None,
                tls: None,
                allow_cidrs: Vec::new(),
                insecure: false,
                own_networks_only: false,
                policy: PolicySource::Files(vec![policy]),
                profiles: Vec::new(),
                caller_limits: CallerLimits { connections: 64, requests: 64 },
            }],
            upstream: UpstreamConfig { addr: UpstreamAddr::Unix(upstream.to_path_buf()), tls: None },
            grace_period: Duration::from_secs(5),
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            workers: 0,
            spin: Duration::from_micros(sockgate::config::DEFAULT_SPIN_US),
            pin_workers: false,
            max_body_bytes: 1024 * 1024,
            min_api_version: sockgate::versions::ApiVersion::default_minimum(),
            container_discovery: false,
            admin_listen: None,
            audit_log: None,
            mode: sockgate::decide::Mode::Enforce,
            learn_output: dir.join("learned.toml"),
            config_file: None,
            run_as: None,
        };
        change(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let result = sockgate::serve::run(config, async move {
                let _ = rx.await;
            })
            .await;
            if let Err(e) = result {
                panic!("sockgate failed: {e}");
            }
        });
        for _ in 0..200 {
            if UnixStream::connect(socket).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Gateway { socket: socket.to_path_buf(), stop: Some(tx), done }
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

pub const FULL_ACCESS: &str = "version = 1\n[[rule]]\nid = \"all\"\nallow = [\"*\"]\n";
pub const READ_ONLY: &str = include_str!("../../policies/read-only.toml");

/// Sends raw bytes on a fresh connection and returns everything read until the server closes.
pub async fn raw(socket: &Path, request: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap_or_else(|e| panic!("connect: {e}"));
    stream.write_all(request).await.unwrap_or_else(|e| panic!("write: {e}"));
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no response within 10 s to {:?}", String::from_utf8_lossy(request));
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `response`.
pub fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}
