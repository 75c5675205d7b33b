//! Policies reload while traffic flows, a hundred times in a row: a file change or SIGHUP swaps the
//! whole policy between one request and the next, no request fails (counted: 0 of them) or sees
//! half a policy, an invalid file keeps the last
//! valid policy (and says why, with `file:line:col`), and streams opened before a reload keep
//! flowing after it even when the new policy would no longer let them start.
//!
//! The load runs against the recording stub engine (the proxy's decisions are what is measured);
//! the streams need the real dockerd.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;
mod real_binary;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use in_process::Stub;
use real_binary::http::{request_head, HttpConnection};
use real_binary::observe::{wait_for_metric, wait_for_metrics, Metrics};
use real_binary::{docker, docker_command, docker_ready, real_docker, Gateway, Scratch, Streaming, TEST_IMAGE};

const REQUESTS: &str = "sockgate_requests_total";
const RELOADS: &str = "sockgate_policy_reloads_total";
/// The file watcher polls every 2 s; a reload shows well within this.
const RELOAD_WAIT: Duration = Duration::from_secs(10);
/// Policy reloads while the load runs, none of which may fail a request.
const RELOADS_UNDER_LOAD: u32 = 100;
/// How long each policy stays in force, for the load to observe it.
const DWELL: Duration = Duration::from_millis(400);
/// The whole load may not outlast this, whatever happens.
const LOAD_LIMIT: Duration = Duration::from_secs(60);

const WITH_LIST: &str = r#"version = 1
name = "swap"

[[rule]]
id = "ping"
allow = ["system.ping"]

[[rule]]
id = "list"
allow = ["containers.list"]
"#;

const WITHOUT_LIST: &str = r#"version = 1
name = "swap"

[[rule]]
id = "ping"
allow = ["system.ping"]
"#;

/// Two errors, both to be reported: a misspelt operation at 6:25 and a duplicate id at 9:6.
const INVALID: &str = r#"version = 1
name = "swap"

[[rule]]
id = "ping"
allow = ["system.ping", "containers.lst"]

[[rule]]
id = "ping"
allow = ["containers.list"]
"#;

/// Replaces `path` atomically (a temporary file renamed over it), as editors and configuration
/// managers do, so no reader ever sees half a file. With `keep_stamp` the new file gets the old
/// one's length and modification time: the file watcher cannot tell, only SIGHUP reloads it.
fn replace(path: &Path, text: &str, keep_stamp: bool) -> Result<()> {
    let temporary = path.with_extension("toml.new");
    let mut content = text.to_owned();
    let old = std::fs::metadata(path)?;
    if keep_stamp {
        let len = usize::try_from(old.len())?;
        ensure!(len >= content.len() + 2, "cannot pad {} bytes to {len}", content.len());
        content.push('#');
        content.push_str(&" ".repeat(len - content.len() - 1));
        content.push('\n');
    }
    let mut file = File::create(&temporary)?;
    file.write_all(content.as_bytes())?;
    if keep_stamp {
        file.set_modified(old.modified()?)?;
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// `text` padded with a comment to `len` bytes (file-change swaps alternate lengths, so the
/// watcher sees a change even on a file system with coarse timestamps).
fn padded(text: &str, len: usize) -> String {
    let mut content = text.to_owned();
    content.push('#');
    content.push_str(&"x".repeat(len.saturating_sub(content.len() + 1)));
    content.push('\n');
    content
}

/// One request of the load, as its client saw it.
#[derive(Debug, Clone)]
struct Outcome {
    list: bool,
    started: Instant,
    ended: Instant,
    /// The status, or why there was none.
    status: Result<u16, String>,
}

/// Sends `path` over and over on one keep-alive connection until `stop`; reconnects after a
/// transport failure (which is recorded, and fails the test).
fn hammer(socket: PathBuf, path: &'static str, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let list = path.contains("containers");
    let head = request_head("GET", path, None, false);
    let deadline = Instant::now() + LOAD_LIMIT;
    let mut outcomes = Vec::new();
    let mut conn: Option<HttpConnection> = None;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let started = Instant::now();
        let status = (|| -> Result<u16> {
            if conn.is_none() {
                conn = Some(HttpConnection::open(&socket)?);
            }
            let c = conn.as_mut().context("no connection")?;
            c.send(head.as_bytes())?;
            let response = c.read_response()?;
            if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
                bail!("the server closed the keep-alive connection after {}", response.status);
            }
            Ok(response.status)
        })();
        if status.is_err() {
            conn = None;
        }
        outcomes.push(Outcome { list, started, ended: Instant::now(), status: status.map_err(|e| format!("{e:#}")) });
    }
    outcomes
}

fn reloads(metrics: &Metrics, result: &str) -> f64 {
    metrics.value(RELOADS, &[("result", result)])
}

fn wait_reloads(port: u16, result: &str, at_least: f64) -> Result<Instant> {
    wait_for_metrics(port, &format!("{RELOADS}{{result={result}}} >= {at_least}"), RELOAD_WAIT, |m| {
        reloads(m, result) >= at_least
    })?;
    Ok(Instant::now())
}

