//! The engine killed and restarted under load, on the real binary in front of the stub engine
//! (which is what can be killed at will): requests in flight when it dies get 502, so do those
//! sent while it is away, the first answer comes within a second of its return and no request
//! sent after the return fails (no stale engine connection is used), no client waits without
//! bound, and sockgate holds about as many file descriptors and as much memory after three such
//! deaths as before them.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod in_process;
mod real_binary;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use in_process::Stub;
use real_binary::http::{request_head, HttpConnection};
use real_binary::{Gateway, FULL_ACCESS};

/// Clients sending requests at once, each on its own keep-alive connection.
const CLIENTS: usize = 8;
/// How long the stub engine takes to answer, so requests are in flight when it dies.
const ENGINE_DELAY: Duration = Duration::from_millis(100);
/// How long the engine stays away each time.
const AWAY: Duration = Duration::from_millis(500);
const DEATHS: usize = 3;
/// How long after the engine's return a request may still fail.
const RECOVERY: Duration = Duration::from_secs(1);
/// The most a client waits for one answer: past it, the client counts as hung.
const CLIENT_WAIT: Duration = Duration::from_secs(5);
/// How many more file descriptors sockgate may hold after the deaths than before: its pool of
/// engine connections may hold a few more or fewer.
const FD_SLACK: usize = 8;
/// How much more resident memory: allocator caches settle at their own size.
const RSS_SLACK_KB: u64 = 4096;

#[derive(Debug, Clone)]
struct Outcome {
    started: Instant,
    ended: Instant,
    status: Result<u16, String>,
}

/// `containers.list` over and over on one connection until `stop`, reconnecting after a failure.
fn client(socket: PathBuf, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let head = request_head("GET", "/v1.41/containers/json", None, false);
    let mut outcomes = Vec::new();
    let mut conn: Option<HttpConnection> = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let status = (|| -> Result<u16> {
            if conn.is_none() {
                conn = Some(HttpConnection::open_with_timeout(&socket, CLIENT_WAIT)?);
            }
            let c = conn.as_mut().context("no connection")?;
            c.send(head.as_bytes())?;
            Ok(c.read_response()?.status)
        })();
        if status.is_err() {
            conn = None;
        }
        outcomes.push(Outcome { started, ended: Instant::now(), status: status.map_err(|e| format!("{e:#}")) });
    }
    outcomes
}

/// Runs the clients until `during` returns; what each request got.
fn under_load<T>(socket: &Path, during: impl FnOnce() -> Result<T>) -> Result<(T, Vec<Outcome>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (socket, stop) = (socket.to_path_buf(), stop.clone());
            thread::spawn(move || client(socket, stop))
        })
        .collect();
    let result = during();
    stop.store(true, Ordering::Relaxed);
    let outcomes = clients.into_iter().flat_map(|c| c.join().expect("a client panicked")).collect();
    Ok((result?, outcomes))
}

/// Open file descriptors and resident kilobytes of process `pid`.
fn footprint(pid: u32) -> Result<(usize, u64)> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")?;
    Ok((fds, rss))
}

