//! The connection itself, with raw bytes against `sockgate serve` in front of the real dockerd:
//! a client that half-closes after its request still gets dockerd's answer, and one that leaves
//! altogether is let go.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use common::observe::wait_for_metrics;
use common::{docker_ready, free_port, Gateway, FULL_ACCESS};

const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the gateway may take to notice a client that left.
const SETTLE: Duration = Duration::from_secs(10);
const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";

/// Writes `request`, shuts down the sending side (as `nc -N` does) and reads until the gateway
/// closes the connection.
fn half_closed_exchange<S: Read + Write>(mut stream: S, request: &[u8], shut: impl FnOnce(&S)) -> Result<String> {
    stream.write_all(request)?;
    stream.flush()?;
    shut(&stream);
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).context("reading the answer after a half-close")?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn ensure_pong(answer: &str, listener: &str) -> Result<()> {
    ensure!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{listener}: no answer after a half-close: {answer:?}");
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body);
    ensure!(body == Some("OK"), "{listener}: the answer is not dockerd's `OK`: {answer:?}");
    Ok(())
}

#[test]
fn a_client_that_half_closes_after_its_request_gets_the_answer() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start_with_tcp(Some(FULL_ACCESS), free_port()?)?;

    let unix = UnixStream::connect(gw.socket())?;
    unix.set_read_timeout(Some(IO_TIMEOUT))?;
    let answer = half_closed_exchange(unix, PING, |s| {
        let _ = s.shutdown(Shutdown::Write);
    })?;
    ensure_pong(&answer, "unix")?;

    let host = gw.tcp_host().context("no TCP listener")?;
    let tcp = TcpStream::connect(host.trim_start_matches("tcp://"))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    let answer = half_closed_exchange(tcp, PING, |s| {
        let _ = s.shutdown(Shutdown::Write);
    })?;
    ensure_pong(&answer, "tcp")?;

    // Two requests, then the half-close: both are answered, in order.
    let unix = UnixStream::connect(gw.socket())?;
    unix.set_read_timeout(Some(IO_TIMEOUT))?;
    let two = [PING, b"GET /v1.41/version HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let answer = half_closed_exchange(unix, &two, |s| {
        let _ = s.shutdown(Shutdown::Write);
    })?;
    ensure!(answer.matches("HTTP/1.1 200 OK").count() == 2, "not both answered: {answer:?}");
    ensure!(answer.contains("\"ApiVersion\""), "no version answer: {answer:?}");
    Ok(())
}

#[test]
fn a_client_that_leaves_a_quiet_stream_is_let_go() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::builder().policy(FULL_ACCESS).admin().start()?;
    let port = gw.admin_port().context("no admin port")?;
    // An event stream that stays quiet: nothing will be written that could fail.
    let mut events = UnixStream::connect(gw.socket())?;
    events.set_read_timeout(Some(IO_TIMEOUT))?;
    events.write_all(b"GET /v1.41/events?filters=%7B%22type%22%3A%5B%22node%22%5D%7D HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut head = [0u8; 12];
    events.read_exact(&mut head)?;
    ensure!(&head == b"HTTP/1.1 200", "events: {:?}", String::from_utf8_lossy(&head));
    wait_for_metrics(port, "the stream's connection is open", SETTLE, |m| {
        m.get("sockgate_connections_open", &[]) == Some(1.0)
    })?;
    drop(events);
    wait_for_metrics(port, "sockgate_connections_open == 0 once the client left", SETTLE, |m| {
        m.get("sockgate_connections_open", &[]) == Some(0.0)
    })?;
    Ok(())
}
