//! The stub upstream: a fast in-process stand-in for dockerd on a temp unix socket, answering the
//! bench routes with dockerd's headers and counting what it served, so the bench can tell how many
//! engine requests a proxy made per client request. It emulates nothing else and checks nothing.

use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::answers::{container_inspect, container_list};
use crate::body::{self, Repeat};

pub const PING: &str = "/_ping";
pub const LIST: &str = "/containers/json";
/// A container's inspect by full id, as sockgate asks it under ownership and as the CLI sends it.
pub const INSPECT: &str = "/v1.41/containers/4f1c0e9a8d2b7c63e5a1f09d8b4c2e7a6f3d1b0c9e8a7f6d5c4b3a2918e7d6c5/json";
/// The id `INSPECT` names; the stub answers every full id the same way, with that id.
const INSPECT_ID: &str = "4f1c0e9a8d2b7c63e5a1f09d8b4c2e7a6f3d1b0c9e8a7f6d5c4b3a2918e7d6c5";
/// The owner label every inspected container carries, and the `--owner` of the bench's second
/// sockgate, so that every container the bench names is its caller's.
pub const OWNER: &str = "bench";
const OWNER_LABEL: &str = "io.sockgate.owner";
/// Real Docker routes, so sockgate classifies them as `containers.export` and `containers.archive`.
pub const DOWNLOAD: &str = "/containers/bench/export";
/// The CLI's `docker cp` encodes the query with Go's `url.Values.Encode`, which escapes `/`.
pub const UPLOAD: &str = "/containers/bench/archive?path=%2F";

type StubBody = Either<Full<Bytes>, Repeat>;

struct Routes {
    containers: Bytes,
    /// The inspect answer for `INSPECT_ID`; any other full id is answered with its own, made anew.
    inspect: Bytes,
    chunk: Bytes,
    stream_bytes: u64,
    served: Arc<Served>,
}

/// How many requests the stub has answered, by route, since it started.
#[derive(Default)]
pub struct Served {
    ping: AtomicU64,
    list: AtomicU64,
    /// Lists whose `filters` carry the owner label, as sockgate merges it under ownership.
    owner_filtered: AtomicU64,
    inspect: AtomicU64,
    other: AtomicU64,
}

/// A reading of `Served`; the difference of two readings is what was served in between.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    pub ping: u64,
    pub list: u64,
    pub owner_filtered: u64,
    pub inspect: u64,
    pub other: u64,
}

impl Served {
    pub fn read(&self) -> Counts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            ping: n(&self.ping),
            list: n(&self.list),
            owner_filtered: n(&self.owner_filtered),
            inspect: n(&self.inspect),
            other: n(&self.other),
        }
    }
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.ping + self.list + self.inspect + self.other
    }

    pub fn since(&self, before: &Counts) -> Counts {
        Counts {
            ping: self.ping - before.ping,
            list: self.list - before.list,
            owner_filtered: self.owner_filtered - before.owner_filtered,
            inspect: self.inspect - before.inspect,
            other: self.other - before.other,
        }
    }

    pub fn add(&self, other: &Counts) -> Counts {
        Counts {
            ping: self.ping + other.ping,
            list: self.list + other.list,
            owner_filtered: self.owner_filtered + other.owner_filtered,
            inspect: self.inspect + other.inspect,
            other: self.other + other.other,
        }
    }
}

/// What the stub serves, and the counter of what it has served.
pub struct Stub {
    pub list_len: usize,
    pub inspect_len: usize,
    pub served: Arc<Served>,
}

/// Binds `socket` and serves it on a thread of its own until the process ends, as dockerd is a
/// process of its own: the load generator's wake-ups never land on the stub's thread for free.
pub fn spawn(socket: &Path, stream_bytes: u64) -> anyhow::Result<Stub> {
    let listener = std::os::unix::net::UnixListener::bind(socket)
        .with_context(|| format!("binding the stub on `{}`", socket.display()))?;
    listener.set_nonblocking(true)?;
    let served = Arc::new(Served::default());
    let routes = Arc::new(Routes {
        containers: container_list(),
        inspect: Bytes::from(container_inspect(INSPECT_ID)),
        chunk: body::chunk(),
        stream_bytes,
        served: Arc::clone(&served),
    });
    let stub = Stub { list_len: routes.containers.len(), inspect_len: routes.inspect.len(), served };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("stub".into()).spawn(move || runtime.block_on(serve(listener, routes)))?;
    Ok(stub)
}

async fn serve(listener: std::os::unix::net::UnixListener, routes: Arc<Routes>) {
    let listener = match UnixListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => return eprintln!("stub: cannot listen: {err}"),
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => return eprintln!("stub: accept failed: {err}"),
        };
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let routes = Arc::clone(&routes);
                async move { Ok::<_, Infallible>(routes.answer(req).await) }
            });
            // A client closing its connection mid-request is expected at the end of a phase.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl Routes {
    async fn answer(&self, req: Request<Incoming>) -> Response<StubBody> {
        let served = &self.served;
        let path = unversioned(req.uri().path());
        let counter = match (req.method(), path) {
            (&Method::GET, PING) => &served.ping,
            (&Method::GET, LIST) => &served.list,
            (&Method::GET, _) if inspected(path).is_some() => &served.inspect,
            _ => &served.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match (req.method(), path) {
            (&Method::GET, PING) => {
                reply(StatusCode::OK, "text/plain; charset=utf-8", Either::Left(Full::new(Bytes::from_static(b"OK"))))
            }
            (&Method::GET, LIST) => {
                if req.uri().query().is_some_and(|q| q.contains("filters=") && q.contains(OWNER_LABEL)) {
                    served.owner_filtered.fetch_add(1, Ordering::Relaxed);
                }
                reply(StatusCode::OK, "application/json", Either::Left(Full::new(self.containers.clone())))
            }
            (&Method::GET, _) if inspected(path).is_some() => {
                let body = match inspected(path) {
                    Some(id) if id != INSPECT_ID => Bytes::from(container_inspect(id)),
                    _ => self.inspect.clone(),
                };
                reply(StatusCode::OK, "application/json", Either::Left(Full::new(body)))
            }
            (&Method::GET, DOWNLOAD) => reply(
                StatusCode::OK,
                "application/x-tar",
                Either::Right(Repeat::new(self.chunk.clone(), self.stream_bytes)),
            ),
            (&Method::PUT, "/containers/bench/archive") => {
                match body::count(req.into_body()).await {
                    // dockerd answers an empty 200; the count lets the bench check every byte arrived.
                    Ok(n) => reply(StatusCode::OK, "text/plain", text(n.to_string())),
                    Err(err) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", text(err.to_string())),
                }
            }
            _ => reply(StatusCode::NOT_FOUND, "application/json", text(r#"{"message":"page not found"}"#.to_owned())),
        }
    }
}

/// `path` without its API version prefix (`/v1.41`), as dockerd routes both forms alike.
fn unversioned(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else { return path };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        &rest[end..]
    } else {
        path
    }
}

/// The full id `path` inspects, if it is `/containers/<64 hex>/json`.
fn inspected(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/containers/")?.strip_suffix("/json")?;
    (id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(id)
}

fn text(s: String) -> StubBody {
    Either::Left(Full::new(Bytes::from(s)))
}

/// The headers dockerd 27 puts on every answer, so the proxy forwards a realistic set.
fn reply(status: StatusCode, content_type: &'static str, body: StubBody) -> Response<StubBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in [
        ("api-version", "1.47"),
        ("docker-experimental", "false"),
        ("ostype", "linux"),
        ("server", "Docker/27.3.1 (linux)"),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    resp
}
