//! The container image, as users deploy it: the `runtime` stage of the `Dockerfile` built from a
//! static binary (no base image can be pulled here, so the `build` stage's output is supplied),
//! run against the real dockerd with the socket mounted, started as root and running as uid
//! 65534 with the socket's group, and a client container that reaches the engine only through
//! it; run as a user without access to the engine, it is unhealthy; the `docker run` line of the
//! Dockerfile's header works as written; and the build context leaves out build output and
//! history. Prints the image's size.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use real_binary::cli_image::build_cli_image;
use real_binary::dockerd::real_docker;
use real_binary::process::run;
use real_binary::sockgate_image::{build_image, process_ids};
use real_binary::{docker_ready, Scratch};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn inspect(reference: &str, format: &str) -> String {
    real_docker(&["image", "inspect", "--format", format, reference]).unwrap().ok().unwrap().stdout.trim().to_string()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_image_runs_as_users_deploy_it() {
    if !docker_ready().unwrap() {
        return;
    }
    real_binary::image::ensure_test_image().unwrap();
    let mut scratch = Scratch::new();
    let image = build_image(&mut scratch).unwrap();

    let size: u64 = inspect(&image, "{{.Size}}").parse().unwrap();
    println!("sockgate image size: {size} bytes ({:.1} MB)", size as f64 / 1_000_000.0);
    eprintln!("sockgate image size: {size} bytes ({:.1} MB)", size as f64 / 1_000_000.0);
    assert!(size < 10_000_000, "the image is {size} bytes, over 10 MB");
    // It starts as root, to bind and then become this user with the engine socket's group.
    assert_eq!(inspect(&image, "{{.Config.User}}"), "");
    assert!(inspect(&image, "{{json .Config.Env}}").contains(r#""SOCKGATE_USER=65534:65534""#));
    assert_eq!(inspect(&image, "{{index .Config.Labels \"org.opencontainers.image.title\"}}"), "sockgate");
    // Healthy means the engine answers (`/ready`), not only that sockgate runs (`/health`).
    assert!(inspect(&image, "{{json .Config.Healthcheck}}").contains(r#""healthcheck","--ready""#));

    // Deploy it: the engine's socket mounted, a directory shared with clients. The socket's group
    // is added as before the image gave up root itself, which still works.
    let shared = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(shared.path(), mode).unwrap();
    let socket_gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata("/var/run/docker.sock").unwrap());
    let gateway = scratch.container("gateway");
    let shared_mount = format!("{}:/run/sockgate", shared.path().display());
    real_docker(&[
        "run",
        "-d",
        "--name",
        &gateway,
        "--group-add",
        &socket_gid.to_string(),
        // `ci.toml` owns objects by the calling container, which sockgate finds from the
        // caller's process: it needs the host's PID namespace to see it.
        "--pid",
        "host",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &shared_mount,
        &image,
        "serve",
        "--listen",
        "unix:///run/sockgate/docker.sock",
        "--socket-mode",
        "666",
        "--admin-listen",
        "tcp://127.0.0.1:9323",
        "--policy",
        "/policies/ci.toml",
    ])
    .unwrap()
    .ok()
    .unwrap();
    wait_for("the gateway's socket", Duration::from_secs(20), || shared.path().join("docker.sock").exists());
    wait_for("the image's HEALTHCHECK to pass", Duration::from_secs(60), || {
        let out = real_docker(&["inspect", "--format", "{{.State.Health.Status}}", &gateway]).unwrap();
        out.stdout.trim() == "healthy"
    });

    // A client container that knows only sockgate's socket.
    let cli = scratch.image("docker-cli");
    build_cli_image(&cli).unwrap();
    let client = |args: &[&str]| {
        let mut all = vec![
            "run",
            "--rm",
            "-v",
            shared_mount.as_str(),
            "-e",
            "DOCKER_HOST=unix:///run/sockgate/docker.sock",
            cli.as_str(),
            "docker",
        ];
        all.extend_from_slice(args);
        real_docker(&all).unwrap()
    };
    let ps = client(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.success(), "the client cannot list through sockgate: {ps}");
    // Under `ci.toml`'s ownership, sockgate's own container is nobody's: invisible to clients.
    assert!(!ps.stdout.contains(&gateway), "{ps}");
    let ran = client(&["run", "--rm", real_binary::TEST_IMAGE, "echo", "through-sockgate"]);
    assert!(ran.success() && ran.stdout.contains("through-sockgate"), "{ran}");
    let privileged = client(&["run", "--rm", "--privileged", real_binary::TEST_IMAGE, "true"]);
    assert!(!privileged.success());
    assert!(
        privileged.stderr.contains("sockgate: containers.create denied by rule `containers.privileged`"),
        "{privileged}"
    );
    let logs = real_docker(&["logs", &gateway]).unwrap();
    assert!(logs.stderr.contains("operation=containers.create"), "{logs}");
    // Started as root, it serves as 65534 with the socket's group only.
    let pid: u32 =
        real_docker(&["inspect", "--format", "{{.State.Pid}}", &gateway]).unwrap().stdout.trim().parse().unwrap();
    let (uid, gid, groups) = process_ids(pid).unwrap();
    assert_eq!((uid.as_str(), gid.as_str()), ("65534 65534 65534 65534", "65534 65534 65534 65534"));
    assert_eq!(groups, socket_gid.to_string());
}

fn health(container: &str) -> String {
    real_docker(&["inspect", "--format", "{{.State.Health.Status}}", container]).unwrap().stdout.trim().to_string()
}

#[test]
fn without_access_to_the_engine_the_image_is_unhealthy_and_says_why() {
    if !docker_ready().unwrap() {
        return;
    }
    let mut scratch = Scratch::new();
    let image = build_image(&mut scratch).unwrap();
    let volume = scratch.volume("no-engine");
    let gateway = scratch.container("no-engine");
    // Started as uid 65534 (so it cannot take the socket's group itself), with the socket
    // mounted but not its group: it cannot use the socket.
    let mount = format!("{volume}:/run/sockgate");
    let socket = "/var/run/docker.sock:/var/run/docker.sock";
    let args = ["run", "-d", "--name", &gateway, "--user", "65534:65534", "-v", socket, "-v", &mount, &image];
    real_docker(&args).unwrap().ok().unwrap();
    wait_for("the image's HEALTHCHECK to fail", Duration::from_secs(120), || health(&gateway) == "unhealthy");
    let logs = real_docker(&["logs", &gateway]).unwrap();
    assert!(
        logs.stderr.contains("uid 65534")
            && logs.stderr.contains("may not connect to `/var/run/docker.sock`")
            && logs.stderr.contains("--group-add"),
        "the log does not say why: {logs}"
    );
}

/// The `docker run` command of the Dockerfile's header, continuation lines joined.
fn documented_run_line() -> String {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let mut command = String::new();
    for line in dockerfile.lines().map(|l| l.trim_start_matches('#').trim()) {
        if command.is_empty() && !line.starts_with("docker run ") {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => command.push_str(part),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    assert!(command.starts_with("docker run "), "no `docker run` line in the Dockerfile's header");
    command
}

#[test]
fn the_documented_docker_run_line_works_as_written() {
    if !docker_ready().unwrap() {
        return;
    }
    real_binary::image::ensure_test_image().unwrap();
    let mut scratch = Scratch::new();
    let image = build_image(&mut scratch).unwrap();
    let gateway = scratch.container("documented");
    let volume = scratch.volume("documented");
    // Written for an image, container and volume named `sockgate`: the test's own names instead.
    let command = documented_run_line();
    assert!(command.contains(" --name sockgate ") && command.contains(" -v sockgate:/run/sockgate "), "{command}");
    assert!(command.trim_end().ends_with(" sockgate"), "{command}");
    let command = command
        .replace(" --name sockgate ", &format!(" --name {gateway} "))
        .replace(" -v sockgate:/run/sockgate ", &format!(" -v {volume}:/run/sockgate "));
    let command = format!("{} {image}", command.trim_end().strip_suffix(" sockgate").unwrap());
    let mut bash = Command::new("bash");
    bash.args(["-c", &command]);
    real_binary::cli::clear_docker_env(&mut bash);
    let out = run(bash, None, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "`{command}` failed: {out}");
    wait_for("the documented container to be healthy", Duration::from_secs(60), || health(&gateway) == "healthy");

    // A client that mounts the same volume reaches the engine through it, under the default policy.
    let mount = format!("{volume}:/run/sockgate");
    let cli = scratch.image("docker-cli-documented");
    build_cli_image(&cli).unwrap();
    let client = |args: &[&str]| {
        let mut all =
            vec!["run", "--rm", "-v", &mount, "-e", "DOCKER_HOST=unix:///run/sockgate/docker.sock", &cli, "docker"];
        all.extend_from_slice(args);
        real_docker(&all).unwrap()
    };
    let ps = client(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.success() && ps.stdout.contains(&gateway), "{ps}");
    let denied = client(&["run", "--rm", real_binary::TEST_IMAGE, "true"]);
    assert!(!denied.success() && denied.stderr.contains("denied by policy `read-only`"), "{denied}");
}

#[test]
fn the_build_context_leaves_out_build_output_and_history() {
    if !docker_ready().unwrap() {
        return;
    }
    real_binary::image::ensure_test_image().unwrap();
    let mut scratch = Scratch::new();
    let probe = scratch.image("context");
    // The repository as `docker build .` sends it, after `.dockerignore`.
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    let check = "test -f /context/Cargo.toml && test -f /context/build.rs && test -d /context/src \\
        && test ! -e /context/target && test ! -e /context/.git";
    std::fs::write(&dockerfile, format!("FROM {}\nCOPY . /context\nRUN {check}\n", real_binary::TEST_IMAGE)).unwrap();
    let mut build = Command::new("docker");
    build.args(["build", "-q", "-t", &probe, "-f"]).arg(&dockerfile).arg(ROOT).env("DOCKER_BUILDKIT", "0");
    real_binary::cli::clear_docker_env(&mut build);
    let built = run(build, None, Duration::from_secs(300)).unwrap();
    assert!(built.success(), "the build context holds target/ or .git, or lacks the sources: {built}");
}
