//! The printed report: one table of direct against sockgate figures, one of targets against the
//! peers' reference figures. It only formats; it never fails the run on a missed target.

use crate::load::{RequestStats, StreamStats};

/// A measurement taken straight on the stub socket and, unless the run is direct-only, through
/// sockgate.
pub struct Pair<T> {
    pub direct: T,
    pub sockgate: Option<T>,
    /// Cores other processes on the machine kept busy meanwhile, on average.
    pub others: f64,
}

/// Every phase's measurement, or nothing for a phase the run left out.
pub struct Results {
    pub list_kb: f64,
    pub stream_mb: u64,
    pub ping1: Option<Pair<RequestStats>>,
    pub ping32: Option<Pair<RequestStats>>,
    pub list32: Option<Pair<RequestStats>>,
    pub download: Option<Pair<StreamStats>>,
    pub upload: Option<Pair<StreamStats>>,
}

/// Minimum sockgate/direct throughput at 32 connections and for streams.
const MIN_RATIO: f64 = 0.45;
/// Maximum added median latency at 1 connection, in microseconds.
const MAX_ADDED_US: f64 = 25.0;

pub fn print(r: &Results) {
    let mut rows = vec![row(["scenario", "direct", "sockgate", "sockgate/direct", "sockgate CPU"])];
    requests_rows(&mut rows, "GET /_ping, 1 conn", r.ping1.as_ref(), true);
    requests_rows(&mut rows, "GET /_ping, 32 conns", r.ping32.as_ref(), false);
    let list = format!("GET /containers/json ({:.1} KB), 32 conns", r.list_kb);
    requests_rows(&mut rows, &list, r.list32.as_ref(), false);
    let down = format!("download {} MB (GET /containers/{{id}}/export)", r.stream_mb);
    stream_rows(&mut rows, &down, r.download.as_ref());
    let up = format!("upload {} MB (PUT /containers/{{id}}/archive)", r.stream_mb);
    stream_rows(&mut rows, &up, r.upload.as_ref());
    println!();
    table(&rows);

    let ratio_of = |p: &Option<Pair<RequestStats>>| {
        p.as_ref().and_then(|p| p.sockgate.as_ref().map(|s| s.per_sec() / p.direct.per_sec()))
    };
    let stream_ratio = |p: &Option<Pair<StreamStats>>| {
        p.as_ref().and_then(|p| p.sockgate.as_ref().map(|s| s.mb_per_sec() / p.direct.mb_per_sec()))
    };
    let added =
        r.ping1.as_ref().and_then(|p| p.sockgate.as_ref().map(|s| s.latency_us(0.5) - p.direct.latency_us(0.5)));
    let mut targets = vec![row(["target", "goal", "measured", "nginx", "HAProxy (Tecnativa)", ""])];
    let min = format!(">= {MIN_RATIO:.2}x");
    for (name, ratio, nginx, haproxy) in [
        ("req/s at 32 conns, GET /_ping", ratio_of(&r.ping32), "0.43x", "0.22x"),
        ("req/s at 32 conns, GET /containers/json", ratio_of(&r.list32), "0.43x", "0.22x"),
        ("download throughput", stream_ratio(&r.download), "0.38x", "0.27x"),
        ("upload throughput", stream_ratio(&r.upload), "0.38x", "0.27x"),
    ] {
        targets.push(row([
            name,
            &min,
            &ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            nginx,
            haproxy,
            verdict(ratio.map(|x| x >= MIN_RATIO)),
        ]));
    }
    targets.push(row([
        "added median latency, 1 conn",
        &format!("<= {MAX_ADDED_US:.0} µs"),
        &added.map_or("-".into(), |x| format!("{x:+.1} µs")),
        "~22 µs",
        "~120 µs",
        verdict(added.map(|x| x <= MAX_ADDED_US)),
    ]));
    println!();
    table(&targets);
    println!("\n(targets are informational: the bench never fails on speed)");

    let others: Vec<(&str, f64)> = [
        ("ping 1 conn", r.ping1.as_ref().map(|p| p.others)),
        ("ping 32 conns", r.ping32.as_ref().map(|p| p.others)),
        ("json 32 conns", r.list32.as_ref().map(|p| p.others)),
        ("download", r.download.as_ref().map(|p| p.others)),
        ("upload", r.upload.as_ref().map(|p| p.others)),
    ]
    .into_iter()
    .filter_map(|(name, cores)| Some((name, cores?)))
    .collect();
    let listed: Vec<String> = others.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
    println!("\nother processes on this machine kept busy (cores, per scenario): {}", listed.join(", "));
    if others.iter().any(|(_, c)| *c > MAX_OTHERS) {
        println!(
            "WARNING: something else was using the CPU; these figures are disturbed. \
             Run again on an idle machine."
        );
    }
}

