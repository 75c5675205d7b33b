//! Ambiguous request targets are refused or judged as the route dockerd will route them to, and
//! nothing denied or refused reaches the engine. A recording stub stands in for the engine.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;

use std::time::Duration;

use in_process::{raw, status, Gateway, Stub, FULL_ACCESS, READ_ONLY};

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn ambiguous_paths_are_refused_or_decoded_as_dockerd_does() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path()).await;

    // (request target, expected status, what the engine must receive, if anything)
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("/v1.41/containers/json", 200, Some("/v1.41/containers/json")),
        // Encoded letters and slashes: dockerd's router matches on the decoded path.
        ("/%63ontainers/json", 200, Some("/containers/json")),
        ("/v1.41/containers/abc%2Fjson", 200, Some("/v1.41/containers/abc/json")),
        ("/containers/a%3Ab/json?x=%2F", 200, Some("/containers/a:b/json?x=%2F")),
        // Dot segments and double slashes: dockerd would redirect; sockgate refuses.
        ("/containers/x/../../containers/create", 400, None),
        ("/containers/x%2F..%2F..%2Fcreate", 400, None),
        ("/containers/%2e%2e/json", 400, None),
        ("//containers/json", 400, None),
        ("/./containers/json", 400, None),
        ("/v1.41//containers/json", 400, None),
        // Odd version prefixes.
        ("/v1..41/_ping", 400, None),
        ("/v./_ping", 400, None),
        ("/V1.41/_ping", 403, None),
        ("/v1.41x/_ping", 403, None),
        ("/vfoo/_ping", 403, None),
        // Any other byte dockerd decodes one way is part of a name, forwarded as an escape that
        // decodes to it again.
        ("/containers/a%25/json", 200, Some("/containers/a%25/json")),
        ("/containers/a%3Fb/json", 200, Some("/containers/a%3Fb/json")),
        ("/v1.41/networks/test%2001", 200, Some("/v1.41/networks/test%2001")),
        ("/containers/%C3%A9/json", 200, Some("/containers/%C3%A9/json")),
        ("/containers/\u{e9}/json", 200, Some("/containers/%C3%A9/json")),
        ("/containers/a{\"b\"}/json", 200, Some("/containers/a%7B%22b%22%7D/json")),
        // Bad escapes, control characters, bytes that are not UTF-8.
        ("/containers/a%00/json", 400, None),
        ("/containers/a%0Ab/json", 400, None),
        ("/containers/%FF/json", 400, None),
        ("/containers/%zz/json", 400, None),
        // Unknown routes.
        ("/containers/create", 403, None),
        ("/nope", 403, None),
        // A route's tail (`/json`) would start inside the last character: no route, not a crash.
        ("/containers/%C3%A9%C3%A9json", 403, None),
    ];
    for (target, want_status, want_forwarded) in cases {
        let before = stub.seen().len();
        let response = raw(&gw.socket, &get(target)).await;
        assert_eq!(status(&response), *want_status, "{target}: {response}");
        let seen = stub.seen();
        match want_forwarded {
            Some(path) => {
                assert_eq!(seen.len(), before + 1, "{target} was not forwarded");
                assert_eq!(seen.last().map(|s| s.target.as_str()), Some(*path), "{target}");
            }
            None => {
                assert_eq!(seen.len(), before, "{target} reached the engine: {:?}", seen.last());
                assert!(response.contains(r#"{"message":"sockgate: "#), "{target}: {response}");
            }
        }
    }

    // Request forms that are not origin-form, methods in the wrong case, raw bytes that are not
    // UTF-8 or that end the target.
    let before = stub.seen().len();
    for request in [
        &b"GET http://docker/containers/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"[..],
        b"OPTIONS * HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        b"get /containers/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        b"GET /containers/\xff/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        b"GET /containers/a b/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    ] {
        let response = raw(&gw.socket, request).await;
        let code = status(&response);
        assert!(code == 400 || code == 403, "{:?}: {response}", String::from_utf8_lossy(request));
    }
    assert_eq!(stub.seen().len(), before, "a refused request reached the engine: {:?}", stub.seen().last());
    stub.stop();
}

#[tokio::test]
async fn denied_requests_and_their_bodies_never_reach_the_engine() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, READ_ONLY, dir.path()).await;

    let body = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;
    let create = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = raw(&gw.socket, create.as_bytes()).await;
    assert_eq!(status(&response), 403, "{response}");
    assert!(response.contains("sockgate: containers.create denied by policy `read-only`"), "{response}");

    // A denied request hidden in the body of an allowed one is its own request, judged on its own.
    let hidden = "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let smuggle = format!("GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n{hidden}");
    let response = raw(&gw.socket, smuggle.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Conflicting framing is refused by the HTTP parser before any routing.
    let conflicting = "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let _ = raw(&gw.socket, conflicting.as_bytes()).await;

    let seen = stub.seen();
    assert!(seen.iter().all(|s| s.target == "/_ping"), "the engine saw a denied request: {seen:?}");
    assert!(!seen.is_empty(), "the allowed ping never arrived");
    stub.stop();
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path()).await;
    let request = b"GET /info HTTP/1.1\r\nHost: docker\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Registry-Auth: e30=\r\n\r\n";
    let response = raw(&gw.socket, request).await;
    assert_eq!(status(&response), 200, "{response}");
    let seen = stub.seen();
    let headers: Vec<&str> = seen.iter().flat_map(|s| s.headers.iter().map(|(k, _)| k.as_str())).collect();
    for hop in ["x-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(!headers.contains(&hop), "{hop} was forwarded: {headers:?}");
    }
    assert!(headers.contains(&"x-registry-auth"), "an end-to-end header was dropped: {headers:?}");
    stub.stop();
}

