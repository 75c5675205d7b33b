//! The loopback TCP listener serves the same API as the unix one.

use anyhow::{ensure, Context, Result};

use crate::real_binary::{
    docker_command, docker_ready, real_docker, run, Gateway, Scratch, CLI_TIMEOUT, FULL_ACCESS, TEST_IMAGE,
};

#[test]
fn tcp_listener_serves_version_and_ps() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("tcp");
    real_docker(&["create", "--name", &name, TEST_IMAGE, "true"])?.ok()?;
    let gw = Gateway::start_with_tcp(Some(FULL_ACCESS))?;
    let host = gw.tcp_host().context("no TCP listener")?;

    let mut version = docker_command(&host);
    version.arg("version");
    let out = run(version, None, CLI_TIMEOUT)?.ok()?;
    ensure!(out.stdout.contains("Server:"), "no server section: {out}");

    let mut ps = docker_command(&host);
    ps.args(["ps", "-a", "--format", "{{.Names}}"]);
    let out = run(ps, None, CLI_TIMEOUT)?.ok()?;
    ensure!(out.stdout.lines().any(|line| line == name), "{name} not listed: {out}");

    let stderr = gw.stderr();
    for listener in [gw.host(), host] {
        ensure!(
            stderr.contains(&format!("listening on {listener}")),
            "sockgate did not announce {listener}:\n{stderr}"
        );
    }
    Ok(())
}
