//! The connection itself, with raw bytes against `sockgate serve` in front of the real dockerd:
//! a client that half-closes after its request still gets dockerd's answer, one that leaves
//! altogether is let go, and a malformed request body is the client's error, which the engine
//! never acts on.

mod real_binary;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use real_binary::dockerd::{container_exists, inspect_image, DOCKER_SOCKET};
use real_binary::http::{http_request, HttpConnection};
use real_binary::observe::wait_for_metrics;
use real_binary::{docker_ready, real_docker, Gateway, Scratch, FULL_ACCESS, TEST_IMAGE};

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
    let gw = Gateway::start_with_tcp(Some(FULL_ACCESS))?;

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

/// A chunked request whose chunk-size line is not hex, after `valid` well-formed chunks.
fn bad_chunks(method: &str, target: &str, content_type: &str, valid: &[&[u8]]) -> Vec<u8> {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in valid {
        request.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"zz\r\nnot a chunk\r\n0\r\n\r\n");
    request
}

/// Sends `request` and reads the answer: the status and the JSON body's message.
fn refused_as_client_error(gw: &Gateway, request: &[u8], what: &str) -> Result<()> {
    let mut conn = HttpConnection::open(gw.socket())?;
    conn.send(request)?;
    let response = conn.read_response().with_context(|| format!("{what}: no answer"))?;
    ensure!(response.status == 400, "{what}: want 400, got {} {}", response.status, response.body);
    let message = response.json()?["message"].as_str().unwrap_or_default().to_owned();
    ensure!(message.starts_with("sockgate: ") && message.contains("request body"), "{what}: {message:?}");
    Ok(())
}

#[test]
fn a_malformed_chunked_body_is_the_clients_error_and_reaches_nothing() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let holder = scratch.container("chunks-holder");
    real_docker(&["create", "--name", &holder, TEST_IMAGE, "true"])?.ok()?;
    let gw = Gateway::start(Some(FULL_ACCESS))?;
    let images_before = real_docker(&["images", "-a", "-q", "--no-trunc"])?.ok()?.stdout;

    // A body sockgate reads whole before judging.
    let created = scratch.container("chunks-create");
    let create = format!("/v1.41/containers/create?name={created}");
    let body = format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#);
    for valid in [&[][..], &[body.as_bytes()][..]] {
        refused_as_client_error(&gw, &bad_chunks("POST", &create, "application/json", valid), "containers.create")?;
    }
    ensure!(!container_exists(&created)?, "a container was created from a malformed body");

    // Bodies that stream through to the engine: refused before the engine sees a byte when the
    // first chunk is bad, and cut short, as when a client goes away mid-upload, when a later one
    // is (here inside the first tar header, so no entry can be made of it).
    let tag = scratch.image("chunks-build");
    let build = format!("/v1.41/build?t={tag}");
    let archive = format!("/v1.41/containers/{holder}/archive?path=/tmp");
    let tar = tar_with_one_file("sockgate-chunks");
    for valid in [&[][..], &[&tar[..100]][..]] {
        refused_as_client_error(&gw, &bad_chunks("POST", &build, "application/x-tar", valid), "images.build")?;
        refused_as_client_error(&gw, &bad_chunks("POST", "/v1.41/images/load", "application/x-tar", valid), "load")?;
        refused_as_client_error(&gw, &bad_chunks("PUT", &archive, "application/x-tar", valid), "archive")?;
    }
    ensure!(inspect_image(&tag)?.is_none(), "an image was built from a malformed body");
    let images_after = real_docker(&["images", "-a", "-q", "--no-trunc"])?.ok()?.stdout;
    ensure!(images_before == images_after, "images changed:\n{images_before}\n->\n{images_after}");
    let extracted = format!("/v1.41/containers/{holder}/archive?path=/tmp/sockgate-chunks");
    let stat = http_request(Path::new(DOCKER_SOCKET), "GET", &extracted, None)?;
    ensure!(stat.status == 404, "a file was extracted from a malformed body: {}", stat.status);

    // The gateway still serves the next client.
    let ping = http_request(gw.socket(), "GET", "/_ping", None)?;
    ensure!(ping.status == 200, "ping after the refusals: {} {}", ping.status, ping.body);
    Ok(())
}

/// A tar archive holding one small file, `name`.
fn tar_with_one_file(name: &str) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(b"00000000003\0");
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    let mut data = [0u8; 512];
    data[..3].copy_from_slice(b"hi\n");
    tar.extend_from_slice(&data);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}
