//! The read-only policy, built in (no `--policy`) and from `policies/read-only.toml`: the
//! docker CLI can look at everything and change nothing, and a refusal names the operation.
//! Whatever a denied command tried, dockerd (asked directly) shows no trace of it.

mod real_binary;

use anyhow::{ensure, Result};

use real_binary::dockerd::{container_exists, container_running, inspect_container, network_exists, volume_exists};
use real_binary::http::{http_request, request_head, HttpConnection};
use real_binary::{docker, docker_ready, real_docker, CmdOutput, Gateway, Scratch, READ_ONLY, TEST_IMAGE};

/// No `--policy`: the built-in read-only policy.
const BUILT_IN: Option<&str> = None;
const FROM_FILE: Option<&str> = Some(READ_ONLY);

/// A denial as the docker CLI reports it: non-zero exit, sockgate's message, the operation.
fn ensure_denied(out: &CmdOutput, operation: &str) -> Result<()> {
    ensure!(!out.success(), "expected a denial of {operation}: {out}");
    ensure!(
        out.stderr.contains("sockgate:") && out.stderr.contains(operation),
        "the error does not name sockgate and {operation}: {out}"
    );
    Ok(())
}

fn reads_are_allowed(policy: Option<&str>) -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let container = scratch.container("ro-seen");
    let volume = scratch.volume("ro-seen");
    real_docker(&["create", "--name", &container, TEST_IMAGE, "true"])?.ok()?;
    real_docker(&["volume", "create", &volume])?.ok()?;
    let gw = Gateway::start(policy)?;

    let version = docker(&gw, &["version"])?.ok()?;
    ensure!(version.stdout.contains("Server:"), "no server section: {version}");
    let info = docker(&gw, &["info"])?.ok()?;
    ensure!(info.stdout.contains("Server Version:"), "no server version: {info}");

    let checks: [(&[&str], &str); 5] = [
        (&["ps", "-a", "--format", "{{.Names}}"], &container),
        (&["images", "--format", "{{.Repository}}:{{.Tag}}"], TEST_IMAGE),
        (&["network", "ls", "--format", "{{.Name}}"], "bridge"),
        (&["volume", "ls", "--format", "{{.Name}}"], &volume),
        (&["container", "inspect", "--format", "{{.Name}}", &container], &format!("/{container}")),
    ];
    for (args, wanted) in checks {
        let out = docker(&gw, args)?.ok()?;
        ensure!(out.stdout.lines().any(|line| line == wanted), "`{wanted}` not listed: {out}");
    }
    Ok(())
}

fn creations_are_denied(policy: Option<&str>) -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    // Registered for cleanup in case the gateway lets one through.
    let mut scratch = Scratch::new();
    let created = scratch.container("ro-create");
    let ran = scratch.container("ro-run");
    let network = scratch.network("ro-net");
    let volume = scratch.volume("ro-vol");
    let gw = Gateway::start(policy)?;

    let out = docker(&gw, &["create", "--name", &created, TEST_IMAGE, "true"])?;
    ensure_denied(&out, "containers.create")?;
    let out = docker(&gw, &["run", "--name", &ran, TEST_IMAGE, "true"])?;
    ensure_denied(&out, "containers.create")?;
    let out = docker(&gw, &["network", "create", &network])?;
    ensure_denied(&out, "networks.create")?;
    let out = docker(&gw, &["volume", "create", &volume])?;
    ensure_denied(&out, "volumes.create")?;

    ensure!(!container_exists(&created)?, "dockerd has container {created}");
    ensure!(!container_exists(&ran)?, "dockerd has container {ran}");
    ensure!(!network_exists(&network)?, "dockerd has network {network}");
    ensure!(!volume_exists(&volume)?, "dockerd has volume {volume}");
    Ok(())
}

