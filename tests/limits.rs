//! Per-caller limits and connection timeouts, on the real binary in front of the stub engine: a
//! client trickling its request head is cut at the header deadline; one caller at its connection
//! cap does not keep a second caller out; an idle keep-alive connection is closed after the idle
//! time while a silent `logs -f`-like stream is not; the in-flight cap refuses the extra request
//! with a message the docker CLI prints; a profile's own cap applies to the callers it matches; and
//! every limit is counted by reason and logged once per caller. Limits are set short by flags, so
//! no wait is longer than a few seconds.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;
mod real_binary;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use in_process::Stub;
use real_binary::observe::{wait_for_metric, Metrics};
use real_binary::{Gateway, FULL_ACCESS};

const LIMITED: &str = "sockgate_limited_total";
const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
/// A `logs -f` the stub answers with its head, then nothing for 3 s, then `done`.
const SILENT_LOGS: &[u8] =
    b"GET /v1.41/containers/quiet/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nX-Stub-Silent: 3000\r\n\r\n";

/// The stub engine on its own runtime, and sockgate in front of it with `args`.
fn start(args: &[&str], tcp: bool) -> Result<(tokio::runtime::Runtime, Stub, Gateway, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    let (runtime, stub) = Stub::on_own_runtime(&engine, Duration::ZERO)?;
    let mut builder =
        Gateway::builder().policy(FULL_ACCESS).upstream(&format!("unix://{}", engine.display())).admin().args(args);
    if tcp {
        builder = builder.tcp();
    }
    Ok((runtime, stub, builder.start()?, dir))
}

/// Reads one response with a `Content-Length` from `stream`: `None` if the server closed the
/// connection (or reset it) before answering.
fn response(stream: &mut impl Read) -> Result<Option<String>> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => raw.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e).context("reading a response"),
        }
        if raw.ends_with(b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body)?;
            raw.extend_from_slice(&body);
            return Ok(Some(String::from_utf8_lossy(&raw).into_owned()));
        }
    }
    ensure!(raw.is_empty(), "the connection closed in the middle of a response: {:?}", String::from_utf8_lossy(&raw));
    Ok(None)
}

/// How long until the server closes `stream`, reading (and expecting) nothing; at most `limit`.
fn closed_after(stream: &mut impl Read, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(start.elapsed()),
            Ok(n) => bail!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(start.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        ensure!(start.elapsed() < limit, "still open after {limit:?}");
    }
}

/// Everything `stream` sends until the stub's last line, `done`; fails if it is cut first.
fn until_done(stream: &mut impl Read) -> Result<Vec<u8>> {
    let start = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 256];
    while !raw.windows(5).any(|w| w == b"done\n") {
        match stream.read(&mut buf) {
            Ok(0) => {
                bail!("the silent stream was cut after {:?}: {:?}", start.elapsed(), String::from_utf8_lossy(&raw))
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => bail!("the silent stream failed after {:?}: {e}", start.elapsed()),
        }
        ensure!(start.elapsed() < Duration::from_secs(8), "the silent stream never ended");
    }
    // The chunked body's end, so the connection is between requests.
    let mut end = [0u8; 5];
    let _ = stream.read_exact(&mut end);
    Ok(raw)
}

fn unix(gw: &Gateway) -> Result<UnixStream> {
    let stream = UnixStream::connect(gw.socket())?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(stream)
}

fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn a_trickling_client_is_cut_at_the_header_deadline() -> Result<()> {
    let (_runtime, _stub, gw, _dir) = start(&["--header-timeout", "1"], false)?;
    let port = gw.admin_port().context("no admin port")?;
    // A whole head sent at once is served.
    let mut prompt = unix(&gw)?;
    prompt.set_read_timeout(Some(Duration::from_secs(10)))?;
    prompt.write_all(PING)?;
    ensure!(response(&mut prompt)?.is_some_and(|r| status(&r) == 200), "a prompt request was not served");

    // One header line every 200 ms: each is progress, none moves the deadline.
    let mut slow = unix(&gw)?;
    let start = Instant::now();
    slow.write_all(b"GET /_ping HTTP/1.1\r\n")?;
    let mut lines = 0;
    let cut = loop {
        let mut buf = [0u8; 64];
        match slow.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Ok(n) => bail!("a response to an unfinished head: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break start.elapsed(),
            Err(_) => {}
        }
        ensure!(start.elapsed() < Duration::from_secs(5), "a trickling client is still connected after 5 s");
        lines += 1;
        if slow.write_all(format!("X-Trickle-{lines}: 1\r\n").as_bytes()).is_err() {
            break start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("trickling client cut after {cut:?}, {lines} header lines sent");
    ensure!(cut >= Duration::from_millis(900) && cut < Duration::from_millis(2500), "cut after {cut:?}");
    wait_for_metric(port, LIMITED, &[("reason", "header_timeout")], 1.0, Duration::from_secs(5))?;
    Ok(())
}

#[test]
fn one_caller_at_its_connection_cap_does_not_stop_another() -> Result<()> {
    let (runtime, _stub, gw, _dir) = start(&["--max-connections-per-caller", "2"], true)?;
    let port = gw.admin_port().context("no admin port")?;
    let tcp = gw.tcp_host().context("no TCP listener")?;
    let server: SocketAddr = tcp.trim_start_matches("tcp://").parse()?;
    // A client from a source address of its own: another caller.
    let connect_from = |source: [u8; 4]| -> Result<TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let stream = runtime.block_on(socket.connect(server))?.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(stream)
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from([127, 0, 0, 1])?;
        stream.write_all(PING)?;
        ensure!(response(&mut stream)?.is_some_and(|r| status(&r) == 200), "a connection within the cap was refused");
        held.push(stream);
    }
    // Two more from the same caller: closed without an answer, logged once.
    for _ in 0..2 {
        let mut third = connect_from([127, 0, 0, 1])?;
        let _ = third.write_all(PING);
        let answer = response(&mut third)?;
        ensure!(answer.is_none(), "a connection over the cap was served: {answer:?}");
    }
    // Another caller is served at once, and the first caller's connections still are.
    let mut other = connect_from([127, 0, 0, 2])?;
    other.write_all(PING)?;
    ensure!(response(&mut other)?.is_some_and(|r| status(&r) == 200), "a second caller was kept out");
    held[0].write_all(PING)?;
    ensure!(response(&mut held[0])?.is_some_and(|r| status(&r) == 200), "the capped caller lost its connections");
    wait_for_metric(port, LIMITED, &[("reason", "caller_connections")], 2.0, Duration::from_secs(5))?;
    let logged = gw.stderr().lines().filter(|l| l.contains("caller over its limit of connections")).count();
    ensure!(logged == 1, "the capped caller was logged {logged} times:\n{}", gw.stderr());
    ensure!(gw.stderr().contains("address=127.0.0.1"), "the log does not name the caller:\n{}", gw.stderr());
    // Below half its cap, the episode is over, and that is logged too.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.stderr().contains("caller back under its limit of connections") {
        ensure!(Instant::now() < deadline, "the end of the episode was not logged:\n{}", gw.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn an_idle_connection_is_closed_but_a_silent_stream_is_not() -> Result<()> {
    let (_runtime, _stub, gw, _dir) = start(&["--idle-timeout", "1"], false)?;
    let port = gw.admin_port().context("no admin port")?;
    let mut idle = unix(&gw)?;
    idle.set_read_timeout(Some(Duration::from_secs(10)))?;
    idle.write_all(PING)?;
    ensure!(response(&mut idle)?.is_some_and(|r| status(&r) == 200), "ping failed");
    idle.set_read_timeout(Some(Duration::from_millis(100)))?;

    let mut stream = unix(&gw)?;
    stream.write_all(SILENT_LOGS)?;
    let closed = closed_after(&mut idle, Duration::from_secs(5))?;
    eprintln!("idle keep-alive connection closed after {closed:?}");
    ensure!(closed >= Duration::from_millis(800) && closed < Duration::from_millis(2500), "closed after {closed:?}");

    // The stream's head came at once, then nothing for 3 s: three idle times, still open.
    let start = Instant::now();
    let raw = until_done(&mut stream)?;
    let text = String::from_utf8_lossy(&raw);
    ensure!(status(&text) == 200, "{text}");
    eprintln!("silent stream ended by the engine after {:?}", start.elapsed());
    // Once it is over, that connection is idle like any other.
    closed_after(&mut stream, Duration::from_secs(5))?;
    wait_for_metric(port, LIMITED, &[("reason", "idle")], 2.0, Duration::from_secs(5))?;
    Ok(())
}

#[test]
fn the_in_flight_cap_refuses_the_extra_request_with_a_message() -> Result<()> {
    let (_runtime, _stub, gw, _dir) = start(&["--max-requests-per-caller", "1"], false)?;
    let port = gw.admin_port().context("no admin port")?;
    let mut stream = unix(&gw)?;
    stream.write_all(SILENT_LOGS)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = unix(&gw)?;
    extra.set_read_timeout(Some(Duration::from_secs(10)))?;
    for _ in 0..3 {
        extra.write_all(PING)?;
        let answer = response(&mut extra)?.context("the extra request got no answer")?;
        ensure!(status(&answer) == 429, "{answer}");
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body)?;
        let message = json["message"].as_str().unwrap_or_default();
        ensure!(message.starts_with("sockgate: too many requests in flight from `uid="), "{message}");
    }
    let metrics = wait_for_metric(port, LIMITED, &[("reason", "caller_in_flight")], 3.0, Duration::from_secs(5))?;
    // Each refusal is a request like any other in the request count, under `refuse`.
    let refused = [("operation", "none"), ("decision", "refuse"), ("rule", ""), ("status", "429")];
    ensure!(
        metrics.get("sockgate_requests_total", &refused) == Some(3.0),
        "{}",
        metrics.lines_of("sockgate_requests_total")
    );
    for reason in ["caller_connections", "idle", "header_timeout"] {
        ensure!(metrics.get(LIMITED, &[("reason", reason)]) == Some(0.0), "{}", metrics.lines_of(LIMITED));
    }
    let logged = gw.stderr().lines().filter(|l| l.contains("caller over its limit of requests in flight")).count();
    ensure!(logged == 1, "logged {logged} times, not once:\n{}", gw.stderr());
    // The stream itself was not disturbed; once it is over, the caller is served again.
    until_done(&mut stream)?;
    extra.write_all(PING)?;
    ensure!(response(&mut extra)?.is_some_and(|r| status(&r) == 200), "not served after the stream ended");
    let _ = Metrics::scrape(port)?;
    Ok(())
}

#[test]
fn a_profile_sets_its_callers_own_limits() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    let (_runtime, _stub) = Stub::on_own_runtime(&engine, Duration::ZERO)?;
    let socket = dir.path().join("gw.sock");
    let uid = nix::unistd::getuid().as_raw();
    let config = dir.path().join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\nupstream = \"unix://{engine}\"\n\n[[listener]]\naddress = \"unix://{socket}\"\n\
             policy = [\"{FULL_ACCESS}\"]\nmax_requests_per_caller = 50\n\n[[listener.profile]]\nname = \"me\"\n\
             uid = {uid}\npolicy = [\"{FULL_ACCESS}\"]\nmax_requests_per_caller = 1\n",
            engine = engine.display(),
            socket = socket.display(),
        ),
    )?;
    let listener = format!("unix://{}", socket.display());
    let _gw = real_binary::server::Sockgate::with_config(&config, &[&listener])?;
    let connect = || -> Result<UnixStream> {
        let stream = UnixStream::connect(&socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(stream)
    };
    let mut stream = connect()?;
    stream.write_all(SILENT_LOGS)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect()?;
    extra.write_all(PING)?;
    let answer = response(&mut extra)?.context("no answer")?;
    ensure!(status(&answer) == 429 && answer.contains("(at most 1)"), "the profile's limit did not apply: {answer}");
    Ok(())
}

