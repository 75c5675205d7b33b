//! Builds a Go oracle under `tests/go/<name>` with `go build`, once per test run, into a
//! temporary directory. Without a Go toolchain the caller's test is skipped, unless `CI=true`,
//! where it fails.

#![allow(clippy::panic, reason = "a failing test panics")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the oracle `name` into `dir`; `None` when there is no Go toolchain (and not in CI).
pub fn oracle(name: &str, dir: &Path) -> Option<PathBuf> {
    let go = std::env::var_os("GO").unwrap_or_else(|| "go".into());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go").join(name);
    let binary = dir.join(name);
    let mut build = Command::new(&go);
    build.current_dir(source).arg("build").arg("-o").arg(&binary).arg(".");
    // The Go that is installed, whatever go.mod says; no module downloads (there are none).
    build.env("GOTOOLCHAIN", "local").env("GOFLAGS", "-mod=mod").env("GOPROXY", "off");
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        build.env("GOCACHE", dir.join("gocache"));
    }
    match build.output() {
        Ok(out) if out.status.success() => Some(binary),
        Ok(out) => panic!("go build of the {name} oracle failed:\n{}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("no Go toolchain in CI: {e}"),
        Err(e) => {
            eprintln!("skipped: no Go toolchain ({e}); CI=true makes this a failure");
            None
        }
    }
}
