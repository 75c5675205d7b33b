//! A link against a scripted engine on the other end of a socket pair.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use super::*;
use crate::body;
use crate::forward::body::EngineBody;

const PING: &[u8] =
    b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK";

type Outcome = Result<(), Box<dyn std::error::Error>>;

fn pair() -> io::Result<(Box<Link>, UnixStream)> {
    let (ours, engine) = UnixStream::pair()?;
    Ok((Link::new(Stream::Unix(crate::socket::Socket::new(ours.into_std()?)?)), engine))
}

fn request(method: Method, target: &'static str, body: Body) -> Outgoing {
    let uri = http::Uri::from_static(target);
    Outgoing { method, uri, fields: crate::http1::Fields::default(), body }
}

/// A body that yields its frames, of unknown length unless it says one.
struct Frames(VecDeque<&'static [u8]>, Option<u64>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(Bytes::from_static(data)))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.1.map_or_else(http_body::SizeHint::default, http_body::SizeHint::with_exact)
    }
}

fn frames(parts: &[&'static [u8]]) -> Body {
    body::engine(Frames(parts.iter().copied().collect(), None))
}

/// Reads from the engine's side until `end` has been read, or the connection ends.
async fn read_until(engine: &mut UnixStream, seen: &mut Vec<u8>, end: &[u8]) {
    let mut buf = [0u8; 65536];
    while !seen.windows(end.len()).any(|w| w == end) {
        match engine.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// The engine's side of one exchange: reads until `end`, writes `answer` and closes the connection;
/// gives back what it read.
fn answer_once(mut engine: UnixStream, end: &'static [u8], answer: &'static [u8]) -> JoinHandle<io::Result<Vec<u8>>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        read_until(&mut engine, &mut seen, end).await;
        engine.write_all(answer).await?;
        Ok(seen)
    })
}

/// Sends `request` on `link` and reads its answer's head.
async fn send(link: &mut Link, request: Outgoing) -> Result<Head, Failed> {
    link.start(request, b"docker");
    std::future::poll_fn(|cx| link.poll_answer(cx)).await
}

async fn exchange(link: &mut Link, request: Outgoing) -> Result<Head, String> {
    send(link, request).await.map_err(|failed| match failed.failure {
        Failure::Unsent(e) => format!("unsent: {e}"),
        Failure::Engine(e) => format!("engine: {e}"),
        Failure::Client(m) => format!("client: {m}"),
    })
}

async fn read_body(link: Box<Link>, head: Head, pool: &Arc<Pool>) -> Result<Vec<u8>, io::Error> {
    let body = EngineBody::new(link, head.framing, head.keep_alive, pool.shard().clone());
    Ok(body.collect().await?.to_bytes().to_vec())
}

#[tokio::test]
async fn an_answer_read_to_its_end_puts_the_connection_back_for_the_next_request() -> Outcome {
    let (mut link, mut engine) = pair()?;
    let pool = Arc::new(Pool::new(0));
    let script = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            read_until(&mut engine, &mut seen, b"\r\n\r\n").await;
            engine.write_all(PING).await?;
            seen.clear();
        }
        Ok::<_, io::Error>(engine)
    });
    let head = exchange(&mut link, request(Method::GET, "/_ping", body::full(Bytes::new()))).await?;
    assert_eq!((head.parts.status.as_u16(), head.fields.get("api-version").unwrap_or_default()), (200, &b"1.41"[..]));
    assert_eq!(read_body(link, head, &pool).await?, b"OK");
    let mut link = pool.take().ok_or("the connection was not pooled")?;
    assert!(link.reused);
    let head = exchange(&mut link, request(Method::GET, "/_ping", body::full(Bytes::new()))).await?;
    assert_eq!(read_body(link, head, &pool).await?, b"OK");
    script.await??;
    Ok(())
}

