//! Tenancy with the real docker CLI and dockerd under the shipped `ci` policy: two tenants (two
//! unix uids) on one sockgate, and an administrator's container started straight on the engine
//! with a host bind mount. Each tenant sees, touches and prunes only what it created; everything
//! else answers as the engine answers a missing object.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failing test panics")]

mod real_binary;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use real_binary::dockerd::{container_exists, inspect_container, network_exists, volume_exists};
use real_binary::process::run;
use real_binary::server::Sockgate;
use real_binary::{docker_command, docker_ready, real_docker, CmdOutput, Scratch, CLI_TIMEOUT, TEST_IMAGE};

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");

/// One tenant: the docker CLI run as its own uid against sockgate.
struct Tenant {
    uid: u32,
    host: String,
    home: PathBuf,
}

impl Tenant {
    fn new(uid: u32, host: &str, dir: &Path) -> Result<Tenant> {
        let home = dir.join(format!("home-{uid}"));
        std::fs::create_dir_all(&home)?;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777))?;
        Ok(Tenant { uid, host: host.to_owned(), home })
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = if program == "docker" {
            docker_command(&self.host)
        } else {
            let mut cmd = std::process::Command::new(program);
            cmd.env("DOCKER_HOST", &self.host);
            cmd
        };
        cmd.env("HOME", &self.home).current_dir(&self.home).uid(self.uid).gid(self.uid);
        cmd
    }

    fn docker(&self, args: &[&str]) -> Result<CmdOutput> {
        let mut cmd = self.command("docker");
        cmd.args(args);
        run(cmd, None, CLI_TIMEOUT)
    }

    fn ok(&self, args: &[&str]) -> Result<CmdOutput> {
        self.docker(args)?.ok()
    }
}

fn not_found(out: &CmdOutput, what: &str) -> Result<()> {
    ensure!(!out.success() && out.stderr.contains(what), "expected `{what}`: {out}");
    Ok(())
}

fn listed(out: &CmdOutput) -> Vec<String> {
    out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A sockgate under `ci.toml` on a socket every uid may use.
fn site(dir: &Path) -> Result<(Sockgate, String)> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let socket = dir.join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let config = dir.join("sockgate.toml");
    std::fs::write(
        &config,
        format!("version = 1\n\n[[listener]]\naddress = \"{host}\"\nsocket_mode = \"666\"\npolicy = [\"{CI}\"]\n"),
    )?;
    Ok((Sockgate::with_config(&config, &[&host])?, host))
}

