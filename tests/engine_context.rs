//! Requests judged in the engine's context, with the real docker CLI and dockerd under the shipped
//! `ci` policy: driver names that the engine would look up as plugins (and so as host paths),
//! objects that already exist under the name a request uses, and API versions that change what a
//! route means. Every denial is checked against the engine itself: nothing of it reached dockerd.
//!
//! The plugin spec staged for the driver-name tests names an address where nothing listens, so
//! even a failing run cannot register a working driver with the engine.

mod real_binary;

use anyhow::{ensure, Context, Result};

use real_binary::dockerd::{container_exists, inspect_container, network_exists, volume_exists};
use real_binary::http::http_request;
use real_binary::{docker, docker_ready, real_docker, CmdOutput, Gateway, Scratch, TEST_IMAGE};

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");

fn ensure_denied(out: &CmdOutput, wanted: &str) -> Result<()> {
    ensure!(!out.success() && out.stderr.contains(wanted), "expected `{wanted}`: {out}");
    Ok(())
}

/// Every volume and network driver the engine has registered: only its own.
fn engine_drivers() -> Result<String> {
    let volumes = real_docker(&["volume", "ls", "--format", "{{.Driver}}"])?.ok()?.stdout;
    let networks = real_docker(&["network", "ls", "--format", "{{.Driver}}"])?.ok()?.stdout;
    Ok(format!("{volumes}{networks}"))
}

#[test]
fn driver_names_that_lead_out_of_the_plugin_directories_are_refused_everywhere() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let plugins_before = real_docker(&["info", "--format", "{{json .Plugins}}"])?.ok()?.stdout;
    let gw = Gateway::start(Some(CI))?;
    let mut scratch = Scratch::new();
    // A job may write into its own named volume; the engine keeps it under its data root.
    let staging = scratch.volume("plugin-staging");
    real_docker(&["volume", "create", &staging])?.ok()?;
    let write = "echo tcp://127.0.0.1:9 > /d/evil.spec";
    real_docker(&["run", "--rm", "-v", &format!("{staging}:/d"), TEST_IMAGE, "sh", "-c", write])?.ok()?;
    let mountpoint = real_docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", &staging])?.ok()?.stdout;
    let evil = format!("../../..{}/evil", mountpoint.trim());
    let refused = "is not a plain plugin name";

    let victim = scratch.volume("plugin-victim");
    let container = scratch.container("plugin-run");
    let attempts: Vec<Vec<String>> = vec![
        vec!["volume".into(), "create".into(), "-d".into(), evil.clone(), victim.clone()],
        vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            container.clone(),
            "--volume-driver".into(),
            evil.clone(),
            "-v".into(),
            format!("{victim}:/v"),
            TEST_IMAGE.into(),
            "true".into(),
        ],
        vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            container.clone(),
            "--mount".into(),
            format!("type=volume,src={victim},dst=/v,volume-driver={evil}"),
            TEST_IMAGE.into(),
            "true".into(),
        ],
        vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            container.clone(),
            "--log-driver".into(),
            evil.clone(),
            TEST_IMAGE.into(),
            "true".into(),
        ],
    ];
    for args in &attempts {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ensure_denied(&docker(&gw, &args)?, refused)?;
    }
    let network = scratch.network("plugin-net");
    ensure_denied(&docker(&gw, &["network", "create", "-d", &evil, &network])?, refused)?;
    ensure_denied(&docker(&gw, &["network", "create", "--ipam-driver", &evil, &network])?, refused)?;

    // A plain name that is not a built-in driver is a plugin the policy does not list.
    let out = docker(&gw, &["volume", "create", "-d", "evil", &victim])?;
    ensure_denied(
        &out,
        "volumes.create denied by rule `containers.volume_drivers`: Driver names volume driver `evil`",
    )?;
    let out = docker(
        &gw,
        &["run", "--rm", "--log-driver", "syslog", "--log-opt", "syslog-address=udp://127.0.0.1:9", TEST_IMAGE, "true"],
    )?;
    ensure_denied(&out, "containers.create denied by rule `containers.log_drivers`: HostConfig.LogConfig.Type names log driver `syslog`")?;

    ensure!(!volume_exists(&victim)?, "the engine holds the volume {victim}");
    ensure!(!network_exists(&network)?, "the engine holds the network {network}");
    ensure!(!container_exists(&container)?, "the engine holds the container {container}");
    let drivers = engine_drivers()?;
    ensure!(drivers.lines().all(|d| ["local", "bridge", "host", "null"].contains(&d.trim())), "drivers: {drivers}");
    // No plugin was activated: the engine's drivers are the ones it had.
    let plugins_after = real_docker(&["info", "--format", "{{json .Plugins}}"])?.ok()?.stdout;
    ensure!(plugins_after == plugins_before, "the engine's drivers changed: {plugins_before} -> {plugins_after}");
    Ok(())
}

