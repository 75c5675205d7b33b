//! The printed report: one table of direct against each proxy's figures, one of sockgate with
//! ownership against sockgate without, one of targets against nginx in the same run and the peers'
//! reference figures. It only formats; it never fails the run on a missed target.

use crate::load::{RequestStats, StreamStats};

/// One phase measured straight on the stub socket, through sockgate unless the run is
/// direct-only, and through nginx when the run has one.
pub struct Scenario<T> {
    pub direct: T,
    pub sockgate: Option<T>,
    pub nginx: Option<T>,
    /// Through sockgate with `--owner`, in the ownership phases.
    pub owned: Option<T>,
    /// Cores other processes on the machine kept busy meanwhile, on average.
    pub others: f64,
}

impl<T> Scenario<T> {
    /// The proxies' figures in column order: sockgate, then nginx when the report shows it.
    fn proxied(&self, nginx: bool) -> Vec<Option<&T>> {
        let mut cells = vec![self.sockgate.as_ref()];
        if nginx {
            cells.push(self.nginx.as_ref());
        }
        cells
    }
}

/// Every phase's measurement, or nothing for a phase the run left out.
pub struct Results {
    pub list_kb: f64,
    pub inspect_kb: f64,
    pub stream_mb: u64,
    /// Whether the run measured nginx; without it, its columns are left out.
    pub nginx: bool,
    pub ping1: Option<Scenario<RequestStats>>,
    pub ping32: Option<Scenario<RequestStats>>,
    pub list32: Option<Scenario<RequestStats>>,
    pub download: Option<Scenario<StreamStats>>,
    pub upload: Option<Scenario<StreamStats>>,
    pub inspect1: Option<Scenario<RequestStats>>,
    pub list1: Option<Scenario<RequestStats>>,
}

/// Minimum sockgate/direct throughput at 32 connections and for streams.
const MIN_RATIO: f64 = 0.45;
/// Maximum added median latency at 1 connection, in microseconds.
const MAX_ADDED_US: f64 = 25.0;
/// Maximum median latency ownership adds to sockgate's at 1 connection, cache warm, in microseconds.
const MAX_OWNERSHIP_US: f64 = 10.0;

