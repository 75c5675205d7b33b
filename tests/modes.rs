//! Audit and learn modes with the real docker CLI and dockerd. Audit mode lets what the policy
//! denies through, but counts and logs it as `audit` with the reason it would have been denied.
//! Learn mode lets a session through and writes the smallest policy allowing it; enforcing that
//! policy lets the same session through again and denies anything the session never did.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use real_binary::dockerd::{container_exists, network_exists, volume_exists};
use real_binary::observe::{poll_until, read_lossy, sockgate_tool, wait_for_audit, wait_for_metric, Metrics};
use real_binary::{docker, docker_ready, CmdOutput, Gateway, Scratch, READ_ONLY, TEST_IMAGE};

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");
const REQUESTS: &str = "sockgate_requests_total";
const SETTLE: Duration = Duration::from_secs(10);

fn text<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key].as_str().unwrap_or_default()
}

fn rules(line: &Value) -> Vec<&str> {
    line["rules"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// The audit line of the one `POST /containers/create`, once it is written.
fn create_line(audit: &Path) -> Result<Value> {
    let lines = wait_for_audit(audit, "the audit line of containers.create", SETTLE, |lines| {
        lines.iter().any(|l| text(l, "operation") == "containers.create")
    })?;
    let creates: Vec<&Value> = lines.iter().filter(|l| text(l, "operation") == "containers.create").collect();
    ensure!(creates.len() == 1, "expected one create: {creates:?}");
    Ok(creates[0].clone())
}

#[test]
fn audit_mode_lets_a_read_only_denial_through_and_records_it() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("audit-run");
    let gw = Gateway::builder().policy(READ_ONLY).args(&["--mode", "audit"]).admin().audit_log().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let audit = gw.audit_log().context("no audit log")?.to_path_buf();

    docker(&gw, &["run", "--rm", "--name", &name, TEST_IMAGE, "true"])?.ok()?;

    // Each step of `docker run` that read-only denies went through, counted as `audit`.
    for (operation, status) in [
        ("containers.create", "201"),
        ("containers.attach", "101"),
        ("containers.wait", "200"),
        ("containers.start", "204"),
    ] {
        let labels = [("operation", operation), ("decision", "audit"), ("rule", ""), ("status", status)];
        wait_for_metric(port, REQUESTS, &labels, 1.0, SETTLE)?;
    }
    let metrics = Metrics::scrape(port)?;
    let denied = metrics.sum(REQUESTS, &[("decision", "deny")]);
    ensure!(denied == 0.0, "audit mode denied {denied} requests:\n{}", metrics.lines_of(REQUESTS));
    let pings = metrics.sum(REQUESTS, &[("operation", "system.ping"), ("decision", "allow"), ("rule", "read-only")]);
    ensure!(pings >= 1.0, "allowed requests are still `allow`:\n{}", metrics.lines_of(REQUESTS));
    ensure!(
        gw.stderr().lines().any(|l| l.contains("would be denied") && l.contains("operation=containers.create")),
        "sockgate did not warn about the create it let through:\n{}",
        gw.stderr()
    );

    let create = create_line(&audit)?;
    ensure!(
        text(&create, "decision") == "audit"
            && create["status"] == 201
            && text(&create, "path") == "/containers/create",
        "create line: {create}"
    );
    // The line says why the request would have been denied: no rule of `read-only` allows it.
    ensure!(
        !rules(&create).is_empty() || !text(&create, "reason").is_empty(),
        "the audit line of a request let through in audit mode names neither a rule nor a reason \
         (enforce mode tells the client `containers.create denied by policy `read-only`: no rule allows it`): {create}"
    );
    Ok(())
}

#[test]
fn audit_mode_records_the_constraint_that_would_deny() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("audit-mount");
    let host = tempfile::tempdir()?;
    let host_path = host.path().to_string_lossy().into_owned();
    let gw = Gateway::builder().policy(CI).args(&["--mode", "audit"]).admin().audit_log().start()?;
    let port = gw.admin_port().context("no admin port")?;
    let audit = gw.audit_log().context("no audit log")?.to_path_buf();

    // ci allows no host path; a read-only bind of an empty temporary directory is harmless.
    let mount = format!("{host_path}:/mnt:ro");
    docker(&gw, &["run", "--rm", "--name", &name, "-v", &mount, TEST_IMAGE, "true"])?.ok()?;

    let labels = [
        ("operation", "containers.create"),
        ("decision", "audit"),
        ("rule", "containers.host_mounts"),
        ("status", "201"),
    ];
    wait_for_metric(port, REQUESTS, &labels, 1.0, SETTLE)?;
    let start = [("operation", "containers.start"), ("decision", "allow"), ("rule", "ci-ops"), ("status", "204")];
    wait_for_metric(port, REQUESTS, &start, 1.0, SETTLE)?;
    let create = create_line(&audit)?;
    ensure!(
        text(&create, "decision") == "audit"
            && rules(&create) == ["containers.host_mounts"]
            && text(&create, "reason").contains(&host_path)
            && create["status"] == 201,
        "create line: {create}"
    );
    Ok(())
}