fn an_existing_container_is_untouchable(policy: Option<&str>) -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ro-victim");
    let secret = "secret-log-line";
    let command = format!("echo {secret}; exec sleep 600");
    real_docker(&["run", "-d", "--name", &name, TEST_IMAGE, "sh", "-c", &command])?.ok()?;
    let gw = Gateway::start(policy)?;

    let out = docker(&gw, &["rm", "-f", &name])?;
    ensure_denied(&out, "containers.delete")?;
    let out = docker(&gw, &["exec", &name, "touch", "/pwned"])?;
    ensure_denied(&out, "exec.create")?;
    let out = docker(&gw, &["logs", &name])?;
    ensure_denied(&out, "containers.logs")?;
    ensure!(!out.stdout.contains(secret), "the logs leaked: {out}");

    ensure!(container_running(&name)?, "{name} no longer runs");
    let inspected = inspect_container(&name)?.unwrap_or_default();
    ensure!(inspected["ExecIDs"].is_null(), "dockerd created an exec instance: {}", inspected["ExecIDs"]);
    let probe = real_docker(&["exec", &name, "ls", "/pwned"])?;
    ensure!(!probe.success(), "/pwned exists in {name}: {probe}");
    Ok(())
}

/// The refusal on the wire: 403 with dockerd's JSON error shape, rendered by sockgate.
fn denial_is_a_json_403(policy: Option<&str>) -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ro-raw");
    let gw = Gateway::start(policy)?;
    let body = format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#);
    let path = format!("/containers/create?name={name}");
    let response = http_request(gw.socket(), "POST", &path, Some(&body))?;
    ensure!(response.status == 403, "expected 403, got {}: {}", response.status, response.body);
    let json = response.header("content-type").unwrap_or_default();
    ensure!(json.starts_with("application/json"), "content-type `{json}`");
    let message = response.json()?["message"].as_str().unwrap_or_default().to_owned();
    ensure!(
        message.starts_with("sockgate: ") && message.contains("containers.create"),
        "unexpected message `{message}`"
    );
    ensure!(!container_exists(&name)?, "dockerd has container {name}");
    Ok(())
}

/// A denial leaves the connection as dockerd would: Go's `net/http` server discards up to
/// 256 KiB of a body its handler did not read and keeps the connection (`maxPostHandlerReadBytes`
/// in `net/http/server.go`). The docker CLI may send the body after the head, so a gateway that
/// answers and closes at once makes the CLI fail with `broken pipe` instead of the denial.
#[test]
fn a_denial_keeps_the_connection_usable() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ro-keepalive");
    let gw = Gateway::start(BUILT_IN)?;
    let body = format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#);
    let path = format!("/containers/create?name={name}");
    let mut conn = HttpConnection::open(gw.socket())?;
    conn.send(request_head("POST", &path, Some(body.len()), false).as_bytes())?;
    // Time enough for the gateway to decide on the head alone, as it may.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = conn.send(body.as_bytes());
    ensure!(sent.is_ok(), "sending the body failed: {sent:?}");
    let denied = conn.read_response()?;
    ensure!(denied.status == 403, "expected 403: {}", denied.body);
    conn.send(request_head("GET", "/_ping", None, false).as_bytes())?;
    let ping = conn.read_response()?;
    ensure!(ping.status == 200 && ping.body == "OK", "ping after a denial answered {}: {}", ping.status, ping.body);
    ensure!(!container_exists(&name)?, "dockerd has container {name}");
    Ok(())
}

#[test]
fn built_in_policy_allows_reads() -> Result<()> {
    reads_are_allowed(BUILT_IN)
}

#[test]
fn policy_file_allows_reads() -> Result<()> {
    reads_are_allowed(FROM_FILE)
}

#[test]
fn built_in_policy_denies_creations() -> Result<()> {
    creations_are_denied(BUILT_IN)
}

#[test]
fn policy_file_denies_creations() -> Result<()> {
    creations_are_denied(FROM_FILE)
}

#[test]
fn built_in_policy_protects_an_existing_container() -> Result<()> {
    an_existing_container_is_untouchable(BUILT_IN)
}

#[test]
fn policy_file_protects_an_existing_container() -> Result<()> {
    an_existing_container_is_untouchable(FROM_FILE)
}

#[test]
fn built_in_policy_answers_403_json() -> Result<()> {
    denial_is_a_json_403(BUILT_IN)
}

#[test]
fn policy_file_answers_403_json() -> Result<()> {
    denial_is_a_json_403(FROM_FILE)
}