#[test]
fn the_clis_everyday_commands_still_work() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start(Some(CI))?;
    let mut scratch = Scratch::new();
    let volume = scratch.volume("plain");
    docker(&gw, &["volume", "create", &volume])?.ok()?;
    let network = scratch.network("plain");
    docker(&gw, &["network", "create", &network])?.ok()?;
    let container = scratch.container("plain");
    let out = docker(
        &gw,
        &[
            "run",
            "--name",
            &container,
            "-v",
            &format!("{volume}:/data"),
            "--network",
            &network,
            "--log-driver",
            "json-file",
            TEST_IMAGE,
            "sh",
            "-c",
            "echo hi > /data/x && cat /data/x",
        ],
    )?
    .ok()?;
    ensure!(out.stdout.trim() == "hi", "run printed {out}");
    let logs = docker(&gw, &["logs", &container])?.ok()?;
    ensure!(logs.stdout.trim() == "hi", "logs printed {logs}");
    // The engine would give a cgroup v1 host's namespace; the policy forbids host namespaces.
    let inspected = inspect_container(&container)?.context("the container is gone")?;
    let mode = &inspected["HostConfig"]["CgroupnsMode"];
    ensure!(mode == "private", "CgroupnsMode is {mode}");
    // A fresh named volume in `--mount` form, and one that does not exist yet.
    let fresh = scratch.volume("fresh");
    docker(&gw, &["run", "--rm", "--mount", &format!("type=volume,src={fresh},dst=/f"), TEST_IMAGE, "true"])?.ok()?;
    ensure!(volume_exists(&fresh)?, "the engine did not create {fresh}");
    Ok(())
}

#[test]
fn existing_volumes_and_networks_are_judged_as_the_engine_has_them() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start(Some(CI))?;
    let mut scratch = Scratch::new();
    // Made by the host's administrator, straight on the engine: the host's /etc behind a name.
    let host_etc = scratch.volume("host-etc");
    real_docker(&["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", &host_etc])?
        .ok()?;
    let container = scratch.container("host-etc");
    let wanted = format!("mounts volume `{host_etc}`, which mounts host path `/etc` read-write");
    let out = docker(&gw, &["run", "--rm", "--name", &container, "-v", &format!("{host_etc}:/x"), TEST_IMAGE, "true"])?;
    ensure_denied(
        &out,
        &format!("containers.create denied by rule `containers.host_mounts`: HostConfig.Binds {wanted}"),
    )?;
    let mount = format!("type=volume,src={host_etc},dst=/x,readonly");
    let out = docker(&gw, &["run", "--rm", "--name", &container, "--mount", &mount, TEST_IMAGE, "true"])?;
    ensure_denied(&out, &format!("mounts volume `{host_etc}`, which mounts host path `/etc` read-only"))?;
    ensure!(!container_exists(&container)?, "the engine created {container}");

    // The host's network, by its id: the host's network namespace, whatever the name says.
    let host_id = real_docker(&["network", "inspect", "-f", "{{.Id}}", "host"])?.ok()?.stdout;
    let short = &host_id.trim()[..12];
    let out = docker(&gw, &["run", "--rm", "--name", &container, "--network", short, TEST_IMAGE, "true"])?;
    ensure_denied(&out, &format!("joins network `{short}`, which is the host's network namespace"))?;
    ensure!(!container_exists(&container)?, "the engine created {container}");
    Ok(())
}