/// A time during which one policy was in force, and what `containers.list` got under it.
struct Phase {
    from: Instant,
    until: Instant,
    list_status: u16,
    how: &'static str,
}

#[test]
fn policies_swap_atomically_under_load() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    let (_runtime, stub) = Stub::on_own_runtime(&engine, Duration::ZERO)?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, padded(WITH_LIST, 300))?;
    let mut gw =
        Gateway::builder().policy(&policy).upstream(&format!("unix://{}", engine.display())).admin().start()?;
    let port = gw.admin_port().context("no admin port")?;

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = ["/_ping", "/_ping", "/v1.41/containers/json", "/v1.41/containers/json"]
        .into_iter()
        .map(|path| {
            let (socket, stop) = (gw.socket().to_path_buf(), stop.clone());
            thread::spawn(move || hammer(socket, path, stop))
        })
        .collect();

    // The swaps; each phase lasts from the moment its reload is counted to the next write.
    let swaps = (|| -> Result<(Vec<Phase>, Instant)> {
        let mut phases = Vec::new();
        let mut from = Instant::now();
        let mut list_status = 200;
        let mut how = "initial policy";
        let steps: [(&str, &str, u16, bool); 4] = [
            ("file change", WITHOUT_LIST, 403, false),
            ("SIGHUP", WITH_LIST, 200, true),
            ("file change", WITHOUT_LIST, 403, false),
            ("SIGHUP", WITH_LIST, 200, true),
        ];
        for (ok, (trigger, text, status, by_signal)) in (1u32..).zip(steps) {
            thread::sleep(DWELL);
            let until = Instant::now();
            phases.push(Phase { from, until, list_status, how });
            if by_signal {
                replace(&policy, text, true)?;
                gw.signal("HUP")?;
            } else {
                // Each file-change version has a length of its own.
                replace(&policy, &padded(text, 300 + 20 * ok as usize), false)?;
            }
            from = wait_reloads(port, "ok", f64::from(ok))?;
            (list_status, how) = (status, trigger);
        }
        thread::sleep(DWELL);
        phases.push(Phase { from, until: Instant::now(), list_status, how });

        // The rest of the hundred reloads back to back, by SIGHUP, the load running throughout;
        // the last allows `containers.list` again.
        for ok in (steps.len() as u32 + 1)..=RELOADS_UNDER_LOAD {
            let text = if ok % 2 == 0 { WITH_LIST } else { WITHOUT_LIST };
            replace(&policy, text, true)?;
            gw.signal("HUP")?;
            wait_reloads(port, "ok", f64::from(ok))?;
        }

        // An invalid version by file change, then SIGHUP with it still there: both refused.
        replace(&policy, INVALID, false)?;
        let refused = wait_reloads(port, "failed", 1.0)?;
        gw.signal("HUP")?;
        wait_reloads(port, "failed", 2.0)?;
        thread::sleep(DWELL);
        Ok((phases, refused))
    })();
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients.into_iter().flat_map(|c| c.join().expect("a load thread panicked")).collect();
    let (phases, refused) = swaps?;

    // Transport and engine: nothing failed.
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status.as_ref().map_or(true, |s| *s >= 500)).collect();
    ensure!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)]
    );
    let status_of = |o: &Outcome| o.status.clone().unwrap_or_default();
    let (lists, pings): (Vec<&Outcome>, Vec<&Outcome>) = outcomes.iter().partition(|o| o.list);
    ensure!(pings.len() >= 50 && lists.len() >= 50, "too little load: {} pings, {} lists", pings.len(), lists.len());
    let odd_pings: Vec<u16> = pings.iter().map(|o| status_of(o)).filter(|s| *s != 200).collect();
    ensure!(odd_pings.is_empty(), "_ping is allowed by every version, yet got {odd_pings:?}");
    let allowed = lists.iter().filter(|o| status_of(o) == 200).count();
    let denied = lists.iter().filter(|o| status_of(o) == 403).count();
    ensure!(allowed + denied == lists.len(), "containers.list got other statuses than 200 and 403");
    ensure!(allowed > 0 && denied > 0, "containers.list got {allowed} 200s and {denied} 403s");
    eprintln!(
        "load: {} pings, {} lists ({allowed} allowed, {denied} denied) across {RELOADS_UNDER_LOAD} reloads, 0 failed",
        pings.len(),
        lists.len()
    );

    // Within each phase, every request decided wholly under that phase's policy.
    for phase in &phases {
        let inside: Vec<&&Outcome> =
            lists.iter().filter(|o| o.started >= phase.from && o.ended <= phase.until).collect();
        eprintln!("{}: {} containers.list requests, all expected {}", phase.how, inside.len(), phase.list_status);
        ensure!(!inside.is_empty(), "no containers.list request ran wholly after the {} reload", phase.how);
        let wrong: Vec<u16> = inside.iter().map(|o| status_of(o)).filter(|s| *s != phase.list_status).collect();
        ensure!(
            wrong.is_empty(),
            "after the {} reload containers.list should get {}, {} of {} got {wrong:?}",
            phase.how,
            phase.list_status,
            wrong.len(),
            inside.len()
        );
    }
    // After the invalid file, the last valid policy (containers.list allowed) still decides.
    let after: Vec<u16> = lists.iter().filter(|o| o.started >= refused).map(|o| status_of(o)).collect();
    ensure!(!after.is_empty(), "no containers.list request after the invalid policy was refused");
    ensure!(after.iter().all(|s| *s == 200), "after the refused reload containers.list got {after:?}");

    // Metrics agree with what the clients saw, and denied requests never reached the engine.
    let counted = [
        (("system.ping", "allow", "ping", "200"), pings.len()),
        (("containers.list", "allow", "list", "200"), allowed),
        (("containers.list", "deny", "", "403"), denied),
    ];
    for ((operation, decision, rule, status), seen) in counted {
        let labels = [("operation", operation), ("decision", decision), ("rule", rule), ("status", status)];
        wait_for_metric(port, REQUESTS, &labels, seen as f64, Duration::from_secs(10))?;
    }
    let metrics = Metrics::scrape(port)?;
    ensure!(
        reloads(&metrics, "ok") >= f64::from(RELOADS_UNDER_LOAD) && reloads(&metrics, "failed") >= 2.0,
        "{}",
        metrics.lines_of(RELOADS)
    );
    let reached = stub.seen().iter().filter(|s| s.target.contains("/containers/json")).count();
    ensure!(reached == allowed, "the engine got {reached} containers.list requests, clients saw {allowed} allowed");
    stub.stop();

    // Every error of the invalid file, with its position.
    let stderr = gw.stderr();
    let file = policy.display();
    for wanted in [
        format!("{file}:6:25: unknown operation `containers.lst`"),
        format!("{file}:9:6: rule id `ping` is already used"),
    ] {
        ensure!(stderr.contains(&wanted), "sockgate's stderr lacks `{wanted}`:\n{stderr}");
    }
    Ok(())
}

