//! What sockgate's messages look like to a user, with the real binary: no Rust debug formatting,
//! plurals that agree, addresses and paths named, no process ids in a learned policy, and
//! `check-config` refusing what `serve` would refuse.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use anyhow::{ensure, Result};

use real_binary::server::sockgate_once;
use real_binary::{docker, docker_ready, Gateway};

#[test]
fn an_audit_log_that_cannot_be_opened_is_named_as_a_path() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let out = sockgate_once(&["serve", "--listen", &host, "--audit-log", "/nonexistent/dir/a.jsonl"])?;
    ensure!(!out.success(), "{out}");
    ensure!(out.stderr.contains("cannot open the audit log `/nonexistent/dir/a.jsonl`"), "{out}");
    ensure!(!out.stderr.contains("File("), "debug formatting in: {out}");
    Ok(())
}

#[test]
fn counts_agree_with_their_nouns() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("one.toml");
    std::fs::write(&policy, "version = 1\n[[rule]]\nid = \"r\"\nallow = [\"system.ping\"]\n")?;
    let out = sockgate_once(&["policy", "check", &policy.to_string_lossy()])?.ok()?;
    ensure!(out.stdout.trim() == "ok: policy `one` with 1 rule", "{out}");
    let config = dir.path().join("sockgate.toml");
    let listener = format!("unix://{}", dir.path().join("a.sock").display());
    std::fs::write(&config, format!("version = 1\n[[listener]]\naddress = \"{listener}\"\npolicy = [\"one.toml\"]\n"))?;
    let out = sockgate_once(&["check-config", &config.to_string_lossy()])?.ok()?;
    ensure!(out.stdout.trim() == "ok: 1 listener", "{out}");
    Ok(())
}

#[test]
fn check_config_refuses_a_socket_group_serve_would_refuse() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("one.toml"), "version = 1\n")?;
    let config = dir.path().join("sockgate.toml");
    let listener = format!("unix://{}", dir.path().join("a.sock").display());
    std::fs::write(
        &config,
        format!("version = 1\n[[listener]]\naddress = \"{listener}\"\nsocket_group = \"sockgate-no-such-group\"\npolicy = [\"one.toml\"]\n"),
    )?;
    let checked = sockgate_once(&["check-config", &config.to_string_lossy()])?;
    let served = sockgate_once(&["serve", "--config", &config.to_string_lossy()])?;
    ensure!(!served.success() && served.stderr.contains("unknown group `sockgate-no-such-group`"), "{served}");
    ensure!(
        !checked.success() && checked.stderr.contains("unknown group `sockgate-no-such-group`"),
        "check-config accepts what serve refuses: {checked}"
    );
    Ok(())
}

#[test]
fn healthcheck_names_the_address_it_could_not_ask() -> Result<()> {
    // Port 0: nothing ever listens there.
    let addr = "tcp://127.0.0.1:0".to_owned();
    let out = sockgate_once(&["healthcheck", &addr])?;
    ensure!(!out.success() && out.stderr.contains(&format!("{addr}/health")), "{out}");
    Ok(())
}

#[test]
fn a_learned_policy_names_its_clients_without_process_ids() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("learned.toml");
    let mut gw = Gateway::builder().args(&["--mode", "learn", "--learn-output"]).args(&[&output]).start()?;
    docker(&gw, &["ps"])?.ok()?;
    let status = gw.stop()?;
    ensure!(status.success(), "{status}\n{}", gw.stderr());
    let text = std::fs::read_to_string(&output)?;
    ensure!(text.contains("\"containers.list\", # uid=0 gid=0 via unix://"), "{text}");
    ensure!(!text.contains("pid="), "process ids in the learned policy:\n{text}");
    Ok(())
}