/// A connection quiet for a second is parked (the HTTP layer lets go of it and its buffers) and
/// serves its next request as before: after one park and after two, when the next request head
/// arrives in two writes, and when part of a pipelined head was read before it went quiet. The
/// bench's memory phase measures what parking saves.
#[test]
fn a_parked_connection_serves_its_next_request() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    let (_runtime, _stub) = Stub::on_own_runtime(&engine, Duration::ZERO)?;
    let gw = Gateway::builder()
        .policy(FULL_ACCESS)
        .upstream(&format!("unix://{}", engine.display()))
        .env("SOCKGATE_LOG", "info,sockgate::serve::connection=trace")
        .start()?;
    let ok = |stream: &mut UnixStream, what: &str| -> Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let answer = response(stream)?;
        ensure!(answer.as_deref().is_some_and(|r| status(r) == 200), "{what}: {answer:?}\n{}", gw.stderr());
        Ok(())
    };
    let quiet = || std::thread::sleep(Duration::from_millis(1800));

    let mut plain = unix(&gw)?;
    plain.write_all(PING)?;
    ok(&mut plain, "first request")?;
    let mut split = unix(&gw)?;
    split.write_all(PING)?;
    ok(&mut split, "first request")?;
    let mut pipelined = unix(&gw)?;
    pipelined.write_all(&[PING, &PING[..13]].concat())?;
    ok(&mut pipelined, "first of two pipelined requests")?;
    quiet();
    let parked = gw.stderr().matches("connection parked").count();
    ensure!(parked >= 2, "{parked} connections parked:\n{}", gw.stderr());

    plain.write_all(PING)?;
    ok(&mut plain, "request after one park")?;
    split.write_all(&PING[..10])?;
    std::thread::sleep(Duration::from_millis(200));
    split.write_all(&PING[10..])?;
    ok(&mut split, "request in two writes after a park")?;
    pipelined.write_all(&PING[13..])?;
    ok(&mut pipelined, "pipelined request finished after a park")?;
    quiet();
    plain.write_all(PING)?;
    ok(&mut plain, "request after two parks")?;
    ensure!(gw.stderr().matches("connection parked").count() > parked, "not parked again:\n{}", gw.stderr());
    Ok(())
}
