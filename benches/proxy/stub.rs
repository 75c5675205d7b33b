//! The stub upstream: a fast in-process stand-in for dockerd on a temp unix socket, answering the
//! four bench routes with dockerd's headers. It emulates nothing else and checks nothing.

use std::convert::Infallible;
use std::path::Path;
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

use crate::body::{self, Repeat};

pub const PING: &str = "/_ping";
pub const LIST: &str = "/containers/json";
/// Real Docker routes, so sockgate classifies them as `containers.export` and `containers.archive`.
pub const DOWNLOAD: &str = "/containers/bench/export";
/// The CLI's `docker cp` encodes the query with Go's `url.Values.Encode`, which escapes `/`.
pub const UPLOAD: &str = "/containers/bench/archive?path=%2F";

type StubBody = Either<Full<Bytes>, Repeat>;

struct Routes {
    containers: Bytes,
    chunk: Bytes,
    stream_bytes: u64,
}

/// Binds `socket` and serves it on a thread of its own until the process ends, as dockerd is a
/// process of its own: the load generator's wake-ups never land on the stub's thread for free.
/// Returns the size of the `/containers/json` answer.
pub fn spawn(socket: &Path, stream_bytes: u64) -> anyhow::Result<usize> {
    let listener = std::os::unix::net::UnixListener::bind(socket)
        .with_context(|| format!("binding the stub on `{}`", socket.display()))?;
    listener.set_nonblocking(true)?;
    let routes = Arc::new(Routes { containers: container_list(), chunk: body::chunk(), stream_bytes });
    let list_len = routes.containers.len();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("stub".into()).spawn(move || runtime.block_on(serve(listener, routes)))?;
    Ok(list_len)
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
        match (req.method(), req.uri().path()) {
            (&Method::GET, PING) => {
                reply(StatusCode::OK, "text/plain; charset=utf-8", Either::Left(Full::new(Bytes::from_static(b"OK"))))
            }
            (&Method::GET, LIST) => {
                reply(StatusCode::OK, "application/json", Either::Left(Full::new(self.containers.clone())))
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

/// A `docker ps` answer of about 20 KB: compose-style containers with ports, labels, one network
/// and one volume each, as `GET /containers/json` returns them.
fn container_list() -> Bytes {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut hex = move || {
        (0..4)
            .map(|_| {
                // xorshift64: deterministic ids without a random-number dependency.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}")
            })
            .collect::<String>()
    };
    let services = [
        ("web", "nginx:1.27-alpine", "/docker-entrypoint.sh nginx -g 'daemon off;'", 80),
        ("api", "bench/api:2.4.1", "/usr/local/bin/api --config /etc/api.toml", 8080),
        ("db", "postgres:16.4", "docker-entrypoint.sh postgres", 5432),
        ("cache", "redis:7.4", "docker-entrypoint.sh redis-server", 6379),
    ];
    let mut list = Vec::new();
    let mut size = 2;
    let mut i = 0usize;
    while size < 20_000 {
        let (service, image, command, port) = services[i % services.len()];
        let n = i / services.len() + 1;
        let entry = serde_json::json!({
            "Id": hex(),
            "Names": [format!("/bench-{service}-{n}")],
            "Image": image,
            "ImageID": format!("sha256:{}", hex()),
            "Command": command,
            "Created": 1_718_000_000 + i * 37,
            "Ports": [{"PrivatePort": port, "Type": "tcp"}],
            "Labels": {
                "com.docker.compose.config-hash": hex(),
                "com.docker.compose.container-number": n.to_string(),
                "com.docker.compose.oneoff": "False",
                "com.docker.compose.project": "bench",
                "com.docker.compose.project.working_dir": "/srv/bench",
                "com.docker.compose.service": service,
                "com.docker.compose.version": "2.29.1",
            },
            "State": "running",
            "Status": format!("Up {} hours", 1 + i % 23),
            "HostConfig": {"NetworkMode": "bench_default"},
            "NetworkSettings": {"Networks": {"bench_default": {
                "IPAMConfig": null, "Links": null, "Aliases": null,
                "MacAddress": format!("02:42:ac:12:00:{:02x}", i + 2),
                "NetworkID": hex(), "EndpointID": hex(),
                "Gateway": "172.18.0.1", "IPAddress": format!("172.18.0.{}", i + 2),
                "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null,
            }}},
            "Mounts": [{
                "Type": "volume", "Name": format!("bench_{service}_{n}"),
                "Source": format!("/var/lib/docker/volumes/bench_{service}_{n}/_data"),
                "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true,
                "Propagation": "",
            }],
        });
        size += entry.to_string().len() + 1;
        list.push(entry);
        i += 1;
    }
    Bytes::from(serde_json::Value::Array(list).to_string())
}