#[test]
fn engine_killed_and_restarted_under_load() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = dir.path().join("engine.sock");
    let (runtime, stub) = Stub::on_own_runtime(&engine, ENGINE_DELAY)?;
    let mut stub = Some(stub);
    let gw = Gateway::builder().policy(FULL_ACCESS).upstream(&format!("unix://{}", engine.display())).start()?;
    let socket = gw.socket().to_path_buf();

    // The same load once with the engine up throughout, so buffers and pools are at their size.
    let ((), warm) = under_load(&socket, || {
        thread::sleep(Duration::from_secs(2));
        Ok(())
    })?;
    ensure!(warm.iter().all(|o| o.status.as_ref().is_ok_and(|s| *s == 200)), "failures with the engine up");
    thread::sleep(Duration::from_millis(300));
    let before = footprint(gw.pid())?;

    let (events, outcomes) = under_load(&socket, || {
        let mut events = Vec::new();
        for _ in 0..DEATHS {
            thread::sleep(Duration::from_millis(1500));
            let killed = Instant::now();
            // Its connections go with it, in flight or not, as when dockerd dies.
            if let Some(engine) = stub.take() {
                engine.stop();
            }
            thread::sleep(AWAY);
            let back = Instant::now();
            stub = Some(runtime.block_on(Stub::start(&engine, ENGINE_DELAY)));
            events.push((killed, back));
        }
        thread::sleep(Duration::from_millis(1500));
        Ok(events)
    })?;
    drop(stub);
    thread::sleep(Duration::from_millis(300));
    let after = footprint(gw.pid())?;

    // Nobody hung or saw anything but an answer.
    let broken: Vec<&Outcome> = outcomes.iter().filter(|o| o.status.is_err()).collect();
    ensure!(broken.is_empty(), "{} requests got no answer: {:?}", broken.len(), &broken[..broken.len().min(5)]);
    let status = |o: &Outcome| o.status.clone().unwrap_or_default();
    let odd: Vec<u16> = outcomes.iter().map(status).filter(|s| *s != 200 && *s != 502).collect();
    ensure!(odd.is_empty(), "statuses other than 200 and 502: {odd:?}");
    let longest = outcomes.iter().map(|o| o.ended - o.started).max().unwrap_or_default();
    let mut in_flight_502 = 0;
    for (n, (killed, back)) in events.iter().enumerate() {
        // In flight when it died: answered 502 (or 200, when the answer was on its way already).
        let in_flight: Vec<u16> =
            outcomes.iter().filter(|o| o.started < *killed && o.ended > *killed).map(status).collect();
        in_flight_502 += in_flight.iter().filter(|s| **s == 502).count();
        // Sent while it was away: 502.
        let away: Vec<u16> = outcomes.iter().filter(|o| o.started > *killed && o.ended < *back).map(status).collect();
        ensure!(away.iter().all(|s| *s == 502), "death {n}: requests while the engine was away got {away:?}");
        // Back: every request sent a second after its return succeeds.
        let late: Vec<u16> = outcomes
            .iter()
            .filter(|o| o.started > *back + RECOVERY && events.get(n + 1).is_none_or(|(next, _)| o.ended < *next))
            .map(status)
            .collect();
        ensure!(!late.is_empty() && late.iter().all(|s| *s == 200), "death {n}: after recovery {late:?}");
        // Recovery: the first answer from the engine back, and the last failure of a request sent
        // after its return (none, when sockgate holds no stale engine connection).
        let answered = outcomes
            .iter()
            .filter(|o| o.started >= *back && status(o) == 200)
            .map(|o| o.ended - *back)
            .min()
            .context("no request succeeded after the engine came back")?;
        let before_next = |o: &&Outcome| events.get(n + 1).is_none_or(|(next, _)| o.ended < *next);
        let last_failure = outcomes
            .iter()
            .filter(|o| o.started >= *back && status(o) == 502)
            .filter(before_next)
            .map(|o| o.started - *back)
            .max();
        eprintln!(
            "death {n}: {} in flight ({} got 502), {} sent while away; after the return: first answer {answered:?} \
             (the engine takes {ENGINE_DELAY:?}), last failure {last_failure:?}",
            in_flight.len(),
            in_flight.iter().filter(|s| **s == 502).count(),
            away.len()
        );
        ensure!(answered < RECOVERY, "death {n}: first answer {answered:?} after the engine's return");
        ensure!(last_failure.is_none_or(|t| t < RECOVERY), "death {n}: a failure {last_failure:?} after the return");
    }
    ensure!(in_flight_502 > 0, "no request was in flight when the engine died: the test proves nothing");
    let failed = outcomes.iter().filter(|o| status(o) == 502).count();
    eprintln!(
        "{} requests, {failed} got 502, longest wait {longest:?}; fds {} -> {}, VmRSS {} kB -> {} kB",
        outcomes.len(),
        before.0,
        after.0,
        before.1,
        after.1
    );
    ensure!(longest < CLIENT_WAIT, "a client waited {longest:?}");
    ensure!(after.0 <= before.0 + FD_SLACK, "file descriptors {} before, {} after", before.0, after.0);
    ensure!(after.1 <= before.1 + RSS_SLACK_KB, "resident memory {} kB before, {} kB after", before.1, after.1);
    Ok(())
}
