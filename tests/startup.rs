//! What `sockgate serve` checks before it serves, with the real binary (and the real docker CLI
//! and engine where a client is involved): a socket path another sockgate serves is refused, not
//! taken over, a stale one is replaced, and an instance's exit removes only the socket it bound.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::os::unix::net::{UnixListener, UnixStream};

use anyhow::{ensure, Result};

use real_binary::server::{sockgate_once, Sockgate};
use real_binary::{docker_command, docker_ready, run, CLI_TIMEOUT};

const ENGINE: &str = "unix:///var/run/docker.sock";

/// `docker -H <host> version` against the real engine through sockgate.
fn docker_version(host: &str) -> Result<real_binary::CmdOutput> {
    let mut cmd = docker_command(host);
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    run(cmd, None, CLI_TIMEOUT)
}

#[test]
fn a_second_serve_on_a_served_socket_is_refused_and_the_first_keeps_serving() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let _first = Sockgate::serve(&["--listen", &host, "--upstream", ENGINE], &[&host])?;

    let second = sockgate_once(&["serve", "--listen", &host, "--upstream", ENGINE])?;
    ensure!(!second.success(), "a second sockgate took over a socket the first one serves: {second}");
    ensure!(
        second.stderr.contains(&format!("`{}` is in use", socket.display())),
        "the refusal does not name the socket: {second}"
    );
    docker_version(&host)?.ok()?;
    Ok(())
}

#[test]
fn a_stale_socket_is_replaced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("docker.sock");
    // A socket file whose server is gone, as a killed process leaves it.
    drop(UnixListener::bind(&socket)?);
    ensure!(UnixStream::connect(&socket).is_err(), "the leftover socket still answers");
    let host = format!("unix://{}", socket.display());
    let _server = Sockgate::serve(&["--listen", &host, "--upstream", ENGINE], &[&host])?;
    ensure!(UnixStream::connect(&socket).is_ok(), "sockgate does not answer on the replaced socket");
    Ok(())
}

#[test]
fn an_exiting_instance_leaves_a_socket_it_no_longer_owns() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let mut first = Sockgate::serve(&["--listen", &host, "--upstream", ENGINE], &[&host])?;
    // Its socket file removed by hand and the path served by a new instance: the first one's
    // exit must not take the new one's socket with it.
    std::fs::remove_file(&socket)?;
    let _second = Sockgate::serve(&["--listen", &host, "--upstream", ENGINE], &[&host])?;
    let status = first.stop()?;
    ensure!(status.success(), "the first sockgate exited with {status}:\n{}", first.stderr());
    ensure!(socket.exists(), "the first sockgate's exit removed the second one's socket");
    docker_version(&host)?.ok()?;
    Ok(())
}

#[test]
fn a_word_that_is_no_log_level_is_refused_with_the_levels() -> Result<()> {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/read-only.toml");
    for word in ["verbose", "sockgate", "info,sockgate=loud"] {
        let out = sockgate_once(&["--log-level", word, "policy", "check", policy])?;
        ensure!(!out.success(), "`--log-level {word}` was accepted: {out}");
        ensure!(
            out.stderr.contains(&format!("`{word}` is not a log level"))
                && out.stderr.contains("error, warn, info, debug, trace"),
            "the refusal does not list the levels: {out}"
        );
    }
    Ok(())
}

#[test]
fn warning_is_a_log_level_and_denials_are_still_logged() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let server = Sockgate::serve(&["--log-level", "warning", "--listen", &host, "--upstream", ENGINE], &[])?;
    // At `warn` the `listening on` line is not logged: wait for the socket itself.
    let socket = dir.path().join("docker.sock");
    real_binary::observe::poll_until(std::time::Duration::from_secs(30), "the socket", || {
        Ok(UnixStream::connect(&socket).is_ok().then_some(()))
    })?;
    let mut rm = docker_command(&host);
    rm.args(["rm", "-f", "sockgate-no-such-container"]);
    let out = run(rm, None, CLI_TIMEOUT)?;
    ensure!(!out.success() && out.stderr.contains("denied by policy `read-only`"), "not denied: {out}");
    server.wait_for_log("operation=containers.delete", 0, std::time::Duration::from_secs(10))?;
    Ok(())
}

