//! The sockgate image as the `Dockerfile` makes it: its `runtime` stage, built from a static
//! binary built here (no base image can be pulled, so the `build` stage's output is supplied).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::process::run;
use super::scratch::Scratch;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Builds sockgate statically, as the `build` stage does, into a target directory of its own
/// (under `CARGO_TARGET_DIR` when it is set).
pub fn static_binary() -> Result<PathBuf> {
    let base = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(ROOT).join("target"), PathBuf::from);
    let target_dir = base.join("static");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu", "--bin", "sockgate"])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(ROOT);
    let out = run(cargo, None, Duration::from_secs(1200))?;
    if !out.success() {
        bail!("static build failed:\n{}", out.stderr);
    }
    Ok(target_dir.join("x86_64-unknown-linux-gnu/release/sockgate"))
}

/// The `runtime` stage of the Dockerfile, reading what the `build` stage made from the context.
pub fn runtime_stage() -> Result<String> {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile"))?;
    let start = dockerfile.find("FROM scratch AS runtime").context("no runtime stage")?;
    let stage = &dockerfile[start..];
    if !stage.contains("COPY --from=build /out/sockgate /sockgate") {
        bail!("the runtime stage changed shape");
    }
    Ok(stage.replace("--from=build /out/", ""))
}

/// Builds the image from the runtime stage and a static binary; removed with `scratch`.
pub fn build_image(scratch: &mut Scratch) -> Result<String> {
    let binary = static_binary()?;
    // The build context: the runtime stage and what it copies.
    let context = tempfile::tempdir()?;
    std::fs::write(context.path().join("Dockerfile"), runtime_stage()?)?;
    std::fs::copy(&binary, context.path().join("sockgate"))?;
    std::fs::create_dir_all(context.path().join("run/sockgate"))?;
    std::fs::create_dir_all(context.path().join("policies"))?;
    for entry in std::fs::read_dir(Path::new(ROOT).join("policies"))?.flatten() {
        std::fs::copy(entry.path(), context.path().join("policies").join(entry.file_name()))?;
    }
    let image = scratch.image("sockgate");
    let mut build = Command::new("docker");
    build.args(["build", "-q", "-t", &image, "."]).current_dir(context.path()).env("DOCKER_BUILDKIT", "0");
    super::cli::clear_docker_env(&mut build);
    run(build, None, Duration::from_secs(300))?.ok().context("docker build failed")?;
    Ok(image)
}

/// The ids a running process has, from the host's `/proc/PID/status`: its `Uid:`, `Gid:` and
/// `Groups:` lines, values separated by one space.
pub fn process_ids(pid: u32) -> Result<(String, String, String)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    Ok((line("Uid:").context("no Uid")?, line("Gid:").context("no Gid")?, line("Groups:").unwrap_or_default()))
}
