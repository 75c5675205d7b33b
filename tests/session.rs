//! BuildKit's `/session` is an h2c upgrade: sockgate must tunnel it only after the engine's `101`
//! and then carry HTTP/2 both ways (several proxies answer it with 501). In a session the CLI is
//! the gRPC server and the engine the client, so through sockgate the real dockerd must open the
//! tunnel with HTTP/2's client preface.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use real_binary::{docker_ready, Gateway, FULL_ACCESS, READ_ONLY};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn session_request() -> String {
    "POST /v1.41/session HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\
     X-Docker-Expose-Session-Uuid: sockgate-test-session\r\nX-Docker-Expose-Session-Name: sockgate-test\r\n\
     X-Docker-Expose-Session-Sharedkey: sockgate-test\r\nContent-Length: 0\r\n\r\n"
        .to_string()
}

/// Reads until the end of the response head, returning it and whatever followed.
fn read_head(stream: &mut UnixStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed before a response head: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
    }
}

#[test]
fn buildkit_session_upgrades_to_http2_through_sockgate() {
    if !docker_ready().unwrap() {
        return;
    }
    let gw = Gateway::start(Some(FULL_ACCESS)).unwrap();
    let mut stream = UnixStream::connect(gw.socket()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(session_request().as_bytes()).unwrap();
    let (head, mut rest) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "the engine did not switch protocols: {head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: h2c"), "{head}");

    // The engine, as the session's gRPC client, speaks first: the HTTP/2 preface, then SETTINGS.
    let mut chunk = [0u8; 4096];
    while rest.len() < PREFACE.len() + 9 {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the tunnel closed before the engine spoke HTTP/2: {:?}", String::from_utf8_lossy(&rest));
        rest.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&rest[..PREFACE.len()], PREFACE, "the engine's first bytes are not HTTP/2's preface");
    assert_eq!(rest[PREFACE.len() + 3], 4, "the engine's first frame is not SETTINGS");
    // And the other way: our SETTINGS reach the engine, which acknowledges them.
    stream.write_all(EMPTY_SETTINGS).unwrap();
    let mut acknowledged = false;
    let mut buf = rest.split_off(PREFACE.len());
    for _ in 0..20 {
        // Walk the frames received so far: 9-byte header, then the payload.
        let mut at = 0;
        while at + 9 <= buf.len() {
            let len = usize::from(buf[at]) << 16 | usize::from(buf[at + 1]) << 8 | usize::from(buf[at + 2]);
            if buf[at + 3] == 4 && buf[at + 4] & 1 == 1 {
                acknowledged = true;
            }
            at += 9 + len;
        }
        if acknowledged {
            break;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the tunnel closed before the engine acknowledged our SETTINGS");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(acknowledged, "the engine never acknowledged the SETTINGS sent through the tunnel");
}

#[test]
fn a_session_the_policy_denies_is_not_upgraded() {
    if !docker_ready().unwrap() {
        return;
    }
    let gw = Gateway::start(Some(READ_ONLY)).unwrap();
    let mut stream = UnixStream::connect(gw.socket()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(session_request().as_bytes()).unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}
