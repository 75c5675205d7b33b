//! The container directory against the real dockerd: it names a container by its address and by
//! its process, and follows the engine's events as the container is started, renamed and stopped.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sockgate::address::UpstreamAddr;
use sockgate::forward::Upstream;
use sockgate::identify::containers::{ContainerInfo, Directory};

use real_binary::dockerd::{inspect_container, DOCKER_SOCKET};
use real_binary::{CmdOutput, Scratch, TEST_IMAGE};

/// How long an event may take to reach the directory.
const SETTLE: Duration = Duration::from_secs(10);
const LABEL: &str = "sockgate.test.identity";

/// `docker <args>` on the real socket, which must succeed; blocking, so off the async workers.
fn docker(args: &[&str]) -> CmdOutput {
    tokio::task::block_in_place(|| real_binary::real_docker(args).and_then(CmdOutput::ok)).unwrap()
}

fn inspect_network(name: &str) -> Value {
    let out = docker(&["network", "inspect", name]);
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0].take()
}

fn inspect(name: &str) -> Value {
    tokio::task::block_in_place(|| inspect_container(name)).unwrap().expect("the container exists")
}

/// Polls `probe` until it answers `Some`, for at most `SETTLE`.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {SETTLE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique-enough IPv6 ULA subnet, so concurrent runs do not ask for overlapping pools.
fn ipv6_subnet() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("fd5a:{:x}:{:x}::/64", std::process::id() & 0xffff, nanos & 0xffff)
}

fn address(container: &Value, network: &str, field: &str) -> IpAddr {
    let text = container["NetworkSettings"]["Networks"][network][field].as_str().unwrap_or_default();
    text.parse().unwrap_or_else(|_| panic!("no {field} on `{network}`: {container}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_container_through_its_life() {
    if !real_binary::docker_ready().unwrap() {
        return;
    }
    let upstream =
        Upstream::new(UpstreamAddr::Unix(DOCKER_SOCKET.into()), None, tokio_util::task::TaskTracker::new(), 0);
    let directory = Directory::start(upstream);
    assert!(directory.ready(SETTLE).await, "the first listing did not finish");

    let mut scratch = Scratch::new();
    let network = scratch.network("identity");
    let name = scratch.container("identity");
    docker(&["network", "create", "--ipv6", "--subnet", &ipv6_subnet(), &network]);
    // Started only now, so only the event stream can tell the directory about it.
    let label = format!("{LABEL}=blue");
    docker(&["run", "-d", "--name", &name, "--network", &network, "--label", &label, TEST_IMAGE, "sleep", "60"]);
    let container = inspect(&name);
    let id = container["Id"].as_str().unwrap().to_owned();
    let ipv4 = address(&container, &network, "IPAddress");
    let ipv6 = address(&container, &network, "GlobalIPv6Address");
    let pid: i32 = container["State"]["Pid"].as_i64().unwrap().try_into().unwrap();

    let named = |wanted: String| {
        let directory = &directory;
        move || {
            let found = directory.by_ip(ipv4).filter(|c| c.name == wanted);
            std::future::ready(found)
        }
    };
    let found: ContainerInfo = eventually("the started container by its IPv4 address", named(name.clone())).await;
    assert_eq!(found.id, id);
    assert_eq!(found.labels.get(LABEL).map(String::as_str), Some("blue"));
    assert_eq!(directory.by_ip(ipv6), Some(found.clone()), "by its IPv6 address");

    assert_eq!(directory.by_pid(pid).await, Some(found), "by the pid of its process");

    // Only addresses a docker network hands out are worth waiting for; the host's side of the
    // network (its gateway) and addresses elsewhere are no container's.
    let gateways: Vec<IpAddr> = inspect_network(&network)["IPAM"]["Config"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|config| config["Gateway"].as_str()?.parse().ok())
        .collect();
    assert!(!gateways.is_empty(), "the network has no gateway");
    assert!(directory.may_be_container(ipv4).await, "the container's own address");
    for gateway in gateways {
        assert!(!directory.may_be_container(gateway).await, "the network's gateway {gateway}");
    }
    let elsewhere: IpAddr = "192.0.2.1".parse().unwrap();
    assert!(!directory.may_be_container(elsewhere).await, "an address of no network");
    // So such a caller is told apart at once, not after the 1.5 s a starting container may take.
    let asked = Instant::now();
    assert_eq!(directory.lookup_ip(elsewhere).await, None);
    assert!(asked.elapsed() < Duration::from_secs(1), "waited {:?} for an address of no network", asked.elapsed());
    assert_eq!(directory.by_pid(i32::try_from(std::process::id()).unwrap()).await, None, "the test itself");

    let renamed = scratch.container("renamed");
    docker(&["rename", &name, &renamed]);
    eventually("the renamed container by its address", named(renamed.clone())).await;

    docker(&["stop", "-t", "0", &renamed]);
    let forgotten = || std::future::ready(directory.by_ip(ipv4).is_none().then_some(()));
    eventually("the stopped container forgotten", forgotten).await;
    assert_eq!(directory.by_ip(ipv6), None);
    assert_eq!(directory.by_pid(pid).await, None, "the process is gone");
}

/// What the stub engine's first `/events` stream sends: a chunk of bytes, or the end of the stream.
type EventFeed = tokio::sync::mpsc::UnboundedReceiver<Option<String>>;

/// A stub engine on a unix socket: the listing names container A on the first connection to
/// `/events` and container C afterwards; the first event stream is fed by the test, later ones
/// stay silent; container B answers inspection.
async fn stub_engine(socket: std::path::PathBuf, feed: EventFeed) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    let subscriptions = Arc::new(AtomicUsize::new(0));
    let feed = Arc::new(tokio::sync::Mutex::new(Some(feed)));
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let (subscriptions, feed) = (subscriptions.clone(), feed.clone());
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
            let mut stream = BufReader::new(stream);
            loop {
                let mut head = String::new();
                while !head.ends_with("\r\n\r\n") {
                    if stream.read_line(&mut head).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let body = if path.starts_with("/v1.41/events?filters=") {
                    subscriptions.fetch_add(1, Ordering::SeqCst);
                    let head =
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                    stream.write_all(head.as_bytes()).await.unwrap();
                    let Some(mut feed) = feed.lock().await.take() else {
                        return std::future::pending().await;
                    };
                    while let Some(Some(chunk)) = feed.recv().await {
                        stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.unwrap();
                    }
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                    return;
                } else if path == "/v1.41/containers/json" {
                    let (id, ip) =
                        if subscriptions.load(Ordering::SeqCst) == 1 { (A, "10.0.0.1") } else { (C, "10.0.0.3") };
                    format!(
                        r#"[{{"Id":"{id}","Names":["/{}"],"Labels":{{}},"NetworkSettings":{{"Networks":{{"n":{{"IPAddress":"{ip}"}}}}}}}}]"#,
                        &id[..1]
                    )
                } else if path == format!("/v1.41/containers/{B}/json") {
                    format!(
                        r#"{{"Id":"{B}","Name":"/b","State":{{"Running":true}},"Config":{{"Labels":null}},"NetworkSettings":{{"Networks":{{"n":{{"IPAddress":"10.0.0.2","GlobalIPv6Address":""}}}}}}}}"#
                    )
                } else {
                    panic!("the stub engine was asked for `{path}`");
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
            }
        });
    }
}

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