#[test]
fn a_learn_output_that_cannot_be_written_stops_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let output = dir.path().join("missing/learned.toml");
    let out = sockgate_once(&[
        "serve",
        "--listen",
        &host,
        "--upstream",
        ENGINE,
        "--mode",
        "learn",
        "--learn-output",
        &output.to_string_lossy(),
    ])?;
    ensure!(!out.success(), "learn mode started with an output it cannot write: {out}");
    ensure!(
        out.stderr.contains(&format!("`{}`", output.display())) && out.stderr.contains("--learn-output"),
        "the refusal names neither the path nor the flag: {out}"
    );
    ensure!(!dir.path().join("docker.sock").exists(), "it listened before refusing");
    Ok(())
}

#[test]
fn a_learned_policy_that_cannot_be_written_at_exit_fails_the_exit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let output_dir = dir.path().join("out");
    std::fs::create_dir(&output_dir)?;
    let output = output_dir.join("learned.toml");
    let mut server = Sockgate::serve(
        &["--listen", &host, "--upstream", ENGINE, "--mode", "learn", "--learn-output", &output.to_string_lossy()],
        &[&host],
    )?;
    // The directory goes away while it learns.
    std::fs::remove_dir(&output_dir)?;
    let status = server.stop()?;
    ensure!(!status.success(), "the learned policy was lost and sockgate exited with {status}:\n{}", server.stderr());
    ensure!(
        server.stderr().contains(&output.display().to_string()),
        "the error does not name the file:\n{}",
        server.stderr()
    );
    Ok(())
}

#[test]
fn a_listen_directory_the_user_cannot_write_is_named_with_the_uid_and_the_fix() -> Result<()> {
    // Root writes anywhere: the failure is seen as another user, which needs root and `setpriv`.
    if !nix::unistd::geteuid().is_root() || std::process::Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv to run sockgate as another user");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let socket = dir.path().join("docker.sock");
    let cmd = real_binary::server::sockgate_command(&["serve"]);
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut setpriv = std::process::Command::new("setpriv");
    setpriv.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]).arg(program).args(args);
    setpriv.args(["--listen", &format!("unix://{}", socket.display()), "--upstream", ENGINE]);
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => setpriv.env(name, value),
            None => setpriv.env_remove(name),
        };
    }
    let out = run(setpriv, None, real_binary::server::ONE_SHOT_TIMEOUT)?;
    ensure!(!out.success(), "sockgate listened where uid 65534 cannot write: {out}");
    ensure!(
        out.stderr.contains(&format!("uid 65534 cannot create files in `{}`", dir.path().display()))
            && out.stderr.contains("install -d -o 65534"),
        "the error names neither the directory, the uid nor the fix: {out}"
    );
    ensure!(out.stderr.matches("Permission denied").count() <= 1, "the cause is repeated: {out}");
    Ok(())
}

#[test]
fn the_start_up_line_names_the_policy_mode_listeners_and_engine() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");
    let server =
        Sockgate::serve(&["--listen", &host, "--upstream", ENGINE, "--policy", policy, "--mode", "audit"], &[&host])?;
    let lines = server.wait_for_log("sockgate started", 0, std::time::Duration::from_secs(15))?;
    let version = real_binary::real_docker(&["version", "--format", "{{.Server.Version}}"])?.ok()?;
    let line = &lines[0];
    for wanted in [
        format!("policy={policy}"),
        "mode=audit".to_string(),
        format!("listeners={host}"),
        format!("{} at {ENGINE}", version.stdout.trim()),
    ] {
        ensure!(line.contains(&wanted), "the start-up line lacks `{wanted}`: {line}");
    }
    Ok(())
}

