//! `policies/ci.toml` with the real docker CLI and the real dockerd: every way of reaching the
//! host that a CI job could ask for is refused with the rule and the field at fault, and dockerd
//! (asked directly) shows no trace of it; the everyday job (`run` with volumes, tmpfs, ports and
//! environment, `build`, `exec`, `logs`, `cp`) works as it does without the gateway.

mod real_binary;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use real_binary::cli::docker_command;
use real_binary::dockerd::{container_exists, inspect_container, inspect_image, volume_exists};
use real_binary::{docker, docker_ready, real_docker, run, CmdOutput, Gateway, Scratch, CLI_TIMEOUT, TEST_IMAGE};

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");

/// A refusal as the docker CLI reports it: non-zero exit, and sockgate's one-line message naming
/// the operation, the constraint and the field, exactly as `Decision::denial_message` renders it.
fn ensure_denied(out: &CmdOutput, operation: &str, rule: &str, reason: &str) -> Result<()> {
    ensure!(!out.success(), "expected `{operation}` to be denied by `{rule}`: {out}");
    let wanted = format!("sockgate: {operation} denied by rule `{rule}`: {reason}");
    ensure!(out.stderr.contains(&wanted), "the error is not `{wanted}`: {out}");
    Ok(())
}

/// A long-running container created on dockerd directly, to exec into or take volumes from.
/// A running container the test's CLI owns under `ci.toml`'s ownership (this process is the
/// host's root, owner `uid:0`), as if it had created it through sockgate.
fn running_container(scratch: &mut Scratch, label: &str) -> Result<String> {
    let name = scratch.container(label);
    let owned = ["--label", "io.sockgate.owner=uid:0"];
    real_docker(&[&["run", "-d", "--name", &name][..], &owned[..], &[TEST_IMAGE, "sleep", "600"][..]].concat())?
        .ok()?;
    Ok(name)
}

/// One `docker run` option the policy must refuse, with the constraint and the field text.
struct Refused {
    options: Vec<String>,
    rule: &'static str,
    reason: String,
}

fn refused(options: &[&str], rule: &'static str, reason: &str) -> Refused {
    Refused { options: options.iter().map(|o| (*o).to_owned()).collect(), rule, reason: reason.to_owned() }
}

#[test]
fn host_reaching_run_options_are_denied_without_trace() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    // A real source for `--volumes-from`, so only the policy can stand in the way.
    let source = running_container(&mut scratch, "ci-source")?;
    let cases = [
        refused(&["--privileged"], "containers.privileged", "HostConfig.Privileged is true"),
        refused(&["-v", "/:/host"], "containers.host_mounts", "HostConfig.Binds mounts host path `/` read-write"),
        refused(
            &["--mount", "type=bind,src=/etc,dst=/e"],
            "containers.host_mounts",
            "HostConfig.Mounts[0].Source mounts host path `/etc` read-write",
        ),
        refused(&["--device", "/dev/null"], "containers.devices", "HostConfig.Devices adds host device `/dev/null`"),
        refused(
            &["--cap-add", "SYS_ADMIN"],
            "containers.capabilities",
            "HostConfig.CapAdd adds capability `SYS_ADMIN`",
        ),
        refused(
            &["--security-opt", "seccomp=unconfined"],
            "containers.unconfined",
            "HostConfig.SecurityOpt disables seccomp",
        ),
        refused(
            &["--network", "host"],
            "containers.host_namespaces",
            "HostConfig.NetworkMode uses the host's network namespace",
        ),
        refused(&["--pid", "host"], "containers.host_namespaces", "HostConfig.PidMode uses the host's PID namespace"),
        refused(&["--ipc", "host"], "containers.host_namespaces", "HostConfig.IpcMode uses the host's IPC namespace"),
        refused(
            &["--userns", "host"],
            "containers.host_namespaces",
            "HostConfig.UsernsMode uses the host's user namespace",
        ),
        refused(
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "containers.sysctls",
            "HostConfig.Sysctls sets `net.ipv4.ip_forward`",
        ),
        refused(
            &["--volumes-from", &source],
            "containers.volumes_from",
            &format!("HostConfig.VolumesFrom takes volumes from `{source}`"),
        ),
    ];
    let gw = Gateway::start(Some(CI))?;
    // Every case runs; the failures are reported together.
    let mut failures = Vec::new();
    for case in &cases {
        let name = scratch.container("ci-denied");
        let mut args = vec!["run", "--name", name.as_str()];
        args.extend(case.options.iter().map(String::as_str));
        args.extend([TEST_IMAGE, "true"]);
        let outcome = docker(&gw, &args).and_then(|out| {
            ensure_denied(&out, "containers.create", case.rule, &case.reason)?;
            ensure!(!container_exists(&name)?, "dockerd has container {name}");
            Ok(())
        });
        if let Err(e) = outcome {
            failures.push(format!("{:?}: {e:#}", case.options));
        }
    }
    ensure!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
    Ok(())
}

#[test]
fn privileged_exec_is_denied_without_trace() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = running_container(&mut scratch, "ci-exec-target")?;
    let gw = Gateway::start(Some(CI))?;

    let out = docker(&gw, &["exec", "--privileged", &name, "touch", "/pwned"])?;
    ensure_denied(&out, "exec.create", "containers.privileged", "Privileged is true")?;
    let inspected = inspect_container(&name)?.context("the target container is gone")?;
    ensure!(inspected["ExecIDs"].is_null(), "dockerd created an exec instance: {}", inspected["ExecIDs"]);
    let probe = real_docker(&["exec", &name, "ls", "/pwned"])?;
    ensure!(!probe.success(), "/pwned exists in {name}: {probe}");
    Ok(())
}

