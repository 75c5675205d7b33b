//! Connections to the engine are kept alive and pooled: reused across requests and across the
//! client connections a worker thread serves, put back only when their answer was read to its end,
//! and replaced when the engine closed them.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use in_process::{Gateway, Stub, FULL_ACCESS, STREAM_BYTES};

/// A keep-alive client connection to `socket`.
async fn connect(socket: &Path) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn request(method: Method, path: &str, close: bool) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path).header("host", "docker");
    if close {
        builder = builder.header("x-stub-close", "1");
    }
    builder.body(Empty::new()).unwrap()
}

/// Sends a request and reads its whole answer: the status and how many body bytes came.
async fn exchange(sender: &mut SendRequest<Empty<Bytes>>, request: Request<Empty<Bytes>>) -> (StatusCode, usize) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.len())
}

/// A stub engine and sockgate in front of it with `workers` worker threads (0: one per core).
async fn start(workers: usize) -> (tempfile::TempDir, Stub, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw =
        Gateway::start_with_workers(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path(), workers).await;
    (dir, stub, gw)
}

fn connections(stub: &Stub) -> Vec<usize> {
    stub.seen().iter().map(|seen| seen.connection).collect()
}

#[tokio::test]
async fn one_engine_connection_serves_requests_from_several_client_connections() {
    let (_dir, stub, gw) = start(1).await;

    let mut client = connect(&gw.socket).await;
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    // An answer without a body is complete without being read.
    assert_eq!(exchange(&mut client, request(Method::HEAD, "/_ping", false)).await, (StatusCode::OK, 0));
    assert_eq!(exchange(&mut client, request(Method::GET, "/v1.41/version", false)).await, (StatusCode::OK, 2));
    drop(client);
    for _ in 0..2 {
        let mut client = connect(&gw.socket).await;
        assert_eq!(exchange(&mut client, request(Method::GET, "/info", false)).await, (StatusCode::OK, 2));
    }
    assert_eq!(connections(&stub), [1, 1, 1, 1, 1], "{:?}", stub.seen());
    stub.stop();
}

#[tokio::test]
async fn each_worker_keeps_its_own_engine_connections() {
    let (_dir, stub, gw) = start(2).await;

    // Client connections are dealt to the two workers in turn: the first and third share one.
    for _ in 0..3 {
        let mut client = connect(&gw.socket).await;
        assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    }
    assert_eq!(connections(&stub), [1, 2, 1], "{:?}", stub.seen());
    stub.stop();
}

#[tokio::test]
async fn a_stream_read_to_its_end_returns_its_connection_and_an_abandoned_one_closes_it() {
    // One worker: the second client connection finds the pool the first one left.
    let (_dir, stub, gw) = start(1).await;

    let mut client = connect(&gw.socket).await;
    let logs = request(Method::GET, "/containers/web/logs", false);
    assert_eq!(exchange(&mut client, logs).await, (StatusCode::OK, STREAM_BYTES));
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));

    // The client reads the start of a stream and goes away: the engine connection is mid-answer,
    // so it cannot serve anyone else.
    client.ready().await.unwrap();
    let response = client.send_request(request(Method::GET, "/containers/web/logs", false)).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|data| !data.is_empty()));
    drop(body);
    drop(client);

    let mut client = connect(&gw.socket).await;
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    assert_eq!(connections(&stub), [1, 1, 1, 2], "{:?}", stub.seen());
    stub.stop();
}

#[tokio::test]
async fn connections_the_engine_closed_are_replaced_without_failing_a_request() {
    let (_dir, stub, gw) = start(0).await;
    let mut client = connect(&gw.socket).await;

    // The engine says it closes the connection after this answer.
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", true)).await, (StatusCode::OK, 2));
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    // The engine drops its idle connections without a word, as on a restart.
    stub.hang_up();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    assert_eq!(exchange(&mut client, request(Method::GET, "/_ping", false)).await, (StatusCode::OK, 2));
    assert_eq!(connections(&stub), [1, 2, 3, 3], "{:?}", stub.seen());
    stub.stop();
}

/// An engine whose answers to `GET /containers/json` are `answers`, in order, each noted with the
/// number of the connection it went out on; other requests get a version.
async fn scripted_engine(path: &Path, answers: Vec<&'static [u8]>) -> std::sync::Arc<std::sync::Mutex<Vec<usize>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const VERSION: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 58\r\n\r\n\
{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\",\"Os\":\"linux\"}\n";
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let answers = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(answers)));
    let used = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = used.clone();
    tokio::spawn(async move {
        for connection in 0.. {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let (answers, noted) = (answers.clone(), noted.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = seen.drain(..end + 4).collect();
                        let answer = if head.windows(16).any(|w| w == b"/containers/json") {
                            noted.lock().unwrap().push(connection);
                            answers
                                .lock()
                                .unwrap()
                                .pop_front()
                                .unwrap_or(b"HTTP/1.1 500 No more\r\nContent-Length: 0\r\n\r\n")
                        } else {
                            VERSION
                        };
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    used
}

const LIST: &[u8] = b"GET /containers/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
const GOOD_LIST: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n[]\n";

/// sockgate, with one worker, in front of a [`scripted_engine`] that answers `answers`.
async fn scripted(
    answers: Vec<&'static [u8]>,
) -> (tempfile::TempDir, Gateway, std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine.sock");
    let used = scripted_engine(&engine, answers).await;
    let gw = Gateway::start_with_workers(&dir.path().join("gw.sock"), &engine, FULL_ACCESS, dir.path(), 1).await;
    (dir, gw, used)
}

/// The next list is answered whole, on another engine connection than the one before it.
async fn next_list_on_a_new_connection(gw: &Gateway, used: &std::sync::Mutex<Vec<usize>>) {
    let listed = in_process::raw(&gw.socket, LIST).await;
    assert_eq!(in_process::status(&listed), 200, "{listed}");
    assert!(listed.ends_with("[]\n"), "{listed}");
    let used = used.lock().unwrap().clone();
    assert_eq!(used.len(), 2);
    assert_ne!(used[0], used[1], "the next request went out on the connection the bad answer came on");
}

#[tokio::test]
async fn an_answer_framed_ambiguously_is_a_502_and_its_engine_connection_is_never_used_again() {
    let ambiguous: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n[]\n";
    let (_dir, gw, used) = scripted(vec![ambiguous, GOOD_LIST]).await;
    let refused = in_process::raw(&gw.socket, LIST).await;
    assert_eq!(in_process::status(&refused), 502, "{refused}");
    assert!(refused.contains("\"message\"") && refused.contains("Transfer-Encoding"), "{refused}");
    next_list_on_a_new_connection(&gw, &used).await;
}

#[tokio::test]
async fn a_malformed_chunk_cuts_the_answer_and_its_engine_connection_is_never_used_again() {
    // The chunk says 2 bytes and 3 follow: the third would otherwise be read as the next answer.
    let malformed: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]X\r\n0\r\n\r\n";
    let (_dir, gw, used) = scripted(vec![malformed, GOOD_LIST]).await;
    // The client's connection closes before its answer is complete, or before any of it.
    let cut = in_process::raw(&gw.socket, LIST).await;
    assert!(!cut.contains('X') && !cut.ends_with("0\r\n\r\n"), "a malformed answer was passed on: {cut:?}");
    next_list_on_a_new_connection(&gw, &used).await;
}
