//! The external load generator phase: oha, a process of its own, drives direct access, sockgate
//! and nginx in turn with 32 keep-alive connections, on `/_ping` and on the 20 KB
//! `/containers/json`, round by round as the in-process phases are measured. The in-process
//! generator shares the bench's process with the stub engine; oha shares nothing, as a real
//! client would not. It runs when oha is found: `SOCKGATE_BENCH_OHA` (`0` or `off` for none), else
//! `oha` on `PATH` or in `~/.cargo/bin` (`cargo install oha`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::cpu::Cpu;
use crate::load::{self, Merge};

/// The oha to run, if any.
pub fn find() -> Option<PathBuf> {
    match std::env::var_os("SOCKGATE_BENCH_OHA") {
        Some(v) if v == "0" || v == "off" => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("oha")).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/oha"));
    on_path.into_iter().chain(cargo).find(|path| path.is_file())
}

/// One oha run's figures.
#[derive(Clone, Copy)]
pub struct Figure {
    pub requests: u64,
    pub seconds: f64,
    /// CPU time of the proxy measured (none for direct access).
    pub cpu: Option<Duration>,
    /// Context switches of the proxy's threads.
    pub switches: u64,
}

impl Figure {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::EPSILON)
    }

    pub fn switches_per_request(&self) -> f64 {
        self.switches as f64 / self.requests.max(1) as f64
    }

    pub fn cpu_per_request(&self) -> Option<Duration> {
        self.cpu.map(|cpu| cpu.div_f64(self.requests.max(1) as f64))
    }
}

impl Merge for Figure {
    fn merge(self, other: Figure) -> Figure {
        Figure {
            requests: self.requests + other.requests,
            seconds: self.seconds + other.seconds,
            cpu: load::add(self.cpu, other.cpu),
            switches: self.switches + other.switches,
        }
    }
}

/// Runs oha for `secs` against `path` on `socket` with `connections` connections; counts only
/// answers with status 200, and fails if any other came back.
pub fn drive(
    oha: &Path,
    socket: &Path,
    path: &str,
    connections: u32,
    secs: f64,
    cpu: Option<&Cpu>,
) -> anyhow::Result<Figure> {
    let before = cpu.map(Cpu::read).transpose()?;
    let switched = cpu.map_or(0, Cpu::switches);
    let output = Command::new(oha)
        .args(["--no-tui", "--output-format", "json", "-c", &connections.to_string()])
        .arg("-z")
        .arg(format!("{}ms", (secs * 1000.0).round() as u64))
        .arg("--unix-socket")
        .arg(socket)
        .arg(format!("http://docker{path}"))
        .output()
        .with_context(|| format!("running `{}`", oha.display()))?;
    let spent = match (cpu, before) {
        (Some(cpu), Some(before)) => Some(cpu.read()?.saturating_sub(before)),
        _ => None,
    };
    let switches = cpu.map_or(0, Cpu::switches).saturating_sub(switched);
    if !output.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading oha's JSON report")?;
    let statuses = report["statusCodeDistribution"].as_object().context("no status codes in oha's report")?;
    let ok = statuses.get("200").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if statuses.len() != 1 || ok == 0 {
        bail!("oha got answers other than 200 from {}: {statuses:?}", socket.display());
    }
    let seconds = report["summary"]["total"].as_f64().context("no duration in oha's report")?;
    Ok(Figure { requests: ok, seconds, cpu: spent, switches })
}
