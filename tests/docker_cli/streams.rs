//! Commands whose connection outlives one request: followed logs, exec and attach (hijacked
//! connections, with half-close and a pseudo-terminal), and the event stream.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};

use crate::full_access;
use crate::real_binary::cli::clear_docker_env;
use crate::real_binary::{
    docker, docker_command, docker_ready, docker_with_stdin, run, Scratch, Streaming, CLI_TIMEOUT, TEST_IMAGE,
};

/// The longest a stream may stay silent when a line is due.
const LINE_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn logs_follow_keeps_streaming() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("logs-f");
    let gw = full_access()?;
    let ticker = "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done";
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sh", "-c", ticker])?.ok()?;

    let mut cmd = docker_command(&gw.host());
    cmd.args(["logs", "-f", &name]);
    let mut logs = Streaming::spawn(cmd)?;
    // The backlog arrives at once; lines that keep arriving for over a second after the
    // first one can only come from a live stream.
    let first = line_number(&logs.next_line(LINE_TIMEOUT)?)?;
    let started = Instant::now();
    let mut last = first;
    while started.elapsed() < Duration::from_millis(1500) || last < first + 5 {
        let next = line_number(&logs.next_line(LINE_TIMEOUT)?)?;
        ensure!(next == last + 1, "line-{next} followed line-{last}");
        last = next;
    }
    ensure!(logs.is_running()?, "`logs -f` ended by itself: {}", logs.stderr());
    Ok(())
}

fn line_number(line: &str) -> Result<u64> {
    line.strip_prefix("line-").and_then(|n| n.parse().ok()).with_context(|| format!("unexpected log line `{line}`"))
}

#[test]
fn exec_stdin_eof_reaches_the_process() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("exec-i");
    let gw = full_access()?;
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    // `cat` exits only when its stdin closes: the CLI's half-close must cross the gateway.
    let out = docker_with_stdin(&gw, &["exec", "-i", &name, "cat"], b"data\n")?.ok()?;
    ensure!(out.stdout == "data\n", "expected `data`: {out}");
    Ok(())
}

#[test]
fn exec_tty_gets_a_pseudo_terminal() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("exec-t");
    let gw = full_access()?;
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    // `exec -t` wants a terminal on the CLI's side too; util-linux `script` provides one.
    let inner = format!("docker -H {} exec -it {name} sh -c tty", gw.host());
    let mut cmd = Command::new("script");
    clear_docker_env(&mut cmd);
    cmd.args(["-qec", &inner, "/dev/null"]);
    let out = run(cmd, None, CLI_TIMEOUT)?.ok()?;
    ensure!(out.stdout.contains("/dev/pts/"), "no /dev/pts path: {out}");
    Ok(())
}

#[test]
fn attach_relays_both_directions() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("attach");
    let gw = full_access()?;
    docker(&gw, &["run", "-d", "-i", "--name", &name, TEST_IMAGE, "cat"])?.ok()?;
    let mut cmd = docker_command(&gw.host());
    cmd.args(["attach", &name]);
    let mut attach = Streaming::spawn_with_stdin(cmd)?;
    for round in 1..=3 {
        let message = format!("ping-{round}");
        attach.write_stdin(format!("{message}\n").as_bytes())?;
        let echoed = attach.next_line(LINE_TIMEOUT)?;
        ensure!(echoed == message, "sent `{message}`, got `{echoed}`");
    }
    ensure!(attach.is_running()?, "`attach` ended: {}", attach.stderr());
    Ok(())
}

#[test]
fn start_attach_stdin_runs_to_completion() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("start-ai");
    let gw = full_access()?;
    docker(&gw, &["create", "-i", "--name", &name, TEST_IMAGE, "wc", "-l"])?.ok()?;
    let out = docker_with_stdin(&gw, &["start", "-a", "-i", &name], b"one\ntwo\nthree\n")?.ok()?;
    ensure!(out.stdout.trim() == "3", "expected `wc -l` to count 3 lines: {out}");
    Ok(())
}

#[test]
fn events_stream_container_lifecycle() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("events");
    let gw = full_access()?;
    // `--since` a moment ago: dockerd replays what happened after it, then streams, so the
    // `create` cannot slip in before the subscription is in place.
    let since = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() - 1;
    let mut cmd = docker_command(&gw.host());
    cmd.args(["events", "--since", &since.to_string(), "--format", "{{.Action}}"]).args([
        "--filter",
        "type=container",
        "--filter",
        &format!("container={name}"),
    ]);
    let mut events = Streaming::spawn(cmd)?;
    docker(&gw, &["create", "--name", &name, TEST_IMAGE, "true"])?.ok()?;
    events.expect_line("create", LINE_TIMEOUT)?;
    // By now the stream is live: a later event must arrive on the same connection.
    docker(&gw, &["rm", &name])?.ok()?;
    events.expect_line("destroy", LINE_TIMEOUT)?;
    ensure!(events.is_running()?, "`events` ended: {}", events.stderr());
    Ok(())
}
