//! What sockgate tells its operators, checked against traffic whose every request is known: the
//! Prometheus counters and gauges on the admin listener, the JSON audit log (and what it must never
//! contain: environment values, registry credentials), `/health` and `/ready` with and without an
//! engine, `sockgate healthcheck`'s exit codes, and the audit file reopened on SIGHUP.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;
mod real_binary;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use real_binary::dockerd::container_exists;
use real_binary::files::{sha256_file, write_pseudo_random, MIB};
use real_binary::http::{http_request, HttpConnection, HttpResponse};
use real_binary::observe::{
    admin_get, audit_lines, poll_until, read_lossy, sockgate_tool, wait_for_audit, wait_for_metric, wait_for_metrics,
    Metrics,
};
use real_binary::{docker, docker_command, docker_ready, real_docker, Gateway, Scratch, Streaming, TEST_IMAGE};

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");
const REQUESTS: &str = "sockgate_requests_total";
/// Long enough for a response that was read to be counted; short enough to fail fast.
const SETTLE: Duration = Duration::from_secs(10);

/// The secrets the traffic carries; none may reach the audit log or sockgate's stderr.
const ENV_SECRET: &str = "hunter2";
const REGISTRY_PASSWORD: &str = "reg-pass-5f1c9e0b";
const BEARER_TOKEN: &str = "tok-7d3a0c1e99f2";

/// The fields of every audit line, and no others (no headers, no bodies).
/// Every field of an audit line; under ownership (`ci.toml`), `owner` too, once it is known.
const AUDIT_FIELDS: [&str; 14] = [
    "time",
    "listener",
    "client",
    "method",
    "path",
    "operation",
    "resource",
    "decision",
    "rules",
    "reason",
    "status",
    "duration_ms",
    "bytes_in",
    "bytes_out",
];

/// The labels of one `sockgate_requests_total` series.
type RequestLabels = [(&'static str, &'static str); 4];

fn requests(
    operation: &'static str,
    decision: &'static str,
    rule: &'static str,
    status: &'static str,
) -> RequestLabels {
    [("operation", operation), ("decision", decision), ("rule", rule), ("status", status)]
}

/// Standard base64, as the docker CLI encodes `X-Registry-Auth` (the URL-safe variant differs
/// only in two characters, which this payload avoids).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn registry_auth() -> String {
    base64(
        format!(r#"{{"username":"ci","password":"{REGISTRY_PASSWORD}","serveraddress":"registry.invalid"}}"#)
            .as_bytes(),
    )
}

/// One request on a fresh connection to the gateway, with extra headers.
fn send(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)], json: Option<&str>) -> Result<HttpResponse> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = json {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(json.unwrap_or_default());
    let mut conn = HttpConnection::open(gw.socket())?;
    conn.send(request.as_bytes())?;
    conn.read_response().with_context(|| format!("reading the answer to {method} {path}"))
}

fn text<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key].as_str().unwrap_or_default()
}

/// The audit lines for `method` on `path` (the normalized path, or the raw one of a refusal).
fn lines_for<'a>(lines: &'a [Value], method: &str, path: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| text(l, "method") == method && text(l, "path") == path).collect()
}

/// The one audit line for `method` on `path`.
fn line_for<'a>(lines: &'a [Value], method: &str, path: &str) -> Result<&'a Value> {
    match lines_for(lines, method, path).as_slice() {
        [line] => Ok(line),
        other => anyhow::bail!("expected one audit line for {method} {path}, found {}: {other:?}", other.len()),
    }
}

