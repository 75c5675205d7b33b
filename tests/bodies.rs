//! Request bodies under `policies/ci.toml`, against a recording stub engine: sockgate judges
//! exactly the bytes the engine will read, however they are framed or spelt, refuses what it
//! cannot read as dockerd would, and passes on nothing it refused.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;

use std::path::Path;
use std::time::Duration;

use in_process::{Gateway, Seen, Stub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const CREATE: &str = "/v1.41/containers/create";
const MIB: usize = 1024 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

const HARMLESS: &str =
    r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["/data"],"CgroupnsMode":"private"}}"#;
const PRIVILEGED: &str = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Privileged":true}}"#;

/// A stub engine and sockgate in front of it, under the CI policy; both live as long as it does.
struct Setup {
    stub: Stub,
    gw: Gateway,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
        let gw =
            Gateway::start(&dir.path().join("gw.sock"), &stub.path, &in_process::ci_without_ownership(), dir.path())
                .await;
        Setup { stub, gw, _dir: dir }
    }

    async fn connect(&self) -> Conn {
        Conn::open(&self.gw.socket).await
    }

    /// One request on a fresh connection; its response.
    async fn send(&self, request: &[u8]) -> Response {
        let mut conn = self.connect().await;
        conn.send(request).await;
        conn.response().await
    }

    fn seen(&self) -> Vec<Seen> {
        self.stub.seen()
    }

    /// Asserts the engine received nothing at all.
    fn engine_saw_nothing(&self, what: &str) {
        let seen = self.seen();
        assert!(seen.is_empty(), "{what} reached the engine: {seen:?}");
    }
}

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn message(&self) -> String {
        let value: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("status {} with a body that is not JSON ({e}): {}", self.status, self.body));
        value["message"].as_str().unwrap_or_else(|| panic!("no message in {}", self.body)).to_owned()
    }

    /// Asserts a refusal with `status` whose message contains `wanted`.
    fn refused(&self, status: u16, wanted: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let content_type = self.headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
        assert_eq!(content_type, Some("application/json"), "{self:?}");
        let message = self.message();
        assert!(message.starts_with("sockgate: ") && message.contains(wanted), "`{wanted}` not in `{message}`");
    }
}

/// A client connection kept open across requests, with every read and write bounded in time.
struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(socket: &Path) -> Conn {
        let stream = tokio::time::timeout(IO_TIMEOUT, UnixStream::connect(socket))
            .await
            .unwrap_or_else(|_| panic!("connecting timed out"))
            .unwrap_or_else(|e| panic!("connect: {e}"));
        Conn { stream, buf: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(IO_TIMEOUT, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| panic!("sending {} bytes timed out", bytes.len()))
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Sends what a server may stop reading once it has answered (a body over the limit): a
    /// write refused because the server closed is no failure, the answer is still to be read.
    async fn send_until_closed(&mut self, bytes: &[u8]) {
        let written = tokio::time::timeout(IO_TIMEOUT, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| panic!("sending {} bytes timed out: the server neither read nor closed", bytes.len()));
        if let Err(e) = written {
            assert!(
                matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset),
                "write: {e}"
            );
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(IO_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!("no data within {IO_TIMEOUT:?}; so far: {:?}", String::from_utf8_lossy(&self.buf))
            })
            .unwrap_or_else(|e| panic!("read: {e}"));
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Takes `n` bytes off the front of the buffer, reading as needed.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "the connection closed mid-response");
        }
        self.buf.drain(..n).collect()
    }

    /// Takes one CRLF-terminated line (without the CRLF).
    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(end + 2).await;
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            assert!(self.fill().await, "the connection closed mid-line: {:?}", String::from_utf8_lossy(&self.buf));
        }
    }

    /// Reads one response, framed by Content-Length or chunked (RFC 9112 sections 6.3 and 7.1).
    async fn response(&mut self) -> Response {
        let status_line = self.line().await;
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(status_line.starts_with("HTTP/1.1 ") && status != 0, "bad status line `{status_line}`");
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("bad header `{line}`"));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let size = self.line().await;
                let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .unwrap_or_else(|e| panic!("bad chunk size `{size}`: {e}"));
                if size == 0 {
                    assert_eq!(self.line().await, "", "trailers are not expected");
                    break;
                }
                body.extend(self.take(size).await);
                assert_eq!(self.line().await, "", "chunk not followed by CRLF");
            }
        } else if let Some(len) = header("content-length") {
            body = self.take(len.parse().unwrap_or_else(|e| panic!("bad content-length `{len}`: {e}"))).await;
        }
        Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }

    /// Everything left until the peer closes, after closing our sending side.
    async fn rest(&mut self) -> String {
        let _ = self.stream.shutdown().await;
        while self.fill().await {}
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }
}