#[test]
fn old_api_versions_cannot_replace_a_host_config_at_start() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start(Some(CI))?;
    let mut scratch = Scratch::new();
    let container = scratch.container("old-start");
    docker(&gw, &["create", "--name", &container, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let host_config = r#"{"Privileged":true,"Binds":["/:/host"]}"#;
    for version in ["/v1.23", "/v1.12"] {
        let answer =
            http_request(gw.socket(), "POST", &format!("{version}/containers/{container}/start"), Some(host_config))?;
        ensure!(answer.status == 400, "{version}: {} {}", answer.status, answer.body);
        ensure!(answer.body.contains("replaces the container's host config"), "{}", answer.body);
        // Without a body, the version alone is refused.
        let answer = http_request(gw.socket(), "POST", &format!("{version}/containers/{container}/start"), None)?;
        ensure!(answer.status == 400, "{version}: {} {}", answer.status, answer.body);
        ensure!(answer.body.contains("is too old: sockgate serves 1.24 and newer"), "{}", answer.body);
    }
    let answer = http_request(gw.socket(), "POST", &format!("/v1.41/containers/{container}/start"), Some(host_config))?;
    ensure!(answer.status == 400 && answer.body.contains("replaces the container's host config"), "{}", answer.body);
    let answer = http_request(gw.socket(), "GET", "/v1.99/version", None)?;
    ensure!(answer.status == 400 && answer.body.contains("too new: the engine's maximum is"), "{}", answer.body);

    // Even with the minimum lowered to the engine's own, a start body is never sent.
    let mut low = Gateway::builder().policy(CI).args(&["--min-api-version", "1.12"]).start()?;
    let answer =
        http_request(low.socket(), "POST", &format!("/v1.23/containers/{container}/start"), Some(host_config))?;
    ensure!(answer.status == 400 && answer.body.contains("replaces the container's host config"), "{}", answer.body);
    let answer = http_request(low.socket(), "GET", "/v1.23/version", None)?;
    ensure!(answer.status == 200, "an old version within the configured range: {} {}", answer.status, answer.body);
    low.stop()?;

    let inspected = inspect_container(&container)?.context("the container is gone")?;
    ensure!(inspected["HostConfig"]["Privileged"] == false, "the engine made {container} privileged");
    ensure!(inspected["HostConfig"]["Binds"].is_null(), "the engine gave {container} binds");
    ensure!(inspected["State"]["Running"] == false, "the engine started {container}");
    Ok(())
}

#[test]
fn checkpoint_directories_are_host_paths() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = Gateway::start(Some(CI))?;
    let mut scratch = Scratch::new();
    let container = scratch.container("checkpoint");
    real_docker(&["create", "--name", &container, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let body = r#"{"CheckpointID":"c1","CheckpointDir":"/etc"}"#;
    let answer = http_request(gw.socket(), "POST", &format!("/v1.41/containers/{container}/checkpoints"), Some(body))?;
    ensure!(answer.status == 403, "{} {}", answer.status, answer.body);
    ensure!(answer.body.contains("CheckpointDir writes checkpoints in host path `/etc`"), "{}", answer.body);
    let path = format!("/v1.41/containers/{container}/start?checkpoint=c1&checkpoint-dir=%2Froot");
    let answer = http_request(gw.socket(), "POST", &path, None)?;
    ensure!(answer.status == 403 && answer.body.contains("host path `/root`"), "{} {}", answer.status, answer.body);
    ensure!(inspect_container(&container)?.context("gone")?["State"]["Running"] == false, "started");
    Ok(())
}

/// A compose project, taken down through the engine's own socket when the test ends.
struct Project {
    name: String,
    dir: tempfile::TempDir,
}

impl Project {
    fn compose(&self, host: &str, args: &[&str]) -> Result<CmdOutput> {
        let mut cmd = std::process::Command::new("docker-compose");
        cmd.current_dir(self.dir.path()).env("DOCKER_HOST", host).args(["-p", &self.name]).args(args);
        real_binary::run(cmd, None, real_binary::CLI_TIMEOUT)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(real_binary::dockerd::DOCKER_HOST, &["down", "-v", "--timeout", "0"]);
    }
}

#[test]
fn compose_brings_a_project_up_and_down_under_ci() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let has_compose = std::process::Command::new("docker-compose").arg("version").output().is_ok();
    if !has_compose {
        ensure!(!real_binary::dockerd::in_ci(), "docker-compose is missing; .ci/run installs it");
        eprintln!("skipped: docker-compose is not installed");
        return Ok(());
    }
    let gw = Gateway::start(Some(CI))?;
    let project =
        Project { name: real_binary::scratch::unique_name("compose").replace('-', ""), dir: tempfile::tempdir()? };
    let file = format!(
        "version: \"3.8\"\nservices:\n  app:\n    image: {TEST_IMAGE}\n    command: [\"sh\", \"-c\", \"echo up > /data/x && sleep 600\"]\n    \
         volumes: [\"data:/data\"]\n    networks: [\"back\"]\n    logging:\n      driver: json-file\nvolumes:\n  data: {{}}\nnetworks:\n  back: {{}}\n"
    );
    std::fs::write(project.dir.path().join("docker-compose.yml"), file)?;
    let host = gw.host();
    project.compose(&host, &["up", "-d"])?.ok()?;
    let ps = project.compose(&host, &["ps"])?.ok()?;
    ensure!(ps.stdout.contains("Up"), "compose ps: {ps}");
    let mut read = project.compose(&host, &["exec", "-T", "app", "cat", "/data/x"])?;
    for _ in 0..20 {
        if read.success() && read.stdout.trim() == "up" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        read = project.compose(&host, &["exec", "-T", "app", "cat", "/data/x"])?;
    }
    ensure!(read.stdout.trim() == "up", "compose exec: {read}");
    let volume = format!("{}_data", project.name);
    let inspected = real_docker(&["volume", "inspect", "-f", "{{.Driver}}", &volume])?.ok()?;
    ensure!(inspected.stdout.trim() == "local", "the project's volume: {inspected}");
    project.compose(&host, &["down", "-v", "--timeout", "1"])?.ok()?;
    ensure!(!volume_exists(&volume)?, "compose down -v left {volume}");
    ensure!(!network_exists(&format!("{}_back", project.name))?, "compose down left its network");
    Ok(())
}