#[test]
fn tenants_reach_only_what_they_created() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs());
    let since = now()?;
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    let (gw, host) = site(dir.path())?;
    let a = Tenant::new(41_000, &host, dir.path())?;
    let b = Tenant::new(41_001, &host, dir.path())?;

    // The administrator's container, with a host directory, straight on the engine.
    let admin = scratch.container("admin");
    real_docker(&["run", "-d", "--name", &admin, "-v", "/tmp:/host-tmp", TEST_IMAGE, "sleep", "600"])?.ok()?;
    // A's objects, made through sockgate.
    let a_box = scratch.container("a-box");
    let a_volume = scratch.volume("a-volume");
    let a_network = scratch.network("a-network");
    a.ok(&["volume", "create", &a_volume])?;
    a.ok(&["network", "create", &a_network])?;
    a.ok(&[
        "run",
        "-d",
        "--name",
        &a_box,
        "-v",
        &format!("{a_volume}:/data"),
        "--network",
        &a_network,
        TEST_IMAGE,
        "sleep",
        "600",
    ])?;
    a.ok(&["exec", &a_box, "true"])?;
    // B's own.
    let b_box = scratch.container("b-box");
    let b_network = scratch.network("b-network");
    b.ok(&["network", "create", &b_network])?;
    b.ok(&["run", "-d", "--name", &b_box, TEST_IMAGE, "sleep", "600"])?;

    let out_path = b.home.join("copied");
    let out_path = out_path.to_str().unwrap_or_default();
    for other in [&a_box, &admin] {
        let no_such = format!("No such container: {other}");
        not_found(&b.docker(&["container", "inspect", other])?, &no_such)?;
        not_found(&b.docker(&["exec", other, "true"])?, &no_such)?;
        not_found(&b.docker(&["logs", other])?, &no_such)?;
        not_found(&b.docker(&["attach", "--no-stdin", other])?, &no_such)?;
        not_found(&b.docker(&["cp", &format!("{other}:/etc/hostname"), out_path])?, "No such container")?;
        // The CLI says this for a container the engine does not have either.
        not_found(&b.docker(&["cp", "/etc/hostname", &format!("{other}:/tmp/")])?, "no such directory")?;
        not_found(&b.docker(&["stop", "-t", "0", other])?, &no_such)?;
        not_found(&b.docker(&["kill", other])?, &no_such)?;
        not_found(&b.docker(&["rm", other])?, &no_such)?;
        not_found(&b.docker(&["rename", other, "taken"])?, &no_such)?;
        not_found(&b.docker(&["commit", other])?, &no_such)?;
        not_found(&b.docker(&["export", "-o", out_path, other])?, &no_such)?;
        not_found(&b.docker(&["network", "connect", &b_network, other])?, &no_such)?;
        ensure!(!b.docker(&["run", "--rm", "--volumes-from", other, TEST_IMAGE, "true"])?.success(), "volumes-from");
        ensure!(!b.docker(&["run", "--rm", "--pid", &format!("container:{other}"), TEST_IMAGE, "true"])?.success());
        ensure!(container_exists(other)?, "{other} is gone");
    }
    // A's volume and network.
    let out = b.docker(&["run", "--rm", "-v", &format!("{a_volume}:/x"), TEST_IMAGE, "true"])?;
    ensure!(!out.success() && out.stderr.contains("is not this caller's"), "{out}");
    not_found(&b.docker(&["volume", "inspect", &a_volume])?, "no such volume")?;
    not_found(&b.docker(&["volume", "rm", &a_volume])?, "no such volume")?;
    not_found(&b.docker(&["network", "inspect", &a_network])?, "not found")?;
    not_found(&b.docker(&["network", "connect", &a_network, &b_box])?, "not found")?;
    not_found(&b.docker(&["network", "rm", &a_network])?, "not found")?;
    // A spoofed owner at create.
    let spoof = scratch.container("spoof");
    let out =
        b.docker(&["run", "--rm", "--name", &spoof, "--label", "io.sockgate.owner=uid:41000", TEST_IMAGE, "true"])?;
    ensure!(!out.success() && out.stderr.contains("owns as `uid:41001`"), "{out}");
    ensure!(!container_exists(&spoof)?, "the spoofed container was made");

    // Lists show B's own only.
    let ps = listed(&b.ok(&["ps", "-a", "--format", "{{.Names}}"])?);
    ensure!(ps == [b_box.clone()], "docker ps -a: {ps:?}");
    let volumes = listed(&b.ok(&["volume", "ls", "--format", "{{.Name}}"])?);
    ensure!(volumes.is_empty(), "docker volume ls: {volumes:?}");
    let networks = listed(&b.ok(&["network", "ls", "--format", "{{.Name}}"])?);
    ensure!(networks == [b_network.clone()], "docker network ls: {networks:?}");
    let df = b.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"])?;
    ensure!(df.stdout.contains("Containers 1") && df.stdout.contains("Local Volumes 0"), "docker system df: {df}");
    let until = now()? + 1;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let events = b.ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--format",
        "{{.Actor.Attributes.name}}",
    ])?;
    let names = listed(&events);
    ensure!(
        !names.is_empty() && names.iter().all(|n| n == &b_box || n == &b_network || n.is_empty()),
        "events: {names:?}"
    );

    // B's prune leaves A's and the administrator's objects.
    a.ok(&["stop", "-t", "0", &a_box])?;
    b.ok(&["system", "prune", "-af", "--volumes"])?;
    ensure!(container_exists(&a_box)? && container_exists(&admin)?, "B's prune removed others' containers");
    ensure!(volume_exists(&a_volume)? && network_exists(&a_network)?, "B's prune removed A's volume or network");
    ensure!(!network_exists(&b_network)?, "B's prune kept B's own unused network");
    // A still has its own.
    let ps = listed(&a.ok(&["ps", "-a", "--format", "{{.Names}}"])?);
    ensure!(ps == [a_box.clone()], "A's docker ps -a: {ps:?}");
    // Nothing of it is privileged, and the administrator's container was never touched.
    let admin_state = inspect_container(&admin)?.unwrap_or_default();
    ensure!(admin_state["State"]["Running"] == true, "the administrator's container was stopped");
    drop(gw);
    Ok(())
}

