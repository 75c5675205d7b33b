//! The real `docker` CLI, pointed at an explicit host and nothing else: no inherited
//! `DOCKER_HOST` or context can send a command around the gateway under test.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use super::gateway::Gateway;
use super::process::{run, CmdOutput};

/// The bound for an ordinary CLI command; transfers of large files pass a longer one.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables that would let the CLI pick another daemon, API version or TLS setup.
const DOCKER_ENV: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "DOCKER_BUILDKIT",
];

/// `docker -H <host>` with the environment cleared of anything that could redirect it.
pub fn docker_command(host: &str) -> Command {
    let mut cmd = Command::new("docker");
    clear_docker_env(&mut cmd);
    cmd.arg("-H").arg(host);
    cmd
}

/// Removes the variables that could point the CLI elsewhere (also for a CLI run inside
/// another program, such as `script`).
pub fn clear_docker_env(cmd: &mut Command) {
    for var in DOCKER_ENV {
        cmd.env_remove(var);
    }
}

/// Runs `docker <args>` through the gateway.
pub fn docker(gw: &Gateway, args: &[&str]) -> Result<CmdOutput> {
    docker_timeout(gw, args, CLI_TIMEOUT)
}

/// Runs `docker <args>` through the gateway with a bound other than `CLI_TIMEOUT`.
pub fn docker_timeout(gw: &Gateway, args: &[&str], timeout: Duration) -> Result<CmdOutput> {
    let mut cmd = docker_command(&gw.host());
    cmd.args(args);
    run(cmd, None, timeout)
}

/// Runs `docker <args>` through the gateway with `input` on stdin, then EOF.
pub fn docker_with_stdin(gw: &Gateway, args: &[&str], input: &[u8]) -> Result<CmdOutput> {
    let mut cmd = docker_command(&gw.host());
    cmd.args(args);
    run(cmd, Some(input), CLI_TIMEOUT)
}
