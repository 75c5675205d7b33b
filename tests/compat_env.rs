//! `sockgate serve` as a drop-in for Tecnativa's and linuxserver's docker-socket-proxy: no
//! `--policy`, their environment variables instead, with the real docker CLI and dockerd. What a
//! command did or did not do is checked on dockerd directly.

mod real_binary;

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use real_binary::dockerd::{container_exists, container_running};
use real_binary::gateway::clear_compat_env;
use real_binary::{docker, docker_ready, real_docker, run, CmdOutput, Gateway, Scratch, TEST_IMAGE};

/// How a refusal under the generated policy reads: no rule of it allows the operation.
fn ensure_denied(out: &CmdOutput, operation: &str) -> Result<()> {
    ensure!(!out.success(), "expected a denial of {operation}: {out}");
    let wanted = format!("sockgate: {operation} denied by policy `docker-socket-proxy`: no rule allows it");
    ensure!(out.stderr.contains(&wanted), "the error is not `{wanted}`: {out}");
    Ok(())
}

/// The sockgate binary itself with exactly `env` as its docker-socket-proxy settings.
fn sockgate(args: &[&str], env: &[(&str, &str)]) -> Result<CmdOutput> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockgate"));
    clear_compat_env(&mut cmd);
    cmd.envs(env.iter().copied()).env_remove("SOCKGATE_LOG").args(args);
    run(cmd, None, Duration::from_secs(30))
}

#[test]
fn containers_alone_allows_listing_but_not_creating() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let listed = scratch.container("env-listed");
    let created = scratch.container("env-create");
    real_docker(&["create", "--name", &listed, TEST_IMAGE, "true"])?.ok()?;
    let gw = Gateway::start_with_env(None, &[("CONTAINERS", "1")])?;

    let out = docker(&gw, &["ps", "-a", "--format", "{{.Names}}"])?.ok()?;
    ensure!(out.stdout.lines().any(|line| line == listed), "{listed} not listed: {out}");

    // POST unset means POST=0: only GET and HEAD.
    let out = docker(&gw, &["create", "--name", &created, TEST_IMAGE, "true"])?;
    ensure_denied(&out, "containers.create")?;
    ensure!(!container_exists(&created)?, "dockerd has container {created}");
    Ok(())
}

#[test]
fn post_allows_create_start_and_remove() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("env-post");
    let gw = Gateway::start_with_env(None, &[("CONTAINERS", "1"), ("POST", "1")])?;

    docker(&gw, &["create", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    ensure!(container_exists(&name)?, "dockerd has no container {name} after create");
    docker(&gw, &["start", &name])?.ok()?;
    ensure!(container_running(&name)?, "{name} does not run after start");
    docker(&gw, &["rm", "-f", &name])?.ok()?;
    ensure!(!container_exists(&name)?, "dockerd still has container {name} after rm");
    Ok(())
}

#[test]
fn allow_start_opens_start_but_not_stop() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("env-start");
    real_docker(&["create", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let gw = Gateway::start_with_env(None, &[("CONTAINERS", "1"), ("POST", "0"), ("ALLOW_START", "1")])?;

    docker(&gw, &["start", &name])?.ok()?;
    ensure!(container_running(&name)?, "{name} does not run after start");

    let out = docker(&gw, &["stop", "-t", "1", &name])?;
    ensure_denied(&out, "containers.stop")?;
    ensure!(container_running(&name)?, "{name} stopped although stop was denied");
    Ok(())
}

#[test]
fn a_denial_names_the_variable_that_would_allow_it() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start_with_env(None, &[("CONTAINERS", "1")])?;
    let out = docker(&gw, &["info"])?;
    let wanted = "system.info denied by policy `docker-socket-proxy`: no rule allows it; INFO=1 would allow it";
    ensure!(!out.success() && out.stderr.contains(wanted), "the denial does not name INFO=1: {out}");
    let out = docker(&gw, &["create", TEST_IMAGE, "true"])?;
    ensure!(
        !out.success() && out.stderr.contains("no rule allows it; POST=1 would allow it"),
        "the denial does not name POST=1: {out}"
    );
    Ok(())
}

#[test]
fn ping_and_version_are_on_by_default() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    // `INFO=0` only switches the docker-socket-proxy mode on; PING and VERSION are left to
    // their defaults, and CONTAINERS to its default of off.
    let gw = Gateway::start_with_env(None, &[("INFO", "0")])?;

    let out = docker(&gw, &["version", "--format", "{{.Server.Version}}"])?.ok()?;
    let direct = real_docker(&["version", "--format", "{{.Server.Version}}"])?.ok()?;
    ensure!(
        !out.stdout.trim().is_empty() && out.stdout == direct.stdout,
        "server version through the gateway `{}`, directly `{}`",
        out.stdout.trim(),
        direct.stdout.trim()
    );
    let out = docker(&gw, &["ps"])?;
    ensure_denied(&out, "containers.list")?;
    Ok(())
}

#[test]
fn from_env_prints_a_policy_that_check_accepts() -> Result<()> {
    let settings = [("CONTAINERS", "1"), ("POST", "0"), ("ALLOW_START", "1"), ("EXEC", "1"), ("IMAGES", "1")];
    let out = sockgate(&["policy", "from-env"], &settings)?.ok()?;
    ensure!(out.stdout.contains("name = \"docker-socket-proxy\""), "not the generated policy: {out}");
    for id in ["env-containers", "env-allow-start", "env-exec", "env-images", "env-ping", "env-version"] {
        ensure!(out.stdout.contains(&format!("id = \"{id}\"")), "no rule `{id}`: {out}");
    }
    ensure!(!out.stdout.contains("id = \"env-networks\""), "NETWORKS is off but has a rule: {out}");

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("from-env.toml");
    std::fs::write(&file, &out.stdout)?;
    let file = file.to_str().context("temporary path is not UTF-8")?;
    let checked = sockgate(&["policy", "check", file], &[])?.ok()?;
    ensure!(checked.stdout.starts_with("ok: policy `docker-socket-proxy` with "), "unexpected check output: {checked}");
    Ok(())
}

#[test]
fn from_env_refuses_a_value_that_is_not_a_boolean() -> Result<()> {
    let out = sockgate(&["policy", "from-env"], &[("CONTAINERS", "maybe")])?;
    ensure!(!out.success(), "`CONTAINERS=maybe` was accepted: {out}");
    ensure!(out.stderr.contains("CONTAINERS=`maybe` is not 0 or 1"), "the error does not name the variable: {out}");
    Ok(())
}