/// The counter in a `tick-<n>` line.
fn tick(line: &str) -> Result<u64> {
    line.strip_prefix("tick-").and_then(|n| n.parse().ok()).with_context(|| format!("not a tick line: `{line}`"))
}

#[test]
fn streams_outlive_a_reload_that_would_deny_them() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let ticker = scratch.container("reload-ticker");
    let echo = scratch.container("reload-echo");
    real_docker(&[
        "run",
        "-d",
        "--name",
        &ticker,
        TEST_IMAGE,
        "sh",
        "-c",
        "i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done",
    ])?
    .ok()?;
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.toml");
    let broad = "version = 1\n[[rule]]\nid = \"broad\"\nallow = [\"system.*\", \"containers.*\"]\n";
    let narrow =
        "version = 1\n[[rule]]\nid = \"narrow\"\nallow = [\"system.*\", \"containers.list\", \"containers.inspect\"]\n";
    std::fs::write(&policy, broad)?;
    let mut gw = Gateway::builder().policy(&policy).admin().start()?;
    let port = gw.admin_port().context("no admin port")?;

    let mut logs_cmd = docker_command(&gw.host());
    logs_cmd.args(["logs", "-f", "--tail", "1", &ticker]);
    let mut logs = Streaming::spawn(logs_cmd)?;
    let last_before = tick(&logs.next_line(Duration::from_secs(15))?)?;
    let mut attach_cmd = docker_command(&gw.host());
    attach_cmd.args(["run", "-i", "--rm", "--name", &echo, TEST_IMAGE, "cat"]);
    let mut attached = Streaming::spawn_with_stdin(attach_cmd)?;
    attached.write_stdin(b"before-reload\n")?;
    attached.expect_line("before-reload", Duration::from_secs(15))?;

    // Narrow the policy by file change, then reload once more by SIGHUP.
    replace(&policy, narrow, false)?;
    wait_reloads(port, "ok", 1.0)?;
    gw.signal("HUP")?;
    wait_reloads(port, "ok", 2.0)?;
    let denied = docker(&gw, &["logs", &ticker])?;
    ensure!(
        !denied.success() && denied.stderr.contains("containers.logs") && denied.stderr.contains("no rule allows it"),
        "the narrowed policy should deny a new `docker logs`: {denied}"
    );

    // The follow stream opened before still delivers fresh lines, in order.
    let mut last = last_before;
    for _ in 0..5 {
        let next = tick(&logs.next_line(Duration::from_secs(10))?)?;
        ensure!(next == last + 1, "logs -f jumped from tick-{last} to tick-{next}");
        last = next;
    }
    ensure!(logs.is_running()?, "`docker logs -f` ended: {}", logs.stderr());
    // The attach tunnel still carries data both ways.
    attached.write_stdin(b"after-reload\n")?;
    attached.expect_line("after-reload", Duration::from_secs(15))?;
    ensure!(attached.is_running()?, "`docker run -i` ended: {}", attached.stderr());
    let metrics = Metrics::scrape(port)?;
    let tunnels = metrics.get("sockgate_tunnels_open", &[]).unwrap_or_default();
    ensure!(tunnels >= 1.0, "the attach tunnel is not counted open: {tunnels}");
    Ok(())
}
