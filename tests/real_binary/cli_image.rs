//! An image holding the host's docker CLI (with the libraries it links) and busybox, built
//! locally, for tests where a container talks to the engine through sockgate.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::dockerd::real_docker;
use super::process::run;

/// Builds the image under `reference`.
pub fn build_cli_image(reference: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rootfs = dir.path().join("rootfs");
    let mut files: Vec<PathBuf> = vec![PathBuf::from("/usr/bin/docker"), PathBuf::from("/usr/bin/busybox")];
    let mut ldd = Command::new("ldd");
    ldd.arg("/usr/bin/docker");
    let linked = run(ldd, None, Duration::from_secs(30))?.ok()?;
    files.extend(linked.stdout.split_whitespace().filter(|word| word.starts_with('/')).map(PathBuf::from));
    for file in &files {
        let target = rootfs.join(file.strip_prefix("/")?);
        std::fs::create_dir_all(target.parent().context("a parent")?)?;
        std::fs::copy(file, &target).with_context(|| format!("cannot copy {}", file.display()))?;
    }
    for sub in ["bin", "tmp", "root", "etc"] {
        std::fs::create_dir_all(rootfs.join(sub))?;
    }
    std::os::unix::fs::symlink("/usr/bin/busybox", rootfs.join("bin/sh"))?;
    let tarball = dir.path().join("rootfs.tar");
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".");
    run(tar, None, Duration::from_secs(120))?.ok()?;
    let tarball = tarball.to_str().context("a UTF-8 path")?;
    real_docker(&["import", "--change", "ENV HOME=/root", tarball, reference])?.ok()?;
    Ok(())
}