#[tokio::test]
async fn follows_events_split_across_chunks_and_relists_after_the_stream_ends() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("engine.sock");
    let (feed, events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(stub_engine(socket.clone(), events));
    let upstream = Upstream::new(UpstreamAddr::Unix(socket), None, tokio_util::task::TaskTracker::new(), 0);
    let directory = Directory::start(upstream);
    assert!(directory.ready(SETTLE).await, "the first listing did not finish");
    let name_at = |ip: [u8; 4]| directory.by_ip(IpAddr::from(ip)).map(|c| c.name);
    assert_eq!(name_at([10, 0, 0, 1]).as_deref(), Some("a"));

    // One event line in two chunks: only the whole line may be read.
    let event =
        format!(r#"{{"Type":"network","Action":"connect","Actor":{{"ID":"n","Attributes":{{"container":"{B}"}}}}}}"#);
    let (first, second) = event.split_at(20);
    feed.send(Some(first.to_owned())).unwrap();
    feed.send(Some(format!("{second}\n"))).unwrap();
    eventually("container B from the connect event", || std::future::ready(name_at([10, 0, 0, 2]))).await;
    assert_eq!(name_at([10, 0, 0, 1]).as_deref(), Some("a"));

    // The engine ends the stream: the directory reconnects and lists again.
    feed.send(None).unwrap();
    eventually("container C from the second listing", || std::future::ready(name_at([10, 0, 0, 3]))).await;
    assert_eq!(name_at([10, 0, 0, 1]), None);
    assert_eq!(name_at([10, 0, 0, 2]), None);
}

/// A fake engine whose answer about one container never comes, as dockerd's does not while a
/// client holds an archive of that container unread; its events are whatever the test sends.
mod stalled {
    use std::convert::Infallible;
    use std::path::Path;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Frame;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::UnixListener;
    use tokio::sync::mpsc;

    pub const POWER: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    pub const STALLED: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    pub const TAKER: &str = "3333333333333333333333333333333333333333333333333333333333333333";
    pub const ADDRESS: &str = "10.9.0.5";

    fn container(id: &str, name: &str, labels: &str, address: Option<&str>) -> String {
        let networks = address.map_or(String::from("{}"), |a| format!(r#"{{"n":{{"IPAddress":"{a}"}}}}"#));
        format!(
            r#"{{"Id":"{id}","Name":"/{name}","Names":["/{name}"],"Image":"traefik:3","ImageID":"sha256:{id}",
            "Labels":{labels},"State":{{"Running":true}},"Config":{{"Image":"traefik:3","Labels":{labels}}},
            "NetworkSettings":{{"Networks":{networks}}}}}"#
        )
    }

    /// Serves on `path` until dropped; events sent on the returned channel go out as they come.
    pub async fn start(path: &Path) -> mpsc::UnboundedSender<String> {
        let listener = UnixListener::bind(path).unwrap();
        let (send, events) = mpsc::unbounded_channel::<String>();
        let events = std::sync::Arc::new(tokio::sync::Mutex::new(Some(events)));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let events = events.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let events = events.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let full = |text: String| Full::new(Bytes::from(text)).map_err(|e| match e {}).boxed();
                            let body = if path.ends_with("/events") {
                                let receiver = events.lock().await.take().unwrap();
                                Lines(receiver).boxed()
                            } else if path.ends_with("/containers/json") {
                                full(format!("[{}]", container(POWER, "power", r#"{"role":"proxy"}"#, Some(ADDRESS))))
                            } else if path.ends_with("/networks") {
                                full(r#"[{"Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]}}]"#.into())
                            } else if path.contains(STALLED) {
                                std::future::pending::<()>().await;
                                unreachable!()
                            } else if path.contains(POWER) {
                                full(container(POWER, "power", r#"{"role":"proxy"}"#, None))
                            } else if path.contains(TAKER) {
                                full(container(TAKER, "taker", "{}", Some(ADDRESS)))
                            } else {
                                full("{}".into())
                            };
                            Ok::<_, Infallible>(Response::new(body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        send
    }

    /// An event stream's body: each line sent becomes a frame.
    struct Lines(mpsc::UnboundedReceiver<String>);

    impl hyper::body::Body for Lines {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|line| line.map(|l| Ok(Frame::data(Bytes::from(l + "\n")))))
        }
    }

    pub fn event(kind: &str, action: &str, id: &str, container: Option<&str>) -> String {
        let attributes = container.map_or(String::from("{}"), |c| format!(r#"{{"container":"{c}"}}"#));
        format!(r#"{{"Type":"{kind}","Action":"{action}","Actor":{{"ID":"{id}","Attributes":{attributes}}}}}"#)
    }
}

/// A client that stalls the engine's answer about one container (an archive held unread) cannot
/// freeze the map: the events after it take effect at once, so an address taken from a more
/// powerful container in that window never names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_answer_does_not_freeze_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("engine.sock");
    let events = stalled::start(&socket).await;
    let upstream = Upstream::new(UpstreamAddr::Unix(socket), None, tokio_util::task::TaskTracker::new(), 0);
    let directory = Directory::start(upstream);
    assert!(directory.ready(SETTLE).await, "the first listing did not finish");
    let address: IpAddr = stalled::ADDRESS.parse().unwrap();
    assert_eq!(directory.by_ip(address).map(|c| c.id), Some(stalled::POWER.to_owned()));

    // An event whose container the engine will not describe, then the taking of the address.
    events.send(stalled::event("container", "start", stalled::STALLED, None)).unwrap();
    events.send(stalled::event("network", "disconnect", "net", Some(stalled::POWER))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while directory.by_ip(address).is_some() {
        assert!(Instant::now() < deadline, "the disconnect waited behind the stalled answer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events.send(stalled::event("network", "connect", "net", Some(stalled::TAKER))).unwrap();
    let taker = eventually("the taker is named", || async { directory.by_ip(address) }).await;
    assert_eq!(taker.id, stalled::TAKER);
    assert!(taker.labels.is_empty(), "{taker:?}");
}