/// Cores other processes may keep busy before the figures count as disturbed.
const MAX_OTHERS: f64 = 0.1;

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "-",
    }
}

/// A phase the run left out: its name and a `-` in every other column.
fn absent(rows: &mut Vec<Vec<String>>, name: &str) {
    let mut cells = vec!["-".to_owned(); rows.first().map_or(1, Vec::len)];
    cells[0] = name.to_owned();
    rows.push(cells);
}

fn requests_rows(rows: &mut Vec<Vec<String>>, name: &str, p: Option<&Pair<RequestStats>>, latency: bool) {
    let Some(p) = p else { return absent(rows, name) };
    let rate = |s: &RequestStats| format!("{} req/s", thousands(s.per_sec()));
    let mut first = vec![name.to_owned(), rate(&p.direct)];
    match &p.sockgate {
        Some(s) => first.extend([
            rate(s),
            format!("{:.2}x", s.per_sec() / p.direct.per_sec()),
            s.cpu_us_per_request().map_or("-".into(), |us| format!("{us:.1} µs/req")),
        ]),
        None => first.extend(["-".into(), "-".into(), "-".into()]),
    }
    rows.push(first);
    if latency {
        for (label, q) in [("median", 0.5), ("p99", 0.99)] {
            let d = p.direct.latency_us(q);
            let mut line = vec![format!("  {label} latency"), format!("{d:.1} µs")];
            match &p.sockgate {
                Some(s) => {
                    let g = s.latency_us(q);
                    line.extend([format!("{g:.1} µs"), format!("{:+.1} µs", g - d), String::new()]);
                }
                None => line.extend(["-".into(), "-".into(), String::new()]),
            }
            rows.push(line);
        }
    }
    for (who, s) in [("direct", Some(&p.direct)), ("sockgate", p.sockgate.as_ref())] {
        if let Some(s) = s.filter(|s| s.errors > 0) {
            rows.push(row([&format!("  ({who}: {} failed requests)", s.errors), "", "", "", ""]));
        }
    }
}

fn stream_rows(rows: &mut Vec<Vec<String>>, name: &str, p: Option<&Pair<StreamStats>>) {
    let Some(p) = p else { return absent(rows, name) };
    let rate = |s: &StreamStats| format!("{:.0} MB/s", s.mb_per_sec());
    let mut line = vec![name.to_owned(), rate(&p.direct)];
    match &p.sockgate {
        Some(s) => line.extend([
            rate(s),
            format!("{:.2}x", s.mb_per_sec() / p.direct.mb_per_sec()),
            s.cpu_us_per_mb().map_or("-".into(), |us| format!("{us:.0} µs/MB")),
        ]),
        None => line.extend(["-".into(), "-".into(), "-".into()]),
    }
    rows.push(line);
    let transfers = |s: &StreamStats| format!("{} in {:.2} s", s.transfers, s.elapsed.as_secs_f64());
    rows.push(vec![
        "  transfers".into(),
        transfers(&p.direct),
        p.sockgate.as_ref().map_or("-".into(), transfers),
        String::new(),
        String::new(),
    ]);
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Prints a Markdown table with padded columns, so it reads in a terminal and pastes into docs.
fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("| {} |", padded.join(" | "));
    };
    for (i, r) in rows.iter().enumerate() {
        line(r.clone());
        if i == 0 {
            line(widths.iter().map(|w| "-".repeat(*w)).collect());
        }
    }
}

/// `12345.6` -> `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