/// A request with a Content-Length body and the given Content-Type (none if `None`).
fn with_length(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json_post(path: &str, body: &str) -> Vec<u8> {
    with_length("POST", path, Some("application/json"), body.as_bytes())
}

/// The head of a chunked JSON POST.
fn chunked_head(path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes()
}

/// `body` as chunks of at most `size` bytes, then the last chunk.
fn chunks(body: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = body
        .chunks(size)
        .map(|c| {
            let mut chunk = format!("{:x}\r\n", c.len()).into_bytes();
            chunk.extend_from_slice(c);
            chunk.extend_from_slice(b"\r\n");
            chunk
        })
        .collect();
    out.push(b"0\r\n\r\n".to_vec());
    out
}

/// Sends a chunked POST of `body`, one write per chunk, and returns the response.
async fn send_chunked(setup: &Setup, path: &str, body: &str, chunk_size: usize) -> Response {
    let mut conn = setup.connect().await;
    conn.send(&chunked_head(path)).await;
    for chunk in chunks(body.as_bytes(), chunk_size) {
        conn.send(&chunk).await;
        // Separate writes, so sockgate really does get the body piece by piece.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    conn.response().await
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A create body as sockgate sends it: stamped with the profile that made it (none here).
fn stamped(body: &str) -> String {
    let open = body.strip_suffix('}').unwrap_or(body);
    format!(r#"{open},"Labels":{{"io.sockgate.created-by":""}}}}"#)
}

/// Asserts the engine received exactly one request, `path` with exactly `body`, framed by length.
fn engine_got_exactly(setup: &Setup, path: &str, body: &[u8]) {
    let seen = setup.seen();
    assert_eq!(seen.len(), 1, "the engine saw {} requests: {seen:?}", seen.len());
    let got = &seen[0];
    assert_eq!(got.target, path);
    assert!(got.body == body, "the engine got other bytes: {:?}", String::from_utf8_lossy(&got.body));
    assert_eq!(header(got, "content-length"), Some(body.len().to_string().as_str()), "{got:?}");
    assert_eq!(header(got, "transfer-encoding"), None, "{got:?}");
}

#[tokio::test]
async fn privileged_create_sent_chunked_is_denied_and_never_forwarded() {
    let setup = Setup::start().await;
    for chunk_size in [16, 1] {
        let response = send_chunked(&setup, CREATE, PRIVILEGED, chunk_size).await;
        response
            .refused(403, "containers.create denied by rule `containers.privileged`: HostConfig.Privileged is true");
        setup.engine_saw_nothing(&format!("a privileged create in {chunk_size}-byte chunks"));
    }
}

#[tokio::test]
async fn harmless_create_sent_chunked_reaches_the_engine_byte_for_byte_with_a_length() {
    let setup = Setup::start().await;
    let response = send_chunked(&setup, CREATE, HARMLESS, 7).await;
    assert_eq!(response.status, 200, "{response:?}");
    engine_got_exactly(&setup, CREATE, stamped(HARMLESS).as_bytes());
}

#[tokio::test]
async fn a_create_that_leaves_the_cgroup_namespace_to_the_engine_is_sent_private() {
    let setup = Setup::start().await;
    let body = r#"{"Image":"busybox","hostconfig":{"Memory":1048576}}"#;
    let response = setup.send(&json_post(CREATE, body)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let amended = stamped(r#"{"Image":"busybox","hostconfig":{"Memory":1048576,"CgroupnsMode":"private"}}"#);
    engine_got_exactly(&setup, CREATE, amended.as_bytes());
}

#[tokio::test]
async fn bytes_after_a_zero_length_body_are_a_request_of_their_own() {
    let setup = Setup::start().await;
    // A privileged create hidden after a `Content-Length: 0` create: two requests, each judged.
    let mut request = with_length("POST", CREATE, Some("application/json"), b"");
    request.extend(json_post(CREATE, PRIVILEGED));
    let mut conn = setup.connect().await;
    conn.send(&request).await;
    let first = conn.response().await;
    assert_eq!(first.status, 200, "{first:?}");
    let second = conn.response().await;
    second.refused(403, "`containers.privileged`: HostConfig.Privileged is true");
    engine_got_exactly(&setup, CREATE, b"");

    // Bare JSON after it is not a body either: it is a malformed request that reaches nothing.
    let setup = Setup::start().await;
    let mut request = with_length("POST", CREATE, Some("application/json"), b"");
    request.extend_from_slice(PRIVILEGED.as_bytes());
    let mut conn = setup.connect().await;
    conn.send(&request).await;
    let first = conn.response().await;
    assert_eq!(first.status, 200, "{first:?}");
    let rest = conn.rest().await;
    assert!(!rest.contains("HTTP/1.1 2"), "the trailing bytes got a success: {rest}");
    engine_got_exactly(&setup, CREATE, b"");
}

#[tokio::test]
async fn empty_create_body_is_forwarded_empty() {
    let setup = Setup::start().await;
    // dockerd answers this itself ("config cannot be empty"); sockgate has nothing to judge.
    let response = setup.send(&with_length("POST", CREATE, None, b"")).await;
    assert_eq!(response.status, 200, "{response:?}");
    engine_got_exactly(&setup, CREATE, b"");
}

#[tokio::test]
async fn body_over_the_limit_gets_413_and_is_not_forwarded() {
    let setup = Setup::start().await;
    let too_large = format!("request body is larger than {MIB} bytes");
    for (what, over) in [("one byte over", padded_create(MIB + 1)), ("3 MiB", padded_create(3 * MIB))] {
        // By length: sockgate may answer and close before it has read all of it.
        let mut conn = setup.connect().await;
        let request = json_post(CREATE, &over);
        conn.send_until_closed(&request).await;
        let response = conn.response().await;
        assert_eq!(response.status, 413, "{what}, by length: {response:?}");
        response.refused(413, &too_large);

        // Chunked: the limit is on the bytes, not on a declared length.
        let mut conn = setup.connect().await;
        conn.send(&chunked_head(CREATE)).await;
        for chunk in chunks(over.as_bytes(), 64 * 1024) {
            conn.send_until_closed(&chunk).await;
        }
        let response = conn.response().await;
        assert_eq!(response.status, 413, "{what}, chunked: {response:?}");
        response.refused(413, &too_large);
    }
    setup.engine_saw_nothing("a body over the limit");

    // Exactly at the limit is still read, judged and passed on whole.
    let at = padded_create(MIB);
    let response = setup.send(&json_post(CREATE, &at)).await;
    assert_eq!(response.status, 200, "{response:?}");
    // Stamped: the label goes last into the labels the body already has.
    let sent = format!(r#"{},"io.sockgate.created-by":""}}}}"#, at.strip_suffix("}}").unwrap_or(&at));
    engine_got_exactly(&setup, CREATE, sent.as_bytes());
}

/// A harmless create body of exactly `len` bytes (a label holds the padding).
fn padded_create(len: usize) -> String {
    let head = r#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"private"},"Labels":{"pad":""#;
    let tail = r#""}}"#;
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad))
}

#[tokio::test]
async fn json_body_needs_a_json_content_type() {
    let setup = Setup::start().await;
    let body = HARMLESS.as_bytes();
    let response = setup.send(&with_length("POST", CREATE, Some("text/plain"), body)).await;
    response.refused(400, "cannot judge the request: Content-Type `text/plain` must be `application/json`");
    let response = setup.send(&with_length("POST", CREATE, None, body)).await;
    response.refused(400, "cannot judge the request: a JSON body without Content-Type `application/json`");
    setup.engine_saw_nothing("a body without a JSON content type");

    let response = setup.send(&with_length("POST", CREATE, Some("application/json; charset=utf-8"), body)).await;
    assert_eq!(response.status, 200, "{response:?}");
    engine_got_exactly(&setup, CREATE, stamped(HARMLESS).as_bytes());
}

#[tokio::test]
async fn spellings_go_reads_as_privileged_are_denied() {
    let setup = Setup::start().await;
    let cases = [
        // Go matches keys to fields without regard to case.
        (r#"{"Image":"busybox","hostconfig":{"PRIVILEGED":true}}"#, "HostConfig.Privileged is true"),
        // `\u0050` is `P`.
        (r#"{"Image":"busybox","HostConfig":{"\u0050rivileged":true}}"#, "HostConfig.Privileged is true"),
        // U+017F LATIN SMALL LETTER LONG S folds to `s` in Go's key matching.
        (r#"{"Image":"busybox","Ho\u017ftConfig":{"Privileged":true}}"#, "HostConfig.Privileged is true"),
        ("{\"Image\":\"busybox\",\"Ho\u{17f}tConfig\":{\"Privileged\":true}}", "HostConfig.Privileged is true"),
        // dockerd 20.10 still honours the deprecated HostConfig embedded at the top level.
        (r#"{"Image":"busybox","Privileged":true}"#, "Privileged is true"),
    ];
    for (body, reason) in cases {
        let response = setup.send(&json_post(CREATE, body)).await;
        assert_eq!(response.status, 403, "{body}: {response:?}");
        let message = response.message();
        let wanted = format!("sockgate: containers.create denied by rule `containers.privileged`: {reason}");
        assert!(message.starts_with(&wanted), "{body}: {message}");
        assert!(message.contains("(client: uid="), "the message names the caller: {message}");
    }
    setup.engine_saw_nothing("a privileged create in another spelling");
}

#[tokio::test]
async fn keys_go_would_read_twice_are_refused() {
    let setup = Setup::start().await;
    for body in [
        r#"{"Image":"busybox","HostConfig":{"Privileged":false,"Privileged":true}}"#,
        r#"{"Image":"busybox","HostConfig":{},"hostConfig":{"Privileged":true}}"#,
    ] {
        let response = setup.send(&json_post(CREATE, body)).await;
        response.refused(400, "cannot judge the request: request body has the key");
    }
    setup.engine_saw_nothing("a body with a duplicate key");
}

#[tokio::test]
async fn a_refusal_keeps_the_connection_usable() {
    let setup = Setup::start().await;
    let ping = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    let mut conn = setup.connect().await;

    // Denied after its body was read and judged.
    conn.send(&json_post(CREATE, PRIVILEGED)).await;
    conn.response().await.refused(403, "`containers.privileged`");
    conn.send(ping).await;
    let response = conn.response().await;
    assert_eq!(response.status, 200, "ping after a denied create: {response:?}");

    // Refused for its Content-Type, body read.
    conn.send(&with_length("POST", CREATE, Some("text/plain"), HARMLESS.as_bytes())).await;
    conn.response().await.refused(400, "Content-Type `text/plain`");
    conn.send(ping).await;
    let response = conn.response().await;
    assert_eq!(response.status, 200, "ping after a refused content type: {response:?}");

    // Denied on the query alone, the body left unread for sockgate to discard.
    conn.send(&with_length("POST", "/build?networkmode=host", Some("application/x-tar"), &[0u8; 4096])).await;
    conn.response().await.refused(403, "`containers.build_host_network`");
    conn.send(ping).await;
    let response = conn.response().await;
    assert_eq!(response.status, 200, "ping after a denied build: {response:?}");

    let seen = setup.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["/_ping"; 3], "{seen:?}");
    assert!(seen.iter().all(|s| s.body.is_empty()), "{seen:?}");
}

#[tokio::test]
async fn host_network_build_is_denied_before_its_context_is_read() {
    let setup = Setup::start().await;
    let context = b"not a tar, and never read".repeat(100);
    let response =
        setup.send(&with_length("POST", "/build?networkmode=host", Some("application/x-tar"), &context)).await;
    response.refused(
        403,
        "images.build denied by rule `containers.build_host_network`: query networkmode builds with host networking",
    );
    setup.engine_saw_nothing("a host-network build");

    // The same build on the default network goes through, context untouched and streamed.
    let response =
        setup.send(&with_length("POST", "/build?networkmode=bridge", Some("application/x-tar"), &context)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = setup.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/build?networkmode=bridge");
    assert!(seen[0].body == context, "the build context changed on the way");
}

#[tokio::test]
async fn form_encoded_build_is_refused() {
    let setup = Setup::start().await;
    // Go's `FormValue` would read `networkmode=host` from this body before the query.
    let body = b"networkmode=host";
    let request = with_length("POST", "/build?networkmode=bridge", Some("application/x-www-form-urlencoded"), body);
    let response = setup.send(&request).await;
    response.refused(400, "cannot judge the request: Content-Type `application/x-www-form-urlencoded`");
    setup.engine_saw_nothing("a form-encoded build");
}
