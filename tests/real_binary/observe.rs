//! What a running sockgate says about itself: its admin endpoints over loopback TCP, its
//! Prometheus metrics parsed into samples, its audit log parsed into JSON lines, and the
//! `sockgate` subcommands that read them. Every wait is bounded.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::gateway::clear_compat_env;
use super::http::HttpResponse;
use super::process::{run, CmdOutput};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// A `sockgate` subcommand that ends by itself (`healthcheck`, `policy check`).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET path` on `127.0.0.1:port` with `Connection: close`: status, headers and body.
pub fn admin_get(port: u16, path: &str) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("cannot connect to :{port}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: sockgate\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).with_context(|| format!("reading the answer to GET {path}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else { bail!("no complete head in `{text}`") };
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("bad status line `{status_line}`"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect::<Vec<_>>();
    // The admin endpoints answer with a length; chunked framing would show up in the body.
    if headers.iter().any(|(name, value)| name == "transfer-encoding" && value.contains("chunked")) {
        bail!("GET {path}: chunked answers are not expected from the admin listener:\n{text}");
    }
    Ok(HttpResponse { status, headers, body: body.to_owned() })
}

/// One sample of a metric: `name{labels} value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A scrape of `/metrics`, parsed.
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn scrape(port: u16) -> Result<Metrics> {
        let response = admin_get(port, "/metrics")?;
        if response.status != 200 {
            bail!("GET /metrics answered {}: {}", response.status, response.body);
        }
        let content_type = response.header("content-type").unwrap_or_default();
        if !content_type.starts_with("text/plain") {
            bail!("GET /metrics has content type `{content_type}`, not Prometheus text");
        }
        Metrics::parse(&response.body)
    }

    /// Prometheus' text exposition format: comments, then `name{k="v",...} value [timestamp]`.
    pub fn parse(text: &str) -> Result<Metrics> {
        let mut samples = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            samples.push(parse_sample(line).with_context(|| format!("bad metrics line `{line}`"))?);
        }
        Ok(Metrics { text: text.to_owned(), samples })
    }

    /// The value of the series with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == wanted).map(|s| s.value)
    }

    /// Like `get`, 0 for a series not there yet (a counter that never moved).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// The sum over every series of `name` whose labels include these.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    /// Whether a family has at least one sample (`name` exactly, or `name_bucket` and the like).
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The lines of `name`, for messages.
    pub fn lines_of(&self, name: &str) -> String {
        self.text.lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>().join("\n")
    }
}

fn parse_sample(line: &str) -> Result<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).context("no value")?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut consumed = None;
        loop {
            while chars.next_if(|(_, c)| *c == ',' || c.is_whitespace()).is_some() {}
            match chars.peek() {
                Some((i, '}')) => {
                    consumed = Some(*i + 1);
                    break;
                }
                Some(_) => {}
                None => break,
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                bail!("label `{key}` has no quoted value");
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => bail!("dangling escape"),
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                bail!("unterminated value of label `{key}`");
            }
            labels.insert(key.trim().to_owned(), value);
        }
        let end = consumed.context("unterminated label set")?;
        rest = &inner[end..];
    }
    let value = rest.split_whitespace().next().context("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().with_context(|| format!("value `{v}` is not a number"))?,
    };
    Ok(Sample { name, labels, value })
}

/// Calls `probe` until it returns `Some`, at most for `timeout`; an error from `probe` ends
/// the wait at once.
pub fn poll_until<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().with_context(|| format!("while waiting for {what}"))? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {timeout:?}");
        }
        thread::sleep(POLL);
    }
}

/// Scrapes until the series with exactly `labels` reads `wanted` (requests are counted when
/// their response body is done, a moment after the client has it all). A counter that passes
/// `wanted` fails at once.
pub fn wait_for_metric(
    port: u16,
    name: &str,
    labels: &[(&str, &str)],
    wanted: f64,
    timeout: Duration,
) -> Result<Metrics> {
    let mut last = String::new();
    let outcome = poll_until(timeout, &format!("{name}{labels:?} == {wanted}"), || {
        let metrics = Metrics::scrape(port)?;
        let value = metrics.value(name, labels);
        if value > wanted {
            bail!("{name}{labels:?} is {value}, more than {wanted}:\n{}", metrics.lines_of(name));
        }
        last = metrics.lines_of(name);
        Ok((value == wanted).then_some(metrics))
    });
    outcome.with_context(|| format!("last scrape:\n{last}"))
}

/// Scrapes until `check` holds.
pub fn wait_for_metrics(
    port: u16,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&Metrics) -> bool,
) -> Result<Metrics> {
    let mut last = String::new();
    let outcome = poll_until(timeout, what, || {
        let metrics = Metrics::scrape(port)?;
        if check(&metrics) {
            return Ok(Some(metrics));
        }
        last = metrics.text;
        Ok(None)
    });
    outcome.with_context(|| format!("last scrape:\n{last}"))
}

/// Every line of an audit log, parsed (a missing file has no lines).
pub fn audit_lines(path: &Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        // A line is written whole; a partial one may be on its way.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        return complete.lines().map(parse_line).collect();
    }
    text.lines().map(parse_line).collect()
}

fn parse_line(line: &str) -> Result<Value> {
    serde_json::from_str(line).with_context(|| format!("audit line is not JSON: `{line}`"))
}

/// Reads the audit log until `check` holds for its lines.
pub fn wait_for_audit(
    path: &Path,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&[Value]) -> bool,
) -> Result<Vec<Value>> {
    let mut last = 0;
    let outcome = poll_until(timeout, what, || {
        let lines = audit_lines(path)?;
        last = lines.len();
        Ok(check(&lines).then_some(lines))
    });
    outcome.with_context(|| format!("{} had {last} lines: {}", path.display(), read_lossy(path)))
}

/// A file's content for a message.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

/// Runs a `sockgate` subcommand that ends by itself, with none of sockgate's variables inherited.
pub fn sockgate_tool<S: AsRef<OsStr>>(args: &[S]) -> Result<CmdOutput> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockgate"));
    cmd.args(args);
    clear_compat_env(&mut cmd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOCKGATE_") {
            cmd.env_remove(name);
        }
    }
    run(cmd, None, TOOL_TIMEOUT)
}