#[test]
fn docker_socket_proxy_variables_beside_a_policy_are_said_to_be_ignored() -> Result<()> {
    let gw = real_binary::Gateway::builder()
        .policy(real_binary::READ_ONLY)
        .env("CONTAINERS", "1")
        .env("POST", "1")
        .upstream(ENGINE)
        .start()?;
    let log = gw.stderr();
    ensure!(
        log.lines().any(|l| l.contains("WARN") && l.contains("CONTAINERS, POST") && l.contains("ignored")),
        "no warning that the variables are ignored:\n{log}"
    );
    Ok(())
}

#[test]
fn an_engine_socket_the_user_may_not_use_is_named_with_the_uid_and_the_fix() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let engine = std::fs::metadata("/var/run/docker.sock");
    let closed = engine.as_ref().is_ok_and(|m| m.mode() & 0o006 == 0 && m.gid() != 65534);
    if !closed
        || !nix::unistd::geteuid().is_root()
        || std::process::Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!("skipped: needs root, setpriv and an engine socket closed to others");
        return Ok(());
    }
    let gid = engine.map(|m| m.gid())?;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    nix::unistd::chown(dir.path(), Some(nix::unistd::Uid::from_raw(65534)), None)?;
    let socket = dir.path().join("docker.sock");
    let log = dir.path().join("stderr.log");
    let cmd = real_binary::server::sockgate_command(&["serve"]);
    let mut setpriv = std::process::Command::new("setpriv");
    setpriv.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]).arg(cmd.get_program());
    setpriv.args(cmd.get_args()).args(["--listen", &format!("unix://{}", socket.display()), "--upstream", ENGINE]);
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => setpriv.env(name, value),
            None => setpriv.env_remove(name),
        };
    }
    setpriv.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    setpriv.stderr(std::fs::File::create(&log)?);
    let mut child = setpriv.spawn()?;
    let found = real_binary::observe::poll_until(std::time::Duration::from_secs(15), "the engine access error", || {
        let text = real_binary::observe::read_lossy(&log);
        Ok(text.contains("may not connect to").then_some(text))
    });
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = real_binary::process::wait_until(&mut child, std::time::Instant::now() + std::time::Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
    let text = found?;
    ensure!(
        text.contains("uid 65534")
            && text.contains("`/var/run/docker.sock`")
            && text.contains(&format!("--group-add {gid}")),
        "the error names neither the uid, the socket nor the fix:\n{text}"
    );
    Ok(())
}

/// The cores each of `pid`'s worker threads may run on, as `/proc` lists them (`0-1`, `1`).
fn worker_cores(pid: u32) -> Result<Vec<String>> {
    let mut cores = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?.path();
        // Thread names are cut to 15 bytes: `sockgate-worker`.
        if std::fs::read_to_string(task.join("comm"))?.trim() != "sockgate-worker" {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status"))?;
        let line = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
        cores.push(line.map(str::trim).unwrap_or_default().to_string());
    }
    cores.sort();
    Ok(cores)
}

#[test]
fn pinned_workers_each_keep_a_core_of_their_own_and_serve() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (pinned, free) = (dir.path().join("pinned.sock"), dir.path().join("free.sock"));
    let (pinned, free) = (format!("unix://{}", pinned.display()), format!("unix://{}", free.display()));
    let with_pins =
        Sockgate::serve(&["--listen", &pinned, "--upstream", ENGINE, "--workers", "2", "--pin-workers"], &[&pinned])?;
    let without = Sockgate::serve(&["--listen", &free, "--upstream", ENGINE, "--workers", "2"], &[&free])?;
    docker_version(&pinned)?.ok()?;
    docker_version(&free)?.ok()?;

    let everywhere = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    ensure!(worker_cores(without.pid())? == [everywhere.clone(), everywhere.clone()], "unpinned workers were bound");
    let cores = worker_cores(with_pins.pid())?;
    ensure!(cores.len() == 2, "two workers expected, found {cores:?}");
    ensure!(
        cores.iter().all(|c| c.parse::<usize>().is_ok()),
        "a pinned worker may run on more than one core: {cores:?}"
    );
    if everywhere.contains(['-', ',']) {
        ensure!(cores[0] != cores[1], "two pinned workers share a core where there are several: {cores:?}");
    }
    Ok(())
}