#[test]
fn bind_backed_volume_is_denied_without_trace() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let volume = scratch.volume("ci-bind-vol");
    let gw = Gateway::start(Some(CI))?;

    let out =
        docker(&gw, &["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", &volume])?;
    ensure_denied(&out, "volumes.create", "containers.host_mounts", "DriverOpts mounts host path `/etc` read-write")?;
    ensure!(!volume_exists(&volume)?, "dockerd has volume {volume}");
    Ok(())
}

#[test]
fn run_with_named_volume_tmpfs_loopback_port_and_env_works() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ci-run");
    let volume = scratch.volume("ci-data");
    let gw = Gateway::start(Some(CI))?;

    let script = "echo \"env=$SOCKGATE_E2E\"; echo kept > /data/f; cat /data/f; \
                  grep -q '^tmpfs /scratch tmpfs' /proc/mounts && echo tmpfs-mounted";
    let mount = format!("{volume}:/data");
    let out = docker(
        &gw,
        &[
            "run",
            "--name",
            &name,
            "-v",
            &mount,
            "--tmpfs",
            "/scratch",
            "-p",
            "127.0.0.1::80",
            "-e",
            "SOCKGATE_E2E=from-the-cli",
            TEST_IMAGE,
            "sh",
            "-c",
            script,
        ],
    )?
    .ok()?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    ensure!(lines == ["env=from-the-cli", "kept", "tmpfs-mounted"], "unexpected output: {out}");

    // What dockerd itself recorded: the named volume, the loopback-only port, the tmpfs.
    ensure!(volume_exists(&volume)?, "dockerd has no volume {volume}");
    let inspected = inspect_container(&name)?.context("dockerd has no container")?;
    let host = &inspected["HostConfig"];
    let binding = &host["PortBindings"]["80/tcp"][0];
    ensure!(binding["HostIp"] == "127.0.0.1", "port 80 is not bound to loopback only: {}", host["PortBindings"]);
    ensure!(host["Tmpfs"].get("/scratch").is_some(), "no tmpfs on /scratch: {}", host["Tmpfs"]);
    let mounts = inspected["Mounts"].as_array().cloned().unwrap_or_default();
    ensure!(
        mounts.iter().any(|m| m["Type"] == "volume" && m["Name"] == volume.as_str() && m["Destination"] == "/data"),
        "{volume} is not mounted on /data: {mounts:?}"
    );
    Ok(())
}

#[test]
fn classic_build_from_the_test_image_works() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let image = scratch.image("ci-built");
    let ran = scratch.container("ci-built-run");
    let context = tempfile::tempdir()?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {TEST_IMAGE}\nCOPY payload /payload\nRUN echo built-by-ci > /built\n"),
    )?;
    std::fs::write(context.path().join("payload"), "from the build context\n")?;
    let gw = Gateway::start(Some(CI))?;

    let mut cmd = docker_command(&gw.host());
    // The classic builder: one `POST /build` with the context as a tar stream, no BuildKit session.
    cmd.env("DOCKER_BUILDKIT", "0").args(["build", "-t", &image]).arg(context.path());
    let out = run(cmd, None, CLI_TIMEOUT)?.ok()?;
    ensure!(out.stdout.contains("Successfully tagged"), "no tag reported: {out}");
    ensure!(inspect_image(&image)?.is_some(), "dockerd has no image {image}");

    let out = docker(&gw, &["run", "--name", &ran, &image, "cat", "/built", "/payload"])?.ok()?;
    ensure!(out.stdout == "built-by-ci\nfrom the build context\n", "the image content differs: {out}");
    Ok(())
}

#[test]
fn exec_logs_and_cp_work() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("ci-job");
    let gw = Gateway::start(Some(CI))?;

    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sh", "-c", "echo job-started; exec sleep 600"])?.ok()?;

    let out = docker(&gw, &["exec", &name, "sh", "-c", "echo exec-ran-as-$(id -u)"])?.ok()?;
    ensure!(out.stdout == "exec-ran-as-0\n", "unexpected exec output: {out}");

    wait_for_log_line(&gw, &name, "job-started")?;

    let dir = tempfile::tempdir()?;
    let sent = dir.path().join("sent.txt");
    std::fs::write(&sent, "copied through sockgate\n")?;
    let target = format!("{name}:/tmp/sent.txt");
    docker(&gw, &["cp", &path_str(&sent)?, &target])?.ok()?;
    // Checked on dockerd directly: the file really is in the container.
    let inside = real_docker(&["exec", &name, "cat", "/tmp/sent.txt"])?.ok()?;
    ensure!(inside.stdout == "copied through sockgate\n", "the copy in the container differs: {inside}");

    let back = dir.path().join("back.txt");
    docker(&gw, &["cp", &target, &path_str(&back)?])?.ok()?;
    let content = std::fs::read_to_string(&back).context("docker cp wrote no file")?;
    ensure!(content == "copied through sockgate\n", "the copy back differs: `{content}`");
    Ok(())
}

/// `docker logs` through the gateway until `line` shows up: the container prints it right after
/// it starts, which may be a moment after `run -d` returns.
fn wait_for_log_line(gw: &Gateway, name: &str, line: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = docker(gw, &["logs", name])?.ok()?;
        if out.stdout.lines().any(|l| l == line) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("`{line}` not in the logs of {name} after 20 s: {out}");
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn path_str(path: &Path) -> Result<String> {
    path.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", path.display()))
}