#[tokio::test]
async fn the_read_buffer_of_a_connection_put_back_serves_the_threads_next_answer() -> Outcome {
    SPARE.with_borrow_mut(Vec::clear);
    let pool = Arc::new(Pool::new(0));
    let (mut link, mut engine) = pair()?;
    let script = tokio::spawn(async move {
        read_until(&mut engine, &mut Vec::new(), b"\r\n\r\n").await;
        engine.write_all(PING).await?;
        Ok::<_, io::Error>(engine)
    });
    let head = exchange(&mut link, request(Method::GET, "/_ping", body::full(Bytes::new()))).await?;
    assert_eq!(read_body(link, head, &pool).await?, b"OK");
    let _engine = script.await??;
    // The connection went back without its buffer, which waits for the next answer.
    assert_eq!(SPARE.with_borrow(Vec::len), 1);
    let idle = pool.take().ok_or("the connection was not pooled")?;
    assert_eq!(idle.read.capacity(), 0);
    // Another connection waiting for its answer takes no buffer while nothing has come...
    let (mut other, mut other_engine) = pair()?;
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(other.poll_fill(&mut cx, None).is_pending());
    assert_eq!((other.read.capacity(), SPARE.with_borrow(Vec::len)), (0, 1));
    // ...and reads the answer into the spare one, without making a buffer of its own.
    other_engine.write_all(PING).await?;
    let read = std::future::poll_fn(|cx| other.poll_fill(cx, None)).await?;
    assert_eq!(read, PING.len());
    assert!(other.read.capacity() > FIRST_READ / 2 && SPARE.with_borrow(Vec::is_empty));
    // A thread that read no answer between two prunes lets its spare buffers go.
    SPARE.with_borrow_mut(|spare| spare.push(BytesMut::with_capacity(FIRST_READ)));
    pool.prune(crate::clock::Coarse::now());
    pool.prune(crate::clock::Coarse::now());
    assert!(SPARE.with_borrow(Vec::is_empty));
    Ok(())
}

#[tokio::test]
async fn a_small_body_goes_out_with_its_head_in_one_write() -> Outcome {
    let (mut link, mut engine) = pair()?;
    let json = br#"{"Image":"busybox"}"#;
    let post = request(Method::POST, "/containers/create", body::full(&json[..]));
    let script = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let n = engine.read(&mut buf).await?;
        engine.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").await?;
        buf.truncate(n);
        Ok::<_, io::Error>((buf, engine))
    });
    let head = exchange(&mut link, post).await?;
    assert_eq!(head.parts.status.as_u16(), 201);
    let (first_read, _engine) = script.await??;
    let expected = format!(
        "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: {}\r\n\r\n{}",
        json.len(),
        String::from_utf8_lossy(json)
    );
    assert_eq!(String::from_utf8_lossy(&first_read), expected);
    Ok(())
}

#[tokio::test]
async fn a_body_of_unknown_length_goes_chunked() -> Outcome {
    let (mut link, engine) = pair()?;
    let script = answer_once(engine, b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let head = exchange(&mut link, request(Method::POST, "/build", frames(&[b"ab", b"", b"cde"]))).await?;
    assert_eq!(head.parts.status.as_u16(), 200);
    let seen = script.await??;
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "POST /build HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_longer_than_its_content_length_is_cut_at_the_length() -> Outcome {
    let (mut link, mut engine) = pair()?;
    // A body that says it has 4 bytes (so it is framed by that length) and yields more.
    let body = Frames(vec![&b"hel"[..], b"lo", b"GET / HTTP/1.1\r\n\r\n"].into(), Some(4));
    let post = request(Method::POST, "/images/load", body::engine(body));
    let failed = exchange(&mut link, post).await.err().ok_or("the body was sent")?;
    assert!(failed.starts_with("client: "), "{failed}");
    drop(link);
    let mut seen = Vec::new();
    engine.read_to_end(&mut seen).await?;
    // Refused before or after the head went out, never a byte past the length.
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.is_empty() || seen.ends_with("\r\n\r\nhel"), "the engine got {seen:?}");
    Ok(())
}

