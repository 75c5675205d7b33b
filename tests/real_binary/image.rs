//! The one image the tests run, built locally from the host's static busybox (no registry is
//! reachable, and none is needed). Safe to call from many tests and test processes at once.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::dockerd::{inspect_image, real_docker};
use super::process::run;

pub const TEST_IMAGE: &str = "sockgate-test/busybox:latest";
const TEST_REPO: &str = "sockgate-test/busybox";
const BUSYBOX: &str = "/usr/bin/busybox";
/// Bumped when the image's content changes, so a stale image from an older run is rebuilt.
const REVISION_LABEL: &str = "sockgate-test.revision";
const REVISION: &str = "1";
/// Applets the tests use; the build fails early if the host's busybox lacks one.
const REQUIRED_APPLETS: &[&str] = &["sh", "cat", "echo", "sleep", "sha256sum", "head", "dd", "wc", "true", "ls", "tty"];

static BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// Makes sure `TEST_IMAGE` exists. Once per process; across processes, each builder imports
/// under its own temporary tag and then moves `TEST_IMAGE` onto its result, so concurrent
/// builders never see a half-built image under the shared name.
pub fn ensure_test_image() -> Result<()> {
    BUILT
        .get_or_init(|| build_if_missing().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot build {TEST_IMAGE}: {e}"))
}

fn build_if_missing() -> Result<()> {
    if let Some(image) = inspect_image(TEST_IMAGE)? {
        if image["Config"]["Labels"][REVISION_LABEL].as_str() == Some(REVISION) {
            return Ok(());
        }
    }
    let dir = tempfile::tempdir()?;
    let rootfs = dir.path().join("rootfs");
    populate_rootfs(&rootfs)?;
    let tarball = dir.path().join("rootfs.tar");
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".");
    run(tar, None, Duration::from_secs(60))?.ok()?;

    let temporary = format!("{TEST_REPO}:tmp-{}", unique_suffix());
    let tarball = tarball.to_string_lossy();
    real_docker(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        &format!("LABEL {REVISION_LABEL}={REVISION}"),
        &tarball,
        &temporary,
    ])?
    .ok()?;
    let tagged = real_docker(&["tag", &temporary, TEST_IMAGE]);
    // Only untags: the image keeps `TEST_IMAGE` (or, if another builder won, is unused).
    let _ = real_docker(&["rmi", &temporary]);
    tagged?.ok()?;
    Ok(())
}

/// `bin/busybox` plus a symlink per applet, and the empty directories programs expect.
fn populate_rootfs(rootfs: &Path) -> Result<()> {
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin)?;
    for dir in ["tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::copy(BUSYBOX, bin.join("busybox"))
        .with_context(|| format!("cannot copy {BUSYBOX} (Debian's busybox-static)"))?;
    let mut list = Command::new(BUSYBOX);
    list.arg("--list");
    let applets = run(list, None, Duration::from_secs(10))?.ok()?.stdout;
    let applets: Vec<&str> = applets.lines().map(str::trim).collect();
    for required in REQUIRED_APPLETS {
        if !applets.contains(required) {
            bail!("{BUSYBOX} has no `{required}` applet");
        }
    }
    for applet in applets {
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            symlink("busybox", bin.join(applet))?;
        }
    }
    Ok(())
}

fn unique_suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
