//! The shipped policies travel with the binary: `--policy builtin:NAME` with the real docker CLI
//! and engine, and `policy explain` and `policy check` with a built-in policy or, without
//! `--policy`, with the one `serve` would apply (docker-socket-proxy variables).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use anyhow::{ensure, Result};

use real_binary::dockerd::container_exists;
use real_binary::gateway::clear_compat_env;
use real_binary::observe::sockgate_tool;
use real_binary::{docker, docker_ready, run, Gateway, Scratch, TEST_IMAGE};

#[test]
fn serve_with_builtin_ci_runs_a_container_and_refuses_a_privileged_one() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let plain = scratch.container("builtin-ci");
    let privileged = scratch.container("builtin-ci-priv");
    let gw = Gateway::builder().policy("builtin:ci").start()?;
    let out = docker(&gw, &["run", "--rm", "--name", &plain, TEST_IMAGE, "echo", "hi"])?.ok()?;
    ensure!(out.stdout.trim() == "hi", "{out}");
    let out = docker(&gw, &["run", "--rm", "--privileged", "--name", &privileged, TEST_IMAGE, "true"])?;
    ensure!(!out.success() && out.stderr.contains("denied by rule `containers.privileged`"), "{out}");
    ensure!(!container_exists(&privileged)?, "dockerd has {privileged}");
    ensure!(gw.stderr().contains("policy=builtin:ci"), "the start-up line does not name builtin:ci:\n{}", gw.stderr());
    Ok(())
}

#[test]
fn explain_and_check_take_a_builtin_policy() -> Result<()> {
    let out =
        sockgate_tool(&["policy", "explain", "--policy", "builtin:watchtower", "POST", "/v1.47/containers/create"])?;
    ensure!(out.success() && out.stdout.contains("decision:  allow, by rule watchtower-update"), "{out}");
    let out = sockgate_tool(&["policy", "check", "builtin:read-only"])?.ok()?;
    ensure!(out.stdout.starts_with("ok: policy `read-only`"), "{out}");
    let out = sockgate_tool(&["policy", "check", "builtin:nope"])?;
    ensure!(
        !out.success() && out.stderr.contains("unknown built-in policy `nope`: the built-in policies are builtin:ci"),
        "{out}"
    );
    Ok(())
}

#[test]
fn explain_without_a_policy_uses_the_docker_socket_proxy_variables() -> Result<()> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sockgate"));
    clear_compat_env(&mut cmd);
    cmd.env_remove("SOCKGATE_POLICY").env("CONTAINERS", "1");
    cmd.args(["policy", "explain", "GET", "/v1.41/info"]);
    let out = run(cmd, None, std::time::Duration::from_secs(30))?;
    ensure!(out.status.code() == Some(2), "{out}");
    ensure!(
        out.stdout
            .contains("system.info denied by policy `docker-socket-proxy`: no rule allows it; INFO=1 would allow it"),
        "{out}"
    );
    Ok(())
}
