use super::*;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{duplex, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// How a served connection ended, without its stream.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    Ended(Vec<u8>),
    Failed,
}

/// Serves one end of a pipe with `answer`; the other end is the client's.
fn start<F, Fut>(answer: F, stop: CancellationToken) -> (DuplexStream, JoinHandle<End>)
where
    F: FnMut(http1::Request) -> Fut + Send + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    let (client, server) = duplex(1 << 20);
    let task = tokio::spawn(async move {
        // As a session does: a stop sets the server's flag and wakes it, and it ends between
        // requests.
        let stopping = AtomicBool::new(false);
        let mut serving = std::pin::pin!(serve(server, answer, &stopping));
        let served = tokio::select! {
            served = serving.as_mut() => served,
            () = stop.cancelled() => {
                stopping.store(true, Ordering::Relaxed);
                serving.await
            }
        };
        match served {
            Ok(Finished::Closed) => End::Closed,
            Ok(Finished::Ended(_, rest)) => End::Ended(rest.to_vec()),
            Err(_) => End::Failed,
        }
    });
    (client, task)
}

/// Answers every request with its method and target.
async fn echo_target(request: http1::Request) -> Response<Body> {
    Response::new(crate::body::full(format!("{} {}", request.parts.method, request.parts.uri)))
}