fn rules(line: &Value) -> Vec<&str> {
    line["rules"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `2026-11-29T12:00:00.123Z`.
fn is_timestamp(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 24
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

fn check_line_shape(line: &Value, listener: &str) -> Result<()> {
    let object = line.as_object().with_context(|| format!("audit line is not an object: {line}"))?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    if let Some(owner) = object.get("owner") {
        ensure!(owner.as_str().is_some_and(|o| !o.is_empty()), "bad owner: {line}");
        keys.retain(|k| *k != "owner");
    }
    keys.sort_unstable();
    let mut wanted = AUDIT_FIELDS.to_vec();
    wanted.sort_unstable();
    ensure!(keys == wanted, "audit line fields are {keys:?}, expected {wanted:?}: {line}");
    ensure!(is_timestamp(text(line, "time")), "bad time: {line}");
    ensure!(text(line, "listener") == listener, "listener is not {listener}: {line}");
    ensure!(!text(line, "client").is_empty(), "no client: {line}");
    ensure!(["allow", "deny", "audit", "refuse"].contains(&text(line, "decision")), "bad decision: {line}");
    ensure!(line["rules"].is_array() && line["reason"].is_string() && line["resource"].is_string(), "{line}");
    ensure!(line["status"].as_u64().is_some_and(|s| (100..600).contains(&s)), "bad status: {line}");
    ensure!(line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "bad duration: {line}");
    ensure!(line["bytes_in"].is_u64() && line["bytes_out"].is_u64(), "bad byte counts: {line}");
    Ok(())
}

fn ensure_no_secrets(what: &str, content: &str) -> Result<()> {
    let auth = registry_auth();
    for secret in [ENV_SECRET, REGISTRY_PASSWORD, auth.as_str(), BEARER_TOKEN] {
        ensure!(!content.contains(secret), "{what} contains the secret `{secret}`:\n{content}");
    }
    Ok(())
}

#[test]
fn base64_matches_the_reference() {
    // RFC 4648 section 10.
    let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
    for (plain, encoded) in cases {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

#[test]
fn metrics_parser_reads_escaped_labels() {
    let metrics =
        Metrics::parse("# HELP x y\nreq_total{a=\"1,2\",b=\"q\\\"uote\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 4\n").unwrap();
    assert_eq!(metrics.get("req_total", &[("a", "1,2"), ("b", "q\"uote")]), Some(3.0));
    assert_eq!(metrics.get("up", &[]), Some(1.0));
    assert_eq!(metrics.get("h_bucket", &[("le", "+Inf")]), Some(4.0));
    assert_eq!(metrics.get("req_total", &[("a", "1,2")]), None);
}

#[test]
fn known_traffic_is_counted_and_audited() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let privileged = scratch.container("ops-privileged");
    let holder = scratch.container("ops-cp");
    let tunnel = scratch.container("ops-tunnel");
    // Owned by this process (the host's root) under `ci.toml`'s ownership.
    real_docker(&["create", "--name", &holder, "--label", "io.sockgate.owner=uid:0", TEST_IMAGE, "true"])?.ok()?;
    let gw = Gateway::builder().policy(CI).admin().audit_log().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let audit = gw.audit_log().context("no audit log")?.to_path_buf();

    // Five pings, the last on a connection that stays open: it shows in the connection gauge.
    const PINGS: usize = 5;
    for _ in 1..PINGS {
        let response = http_request(gw.socket(), "GET", "/_ping", None)?;
        ensure!(response.status == 200 && response.body == "OK", "ping: {} {}", response.status, response.body);
    }
    let mut kept = HttpConnection::open(gw.socket())?;
    kept.send(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")?;
    let response = kept.read_response()?;
    ensure!(response.status == 200, "kept-alive ping: {} {}", response.status, response.body);
    let ping = requests("system.ping", "allow", "ci-ops", "200");
    let metrics = wait_for_metric(port, REQUESTS, &ping, PINGS as f64, SETTLE)?;
    let open = metrics.get("sockgate_connections_open", &[]).context("no sockgate_connections_open")?;
    ensure!(open >= 1.0, "a connection is open, the gauge says {open}");
    drop(kept);
    wait_for_metrics(port, "sockgate_connections_open == 0 once the client left", SETTLE, |m| {
        m.get("sockgate_connections_open", &[]) == Some(0.0)
    })?;

    // Credentials in headers: on an allowed request (forwarded) and a denied one.
    let auth = registry_auth();
    let bearer = format!("Bearer {BEARER_TOKEN}");
    let secret_headers = [("X-Registry-Auth", auth.as_str()), ("Authorization", bearer.as_str())];
    let version = send(&gw, "GET", "/v1.41/version", &secret_headers, None)?;
    ensure!(version.status == 200, "version: {} {}", version.status, version.body);
    let service = format!(
        r#"{{"Name":"ops","TaskTemplate":{{"ContainerSpec":{{"Image":"{TEST_IMAGE}","Env":["SECRET={ENV_SECRET}"]}}}}}}"#
    );
    let denied_service = send(&gw, "POST", "/v1.41/services/create", &secret_headers, Some(&service))?;
    ensure!(denied_service.status == 403, "services.create: {} {}", denied_service.status, denied_service.body);
    ensure!(denied_service.body.contains("no-cluster"), "the denial names no rule: {}", denied_service.body);

    // The CLI's privileged run, with a secret in its environment: denied, nothing created.
    let run = docker(
        &gw,
        &["run", "--privileged", "-e", &format!("SECRET={ENV_SECRET}"), "--name", &privileged, TEST_IMAGE, "true"],
    )?;
    ensure!(!run.success() && run.stderr.contains("containers.privileged"), "privileged run not denied: {run}");
    ensure!(!container_exists(&privileged)?, "the denied run created {privileged}");

    // A path sockgate refuses to read, and one that is no Engine API route.
    let refused = http_request(gw.socket(), "GET", "/containers/x%2F..%2Fy/json", None)?;
    ensure!(refused.status == 400, "unclean path: {} {}", refused.status, refused.body);
    let unknown = http_request(gw.socket(), "GET", "/v1.41/sockgate/no-such-route", None)?;
    ensure!(unknown.status == 403, "unknown route: {} {}", unknown.status, unknown.body);

    // A MiB each way through `docker cp`: the byte counters move by at least that.
    let files = tempfile::tempdir()?;
    let sent = files.path().join("sent.bin");
    let received = files.path().join("received.bin");
    write_pseudo_random(&sent, MIB, 0x5eed)?;
    let before = Metrics::scrape(port)?;
    docker(&gw, &["cp", &sent.to_string_lossy(), &format!("{holder}:/blob")])?.ok()?;
    docker(&gw, &["cp", &format!("{holder}:/blob"), &received.to_string_lossy()])?.ok()?;
    ensure!(sha256_file(&sent)? == sha256_file(&received)?, "docker cp changed the file");
    let after = wait_for_metrics(port, "docker cp out counted", SETTLE, |m| {
        m.sum(REQUESTS, &[("operation", "containers.archive.get")]) >= 1.0
    })?;
    for direction in ["to_engine", "to_client"] {
        let labels = [("direction", direction)];
        let grown = after.get("sockgate_bytes_total", &labels).context("no bytes counter")?
            - before.get("sockgate_bytes_total", &labels).context("no bytes counter")?;
        ensure!(grown >= MIB as f64, "sockgate_bytes_total{{direction={direction}}} grew by {grown} only");
    }

    // An attached `docker run -i` is a tunnel while it runs, and not after.
    let mut cmd = docker_command(&gw.host());
    cmd.args(["run", "-i", "--rm", "--name", &tunnel, TEST_IMAGE, "cat"]);
    let mut attached = Streaming::spawn_with_stdin(cmd)?;
    attached.write_stdin(b"through-the-tunnel\n")?;
    attached.expect_line("through-the-tunnel", SETTLE)?;
    let during = Metrics::scrape(port)?;
    let tunnels = during.get("sockgate_tunnels_open", &[]).context("no sockgate_tunnels_open")?;
    ensure!(tunnels >= 1.0, "an attach is open, sockgate_tunnels_open is {tunnels}");
    drop(attached);
    wait_for_metrics(port, "sockgate_tunnels_open == 0 after the attach ended", Duration::from_secs(30), |m| {
        m.get("sockgate_tunnels_open", &[]) == Some(0.0)
    })?;

    // Every request above, exactly once under its labels.
    for labels in [
        requests("system.version", "allow", "ci-ops", "200"),
        requests("services.create", "deny", "no-cluster", "403"),
        requests("containers.create", "deny", "containers.privileged", "403"),
        requests("none", "refuse", "", "400"),
        requests("none", "deny", "", "403"),
        requests("containers.archive.put", "allow", "ci-ops", "200"),
        requests("containers.archive.get", "allow", "ci-ops", "200"),
        requests("containers.attach", "allow", "ci-ops", "101"),
    ] {
        wait_for_metric(port, REQUESTS, &labels, 1.0, SETTLE)?;
    }
    let metrics = Metrics::scrape(port)?;
    let pings = metrics.value(REQUESTS, &ping);
    ensure!(pings >= PINGS as f64, "pings went down to {pings}");
    for (name, labels, wanted) in [
        ("sockgate_request_duration_seconds_count", vec![("operation", "none")], 2.0),
        ("sockgate_request_duration_seconds_count", vec![("operation", "system.version")], 1.0),
        ("sockgate_request_duration_seconds_bucket", vec![("operation", "system.ping"), ("le", "+Inf")], pings),
        ("sockgate_upstream_errors_total", vec![], 0.0),
        ("sockgate_policy_reloads_total", vec![("result", "ok")], 0.0),
        ("sockgate_policy_reloads_total", vec![("result", "failed")], 0.0),
        ("sockgate_build_info", vec![("version", env!("CARGO_PKG_VERSION"))], 1.0),
    ] {
        let value = metrics.get(name, &labels);
        ensure!(value == Some(wanted), "{name}{labels:?} is {value:?}, expected {wanted}:\n{}", metrics.lines_of(name));
    }
    let counted = metrics.sum(REQUESTS, &[]);
    let heads = metrics.get("sockgate_response_head_seconds_count", &[]).context("no head latency histogram")?;
    ensure!(heads >= counted, "{heads} response heads timed for {counted} requests");
    ensure!(metrics.has("sockgate_response_head_seconds_bucket"), "no head latency buckets");
    ensure!(metrics.has("sockgate_connections_open") && metrics.has("sockgate_tunnels_open"), "gauges missing");

    // The audit log says the same, request by request.
    let lines = wait_for_audit(&audit, "the audit line of the attach", SETTLE, |lines| {
        lines.iter().any(|l| text(l, "operation") == "containers.attach")
    })?;
    for line in &lines {
        check_line_shape(line, &gw.host())?;
    }
    let pings = lines_for(&lines, "GET", "/_ping");
    ensure!(pings.len() == PINGS, "{} audit lines for GET /_ping, expected {PINGS}: {pings:?}", pings.len());
    for line in pings {
        ensure!(
            text(line, "operation") == "system.ping"
                && text(line, "decision") == "allow"
                && rules(line) == ["ci-ops"]
                && line["status"] == 200
                && line["bytes_out"] == 2,
            "ping line: {line}"
        );
    }
    let version = line_for(&lines, "GET", "/version")?;
    ensure!(text(version, "decision") == "allow" && version["status"] == 200, "version line: {version}");
    let service = line_for(&lines, "POST", "/services/create")?;
    ensure!(
        text(service, "operation") == "services.create"
            && text(service, "decision") == "deny"
            && rules(service) == ["no-cluster"]
            && service["status"] == 403,
        "services.create line: {service}"
    );
    let creates = lines_for(&lines, "POST", "/containers/create");
    ensure!(creates.len() == 2, "expected the privileged create and the tunnel's: {creates:?}");
    let create = creates
        .iter()
        .find(|l| text(l, "decision") == "deny")
        .with_context(|| format!("no denied create: {creates:?}"))?;
    ensure!(
        text(create, "operation") == "containers.create"
            && rules(create) == ["containers.privileged"]
            && text(create, "reason").contains("Privileged")
            && create["status"] == 403,
        "privileged create line: {create}"
    );
    let refused = line_for(&lines, "GET", "/containers/x%2F..%2Fy/json")?;
    ensure!(
        text(refused, "decision") == "refuse"
            && text(refused, "operation") == "none"
            && rules(refused).is_empty()
            && !text(refused, "reason").is_empty()
            && refused["status"] == 400,
        "refused line: {refused}"
    );
    let unknown = line_for(&lines, "GET", "/v1.41/sockgate/no-such-route")?;
    ensure!(
        text(unknown, "decision") == "deny"
            && text(unknown, "operation") == "none"
            && text(unknown, "reason").contains("no docker api route")
            && unknown["status"] == 403,
        "unknown route line: {unknown}"
    );
    let archive = format!("/containers/{holder}/archive");
    let put = line_for(&lines, "PUT", &archive)?;
    ensure!(
        text(put, "resource") == holder && put["bytes_in"].as_u64().is_some_and(|n| n >= MIB as u64),
        "archive put line: {put}"
    );
    let get = line_for(&lines, "GET", &archive)?;
    ensure!(
        text(get, "resource") == holder && get["bytes_out"].as_u64().is_some_and(|n| n >= MIB as u64),
        "archive get line: {get}"
    );

    // No secret anywhere sockgate writes.
    ensure_no_secrets("the audit log", &read_lossy(&audit))?;
    ensure_no_secrets("sockgate's stderr", &gw.stderr())?;
    Ok(())
}

#[test]
fn ready_and_healthcheck_with_an_engine() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::builder().policy(CI).admin().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let addr = gw.admin_addr().context("no admin address")?;

    let health = admin_get(port, "/health")?;
    ensure!(health.status == 200, "/health: {} {}", health.status, health.body);
    ensure!(health.json()? == serde_json::json!({"status": "ok"}), "/health body: {}", health.body);
    ensure!(health.header("content-type") == Some("application/json"), "/health headers: {:?}", health.headers);
    let ready = admin_get(port, "/ready")?;
    ensure!(ready.status == 200, "/ready with dockerd up: {} {}", ready.status, ready.body);
    ready.json()?;

    for args in [vec!["healthcheck", addr.as_str()], vec!["healthcheck", addr.as_str(), "--ready"]] {
        let out = sockgate_tool(&args)?;
        ensure!(out.status.code() == Some(0), "expected exit 0: {out}");
    }
    Ok(())
}

#[test]
fn ready_is_503_without_an_engine() -> Result<()> {
    let gw = Gateway::builder().upstream("unix:///nonexistent.sock").admin().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let addr = gw.admin_addr().context("no admin address")?;

    let health = admin_get(port, "/health")?;
    ensure!(health.status == 200, "/health does not depend on the engine: {} {}", health.status, health.body);
    let ready = admin_get(port, "/ready")?;
    ensure!(ready.status == 503, "/ready without an engine: {} {}", ready.status, ready.body);
    let body = ready.json()?;
    ensure!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "/ready gives no reason: {}", ready.body);

    let healthy = sockgate_tool(&["healthcheck", addr.as_str()])?;
    ensure!(healthy.status.code() == Some(0), "healthcheck without --ready: {healthy}");
    let not_ready = sockgate_tool(&["healthcheck", addr.as_str(), "--ready"])?;
    ensure!(not_ready.status.code() == Some(1), "healthcheck --ready without an engine: {not_ready}");

    // The proxy itself answers 502, counted as an upstream error.
    let ping = http_request(gw.socket(), "GET", "/_ping", None)?;
    ensure!(ping.status == 502, "ping without an engine: {} {}", ping.status, ping.body);
    wait_for_metric(port, "sockgate_upstream_errors_total", &[], 1.0, SETTLE)?;
    wait_for_metric(port, REQUESTS, &requests("system.ping", "allow", "read-only", "502"), 1.0, SETTLE)?;
    Ok(())
}

#[test]
fn ready_is_503_when_the_engine_hangs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    // The stub accepts and reads every request, then answers only after a minute.
    let (_runtime, stub) = in_process::Stub::on_own_runtime(&engine, Duration::from_secs(60))?;
    let gw = Gateway::builder().upstream(&format!("unix://{}", engine.display())).admin().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let addr = gw.admin_addr().context("no admin address")?;

    let asked = Instant::now();
    let ready = admin_get(port, "/ready")?;
    let waited = asked.elapsed();
    ensure!(ready.status == 503, "/ready with a hung engine: {} {}", ready.status, ready.body);
    ensure!(waited < Duration::from_secs(5), "/ready took {waited:?} to give up on a hung engine");
    ensure!(ready.json()?["reason"].as_str().is_some_and(|r| !r.is_empty()), "/ready gives no reason: {}", ready.body);
    ensure!(!stub.seen().is_empty(), "the readiness probe never reached the engine");
    let not_ready = sockgate_tool(&["healthcheck", addr.as_str(), "--ready"])?;
    ensure!(not_ready.status.code() == Some(1), "healthcheck --ready with a hung engine: {not_ready}");
    let healthy = sockgate_tool(&["healthcheck", addr.as_str()])?;
    ensure!(healthy.status.code() == Some(0), "healthcheck with a hung engine: {healthy}");
    stub.stop();
    Ok(())
}

#[test]
fn admin_endpoints_on_a_unix_socket() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("admin.sock");
    let addr = format!("unix://{}", socket.display());
    let gw = Gateway::builder().args(&["--admin-listen", addr.as_str()]).start()?;
    poll_until(SETTLE, "the admin socket accepting", || Ok(UnixStream::connect(&socket).is_ok().then_some(())))?;

    let metrics = http_request(&socket, "GET", "/metrics", None)?;
    ensure!(metrics.status == 200, "/metrics on the unix socket: {} {}", metrics.status, metrics.body);
    ensure!(Metrics::parse(&metrics.body)?.has("sockgate_build_info"), "no build info in:\n{}", metrics.body);
    let healthy = sockgate_tool(&["healthcheck", addr.as_str()])?;
    ensure!(healthy.status.code() == Some(0), "healthcheck over a unix socket: {healthy}");
    drop(gw);
    ensure!(!socket.exists(), "the admin socket outlived sockgate");
    let gone = sockgate_tool(&["healthcheck", addr.as_str()])?;
    ensure!(gone.status.code() == Some(1), "healthcheck of a stopped sockgate: {gone}");
    Ok(())
}

#[test]
fn healthcheck_fails_on_a_closed_port() -> Result<()> {
    // Port 0: nothing ever listens there.
    let addr = "tcp://127.0.0.1:0".to_owned();
    for args in [vec!["healthcheck", addr.as_str()], vec!["healthcheck", addr.as_str(), "--ready"]] {
        let out = sockgate_tool(&args)?;
        ensure!(out.status.code() == Some(1), "healthcheck of a closed port: {out}");
    }
    Ok(())
}

/// Sends a request the built-in read-only policy denies without asking the engine, marked by
/// the container name in its path.
fn denied_kill(gw: &Gateway, marker: &str) -> Result<()> {
    let response = http_request(gw.socket(), "POST", &format!("/v1.41/containers/{marker}/kill"), None)?;
    ensure!(response.status == 403, "kill {marker}: {} {}", response.status, response.body);
    Ok(())
}

fn markers(lines: &[Value]) -> Vec<String> {
    lines.iter().map(|l| text(l, "resource").to_owned()).collect()
}

#[test]
fn audit_log_is_reopened_on_sighup() -> Result<()> {
    let mut gw = Gateway::builder().audit_log().start()?;
    let audit = gw.audit_log().context("no audit log")?.to_path_buf();
    let rotated = audit.with_extension("log.1");

    for marker in ["first-a", "first-b"] {
        denied_kill(&gw, marker)?;
    }
    wait_for_audit(&audit, "two lines before the rotation", SETTLE, |lines| lines.len() == 2)?;
    // logrotate moves the file away; until SIGHUP sockgate keeps writing to the file it has open.
    std::fs::rename(&audit, &rotated)?;
    denied_kill(&gw, "moved")?;
    wait_for_audit(&rotated, "the line written to the moved file", SETTLE, |lines| lines.len() == 3)?;
    ensure!(!audit.exists(), "sockgate recreated {} before SIGHUP", audit.display());

    let reloads = gw.stderr().matches("policies reloaded").count();
    gw.signal("HUP")?;
    // The reopen comes before the policy reload in the SIGHUP handler.
    poll_until(SETTLE, "SIGHUP handled", || {
        Ok((gw.stderr().matches("policies reloaded").count() > reloads).then_some(()))
    })?;
    for marker in ["second-a", "second-b"] {
        denied_kill(&gw, marker)?;
    }
    let fresh = wait_for_audit(&audit, "two lines in the reopened file", SETTLE, |lines| lines.len() == 2)?;
    ensure!(markers(&fresh) == ["second-a", "second-b"], "new file: {}", read_lossy(&audit));
    let old = audit_lines(&rotated)?;
    ensure!(markers(&old) == ["first-a", "first-b", "moved"], "moved file: {}", read_lossy(&rotated));
    let mode = std::fs::metadata(&audit)?.permissions().mode() & 0o777;
    ensure!(mode == 0o600, "the reopened audit log has mode {mode:o}, not 600");
    Ok(())
}