pub fn print(r: &Results) {
    let mut header = vec!["scenario", "direct", "sockgate", "sockgate/direct", "sockgate CPU"];
    if r.nginx {
        header.extend(["nginx", "nginx/direct", "nginx CPU"]);
    }
    let mut rows = vec![header.into_iter().map(String::from).collect()];
    requests_rows(&mut rows, "GET /_ping, 1 conn", r.ping1.as_ref(), r.nginx, true);
    requests_rows(&mut rows, "GET /_ping, 32 conns", r.ping32.as_ref(), r.nginx, false);
    let list = format!("GET /containers/json ({:.1} KB), 32 conns", r.list_kb);
    requests_rows(&mut rows, &list, r.list32.as_ref(), r.nginx, false);
    let down = format!("download {} MB (GET /containers/{{id}}/export)", r.stream_mb);
    stream_rows(&mut rows, &down, r.download.as_ref(), r.nginx);
    let up = format!("upload {} MB (PUT /containers/{{id}}/archive)", r.stream_mb);
    stream_rows(&mut rows, &up, r.upload.as_ref(), r.nginx);
    println!();
    table(&rows);
    if r.inspect1.is_some() || r.list1.is_some() {
        println!();
        table(&ownership(r));
    }
    println!();
    table(&targets(r));
    println!("\n(targets are informational: the bench never fails on speed)");

    let others: Vec<(&str, f64)> = [
        ("ping 1 conn", r.ping1.as_ref().map(|p| p.others)),
        ("ping 32 conns", r.ping32.as_ref().map(|p| p.others)),
        ("json 32 conns", r.list32.as_ref().map(|p| p.others)),
        ("download", r.download.as_ref().map(|p| p.others)),
        ("upload", r.upload.as_ref().map(|p| p.others)),
        ("inspect 1 conn", r.inspect1.as_ref().map(|p| p.others)),
        ("json 1 conn", r.list1.as_ref().map(|p| p.others)),
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

/// sockgate's ratios and added latency against the goals, beside nginx's from this run and the
/// figures nginx and Tecnativa's HAProxy-based proxy reached on another machine.
fn targets(r: &Results) -> Vec<Vec<String>> {
    let mut header = vec!["target", "goal", "measured"];
    if r.nginx {
        header.push("nginx (this run)");
    }
    header.extend(["nginx (reference)", "HAProxy (reference)", ""]);
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let text = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}x"));
    let min = format!(">= {MIN_RATIO:.2}x");
    for (name, [ours, theirs], nginx_ref, haproxy_ref) in [
        ("req/s at 32 conns, GET /_ping", ratios(&r.ping32), "0.43x", "0.22x"),
        ("req/s at 32 conns, GET /containers/json", ratios(&r.list32), "0.43x", "0.22x"),
        ("download throughput", ratios(&r.download), "0.38x", "0.27x"),
        ("upload throughput", ratios(&r.upload), "0.38x", "0.27x"),
    ] {
        let mut cells = vec![name.to_owned(), min.clone(), text(ours)];
        if r.nginx {
            cells.push(text(theirs));
        }
        cells.extend([nginx_ref, haproxy_ref, verdict(ours.map(|x| x >= MIN_RATIO))].map(String::from));
        rows.push(cells);
    }
    let [ours, theirs] = r.ping1.as_ref().map_or([None, None], |s| {
        let added = |x: Option<&RequestStats>| x.map(|x| x.latency_us(0.5) - s.direct.latency_us(0.5));
        [added(s.sockgate.as_ref()), added(s.nginx.as_ref())]
    });
    let text = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:+.1} µs"));
    let mut cells = vec!["added median latency, 1 conn".to_owned(), format!("<= {MAX_ADDED_US:.0} µs"), text(ours)];
    if r.nginx {
        cells.push(text(theirs));
    }
    cells.extend(["~22 µs", "~120 µs", verdict(ours.map(|x| x <= MAX_ADDED_US))].map(String::from));
    rows.push(cells);
    let owned = [("inspect by id", r.inspect1.as_ref(), false), ("list", r.list1.as_ref(), true)];
    for (what, s, _) in owned {
        let added = s.and_then(|s| Some(s.owned.as_ref()?.latency_us(0.5) - s.sockgate.as_ref()?.latency_us(0.5)));
        let name = format!("added median latency of ownership, {what}, 1 conn");
        let cells = [name, format!("<= {MAX_OWNERSHIP_US:.0} µs"), text(added)];
        rows.push(reference_free(cells, r.nginx, verdict(added.map(|x| x <= MAX_OWNERSHIP_US))));
    }
    for (what, s, list) in owned {
        let x = s.and_then(|s| s.owned.as_ref());
        let cells = [format!("engine requests per {what} with ownership"), "1.00".to_owned(), engine_text(x)];
        rows.push(reference_free(cells, r.nginx, verdict(x.and_then(|x| warm(x, list)))));
    }
    rows
}

/// A target row with no nginx or reference figure.
fn reference_free(cells: [String; 3], nginx: bool, verdict: &str) -> Vec<String> {
    let mut row = cells.to_vec();
    if nginx {
        row.push("-".into());
    }
    row.extend(["-", "-", verdict].map(String::from));
    row
}

/// Engine requests per client request on one path, as `1.000`.
fn engine_text(x: Option<&RequestStats>) -> String {
    let ratio = x.and_then(|x| Some(x.engine?.total() as f64 / x.answered.max(1) as f64));
    ratio.map_or("-".into(), |r| format!("{r:.3}"))
}

