//! Gives the binary its version line: the package version and, when it is built from a git
//! checkout (or `SOCKGATE_COMMIT` is set, as an image build without `.git` can), the commit.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOCKGATE_COMMIT");
    let commit = std::env::var("SOCKGATE_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        // Rebuilt when HEAD moves: the file HEAD, and the branch it names.
        for path in ["HEAD", "packed-refs"] {
            if let Some(file) = git(&["rev-parse", "--git-path", path]) {
                println!("cargo:rerun-if-changed={file}");
            }
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(file) = git(&["rev-parse", "--git-path", &branch]) {
                println!("cargo:rerun-if-changed={file}");
            }
        }
        git(&["rev-parse", "--short", "HEAD"])
    });
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let line = match commit {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=SOCKGATE_VERSION={line}");
}
