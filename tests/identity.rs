//! Identities a caller cannot give itself, with the real docker CLI and dockerd: a CI caller that
//! labels, names, renames or builds its way to another profile's container facts, a container
//! running as root, and certificates whose names two readers could read apart are all served as
//! the weaker caller (or refused), and a profile taken out of the configuration stops applying on
//! reload. Each test asks the engine afterwards that nothing privileged was made.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failing test panics")]

mod real_binary;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use real_binary::cli::clear_docker_env;
use real_binary::cli_image::build_cli_image;
use real_binary::dockerd::{container_exists, inspect_container};
use real_binary::pki::{Ca, Issued};
use real_binary::process::run;
use real_binary::scratch::unique_name;
use real_binary::server::Sockgate;
use real_binary::{docker_command, docker_ready, real_docker, CmdOutput, Scratch, CLI_TIMEOUT, TEST_IMAGE};

const CI_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");

/// `ci.toml` without its `[ownership]`: these tests are about who a caller is, and share the
/// networks and containers they make with the operator.
fn ci_policy(dir: &Path) -> Result<String> {
    let text = std::fs::read_to_string(CI_FILE)?;
    let shared = text.split("\n[ownership]").next().unwrap_or(&text).replace("# Tenancy:", "#");
    let path = dir.join("ci.toml");
    std::fs::write(&path, shared)?;
    Ok(path.display().to_string())
}

/// What the powerful profiles may do: everything, privileged containers included. Only they may
/// list plugins (`ci.toml` denies `plugins.*`), which is how the tests tell who was served.
const POWER: &str = "version = 1\nname = \"power\"\n\n[[rule]]\nid = \"power\"\nallow = [\"*\"]\n\n\
                     [containers]\nprivileged = true\nhost_mounts = [\"/\"]\n";

/// No container the tests made runs privileged or with the host's `/`.
fn nothing_privileged(names: &[&str]) -> Result<()> {
    for name in names {
        if let Some(inspected) = inspect_container(name)? {
            ensure!(inspected["HostConfig"]["Privileged"] == false, "{name} is privileged");
            let binds = inspected["HostConfig"]["Binds"].to_string();
            ensure!(!binds.contains("\"/:"), "{name} binds the host's root: {binds}");
        }
    }
    Ok(())
}

/// A docker network, and sockgate on its gateway: containers there labelled `role=<label>` or
/// named `<name>*` get `POWER`; everyone else gets `ci.toml`, and so does the host's CLI on a
/// unix listener of the same configuration.
struct Site {
    network: String,
    addr: String,
    host: String,
    label: String,
    name: String,
    gw: Sockgate,
    _dir: tempfile::TempDir,
}

impl Site {
    fn start(scratch: &mut Scratch) -> Result<Site> {
        let network = scratch.network("identity");
        real_docker(&["network", "create", &network])?.ok()?;
        let format = "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}";
        let out = real_docker(&["network", "inspect", "--format", format, &network])?.ok()?;
        let mut words = out.stdout.split_whitespace();
        let (subnet, gateway) = (words.next().context("subnet")?.to_owned(), words.next().context("gateway")?);
        let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
        let power = dir.path().join("power.toml");
        std::fs::write(&power, POWER)?;
        let ci = ci_policy(dir.path())?;
        let asked = format!("tcp://{gateway}:0");
        let label = unique_name("proxy");
        let name = unique_name("traefik");
        let config = dir.path().join("sockgate.toml");
        let host = format!("unix://{}", dir.path().join("docker.sock").display());
        std::fs::write(
            &config,
            format!(
                "version = 1\n\n[[listener]]\naddress = \"{host}\"\npolicy = [\"{ci}\"]\n\n\
                 [[listener]]\naddress = \"{asked}\"\ninsecure = true\nallow_cidrs = [\"{subnet}\"]\n\
                 policy = [\"{ci}\"]\n\n[[listener.profile]]\nname = \"proxy\"\ncontainer_label = \"role={label}\"\n\
                 policy = [\"{}\"]\n\n[[listener.profile]]\nname = \"traefik\"\ncontainer_name = \"{name}*\"\n\
                 policy = [\"{}\"]\n",
                power.display(),
                power.display()
            ),
        )?;
        let gw = Sockgate::with_config(&config, &[&asked, &host])?;
        let addr = gw.bound(&asked);
        Ok(Site { network, addr, host, label, name, gw, _dir: dir })
    }

    /// The docker CLI of the host, served as the CI caller.
    fn ci(&self, args: &[&str]) -> Result<CmdOutput> {
        let mut cmd = docker_command(&self.host);
        cmd.args(args);
        run(cmd, None, CLI_TIMEOUT)
    }

    /// `wget` of `GET /plugins` from a container, as a shell line printing who was served.
    fn probe(&self) -> String {
        let url = format!("http://{}/v1.41/plugins", self.addr.trim_start_matches("tcp://"));
        format!("sleep 1; if wget -q -O /dev/null {url}; then echo SERVED-AS-POWER; else echo SERVED-AS-CI; fi")
    }
}