#[tokio::test]
async fn bodies_arrive_intact_whatever_their_framing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path()).await;
    let chunked = "PUT /containers/c1/archive?path=/ HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let response = raw(&gw.socket, chunked.as_bytes()).await;
    assert_eq!(status(&response), 200, "{response}");
    let seen = stub.seen();
    assert_eq!(seen.last().map(|s| s.body.as_slice()), Some(&b"hello world"[..]));
    stub.stop();
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_error_and_the_engine_never_gets_it_whole() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stub = Stub::start(&dir.path().join("engine.sock"), Duration::ZERO).await;
    let gw = Gateway::start(&dir.path().join("gw.sock"), &stub.path, FULL_ACCESS, dir.path()).await;
    let bad = |method: &str, target: &str, valid: &str| {
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        if !valid.is_empty() {
            request.push_str(&format!("{:x}\r\n{valid}\r\n", valid.len()));
        }
        request.push_str("zz\r\nnot a chunk\r\n0\r\n\r\n");
        request
    };
    // (method, target): one whose body sockgate reads whole, and three that stream through.
    let operations = [
        ("POST", "/containers/create"),
        ("POST", "/build"),
        ("PUT", "/containers/c1/archive?path=/"),
        ("POST", "/images/load"),
    ];
    for (method, target) in operations {
        let response = raw(&gw.socket, bad(method, target, "").as_bytes()).await;
        assert_eq!(status(&response), 400, "{method} {target}: {response}");
        assert!(response.contains(r#"{"message":"sockgate: cannot read the request body: "#), "{response}");
    }
    assert!(stub.seen().is_empty(), "the engine saw a malformed request: {:?}", stub.seen());

    // A bad chunk after a good one: a streamed body is cut short, never passed on whole.
    for (method, target) in &operations[1..] {
        let response = raw(&gw.socket, bad(method, target, "hello").as_bytes()).await;
        assert_eq!(status(&response), 400, "{method} {target}: {response}");
    }
    let seen = stub.seen();
    assert!(seen.iter().all(|s| s.body.is_empty()), "the engine got a body whole: {seen:?}");
    stub.stop();
}