#[tokio::test]
async fn the_answer_is_read_while_a_large_body_is_still_being_sent() -> Outcome {
    const BODY: usize = 8 << 20;
    const ANSWER: usize = 2 << 20;
    let (mut link, mut engine) = pair()?;
    let pool = Arc::new(Pool::new(0));
    // As dockerd importing an image: progress is written while the upload is still read, and the
    // engine stops reading until its progress is read.
    let script = tokio::spawn(async move {
        let mut seen = Vec::new();
        read_until(&mut engine, &mut seen, b"\r\n\r\n").await;
        engine.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
        let chunk = vec![b'p'; 64 * 1024];
        for _ in 0..ANSWER / chunk.len() {
            engine.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
            engine.write_all(&chunk).await?;
            engine.write_all(b"\r\n").await?;
        }
        let head_end = seen.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |at| at + 4);
        let mut body = seen.len() - head_end;
        let mut buf = vec![0u8; 65536];
        while body < BODY {
            body += engine.read(&mut buf).await?;
        }
        engine.write_all(b"0\r\n\r\n").await?;
        Ok::<_, io::Error>((body, engine))
    });
    let post = request(Method::POST, "/images/create?fromSrc=-", body::full(vec![b'x'; BODY]));
    let answer = tokio::time::timeout(Duration::from_secs(20), async {
        let head = exchange(&mut link, post).await?;
        read_body(link, head, &pool).await.map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| "the exchange stalled".to_string())??;
    assert_eq!(answer.len(), ANSWER);
    let (received, _engine) = script.await??;
    assert_eq!(received, BODY);
    assert!(pool.take().is_some(), "the connection was not pooled after a complete exchange");
    Ok(())
}

#[tokio::test]
async fn a_connection_the_engine_closed_is_not_lent_and_a_request_on_it_comes_back_unsent() -> Outcome {
    let (link, engine) = pair()?;
    let pool = Pool::new(0);
    pool.shard().put(link);
    drop(engine);
    // The runtime learns of the close when it next polls for events.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(pool.take().is_none(), "a closed connection was lent");
    let (mut link, engine) = pair()?;
    drop(engine);
    let ping = request(Method::GET, "/_ping", body::full(Bytes::new()));
    let failed = send(&mut link, ping).await.err().ok_or("sent")?;
    assert!(matches!(failed.failure, Failure::Unsent(_)));
    let unsent = failed.unsent.ok_or("the request was not given back")?;
    assert_eq!(unsent.uri, "/_ping");
    Ok(())
}

#[tokio::test]
async fn a_connection_the_engine_sent_unasked_bytes_on_is_not_lent_but_a_quiet_one_is() -> Outcome {
    let pool = Pool::new(0);
    let (link, mut engine) = pair()?;
    pool.shard().put(link);
    engine.write_all(b"HTTP/1.1 200 OK\r\n").await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(pool.take().is_none(), "a connection with bytes unasked was lent");
    let (link, _quiet) = pair()?;
    pool.shard().put(link);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(pool.take().is_some(), "a quiet connection was not lent");
    Ok(())
}

#[tokio::test]
async fn a_malformed_or_cut_answer_fails_and_its_connection_is_dropped() -> Outcome {
    let (mut link, engine) = pair()?;
    let ambiguous = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello";
    // The write may fail: the client drops the connection once it has read the head.
    let script = answer_once(engine, b"\r\n\r\n", ambiguous);
    let failed =
        exchange(&mut link, request(Method::GET, "/_ping", body::full(Bytes::new()))).await.err().ok_or("read")?;
    assert!(failed.starts_with("engine: "), "{failed}");
    let _ = script.await?;

    let (mut link, engine) = pair()?;
    let pool = Arc::new(Pool::new(0));
    let script = answer_once(engine, b"\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel");
    let head = exchange(&mut link, request(Method::GET, "/containers/json", body::full(Bytes::new()))).await?;
    let error = read_body(link, head, &pool).await.err().ok_or("a cut answer was read whole")?;
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    assert!(pool.take().is_none());
    let _ = script.await?;
    Ok(())
}