#[test]
fn labels_names_and_builds_do_not_hand_out_a_profile() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let site = Site::start(&mut scratch)?;
    let label = format!("role={}", site.label);

    // The profile works: a container the operator started with the label is served as it.
    let operator = scratch.container("operator");
    let out = real_docker(&[
        "run",
        "--rm",
        "--name",
        &operator,
        "--network",
        &site.network,
        "--label",
        &label,
        TEST_IMAGE,
        "sh",
        "-c",
        &site.probe(),
    ])?
    .ok()?;
    ensure!(out.stdout.contains("SERVED-AS-POWER"), "the labelled container was not served as `proxy`: {out}");

    // The CI caller cannot give a container the label or the name.
    let forged = scratch.container("forged");
    let out = site.ci(&["run", "--rm", "--name", &forged, "--label", &label, TEST_IMAGE, "true"])?;
    ensure!(
        !out.success() && out.stderr.contains("denied by rule `profiles.reserved`") && out.stderr.contains("`proxy`"),
        "a create with the reserved label: {out}"
    );
    let named = format!("{}-mine", site.name);
    scratch.adopt_container(&named);
    let out = site.ci(&["run", "--rm", "--name", &named, TEST_IMAGE, "true"])?;
    ensure!(!out.success() && out.stderr.contains("that profile `traefik` matches callers on"), "{out}");
    let plain = scratch.container("plain");
    site.ci(&["create", "--name", &plain, "--network", &site.network, TEST_IMAGE, "sleep", "60"])?.ok()?;
    let renamed = format!("{}-renamed", site.name);
    scratch.adopt_container(&renamed);
    let out = site.ci(&["rename", &plain, &renamed])?;
    ensure!(!out.success() && out.stderr.contains("`profiles.reserved`"), "a rename to a reserved name: {out}");
    ensure!(!container_exists(&forged)? && !container_exists(&named)? && !container_exists(&renamed)?, "made");

    // A build whose Dockerfile sets the label calls sockgate from a RUN step: the classic builder
    // makes that step's container from a bare image id, which no unpinned profile trusts.
    let image = scratch.image("labelled");
    let context = tempfile::tempdir()?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {TEST_IMAGE}\nLABEL role={}\nRUN {}\n", site.label, site.probe()),
    )?;
    let mut build = docker_command(&site.host);
    build.env("DOCKER_BUILDKIT", "0").args(["build", "--network", &site.network, "-t", &image]).arg(context.path());
    let out = run(build, None, CLI_TIMEOUT)?.ok()?;
    // The step's own output, not the `Step 3/3 : RUN ...` line that echoes the script.
    let said: Vec<&str> = out.stdout.lines().filter(|l| l.contains("SERVED-AS") && !l.contains("echo")).collect();
    ensure!(said.len() == 1 && said[0].ends_with("SERVED-AS-CI"), "the RUN step said {said:?}: {out}");

    // The image carries the label, and so does a container the CI caller runs from it; but
    // sockgate made that container for the CI caller, so it is no `proxy`.
    let from_image = scratch.container("from-image");
    let out = site.ci(&[
        "run",
        "--rm",
        "--name",
        &from_image,
        "--network",
        &site.network,
        &image,
        "sh",
        "-c",
        &site.probe(),
    ])?;
    ensure!(out.stdout.contains("SERVED-AS-CI"), "a container from the labelled image: {out}\n{}", site.gw.stderr());

    nothing_privileged(&[&operator, &forged, &named, &plain, &renamed, &from_image])
}

/// A configuration with one unix listener whose callers are host processes or containers.
fn unix_site(dir: &Path, socket: &Path, profile: &str) -> Result<std::path::PathBuf> {
    let power = dir.join("power.toml");
    std::fs::write(&power, POWER)?;
    let ci = ci_policy(dir)?;
    let config = dir.join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\n[[listener]]\naddress = \"unix://{}\"\nsocket_mode = \"666\"\npolicy = [\"{ci}\"]\n{profile}",
            socket.display()
        )
        .replace("POWER", &power.display().to_string()),
    )?;
    Ok(config)
}