/// Whether the engine served one request per client request, bar the first inspect of a container
/// (the cache's one miss), and for a list, every one with the owner filter merged in.
fn warm(x: &RequestStats, list: bool) -> Option<bool> {
    let engine = x.engine?;
    let extra = engine.total().saturating_sub(x.answered);
    Some(if list {
        engine.total() == x.answered && engine.list == x.answered && engine.owner_filtered == x.answered
    } else {
        engine.total() >= x.answered && extra <= 1 && engine.inspect == engine.total()
    })
}

/// sockgate with `--owner` against sockgate without, in the ownership phases: rates, CPU, latency
/// and what the engine served per client request.
fn ownership(r: &Results) -> Vec<Vec<String>> {
    let header = ["with ownership", "direct", "sockgate", "sockgate --owner", "ownership adds"];
    let mut rows = vec![header.map(String::from).to_vec()];
    let inspect = format!("GET /v1.41/containers/{{id}}/json ({:.1} KB), 1 conn", r.inspect_kb);
    let list = format!("GET /containers/json ({:.1} KB), 1 conn", r.list_kb);
    for (name, s, is_list) in [(inspect, r.inspect1.as_ref(), false), (list, r.list1.as_ref(), true)] {
        let Some(s) = s else {
            absent(&mut rows, &name);
            continue;
        };
        let paths = [Some(&s.direct), s.sockgate.as_ref(), s.owned.as_ref()];
        let cell = |f: &dyn Fn(&RequestStats) -> String| paths.map(|x| x.map_or("-".into(), f));
        let both = s.sockgate.as_ref().zip(s.owned.as_ref());
        let row = |label: String, cells: [String; 3], added: String| {
            let mut row = vec![label];
            row.extend(cells);
            row.push(added);
            row
        };
        let ratio = both.map_or("-".into(), |(a, b)| format!("{:.2}x req/s", b.per_sec() / a.per_sec()));
        rows.push(row(name, cell(&|x| x.rate_text()), ratio));
        let cpu = both.and_then(|(a, b)| Some(b.cpu_us_per_request()? - a.cpu_us_per_request()?));
        let cpu = cpu.map_or("-".into(), |d| format!("{d:+.1} µs/req"));
        rows.push(row("  proxy CPU".into(), cell(&|x| x.cpu_text()), cpu));
        for (label, q) in [("median", 0.5), ("p99", 0.99)] {
            let added = both.map_or("-".into(), |(a, b)| format!("{:+.1} µs", b.latency_us(q) - a.latency_us(q)));
            rows.push(row(format!("  {label} latency"), cell(&|x| format!("{:.1} µs", x.latency_us(q))), added));
        }
        let engine = paths.map(engine_text);
        rows.push(row("  engine requests per client request".into(), engine, String::new()));
        let extra = |x: &RequestStats| {
            x.engine.map_or("-".into(), |e| (i128::from(e.total()) - i128::from(x.answered)).to_string())
        };
        rows.push(row("  engine requests beyond the client's".into(), cell(&extra), String::new()));
        if is_list {
            let filtered = |x: &RequestStats| match x.engine {
                Some(e) => format!("{} of {}", thousands(e.owner_filtered as f64), thousands(e.list as f64)),
                None => "-".into(),
            };
            rows.push(row("  engine lists with the owner filter".into(), cell(&filtered), String::new()));
        }
        for (who, x) in [("direct", Some(&s.direct)), ("sockgate", s.sockgate.as_ref()), ("--owner", s.owned.as_ref())]
        {
            if let Some(x) = x.filter(|x| x.errors > 0) {
                rows.push(vec![format!("  ({who}: {} failed requests)", x.errors)]);
            }
        }
    }
    rows
}

/// sockgate's and nginx's throughput as a share of direct access, where measured.
fn ratios<T: Figures>(s: &Option<Scenario<T>>) -> [Option<f64>; 2] {
    let Some(s) = s else { return [None, None] };
    let ratio = |x: Option<&T>| x.map(|x| x.rate() / s.direct.rate());
    [ratio(s.sockgate.as_ref()), ratio(s.nginx.as_ref())]
}

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

