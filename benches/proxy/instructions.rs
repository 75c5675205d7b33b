//! The instructions phase: user-space instructions per proxied `/_ping` and 20 KB
//! `/containers/json`, counted by callgrind, for sockgate and nginx in turn, each run under
//! `valgrind --tool=callgrind` in front of the same stub and driven by oha on 4 connections after a
//! warm-up. Rates and CPU times move by 10 to 20% from run to run on a shared machine; this count
//! moves by a few hundred instructions (the timers that happen to fire), so a change's effect can
//! be read off one run. It runs when valgrind, callgrind_control and oha are found, and never in
//! a smoke run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _};

use crate::child::Proxy;

/// Requests counted, after [`WARM_UP`] requests that are not.
pub const REQUESTS: u64 = 4_000;
const WARM_UP: u64 = 500;
const CONNECTIONS: u32 = 4;

/// valgrind and callgrind_control, when both are on `PATH`.
pub fn find() -> Option<(PathBuf, PathBuf)> {
    let paths = std::env::var_os("PATH")?;
    let on_path = |name: &str| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file());
    Some((on_path("valgrind")?, on_path("callgrind_control")?))
}

/// `command` as valgrind runs it under callgrind, its counts written to `out` as `NAME.PID`.
pub fn under_callgrind(valgrind: &Path, command: &Command, out: &Path, name: &str) -> Command {
    let mut wrapped = Command::new(valgrind);
    wrapped
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}/{name}.%p", out.display()))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// Instructions per request for each of `paths` through `proxy`, which runs under callgrind
/// writing to `out` with files named `name.PID`: the counts of all its processes (nginx's workers
/// with its master), zeroed after a warm-up and dumped after [`REQUESTS`] requests, path by path.
pub fn per_request(
    proxy: &Proxy,
    control: &Path,
    oha: &Path,
    out: &Path,
    name: &str,
    paths: &[&str],
) -> anyhow::Result<Vec<f64>> {
    let pids: Vec<String> = proxy.pids().iter().map(u32::to_string).collect();
    let mut counts = Vec::with_capacity(paths.len());
    for path in paths {
        drive(oha, proxy.socket(), path, WARM_UP)?;
        run(control, "-z", &pids)?;
        drive(oha, proxy.socket(), path, REQUESTS)?;
        let before = pids.iter().map(|pid| dumps(out, name, pid)).collect::<anyhow::Result<Vec<_>>>()?;
        run(control, "-d", &pids)?;
        counts.push(dumped(out, name, &pids, &before)?);
    }
    Ok(counts)
}

/// How many dumps callgrind has written for process `pid` (files `name.PID.N`, N from 1).
fn dumps(out: &Path, name: &str, pid: &str) -> anyhow::Result<usize> {
    let prefix = format!("{name}.{pid}.");
    let entries = std::fs::read_dir(out).with_context(|| format!("reading `{}`", out.display()))?;
    let mut count = 0;
    for entry in entries {
        count += usize::from(entry?.file_name().to_string_lossy().starts_with(&prefix));
    }
    Ok(count)
}

/// Instructions per request in the dump each of `pids` wrote after the `before` it had written.
fn dumped(out: &Path, name: &str, pids: &[String], before: &[usize]) -> anyhow::Result<f64> {
    let mut total = 0u64;
    for (pid, before) in pids.iter().zip(before) {
        // The process's counts since it was last zeroed. A process that ran no code meanwhile
        // (nginx's master, asleep) never takes the command and has none.
        let dump = out.join(format!("{name}.{pid}.{}", before + 1));
        let Ok(text) = std::fs::read_to_string(&dump) else { continue };
        total += totals(&text).with_context(|| format!("no totals in `{}`", dump.display()))?;
    }
    ensure!(total > 0, "callgrind counted nothing for {name} (no dump in `{}`)", out.display());
    Ok(total as f64 / REQUESTS as f64)
}

/// The `totals:` (or, without one, `summary:`) line of a callgrind dump.
fn totals(text: &str) -> Option<u64> {
    let line = |key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    line("totals:").or_else(|| line("summary:"))
}

fn run(control: &Path, flag: &str, pids: &[String]) -> anyhow::Result<()> {
    let output = Command::new(control)
        .arg(flag)
        .args(pids)
        .output()
        .with_context(|| format!("running `{}`", control.display()))?;
    if !output.status.success() {
        bail!("callgrind_control {flag} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Sends `requests` requests for `path` with oha and fails unless all were answered 200.
fn drive(oha: &Path, socket: &Path, path: &str, requests: u64) -> anyhow::Result<()> {
    let output = Command::new(oha)
        .args(["--no-tui", "--output-format", "json", "-c", &CONNECTIONS.to_string(), "-n", &requests.to_string()])
        .arg("--unix-socket")
        .arg(socket)
        .arg(format!("http://docker{path}"))
        .output()
        .with_context(|| format!("running `{}`", oha.display()))?;
    if !output.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading oha's JSON report")?;
    let ok = report["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    ensure!(ok == requests, "{ok} of {requests} requests through {} were answered 200", socket.display());
    Ok(())
}

/// Where the proxies under callgrind write their counts.
pub fn out_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join("callgrind");
    std::fs::create_dir_all(&out).with_context(|| format!("creating `{}`", out.display()))?;
    Ok(out)
}