/// Answers every request with its body, read whole; a body that fails is answered 400.
async fn echo_body(request: http1::Request) -> Response<Body> {
    match request.body.collect().await {
        Ok(body) => Response::new(crate::body::full(body.to_bytes())),
        Err(e) => {
            let mut response = Response::new(crate::body::full(e.to_string()));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// Everything the client reads until the server closes its side.
async fn read_all(client: &mut DuplexStream) -> std::io::Result<String> {
    let mut got = Vec::new();
    client.read_to_end(&mut got).await?;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_a_client_that_ends_hands_the_stream_back() -> Outcome {
    let (mut client, task) = start(echo_target, CancellationToken::new());
    client
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /v1.41/info HTTP/1.1\r\nHost: d\r\n\r\nGET /par")
        .await?;
    client.shutdown().await?;
    let got = read_all(&mut client).await?;
    let first = got.find("GET /_ping").ok_or("no first answer")?;
    let second = got.find("GET /v1.41/info").ok_or("no second answer")?;
    assert!(first < second, "{got}");
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{got}");
    assert!(got.contains("content-length: 10\r\n") && got.contains("date: "), "{got}");
    // The part of a third head read before the stream ended comes back with it.
    assert_eq!(task.await?, End::Ended(b"GET /par".to_vec()));
    Ok(())
}

#[tokio::test]
async fn bodies_are_fed_to_the_answer_by_length_or_chunked_and_the_connection_goes_on() -> Outcome {
    let (mut client, task) = start(echo_body, CancellationToken::new());
    client.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").await?;
    client
        .write_all(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nwor\r\n2;x=y\r\nld\r\n0\r\n\r\n")
        .await?;
    client.write_all(b"GET /c HTTP/1.1\r\nConnection: close\r\n\r\n").await?;
    let got = read_all(&mut client).await?;
    assert!(got.contains("\r\n\r\nhello"), "{got}");
    assert!(got.contains("\r\n\r\nworld"), "{got}");
    assert_eq!(got.matches("connection: close").count(), 1, "{got}");
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 3, "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn a_malformed_chunk_fails_the_body_and_ends_the_connection() -> Outcome {
    let (mut client, task) = start(echo_body, CancellationToken::new());
    client
        .write_all(
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\nGET /_ping HTTP/1.1\r\n\r\n",
        )
        .await?;
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.contains("invalid chunk size"), "{got}");
    // What followed the broken body is never read as a request.
    assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn a_body_left_unread_ends_the_connection_after_its_answer() -> Outcome {
    let (mut client, task) = start(echo_target, CancellationToken::new());
    // The answer does not read the body, which is not all sent: what follows could not be found.
    client.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\n12345").await?;
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("connection: close"), "{got}");
    assert!(got.ends_with("POST /a"), "{got}");
    client.write_all(b"GET /next HTTP/1.1\r\n\r\n").await?;
    client.shutdown().await?;
    assert_eq!(task.await?, End::Closed);

    // A body read to its length ends where its length says, whoever reads it.
    let (mut client, task) = start(echo_target, CancellationToken::new());
    client.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345GET /next HTTP/1.1\r\n\r\n").await?;
    client.shutdown().await?;
    let got = read_all(&mut client).await?;
    assert!(got.contains("POST /a") && got.contains("HTTP/1.1 400 Bad Request"), "{got}");
    assert!(!got.contains("GET /next"), "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn continue_is_sent_only_when_the_body_is_read() -> Outcome {
    let (mut client, task) = start(echo_body, CancellationToken::new());
    client.write_all(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").await?;
    let mut first = [0u8; CONTINUE.len()];
    client.read_exact(&mut first).await?;
    assert_eq!(&first, CONTINUE);
    client.write_all(b"ok").await?;
    client.shutdown().await?;
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nok"), "{got}");
    task.await?;

    // Answered without reading: no 100, and the connection ends after the answer.
    let (mut client, task) = start(echo_target, CancellationToken::new());
    client.write_all(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").await?;
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && !got.contains("100 Continue"), "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn an_unreadable_head_is_answered_with_its_status_in_json_and_the_connection_closes() -> Outcome {
    let cases: [(&[u8], u16); 5] = [
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nExpect: something\r\n\r\n", 417),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
    ];
    for (request, status) in cases {
        let (mut client, task) = start(echo_target, CancellationToken::new());
        client.write_all(request).await?;
        client.shutdown().await?;
        let got = read_all(&mut client).await?;
        assert!(got.starts_with(&format!("HTTP/1.1 {status} ")), "{got}");
        assert!(got.contains("content-type: application/json") && got.contains("{\"message\":\"sockgate: "), "{got}");
        assert_eq!(task.await?, End::Closed);
    }
    Ok(())
}

/// A body whose frames come from a channel, as a stream from the engine does.
struct Frames(mpsc::Receiver<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(|data| Ok(http_body::Frame::data(data))))
    }
}

/// Answers the first request with the frames sent on the channel it returns, later ones with
/// nothing.
fn streamed() -> (mpsc::Sender<Bytes>, impl FnMut(http1::Request) -> std::future::Ready<Response<Body>>) {
    let (frames, receiver) = mpsc::channel::<Bytes>(4);
    let mut receiver = Some(receiver);
    let answer = move |_request: http1::Request| {
        let body = receiver.take().map(|r| crate::body::engine(Frames(r)));
        std::future::ready(Response::new(body.unwrap_or_else(|| crate::body::full(""))))
    };
    (frames, answer)
}

#[tokio::test]
async fn a_streamed_answer_reaches_the_client_frame_by_frame_chunked_and_large_frames_whole() -> Outcome {
    let (frames, answer) = streamed();
    let (mut client, task) = start(answer, CancellationToken::new());
    client.write_all(b"GET /events HTTP/1.1\r\n\r\n").await?;
    frames.send(Bytes::from_static(b"first")).await?;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("5\r\nfirst\r\n") {
        let mut buf = [0u8; 512];
        let n = client.read(&mut buf).await?;
        assert!(n > 0, "closed before the first frame: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("transfer-encoding: chunked"));
    let large = Bytes::from(vec![b'x'; 100_000]);
    frames.send(Bytes::new()).await?;
    frames.send(large.clone()).await?;
    drop(frames);
    client.write_all(b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n").await?;
    let rest = read_all(&mut client).await?;
    let expected = format!("186a0\r\n{}\r\n0\r\n\r\nHTTP/1.1 200 OK", "x".repeat(100_000));
    assert!(rest.starts_with(&expected), "{}", &rest[..rest.len().min(200)]);
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn a_switch_of_protocols_hands_over_the_connection_with_what_was_read_past_the_head() -> Outcome {
    let (upgraded, mut on_upgraded) = mpsc::channel::<io::Result<http1::Upgraded>>(1);
    let answer = move |mut request: http1::Request| {
        let on_upgrade = request.parts.extensions.remove::<OnUpgrade>();
        let upgraded = upgraded.clone();
        async move {
            let Some(on_upgrade) = on_upgrade else { return Response::new(crate::body::full("no upgrade")) };
            tokio::spawn(async move { upgraded.send(on_upgrade.upgraded().await).await });
            let mut response = Response::new(crate::body::full(""));
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            response.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            response
        }
    };
    let (mut client, task) = start(answer, CancellationToken::new());
    client
        .write_all(
            b"POST /exec/1/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nstdin",
        )
        .await?;
    let mut head = vec![0u8; 256];
    let n = client.read(&mut head).await?;
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n") && head.contains("upgrade: tcp"), "{head}");
    assert!(!head.contains("content-length") && !head.contains("connection: close"), "{head}");
    assert_eq!(task.await?, End::Closed);
    let mut tunnel = on_upgraded.recv().await.ok_or("never handed over")??;
    let mut first = [0u8; 5];
    tunnel.read_exact(&mut first).await?;
    assert_eq!(&first, b"stdin");
    tunnel.write_all(b"stdout").await?;
    let mut out = [0u8; 6];
    client.read_exact(&mut out).await?;
    assert_eq!(&out, b"stdout");
    Ok(())
}

#[tokio::test]
async fn a_stop_ends_an_idle_connection_and_lets_one_in_flight_finish() -> Outcome {
    let stop = CancellationToken::new();
    let (_client, task) = start(echo_target, stop.clone());
    tokio::task::yield_now().await;
    stop.cancel();
    assert_eq!(task.await?, End::Closed);

    let stop = CancellationToken::new();
    let (mut client, task) = start(echo_body, stop.clone());
    client.write_all(b"POST /slow HTTP/1.1\r\nContent-Length: 4\r\n\r\nab").await?;
    tokio::task::yield_now().await;
    stop.cancel();
    client.write_all(b"cd").await?;
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nabcd"), "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}

#[tokio::test]
async fn an_http_1_0_client_gets_its_version_and_a_stream_until_close() -> Outcome {
    let (frames, answer) = streamed();
    let (mut client, task) = start(answer, CancellationToken::new());
    client.write_all(b"GET /logs HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await?;
    frames.send(Bytes::from_static(b"line\n")).await?;
    drop(frames);
    let got = read_all(&mut client).await?;
    assert!(got.starts_with("HTTP/1.0 200 OK\r\n") && got.contains("connection: close"), "{got}");
    assert!(got.ends_with("\r\n\r\nline\n") && !got.contains("chunked"), "{got}");
    assert_eq!(task.await?, End::Closed);
    Ok(())
}