/// What the table shows of one path's figures in a phase.
trait Figures {
    /// Requests or megabytes per second.
    fn rate(&self) -> f64;
    fn rate_text(&self) -> String;
    /// The proxy's CPU time per request or per MB, when it was read.
    fn cpu_text(&self) -> String;
}

impl Figures for RequestStats {
    fn rate(&self) -> f64 {
        self.per_sec()
    }

    fn rate_text(&self) -> String {
        format!("{} req/s", thousands(self.per_sec()))
    }

    fn cpu_text(&self) -> String {
        self.cpu_us_per_request().map_or("-".into(), |us| format!("{us:.1} µs/req"))
    }
}

impl Figures for StreamStats {
    fn rate(&self) -> f64 {
        self.mb_per_sec()
    }

    fn rate_text(&self) -> String {
        format!("{:.0} MB/s", self.mb_per_sec())
    }

    fn cpu_text(&self) -> String {
        self.cpu_us_per_mb().map_or("-".into(), |us| format!("{us:.0} µs/MB"))
    }
}

/// A phase's first row: direct's rate, then each proxy's rate, share of direct and CPU.
fn first_row<T: Figures>(name: &str, s: &Scenario<T>, nginx: bool) -> Vec<String> {
    let mut cells = vec![name.to_owned(), s.direct.rate_text()];
    for x in s.proxied(nginx) {
        cells.extend(match x {
            Some(x) => [x.rate_text(), format!("{:.2}x", x.rate() / s.direct.rate()), x.cpu_text()],
            None => ["-", "-", "-"].map(String::from),
        });
    }
    cells
}

fn requests_rows(
    rows: &mut Vec<Vec<String>>,
    name: &str,
    s: Option<&Scenario<RequestStats>>,
    nginx: bool,
    latency: bool,
) {
    let Some(s) = s else { return absent(rows, name) };
    rows.push(first_row(name, s, nginx));
    if latency {
        for (label, q) in [("median", 0.5), ("p99", 0.99)] {
            let d = s.direct.latency_us(q);
            let mut line = vec![format!("  {label} latency"), format!("{d:.1} µs")];
            for x in s.proxied(nginx) {
                line.extend(match x.map(|x| x.latency_us(q)) {
                    Some(l) => [format!("{l:.1} µs"), format!("{:+.1} µs", l - d), String::new()],
                    None => ["-", "-", ""].map(String::from),
                });
            }
            rows.push(line);
        }
    }
    for (who, x) in [("direct", Some(&s.direct)), ("sockgate", s.sockgate.as_ref()), ("nginx", s.nginx.as_ref())] {
        if let Some(x) = x.filter(|x| x.errors > 0) {
            rows.push(vec![format!("  ({who}: {} failed requests)", x.errors)]);
        }
    }
}

fn stream_rows(rows: &mut Vec<Vec<String>>, name: &str, s: Option<&Scenario<StreamStats>>, nginx: bool) {
    let Some(s) = s else { return absent(rows, name) };
    rows.push(first_row(name, s, nginx));
    let transfers = |x: &StreamStats| format!("{} in {:.2} s", x.transfers, x.elapsed.as_secs_f64());
    let mut line = vec!["  transfers".to_owned(), transfers(&s.direct)];
    for x in s.proxied(nginx) {
        line.extend([x.map_or("-".into(), transfers), String::new(), String::new()]);
    }
    rows.push(line);
}

/// Prints a Markdown table with padded columns, so it reads in a terminal and pastes into docs.
/// A row shorter than the header is padded with empty cells.
pub fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let line = |cells: &[String]| {
        let cell = |c: usize| cells.get(c).map_or("", String::as_str);
        let padded: Vec<String> = widths.iter().enumerate().map(|(c, w)| format!("{:<w$}", cell(c))).collect();
        println!("| {} |", padded.join(" | "));
    };
    for (i, r) in rows.iter().enumerate() {
        line(r);
        if i == 0 {
            line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        }
    }
}

/// `12345.6` -> `12,346`.
pub fn thousands(x: f64) -> String {
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
