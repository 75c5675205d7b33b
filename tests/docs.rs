//! Every example in `README.md` and `docs/` runs here.
//!
//! - ```` ```toml ```` blocks: a configuration file (it has `[[listener]]`) must pass
//!   `sockgate check-config`'s checks with the policies it names; a policy (it has `version =`) must
//!   pass `sockgate policy check`'s; a case file (`[[case]]`) must parse; anything else must be TOML.
//! - ```` ```sh ```` blocks: each command runs in `bash`, with `cargo run --release --` replaced by
//!   the built binary and `/run/sockgate` by a temporary directory (also the default listener,
//!   through `SOCKGATE_LISTEN`). `sockgate serve` commands run in
//!   the background until the block ends. A `# fails: TEXT` line after a command means it must
//!   fail and print TEXT; `# prints: TEXT` means it must succeed and print TEXT; otherwise it must
//!   succeed. `cargo test` itself is not re-run, and `cargo bench` runs as a short smoke run.
//! - ```` ```yaml ```` blocks that are compose files (a top-level `services:` line) are written to a
//!   temporary directory as `compose.yaml` and must pass `docker-compose -f compose.yaml config -q`,
//!   with `DOCKER_GID` set as the pages tell readers to set it. `config` needs no dockerd and does
//!   not look for bind-mount sources or `configs:` files, so these always run. Other YAML (a
//!   Traefik or Homepage configuration) is not checked.
//!
//! Blocks that call `docker` need dockerd; without it they are skipped, except under `CI=true`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use real_binary::dockerd::real_docker;
use real_binary::image::ensure_test_image;
use real_binary::process::run;

const BIN: &str = env!("CARGO_BIN_EXE_sockgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Block {
    file: PathBuf,
    line: usize,
    lang: String,
    text: String,
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(ROOT).join("README.md")];
    let mut dirs = vec![Path::new(ROOT).join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => {
                    current = Some(Block {
                        file: file.to_path_buf(),
                        line: i + 1,
                        lang: info.trim().to_string(),
                        text: String::new(),
                    })
                }
            }
        } else if let Some(block) = current.as_mut() {
            block.text.push_str(line);
            block.text.push('\n');
        }
    }
    out
}

fn all_blocks(lang: &str) -> Vec<Block> {
    markdown_files().iter().flat_map(|f| blocks(f)).filter(|b| b.lang == lang).collect()
}

#[test]
fn toml_examples_are_valid() {
    let toml_blocks = all_blocks("toml");
    assert!(toml_blocks.len() >= 5, "the docs lost their TOML examples");
    for block in toml_blocks {
        let place = format!("{}:{}", block.file.display(), block.line);
        if block.text.contains("[[listener]]") {
            // A configuration file: checked as `sockgate check-config` reads it, policies included.
            let config = sockgate::config::file::parse(&place, &block.text, Path::new(ROOT));
            let config = config.unwrap_or_else(|e| panic!("{place}: {e}"));
            for listener in &config.listeners {
                let loaded = sockgate::profile::Profiles::load(&listener.policy, &listener.profiles);
                assert!(loaded.is_ok(), "{place}: {}", loaded.err().map(|e| e.to_string()).unwrap_or_default());
            }
        } else if block.text.contains("[[case]]") {
            let parsed: Result<toml::Table, _> = toml::from_str(&block.text);
            assert!(parsed.is_ok(), "{place}: {parsed:?}");
        } else if block.text.contains("version =") {
            let policy = sockgate::policy::Policy::from_sources("doc", &[(place.clone(), block.text.clone())]);
            assert!(policy.is_ok(), "{place}: {}", policy.err().map(|e| e.to_string()).unwrap_or_default());
        } else {
            let parsed: Result<toml::Table, _> = toml::from_str(&block.text);
            assert!(parsed.is_ok(), "{place}: {parsed:?}");
        }
    }
}

/// One command of a shell block and what must come of it.
struct Step {
    command: String,
    fails: Option<String>,
    prints: Option<String>,
}

fn steps(text: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(want) = line.strip_prefix("# fails:") {
            if let Some(step) = out.last_mut() {
                step.fails = Some(want.trim().to_string());
            }
            continue;
        }
        if let Some(want) = line.strip_prefix("# prints:") {
            if let Some(step) = out.last_mut() {
                step.prints = Some(want.trim().to_string());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            pending.push_str(part);
            continue;
        }
        pending.push_str(line);
        out.push(Step { command: std::mem::take(&mut pending), fails: None, prints: None });
    }
    out
}

fn substitute(command: &str, dir: &Path) -> String {
    command.replace("cargo run --release --", BIN).replace("/run/sockgate", &dir.display().to_string())
}

