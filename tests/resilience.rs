//! sockgate answers 502 while the engine is away and recovers by itself when its socket returns,
//! and a stop signal lets in-flight requests finish.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;

use std::time::Duration;

use in_process::{raw, status, Gateway, Stub, FULL_ACCESS};

const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn engine_down_gives_502_and_recovery_is_automatic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let engine = dir.path().join("engine.sock");
    let gw = Gateway::start(&dir.path().join("gw.sock"), &engine, FULL_ACCESS, dir.path()).await;

    let response = raw(&gw.socket, PING).await;
    assert_eq!(status(&response), 502, "{response}");
    assert!(response.contains(r#"{"message":"sockgate: docker engine at `unix://"#), "{response}");

    // The engine comes (back) up: the very next request goes through.
    let stub = Stub::start(&engine, Duration::ZERO).await;
    let response = raw(&gw.socket, PING).await;
    assert_eq!(status(&response), 200, "{response}");

    // It goes away and its socket file is replaced by a new one, as during an engine upgrade.
    stub.stop();
    let response = raw(&gw.socket, PING).await;
    assert_eq!(status(&response), 502, "{response}");
    let stub = Stub::start(&engine, Duration::ZERO).await;
    let response = raw(&gw.socket, PING).await;
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(stub.seen().len(), 1);
    stub.stop();
}

#[tokio::test]
async fn stop_signal_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::from_millis(700)).await;
    let mut gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path()).await;

    let socket = gw.socket.clone();
    let in_flight = tokio::spawn(async move { raw(&socket, PING).await });
    // Let the request reach the engine, then ask sockgate to stop.
    for _ in 0..100 {
        if !stub.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stub.seen().len(), 1, "the request never reached the engine");
    gw.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::UnixStream::connect(&gw.socket).await.is_err(), "still accepting after the stop signal");

    let response = in_flight.await.unwrap_or_default();
    assert_eq!(status(&response), 200, "the in-flight request was cut: {response}");
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.done).await;
    assert!(done.is_ok(), "sockgate did not exit after draining");
    stub.stop();
}