/// The session learnt, then enforced: each command must succeed.
fn session(gw: &Gateway, name: &str) -> Result<()> {
    docker(gw, &["ps"])?.ok()?;
    let run = docker(gw, &["run", "--rm", "--name", name, TEST_IMAGE, "echo", "hi"])?.ok()?;
    ensure!(run.stdout.trim() == "hi", "`docker run ... echo hi` printed: {run}");
    docker(gw, &["images"])?.ok()?;
    Ok(())
}

fn ensure_denied(out: &CmdOutput, operation: &str, why: &str) -> Result<()> {
    ensure!(!out.success(), "expected a denial of {operation}: {out}");
    ensure!(
        out.stderr.contains("sockgate:") && out.stderr.contains(operation) && out.stderr.contains(why),
        "the denial does not say `{operation}` and `{why}`: {out}"
    );
    Ok(())
}

fn ensure_policy_checks(file: &Path) -> Result<()> {
    let check = sockgate_tool(&[Path::new("policy"), Path::new("check"), file])?;
    ensure!(check.success(), "the learned policy does not pass `sockgate policy check`: {check}\n{}", read_lossy(file));
    Ok(())
}

#[test]
fn learned_policy_allows_the_session_and_nothing_else() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let (learnt_run, enforced_run) = (scratch.container("learn-run"), scratch.container("enforce-run"));
    let (network, volume, privileged) =
        (scratch.network("learn-unseen"), scratch.volume("learn-unseen"), scratch.container("learn-privileged"));
    let dir = tempfile::tempdir()?;
    let learned = dir.path().join("learned.toml");

    let mut learner = Gateway::builder()
        .policy(READ_ONLY)
        .args(&["--mode", "learn", "--learn-output"])
        .args(&[learned.as_os_str()])
        .start()?;
    session(&learner, &learnt_run)?;

    // SIGUSR1 writes what was learnt so far.
    learner.signal("USR1")?;
    poll_until(SETTLE, "the learned policy after SIGUSR1", || Ok(learned.exists().then_some(())))?;
    ensure_policy_checks(&learned)?;
    let on_signal = std::fs::read_to_string(&learned)?;
    for operation in ["system.ping", "containers.list", "containers.create", "containers.start", "images.list"] {
        ensure!(on_signal.contains(&format!("\"{operation}\"")), "`{operation}` was not learnt:\n{on_signal}");
    }
    for operation in ["networks.create", "volumes.create", "containers.delete", "exec.create"] {
        ensure!(!on_signal.contains(&format!("\"{operation}\"")), "`{operation}` was never used:\n{on_signal}");
    }
    // And so does the exit.
    std::fs::remove_file(&learned)?;
    let status = learner.stop()?;
    ensure!(status.success(), "sockgate exited with {status} on SIGTERM:\n{}", learner.stderr());
    ensure!(learned.exists(), "no learned policy written on exit:\n{}", learner.stderr());
    ensure_policy_checks(&learned)?;
    ensure!(read_lossy(&learned) == on_signal, "nothing new was learnt, yet the policy written on exit differs");
    drop(learner);

    // Enforced, the learned policy lets the same session through...
    let gw = Gateway::builder().policy(&learned).start()?;
    session(&gw, &enforced_run)?;
    // ...and nothing it never saw.
    let out = docker(&gw, &["network", "create", &network])?;
    ensure_denied(&out, "networks.create", "no rule allows it")?;
    ensure!(!network_exists(&network)?, "the denied network {network} exists");
    let out = docker(&gw, &["volume", "create", &volume])?;
    ensure_denied(&out, "volumes.create", "no rule allows it")?;
    ensure!(!volume_exists(&volume)?, "the denied volume {volume} exists");
    let out = docker(&gw, &["run", "--rm", "--privileged", "--name", &privileged, TEST_IMAGE, "true"])?;
    ensure_denied(&out, "containers.create", "containers.privileged")?;
    ensure!(!container_exists(&privileged)?, "the denied privileged container {privileged} exists");
    Ok(())
}
