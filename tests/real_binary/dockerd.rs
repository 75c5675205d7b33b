//! Direct access to the real dockerd, bypassing the gateway: the availability check, setup,
//! cleanup, and the checks of what dockerd really did.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::Value;

use super::cli::{docker_command, CLI_TIMEOUT};
use super::http::http_request;
use super::image::ensure_test_image;
use super::process::{run, CmdOutput};

pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Whether this run is CI's (`CI=true`), where a missing dockerd is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `GET /_ping` on the real socket.
pub fn docker_available() -> Result<()> {
    let response = http_request(Path::new(DOCKER_SOCKET), "GET", "/_ping", None)?;
    if response.status != 200 || response.body.trim() != "OK" {
        bail!("GET /_ping answered {}: {}", response.status, response.body);
    }
    Ok(())
}

/// Call first in every test: `Ok(true)` when dockerd answers and the test image is there;
/// `Ok(false)` (after saying so) when the test should skip; an error in CI without dockerd.
pub fn docker_ready() -> Result<bool> {
    if let Err(why) = docker_available() {
        if in_ci() {
            bail!(
                "dockerd is unreachable at {DOCKER_SOCKET} and CI=true: the end-to-end tests \
                 need a running dockerd ({why:#})"
            );
        }
        eprintln!("skipping: dockerd unreachable at {DOCKER_SOCKET}: {why:#}");
        return Ok(false);
    }
    ensure_test_image()?;
    Ok(true)
}

/// Runs `docker <args>` against the real dockerd (setup and cleanup only).
pub fn real_docker(args: &[&str]) -> Result<CmdOutput> {
    let mut cmd = docker_command(DOCKER_HOST);
    cmd.args(args);
    run(cmd, None, CLI_TIMEOUT)
}

/// `GET` on the real socket: the status, and the JSON body when the status is 200.
fn inspect(path: &str) -> Result<Option<Value>> {
    let response = http_request(Path::new(DOCKER_SOCKET), "GET", path, None)?;
    match response.status {
        200 => Ok(Some(response.json()?)),
        404 => Ok(None),
        other => bail!("GET {path} answered {other}: {}", response.body),
    }
}

pub fn inspect_container(name: &str) -> Result<Option<Value>> {
    inspect(&format!("/containers/{name}/json"))
}

pub fn container_exists(name: &str) -> Result<bool> {
    Ok(inspect_container(name)?.is_some())
}

pub fn container_running(name: &str) -> Result<bool> {
    Ok(inspect_container(name)?.is_some_and(|c| c["State"]["Running"].as_bool() == Some(true)))
}

pub fn network_exists(name: &str) -> Result<bool> {
    // Network names are free-form (docker-py's suite uses `test 01`).
    Ok(inspect(&format!("/networks/{}", escape_segment(name)))?.is_some())
}

/// A name as one path segment, every byte but unreserved ones escaped (RFC 3986 section 2.3).
fn escape_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn volume_exists(name: &str) -> Result<bool> {
    Ok(inspect(&format!("/volumes/{name}"))?.is_some())
}

pub fn inspect_image(reference: &str) -> Result<Option<Value>> {
    inspect(&format!("/images/{reference}/json"))
}
