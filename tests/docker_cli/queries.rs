//! Commands that read dockerd's state: `version`, `info`, `ps`, `images`, `stats`.

use anyhow::{ensure, Result};

use crate::full_access;
use crate::real_binary::{docker, docker_ready, real_docker, Scratch, TEST_IMAGE};

#[test]
fn version_shows_the_server_section() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = full_access()?;
    let out = docker(&gw, &["version"])?.ok()?;
    ensure!(out.stdout.contains("Server:") && out.stdout.contains("Engine:"), "no server section: {out}");
    let real = real_docker(&["version", "--format", "{{.Server.Version}}"])?.ok()?;
    let engine = real.stdout.trim();
    ensure!(!engine.is_empty() && out.stdout.contains(engine), "dockerd {engine} is not in: {out}");
    let announced = format!("listening on {}", gw.host());
    ensure!(gw.stderr().contains(&announced), "sockgate did not print `{announced}` on stderr");
    Ok(())
}

#[test]
fn info_describes_the_daemon() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = full_access()?;
    let out = docker(&gw, &["info"])?.ok()?;
    let real = real_docker(&["info", "--format", "{{.ID}}"])?.ok()?;
    let id = real.stdout.trim();
    ensure!(
        out.stdout.contains("Server Version:") && !id.is_empty() && out.stdout.contains(id),
        "daemon ID {id} or server version missing: {out}"
    );
    Ok(())
}

#[test]
fn ps_all_lists_stopped_containers() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ps");
    real_docker(&["create", "--name", &name, TEST_IMAGE, "true"])?.ok()?;
    let gw = full_access()?;
    let table = docker(&gw, &["ps", "-a"])?.ok()?;
    ensure!(table.stdout.contains("CONTAINER ID") && table.stdout.contains(&name), "{name} not listed: {table}");
    let running = docker(&gw, &["ps", "--format", "{{.Names}}"])?.ok()?;
    ensure!(
        !running.stdout.lines().any(|line| line == name),
        "a created container is not running, yet `ps` lists it: {running}"
    );
    Ok(())
}

#[test]
fn images_lists_the_test_image() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = full_access()?;
    let out = docker(&gw, &["images", "--format", "{{.Repository}}:{{.Tag}}"])?.ok()?;
    ensure!(out.stdout.lines().any(|line| line == TEST_IMAGE), "{TEST_IMAGE} not listed: {out}");
    Ok(())
}

#[test]
fn stats_no_stream_reports_a_running_container() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("stats");
    let gw = full_access()?;
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let out = docker(&gw, &["stats", "--no-stream", &name])?.ok()?;
    let row = out.stdout.lines().find(|line| line.contains(&name));
    ensure!(
        out.stdout.contains("CPU %") && row.is_some_and(|row| row.contains('%') && row.contains(" / ")),
        "no stats row with memory usage for {name}: {out}"
    );
    Ok(())
}
