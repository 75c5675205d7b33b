//! Execs judged with what their container hands them, with the real docker CLI and dockerd: an
//! exec that names no user runs as its container's user (so `exec_root = false` asks the engine
//! who that is), and every exec in a privileged container is privileged.

mod real_binary;

use anyhow::{ensure, Context, Result};

use real_binary::dockerd::inspect_container;
use real_binary::http::http_request;
use real_binary::{docker, docker_ready, real_docker, CmdOutput, Gateway, Scratch, TEST_IMAGE};

const POLICY: &str = r#"version = 1
name = "exec-not-root"

[[rule]]
id = "exec"
allow = ["system.ping", "containers.inspect", "exec.*"]

[containers]
exec_root = false
"#;

fn ensure_denied(out: &CmdOutput, reason: &str) -> Result<()> {
    let wanted = format!("sockgate: exec.create denied by rule `containers.exec_root`: {reason}");
    ensure!(!out.success() && out.stderr.contains(&wanted), "expected `{wanted}`: {out}");
    Ok(())
}

/// Whether dockerd holds any exec instance for the container `name`.
fn has_execs(name: &str) -> Result<bool> {
    let inspected = inspect_container(name)?.context("the container is gone")?;
    Ok(!inspected["ExecIDs"].is_null())
}

#[test]
fn an_exec_is_judged_with_what_its_container_hands_it() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("exec-not-root.toml");
    std::fs::write(&policy, POLICY)?;
    let gw = Gateway::start(Some(policy.to_str().context("temp path")?))?;
    let mut scratch = Scratch::new();

    // The test image has no USER: its containers, and execs that name no user, run as root.
    let rootful = scratch.container("exec-rootful");
    real_docker(&["run", "-d", "--name", &rootful, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let out = docker(&gw, &["exec", &rootful, "id", "-u"])?;
    ensure_denied(&out, "User is unset, so the exec runs as the container's user `root`")?;
    ensure!(!has_execs(&rootful)?, "dockerd created an exec instance in {rootful}");
    let out = docker(&gw, &["exec", "-u", "1000", &rootful, "id", "-u"])?.ok()?;
    ensure!(out.stdout.trim() == "1000", "exec -u 1000 ran as {}", out.stdout.trim());

    // A container made to run as another user: its execs run as that user unless told otherwise.
    let rootless = scratch.container("exec-rootless");
    real_docker(&["run", "-d", "--user", "1000:1000", "--name", &rootless, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let out = docker(&gw, &["exec", &rootless, "id", "-u"])?.ok()?;
    ensure!(out.stdout.trim() == "1000", "exec ran as {}", out.stdout.trim());
    let execs = inspect_container(&rootless)?.context("gone")?["ExecIDs"].as_array().map_or(0, Vec::len);
    let out = docker(&gw, &["exec", "-u", "0", &rootless, "id", "-u"])?;
    ensure_denied(&out, "User is `0`")?;
    let after = inspect_container(&rootless)?.context("gone")?["ExecIDs"].as_array().map_or(0, Vec::len);
    ensure!(after == execs, "dockerd created an exec instance for a denied exec in {rootless}");

    // Every process in a privileged container is privileged: an exec into one is judged so.
    let privileged = scratch.container("exec-privileged");
    real_docker(&["run", "-d", "--privileged", "--user", "1000", "--name", &privileged, TEST_IMAGE, "sleep", "600"])?
        .ok()?;
    let out = docker(&gw, &["exec", &privileged, "id", "-u"])?;
    let wanted = "sockgate: exec.create denied by rule `containers.privileged`: \
                  Privileged is false, but the container it enters is privileged";
    ensure!(!out.success() && out.stderr.contains(wanted), "expected `{wanted}`: {out}");
    ensure!(!has_execs(&privileged)?, "dockerd created an exec instance in {privileged}");

    // A container the engine does not know is refused by sockgate, so no container that appears
    // under that name later gets an exec that was not judged for it. (The CLI inspects the
    // container first and stops at dockerd's 404; a client that does not is answered here.)
    let missing = scratch.container("exec-missing");
    let path = format!("/v1.41/containers/{missing}/exec");
    let answer = http_request(gw.socket(), "POST", &path, Some(r#"{"Cmd":["true"]}"#))?;
    ensure!(answer.status == 404, "expected 404, got {}: {}", answer.status, answer.body);
    let message = answer.json()?["message"].as_str().unwrap_or_default().to_owned();
    ensure!(message == format!("No such container: {missing}"), "unexpected message `{message}`");
    Ok(())
}
