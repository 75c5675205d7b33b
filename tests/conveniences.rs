//! What an installation expects of a command-line tool, with the real binary: shell completions
//! and a manual page generated from the command line's definition, `--version` with the commit,
//! and a systemd unit (`contrib/sockgate.service`) that systemd reads without a complaint.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Result};

use real_binary::observe::sockgate_tool;
use real_binary::run;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_sockgate");

#[test]
fn bash_completion_completes_subcommands_and_flags() -> Result<()> {
    let out = sockgate_tool(&["completions", "bash"])?.ok()?;
    ensure!(out.stdout.contains("_sockgate()") && out.stdout.contains("--log-level"), "{out}");
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("sockgate.bash");
    std::fs::write(&script, &out.stdout)?;
    // The script loads in bash, registers itself, and offers `serve` after `sockgate se`.
    let probe = format!(
        "source {}; COMP_WORDS=(sockgate se); COMP_CWORD=1; _sockgate sockgate se sockgate; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let mut bash = Command::new("bash");
    bash.args(["-c", &probe]);
    let out = run(bash, None, Duration::from_secs(30))?.ok()?;
    ensure!(out.stdout.split_whitespace().any(|w| w == "serve"), "no `serve` offered: {out}");
    for shell in ["zsh", "fish"] {
        let out = sockgate_tool(&["completions", shell])?.ok()?;
        ensure!(out.stdout.contains("policy") && out.stdout.contains("log-level"), "{shell}: {out}");
    }
    Ok(())
}

#[test]
fn the_manual_page_is_roff_and_lists_the_commands() -> Result<()> {
    let out = sockgate_tool(&["man"])?.ok()?;
    ensure!(out.stdout.contains(".TH sockgate 1") && out.stdout.contains(".SH NAME"), "{out}");
    for command in ["serve", "policy", "healthcheck", "check\\-config", "completions"] {
        ensure!(out.stdout.contains(command), "the page does not name `{command}`");
    }
    Ok(())
}

#[test]
fn version_names_the_commit() -> Result<()> {
    let out = sockgate_tool(&["--version"])?.ok()?;
    let mut git = Command::new("git");
    git.args(["rev-parse", "--short", "HEAD"]).current_dir(ROOT);
    let version = env!("CARGO_PKG_VERSION");
    match run(git, None, Duration::from_secs(30)).ok().filter(|o| o.success()) {
        Some(commit) => {
            let wanted = format!("sockgate {version} ({})", commit.stdout.trim());
            ensure!(out.stdout.trim() == wanted, "`--version` printed {:?}, not {wanted:?}", out.stdout.trim());
        }
        // Built outside a git checkout: the version alone.
        None => ensure!(out.stdout.trim() == format!("sockgate {version}"), "{out}"),
    }
    Ok(())
}

#[test]
fn the_systemd_unit_is_read_without_complaint() -> Result<()> {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped: `systemd-analyze` is not installed (Debian's `systemd` package has it)");
        return Ok(());
    }
    let unit = std::fs::read_to_string(Path::new(ROOT).join("contrib/sockgate.service"))?;
    ensure!(unit.contains("ExecStart=/usr/local/bin/sockgate serve"), "{unit}");
    // `verify` checks that the command exists: point it at the binary under test.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("sockgate.service");
    std::fs::write(&file, unit.replace("/usr/local/bin/sockgate", BIN))?;
    let mut verify = Command::new("systemd-analyze");
    verify.args(["verify", "--man=no"]).arg(&file);
    let out = run(verify, None, Duration::from_secs(60))?;
    // An unknown key is only a warning to systemd (exit 0): any word about the unit fails too.
    ensure!(out.success() && !out.stderr.contains("sockgate.service"), "{out}");

    // The unit getting-started.md shows is this one.
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/getting-started.md"))?;
    let body: String = unit.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    ensure!(doc.contains(&body), "docs/getting-started.md shows another unit than contrib/sockgate.service");
    Ok(())
}