/// Starts a `serve` command and waits for the socket it listens on.
fn start_server(command: &str, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("exec env {command}"))
        .current_dir(ROOT)
        .env_remove("SOCKGATE_LOG")
        .env_remove("SOCKGATE_POLICY")
        .env("SOCKGATE_LISTEN", format!("unix://{}/docker.sock", dir.display()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let socket = dir.join("docker.sock");
    let deadline = Instant::now() + Duration::from_secs(15);
    while UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            panic!("`{command}` did not start listening on {}:\n{log}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(server: &mut Option<Child>) {
    if let Some(mut child) = server.take() {
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `busybox` in the docs is the locally built test image under its usual name; never pulled.
fn ensure_busybox() {
    ensure_test_image().unwrap();
    if real_docker(&["image", "inspect", "busybox:latest"]).map(|o| o.success()).unwrap_or(false) {
        return;
    }
    real_docker(&["tag", real_binary::TEST_IMAGE, "busybox:latest"]).unwrap().ok().unwrap();
}

#[test]
fn shell_examples_run() {
    let sh_blocks = all_blocks("sh");
    assert!(sh_blocks.len() >= 8, "the docs lost their shell examples");
    let needs_docker = sh_blocks.iter().any(|b| b.text.contains("docker"));
    let docker = needs_docker && real_binary::docker_ready().unwrap();
    if docker {
        ensure_busybox();
    }
    let mut ran = 0;
    // A server started in one block of a file serves the blocks after it, as a reader would
    // leave it running; it stops when the next one starts or the file ends.
    let mut current_file: Option<PathBuf> = None;
    let mut dir = tempfile::tempdir().unwrap();
    let mut server: Option<Child> = None;
    for block in sh_blocks {
        let place = format!("{}:{}", block.file.display(), block.line);
        if current_file.as_ref() != Some(&block.file) {
            stop(&mut server);
            dir = tempfile::tempdir().unwrap();
            current_file = Some(block.file.clone());
        }
        if block.text.contains("docker") && !docker {
            eprintln!("skipping {place}: dockerd unreachable");
            continue;
        }
        for step in steps(&block.text) {
            if step.command.starts_with("cargo test") {
                continue;
            }
            let command = substitute(&step.command, dir.path());
            if command.contains(" serve") {
                stop(&mut server);
                server = Some(start_server(&command, dir.path()));
                continue;
            }
            let mut cmd = Command::new("bash");
            cmd.arg("-c").arg(&command).current_dir(ROOT);
            // The documented benchmark runs as a short smoke run; its figures are not checked here.
            cmd.env("SOCKGATE_BENCH_SECS", "0.2").env("SOCKGATE_BENCH_STREAM_MB", "16");
            real_binary::cli::clear_docker_env(&mut cmd);
            real_binary::gateway::clear_compat_env(&mut cmd);
            let started = Instant::now();
            // The documented benchmark may first build sockgate in release mode (fat LTO): minutes.
            let limit = if command.starts_with("cargo bench") { 1800 } else { 120 };
            let out = run(cmd, None, Duration::from_secs(limit)).unwrap();
            eprintln!("{place}: `{}` took {:?}", step.command, started.elapsed());
            let output = format!("{}{}", out.stdout, out.stderr);
            match (&step.fails, &step.prints) {
                (Some(want), _) => {
                    assert!(!out.success(), "{place}: `{}` should fail:\n{output}", step.command);
                    assert!(
                        output.contains(want.as_str()),
                        "{place}: `{}` should print {want:?}:\n{output}",
                        step.command
                    );
                }
                (None, Some(want)) => {
                    assert!(out.success(), "{place}: `{}` failed:\n{output}", step.command);
                    assert!(
                        output.contains(want.as_str()),
                        "{place}: `{}` should print {want:?}:\n{output}",
                        step.command
                    );
                }
                (None, None) => assert!(out.success(), "{place}: `{}` failed:\n{output}", step.command),
            }
            ran += 1;
        }
    }
    stop(&mut server);
    assert!(ran > 0 || !docker, "no documented command ran");
}

/// Whether a YAML block is a compose file rather than some tool's configuration.
fn is_compose(text: &str) -> bool {
    text.lines().any(|l| l.trim_end() == "services:")
}

/// The group of the engine's socket, which the compose examples take as `DOCKER_GID`.
fn docker_gid() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/var/run/docker.sock").map(|m| m.gid().to_string()).unwrap_or_else(|_| "0".to_string())
}

#[test]
fn compose_examples_are_valid() {
    let compose_blocks: Vec<Block> = all_blocks("yaml").into_iter().filter(|b| is_compose(&b.text)).collect();
    assert!(compose_blocks.len() >= 8, "the docs lost their compose examples");
    let gid = docker_gid();
    for block in compose_blocks {
        let place = format!("{}:{}", block.file.display(), block.line);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), &block.text).unwrap();
        let mut cmd = Command::new("docker-compose");
        cmd.args(["-f", "compose.yaml", "config", "-q"])
            .current_dir(dir.path())
            .env("DOCKER_GID", &gid)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        let out = cmd.output().unwrap_or_else(|e| panic!("{place}: cannot run `docker-compose`: {e}"));
        assert!(
            out.status.success(),
            "{place}: `docker-compose config -q` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_operation_is_documented() {
    let policy_doc = std::fs::read_to_string(Path::new(ROOT).join("docs/policy.md")).unwrap();
    for op in sockgate::classify::Operation::all() {
        assert!(policy_doc.contains(&format!("| `{}` |", op.name())), "docs/policy.md does not list {op}");
    }
}

#[test]
fn the_grafana_dashboard_queries_metrics_that_exist() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let metrics = sockgate::record::metrics::Metrics::new();
    // Labelled families appear once they have a sample.
    metrics.count_request("system.ping", "allow", "r", http::StatusCode::OK);
    metrics.observe_duration(sockgate::classify::Operation::from_name("system.ping"), 0.001);
    let exported = metrics.render();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "the dashboard lost its panels");
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let start = expr.find("sockgate_").unwrap_or_else(|| panic!("{expr} queries no sockgate metric"));
            let name: String = expr[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = name.trim_end_matches("_bucket");
            assert!(
                exported.contains(&format!("# TYPE {family} ")),
                "the dashboard queries `{name}`, which sockgate does not export"
            );
        }
    }
}