#[test]
fn two_compose_projects_see_only_themselves() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    if std::process::Command::new("docker-compose").arg("version").output().is_err() {
        ensure!(!real_binary::dockerd::in_ci(), "docker-compose is missing; .ci/run installs it");
        return Ok(());
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    let (_gw, host) = site(dir.path())?;
    let tenants = [Tenant::new(41_010, &host, dir.path())?, Tenant::new(41_011, &host, dir.path())?];
    let projects: Vec<String> =
        (0..2).map(|i| real_binary::scratch::unique_name(&format!("p{i}")).replace('-', "")).collect();
    let file = format!(
        "version: \"3.8\"\nservices:\n  app:\n    image: {TEST_IMAGE}\n    command: [\"sh\", \"-c\", \"echo up; sleep 600\"]\n    \
         volumes: [\"data:/data\"]\nvolumes:\n  data: {{}}\n"
    );
    let compose = |tenant: &Tenant, project: &str, args: &[&str]| -> Result<CmdOutput> {
        std::fs::write(tenant.home.join("docker-compose.yml"), &file)?;
        let mut cmd = tenant.command("docker-compose");
        cmd.args(["-p", project]).args(args);
        run(cmd, None, CLI_TIMEOUT)
    };
    let cleanup = |project: &str| {
        let mut cmd = std::process::Command::new("docker-compose");
        cmd.current_dir(dir.path()).args(["-p", project, "down", "-v", "--timeout", "0"]);
        let _ = std::fs::write(dir.path().join("docker-compose.yml"), &file);
        let _ = run(cmd, None, CLI_TIMEOUT);
    };
    let result = (|| -> Result<()> {
        for (tenant, project) in tenants.iter().zip(&projects) {
            compose(tenant, project, &["up", "-d"])?.ok()?;
        }
        for (i, (tenant, project)) in tenants.iter().zip(&projects).enumerate() {
            let ps = compose(tenant, project, &["ps"])?.ok()?;
            ensure!(ps.stdout.contains(&format!("{project}_app_1")), "{project} ps: {ps}");
            let other = &projects[1 - i];
            let theirs = compose(tenant, other, &["ps", "-q"])?.ok()?;
            ensure!(theirs.stdout.trim().is_empty(), "{project}'s tenant sees {other}: {theirs}");
            let logs = compose(tenant, project, &["logs"])?.ok()?;
            ensure!(logs.stdout.contains("up"), "{project} logs: {logs}");
            compose(tenant, project, &["exec", "-T", "app", "true"])?.ok()?;
        }
        for (tenant, project) in tenants.iter().zip(&projects) {
            compose(tenant, project, &["down", "-v", "--timeout", "0"])?.ok()?;
            ensure!(!volume_exists(&format!("{project}_data"))?, "{project} down -v left its volume");
        }
        Ok(())
    })();
    for project in &projects {
        cleanup(project);
    }
    result
}

/// One sockgate per job: `--owner` gives every caller of that sidecar the job's name.
#[test]
fn a_sidecar_per_job_owns_by_the_jobs_name() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let first = real_binary::Gateway::builder().policy(CI).args(&["--owner", "job-1"]).start()?;
    let second = real_binary::Gateway::builder().policy(CI).args(&["--owner", "job-2"]).start()?;
    let mine = scratch.container("job-1");
    real_binary::docker(&first, &["run", "-d", "--name", &mine, TEST_IMAGE, "sleep", "600"])?.ok()?;
    let owner = inspect_container(&mine)?.unwrap_or_default()["Config"]["Labels"]["io.sockgate.owner"].clone();
    ensure!(owner == "job-1", "the container's owner is {owner}");
    let seen = listed(&real_binary::docker(&second, &["ps", "-a", "--format", "{{.Names}}"])?.ok()?);
    ensure!(!seen.contains(&mine), "job-2 sees job-1's container: {seen:?}");
    not_found(&real_binary::docker(&second, &["logs", &mine])?, &format!("No such container: {mine}"))?;
    real_binary::docker(&first, &["logs", &mine])?.ok()?;
    Ok(())
}

/// One sockgate per host, many jobs: a job container that calls sockgate owns by its own name,
/// and what it creates is out of another job's reach.
#[test]
fn job_containers_own_by_their_names() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let image = scratch.image("jobs-cli");
    real_binary::cli_image::build_cli_image(&image)?;
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    let (_gw, _host) = site(dir.path())?;
    let mount = format!("{}:/s", dir.path().display());
    let job = |name: &str, script: &str| -> Result<CmdOutput> {
        real_docker(&[
            "run",
            "--rm",
            "--name",
            name,
            "-v",
            &mount,
            "-e",
            "DOCKER_HOST=unix:///s/docker.sock",
            &image,
            "sh",
            "-c",
            script,
        ])
    };
    let (first, second) = (scratch.container("job-a"), scratch.container("job-b"));
    let made = scratch.container("made-by-a");
    let out = job(&first, &format!("docker run -d --name {made} {TEST_IMAGE} sleep 600"))?.ok()?;
    ensure!(!out.stdout.trim().is_empty(), "{out}");
    let owner = inspect_container(&made)?.unwrap_or_default()["Config"]["Labels"]["io.sockgate.owner"].clone();
    ensure!(owner == format!("container:{first}").as_str(), "owner of {made}: {owner}");
    let out = job(&second, &format!("docker logs {made}"))?;
    not_found(&out, &format!("No such container: {made}"))?;
    Ok(())
}