#[test]
fn root_in_a_container_is_not_the_hosts_root() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let image = scratch.image("docker-cli");
    build_cli_image(&image)?;
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let socket = dir.path().join("docker.sock");
    let addr = format!("unix://{}", socket.display());
    let admin = "\n[[listener.profile]]\nname = \"admin\"\nuid = 0\npolicy = [\"POWER\"]\n";
    let config = unix_site(dir.path(), &socket, admin)?;
    let gw = Sockgate::with_config(&config, &[&addr])?;

    // The host's root gets the profile.
    let mut host = docker_command(&addr);
    host.args(["plugin", "ls"]);
    run(host, None, CLI_TIMEOUT)?.ok()?;
    // Root in a container given the socket's directory does not.
    let mount = format!("{}:/s", dir.path().display());
    let contained = scratch.container("root-in-container");
    let out = real_docker(&[
        "run",
        "--rm",
        "--name",
        &contained,
        "-v",
        &mount,
        &image,
        "docker",
        "-H",
        "unix:///s/docker.sock",
        "plugin",
        "ls",
    ])?;
    ensure!(
        !out.success() && out.stderr.contains("plugins.list denied by rule `no-cluster`"),
        "{out}\n{}",
        gw.stderr()
    );
    drop(gw);

    // Unless the profile says it applies to containers too.
    let both = "\n[[listener.profile]]\nname = \"admin\"\nuid = 0\ninclude_containers = true\npolicy = [\"POWER\"]\n";
    let config = unix_site(dir.path(), &socket, both)?;
    let _gw = Sockgate::with_config(&config, &[&addr])?;
    let out = real_docker(&[
        "run",
        "--rm",
        "--name",
        &contained,
        "-v",
        &mount,
        &image,
        "docker",
        "-H",
        "unix:///s/docker.sock",
        "plugin",
        "ls",
    ])?;
    ensure!(out.success(), "with include_containers: {out}");
    nothing_privileged(&[&contained])
}

#[test]
fn a_profile_taken_out_of_the_file_stops_applying_on_reload() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    let socket = dir.path().join("docker.sock");
    let addr = format!("unix://{}", socket.display());
    let admin = "\n[[listener.profile]]\nname = \"admin\"\nuid = 0\npolicy = [\"POWER\"]\n";
    let config = unix_site(dir.path(), &socket, admin)?;
    let gw = Sockgate::with_config(&config, &[&addr])?;
    let plugins = || -> Result<CmdOutput> {
        let mut cmd = docker_command(&addr);
        cmd.args(["plugin", "ls"]);
        run(cmd, None, CLI_TIMEOUT)
    };
    plugins()?.ok()?;

    // Taken out, and told: the next connection is served by the listener's default.
    unix_site(dir.path(), &socket, "")?;
    gw.signal("HUP")?;
    gw.wait_for_log("policies reloaded", 0, Duration::from_secs(10))?;
    let out = plugins()?;
    ensure!(!out.success() && out.stderr.contains("denied by rule `no-cluster`"), "after SIGHUP: {out}");

    // Put back without a signal: the file watcher reloads it.
    let reloads = gw.count_log("policies reloaded");
    unix_site(dir.path(), &socket, admin)?;
    gw.wait_for_log("policies reloaded", reloads, Duration::from_secs(10))?;
    plugins()?.ok()?;
    Ok(())
}

fn tls_docker(addr: &str, ca: &Ca, client: &Issued, args: &[&str]) -> Result<CmdOutput> {
    let mut cmd = std::process::Command::new("docker");
    clear_docker_env(&mut cmd);
    cmd.arg("-H").arg(addr).arg("--tlsverify").arg("--tlscacert").arg(&ca.cert);
    cmd.arg("--tlscert").arg(&client.cert).arg("--tlskey").arg(&client.key);
    cmd.args(args);
    run(cmd, None, CLI_TIMEOUT)
}

#[test]
fn certificate_names_two_readers_could_read_apart_name_nobody() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir()?;
    let ca = Ca::new(dir.path(), "ca")?;
    let server = ca.server("server")?;
    let power = dir.path().join("power.toml");
    std::fs::write(&power, POWER)?;
    let asked = "tcp://127.0.0.1:0";
    let config = dir.path().join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\n[[listener]]\naddress = \"{asked}\"\npolicy = [\"{CI_FILE}\"]\n\n[listener.tls]\ncert = \"{}\"\n\
             key = \"{}\"\nca = \"{}\"\nverify = true\n\n[[listener.profile]]\nname = \"admin\"\ncn = \"admin\"\n\
             policy = [\"{p}\"]\n\n[[listener.profile]]\nname = \"dns\"\nsan_dns = \"ci.example.com\"\npolicy = [\"{p}\"]\n",
            server.cert.display(),
            server.key.display(),
            ca.cert.display(),
            p = power.display()
        ),
    )?;
    let gw = Sockgate::with_config(&config, &[asked])?;
    let addr = gw.bound(asked);
    let admin = ca.client("admin", "admin")?;
    tls_docker(&addr, &ca, &admin, &["plugin", "ls"])?.ok()?;
    let dns = ca.client_with("dns", "job", Some("DNS:ci.example.com"))?;
    tls_docker(&addr, &ca, &dns, &["plugin", "ls"])?.ok()?;

    for (file, subject, san) in [("two-cns", "admin/CN=ci", None), ("uri", "job", Some("URI:ci.example.com"))] {
        let client = ca.client_with(file, subject, san)?;
        let out = tls_docker(&addr, &ca, &client, &["plugin", "ls"])?;
        ensure!(!out.success() && out.stderr.contains("denied by rule `no-cluster`"), "{file}: {out}");
    }
    Ok(())
}
