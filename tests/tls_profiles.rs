//! Who the caller is decides what it may do: TLS client certificates, unix peer credentials and
//! the calling container each select a profile's policy, with the real docker CLI against the
//! real dockerd. Also the configuration file and its checker, the refusal to serve plaintext TCP
//! beyond loopback, and certificate reload on SIGHUP.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use real_binary::cli::clear_docker_env;
use real_binary::cli_image::build_cli_image;
use real_binary::dockerd::{container_exists, DOCKER_HOST};
use real_binary::pki::{Ca, Issued};
use real_binary::process::run;
use real_binary::server::{sockgate_once, Sockgate};
use real_binary::{docker_command, docker_ready, real_docker, CmdOutput, Scratch, Streaming, CLI_TIMEOUT};
use real_binary::{READ_ONLY, TEST_IMAGE};
use tempfile::TempDir;

const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/ci.toml");
/// How long sockgate may take to log what a request did.
const LOG_WAIT: Duration = Duration::from_secs(10);
/// How long an event may take to reach a `docker events` stream.
const EVENT_WAIT: Duration = Duration::from_secs(20);
/// The uid and gid of `nobody`, the unprivileged caller.
const NOBODY: u32 = 65534;

/// One CA with a server certificate for 127.0.0.1 and three clients, plus a foreign CA's client,
/// all in one directory that also holds the configuration file and the CLI's config directory.
struct Pki {
    dir: TempDir,
    ca: Ca,
    server: Issued,
    reader: Issued,
    ci: Issued,
    stranger: Issued,
    /// `CN=reader`, but signed by another CA.
    foreign: Issued,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::Builder::new().prefix("sockgate-e2e-pki-").tempdir().unwrap();
        let ca = Ca::new(dir.path(), "ca").unwrap();
        let server = ca.server("server").unwrap();
        let reader = ca.client("reader", "reader").unwrap();
        let ci = ca.client("ci", "ci").unwrap();
        let stranger = ca.client("stranger", "stranger").unwrap();
        let other = Ca::new(&dir.path().join("other"), "other-ca").unwrap();
        let foreign = other.client("foreign", "reader").unwrap();
        std::fs::create_dir_all(dir.path().join("docker-config")).unwrap();
        Pki { dir, ca, server, reader, ci, stranger, foreign }
    }

    /// `serve` on `listen` with this PKI's server certificate, the engine upstream and
    /// `read-only`, then `extra`.
    fn serve_args(&self, listen: &str, extra: &[&str]) -> Vec<String> {
        let file = |p: &Path| p.to_str().unwrap().to_owned();
        let mut args = vec!["--listen".to_owned(), listen.to_owned(), "--upstream".to_owned(), DOCKER_HOST.to_owned()];
        args.extend(["--tlscert".to_owned(), file(&self.server.cert), "--tlskey".to_owned(), file(&self.server.key)]);
        args.extend(["--policy".to_owned(), READ_ONLY.to_owned()]);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `docker --tlsverify` against `host`, trusting this PKI's CA, with `client` as its identity.
    fn docker(&self, host: &str, client: Option<&Issued>, args: &[&str]) -> CmdOutput {
        tls_docker(host, &self.ca.cert, client, &self.path("docker-config"), args)
    }
}

/// `docker -H <host> --tlsverify --tlscacert <ca> [--tlscert --tlskey] <args>`, with a private
/// config directory so that no `~/.docker/{cert,key}.pem` stands in for a missing certificate.
fn tls_docker(host: &str, ca: &Path, client: Option<&Issued>, config: &Path, args: &[&str]) -> CmdOutput {
    run(tls_docker_command(host, ca, client, config, args), None, CLI_TIMEOUT).unwrap()
}

fn tls_docker_command(host: &str, ca: &Path, client: Option<&Issued>, config: &Path, args: &[&str]) -> Command {
    let mut cmd = docker_command(host);
    cmd.env("DOCKER_CONFIG", config).arg("--tlsverify").arg("--tlscacert").arg(ca);
    if let Some(client) = client {
        cmd.arg("--tlscert").arg(&client.cert).arg("--tlskey").arg(&client.key);
    }
    cmd.args(args);
    cmd
}

/// The port of a `tcp://host:port` address.
fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap()
}

/// The ports of the TCP listeners, in the order sockgate announced them.
fn listening_ports(gw: &Sockgate) -> Vec<u16> {
    let log = gw.stderr();
    log.lines()
        .filter_map(|line| line.split_once("listening on tcp://").map(|(_, rest)| rest))
        .filter_map(|rest| port_of(rest.split([' ', '`']).next().unwrap_or_default()).into())
        .collect()
}

fn plain_docker(host: &str, args: &[&str]) -> CmdOutput {
    let mut cmd = docker_command(host);
    cmd.args(args);
    run(cmd, None, CLI_TIMEOUT).unwrap()
}

fn assert_denied(out: &CmdOutput, wanted: &[&str]) {
    assert!(!out.success(), "expected a denial: {out}");
    for text in wanted {
        assert!(out.stderr.contains(text), "the denial does not say `{text}`: {out}");
    }
}

/// Lines sockgate logged for a decision (allowed or denied), whoever asked.
fn decisions(gw: &Sockgate) -> usize {
    gw.count_log(" allowed client=") + gw.count_log(" denied client=")
}

fn names(out: &CmdOutput) -> Vec<&str> {
    out.stdout.lines().map(str::trim).collect()
}

/// What a caller under a read-only policy sees: its listing shows a container made for the test,
/// and its `docker run` is refused with every part of `expected` and creates nothing.
fn reads_but_cannot_run(scratch: &mut Scratch, docker: impl Fn(&[&str]) -> CmdOutput, label: &str, expected: &[&str]) {
    let present = scratch.container(&format!("{label}-present"));
    real_docker(&["create", "--name", &present, TEST_IMAGE, "true"]).unwrap().ok().unwrap();
    let out = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(out.success() && names(&out).contains(&present.as_str()), "{label} cannot list: {out}");
    let refused = scratch.container(&format!("{label}-run"));
    let out = docker(&["run", "--rm", "--name", &refused, TEST_IMAGE, "true"]);
    assert_denied(&out, expected);
    assert!(!container_exists(&refused).unwrap(), "a denied `run` of {label} created {refused}");
}

/// A configuration file's text for one TLS listener with the reader and ci profiles and no
/// default policy; certificate paths are relative to the file.
fn profiles_config(addr: &str) -> String {
    format!(
        r#"version = 1
upstream = "{DOCKER_HOST}"

[[listener]]
address = "{addr}"
[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"
verify = true

[[listener.profile]]
name = "reader"
cn = "reader"
policy = ["{READ_ONLY}"]

[[listener.profile]]
name = "ci"
cn = "ci"
policy = ["{CI}"]
"#
    )
}

#[test]
fn client_certificates_choose_the_policy() {
    if !docker_ready().unwrap() {
        return;
    }
    let pki = Pki::new();
    let asked = "tcp://127.0.0.1:0".to_owned();
    let config = pki.path("sockgate.toml");
    std::fs::write(&config, profiles_config(&asked)).unwrap();
    let gw = Sockgate::with_config(&config, &[&asked]).unwrap();
    let addr = gw.bound(&asked);
    let mut scratch = Scratch::new();

    // reader: reads work, `run` does not.
    reads_but_cannot_run(
        &mut scratch,
        |args| pki.docker(&addr, Some(&pki.reader), args),
        "reader",
        &[
            "containers.create denied by policy `read-only`: no rule allows it",
            "(client: CN=reader 127.0.0.1:",
            &format!("via {addr}, profile `reader`)"),
        ],
    );

    // ci: `run` works, `--privileged` does not.
    let ran = scratch.container("ci-run");
    let out = pki.docker(&addr, Some(&pki.ci), &["run", "--rm", "--name", &ran, TEST_IMAGE, "echo", "ran-as-ci"]);
    assert!(out.success() && out.stdout.trim() == "ran-as-ci", "ci cannot run: {out}");
    let privileged = scratch.container("ci-privileged");
    let out =
        pki.docker(&addr, Some(&pki.ci), &["run", "--rm", "--privileged", "--name", &privileged, TEST_IMAGE, "true"]);
    assert_denied(
        &out,
        &[
            "containers.create denied by rule `containers.privileged`: HostConfig.Privileged is true",
            "(client: CN=ci 127.0.0.1:",
            "profile `ci`",
        ],
    );
    assert!(!container_exists(&privileged).unwrap(), "a denied `--privileged` created {privileged}");

    // A valid certificate no profile names gets the listener's default: nothing.
    let out = pki.docker(&addr, Some(&pki.stranger), &["ps"]);
    assert_denied(&out, &["denied by policy `deny-all`: no rule allows it", "(client: CN=stranger 127.0.0.1:"]);
    assert!(!out.stderr.contains("profile"), "no profile should be named: {out}");

    // No certificate, or one from another CA: the handshake fails and nothing reaches a decision.
    let before = decisions(&gw);
    for (label, client) in [("anonymous", None), ("foreign", Some(&pki.foreign))] {
        let failures = gw.count_log("TLS handshake failed");
        let name = scratch.container(label);
        let out = pki.docker(&addr, client, &["create", "--name", &name, TEST_IMAGE, "true"]);
        assert!(!out.success(), "{label}: the CLI got through without a valid certificate: {out}");
        assert!(!out.stderr.contains("sockgate:"), "{label}: sockgate answered over HTTP: {out}");
        assert!(!container_exists(&name).unwrap(), "{label}: {name} was created");
        gw.wait_for_log("TLS handshake failed", failures, LOG_WAIT).unwrap();
    }
    assert_eq!(decisions(&gw), before, "a request without a valid certificate was judged:\n{}", gw.stderr());
}

#[test]
fn tls_flags_as_dockerd_spells_them() {
    if !docker_ready().unwrap() {
        return;
    }
    let pki = Pki::new();
    let asked = "tcp://127.0.0.1:0".to_owned();
    let ca = pki.ca.cert.to_str().unwrap();
    let args = pki.serve_args(&asked, &["--tlscacert", ca, "--tlsverify"]);
    let gw = Sockgate::serve(&args, &[&asked]).unwrap();
    let addr = gw.bound(&asked);
    assert!(gw.stderr().contains(&format!("listening on {addr} with TLS")), "{}", gw.stderr());
    let mut scratch = Scratch::new();

    // Without profiles every verified client gets the one policy, whatever its name.
    reads_but_cannot_run(
        &mut scratch,
        |args| pki.docker(&addr, Some(&pki.stranger), args),
        "stranger",
        &["denied by policy `read-only`", "(client: CN=stranger 127.0.0.1:"],
    );

    let out = pki.docker(&addr, None, &["ps"]);
    assert!(!out.success() && !out.stderr.contains("sockgate:"), "no certificate, yet: {out}");
}

#[test]
fn two_unix_sockets_with_their_own_policies() {
    if !docker_ready().unwrap() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    let reader = format!("unix://{}", dir.path().join("reader.sock").display());
    let ci = format!("unix://{}", dir.path().join("ci.sock").display());
    let config = dir.path().join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\n[[listener]]\naddress = \"{reader}\"\npolicy = [\"{READ_ONLY}\"]\n\n\
             [[listener]]\naddress = \"{ci}\"\npolicy = [\"{CI}\"]\n"
        ),
    )
    .unwrap();
    let _gw = Sockgate::with_config(&config, &[&reader, &ci]).unwrap();
    let mut scratch = Scratch::new();

    let ran = scratch.container("ci");
    let out = plain_docker(&ci, &["run", "--rm", "--name", &ran, TEST_IMAGE, "echo", "ran-on-ci"]);
    assert!(out.success() && out.stdout.trim() == "ran-on-ci", "{out}");

    let refused = scratch.container("reader");
    let out = plain_docker(&reader, &["run", "--rm", "--name", &refused, TEST_IMAGE, "true"]);
    assert_denied(&out, &["containers.create denied by policy `read-only`: no rule allows it", "uid=0 gid=0 pid="]);
    assert!(out.stderr.contains(&format!("via {reader})")), "the denial names the wrong listener: {out}");
    assert!(!container_exists(&refused).unwrap());
    let out = plain_docker(&reader, &["ps"]);
    assert!(out.success(), "reads are allowed on the read-only socket: {out}");
}

#[test]
fn unix_callers_are_told_apart_by_uid() {
    if !docker_ready().unwrap() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    // `nobody` must reach the socket inside the directory, and have a CLI config directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    let socket = dir.path().join("gw.sock");
    let host = format!("unix://{}", socket.display());
    let config = dir.path().join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1

[[listener]]
address = "{host}"
socket_mode = "666"

[[listener.profile]]
name = "root"
uid = 0
policy = ["{CI}"]

[[listener.profile]]
name = "nobody"
uid = {NOBODY}
policy = ["{READ_ONLY}"]
"#
        ),
    )
    .unwrap();
    let _gw = Sockgate::with_config(&config, &[&host]).unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "socket_mode was not applied");

    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        clear_docker_env(&mut cmd);
        let id = NOBODY.to_string();
        cmd.args(["--reuid", &id, "--regid", &id, "--clear-groups", "docker", "-H", &host])
            .args(args)
            .env("HOME", &home)
            .env("DOCKER_CONFIG", &home);
        run(cmd, None, CLI_TIMEOUT).unwrap()
    };
    let mut scratch = Scratch::new();

    reads_but_cannot_run(
        &mut scratch,
        as_nobody,
        "nobody",
        &[
            "containers.create denied by policy `read-only`: no rule allows it",
            &format!("(client: uid={NOBODY} gid={NOBODY} pid="),
            "profile `nobody`",
        ],
    );

    let ran = scratch.container("root-run");
    let out = plain_docker(&host, &["run", "--rm", "--name", &ran, TEST_IMAGE, "echo", "ran-as-root"]);
    assert!(out.success() && out.stdout.trim() == "ran-as-root", "root cannot run: {out}");
}

/// `(subnet, gateway)` of a docker network, as the engine reports them.
fn network_addresses(name: &str) -> (String, String) {
    let format = "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}";
    let out = real_docker(&["network", "inspect", "--format", format, name]).unwrap().ok().unwrap();
    let mut words = out.stdout.split_whitespace();
    match (words.next(), words.next()) {
        (Some(subnet), Some(gateway)) => (subnet.to_owned(), gateway.to_owned()),
        _ => panic!("no subnet and gateway on {name}: {out}"),
    }
}

/// A fresh docker network, and sockgate listening in plaintext on the host side of it for that
/// network only: containers labelled `sockgate.role=reader` may read, everyone else nothing.
struct ContainerCallers {
    network: String,
    /// `tcp://<gateway>:<port>`.
    addr: String,
    gw: Sockgate,
    _dir: TempDir,
}

fn container_callers(scratch: &mut Scratch) -> ContainerCallers {
    let network = scratch.network("callers");
    real_docker(&["network", "create", &network]).unwrap().ok().unwrap();
    let (subnet, gateway) = network_addresses(&network);
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    let asked = format!("tcp://{gateway}:0");
    let config = dir.path().join("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1

[[listener]]
address = "{asked}"
insecure = true
allow_cidrs = ["{subnet}"]

[[listener.profile]]
name = "reader"
container_label = "sockgate.role=reader"
policy = ["{READ_ONLY}"]
"#
        ),
    )
    .unwrap();
    let gw = Sockgate::with_config(&config, &[&asked]).unwrap();
    let addr = gw.bound(&asked);
    ContainerCallers { network, addr, gw, _dir: dir }
}

/// Lets sockgate learn of a container from the engine's events before the CLI in it calls (see
/// `a_container_is_recognised_from_its_first_connection` for why that is needed today).
const SETTLE: &str = "/usr/bin/busybox sleep 1";

#[test]
fn containers_are_recognised_by_label() {
    if !docker_ready().unwrap() {
        return;
    }
    let mut scratch = Scratch::new();
    let image = scratch.image("docker-cli");
    build_cli_image(&image).unwrap();
    let ContainerCallers { network, addr, gw, _dir } = container_callers(&mut scratch);
    let script = format!("{SETTLE} && exec /usr/bin/docker -H {addr} ps --format '{{{{.Names}}}}'");

    let reader = scratch.container("labelled");
    let labelled = ["--network", &network, "--label", "sockgate.role=reader", &image, "sh", "-c", &script];
    let out = real_docker(&[&["run", "--rm", "--name", &reader][..], &labelled[..]].concat()).unwrap();
    assert!(out.success(), "the labelled container cannot list: {out}\n--- sockgate ---\n{}", gw.stderr());
    assert!(names(&out).contains(&reader.as_str()), "the labelled container did not see itself: {out}");
    let allowed = gw.wait_for_log(&format!("allowed client=\"container {reader} "), 0, LOG_WAIT).unwrap();
    assert!(
        allowed.iter().any(|l| l.contains("operation=containers.list") && l.contains("profile `reader`")),
        "{allowed:?}"
    );

    let stranger = scratch.container("unlabelled");
    let unlabelled = ["--network", &network, &image, "sh", "-c", &script];
    let out = real_docker(&[&["run", "--rm", "--name", &stranger][..], &unlabelled[..]].concat()).unwrap();
    assert_denied(
        &out,
        &["denied by policy `deny-all`: no rule allows it", &format!("(client: container {stranger} ")],
    );
    gw.wait_for_log(&format!("denied client=\"container {stranger} "), 0, LOG_WAIT).unwrap();
}

/// A container that calls as soon as it starts (a CI job's first `docker` command) must get its
/// profile's policy, not the listener's default.
#[test]
fn a_container_is_recognised_from_its_first_connection() {
    if !docker_ready().unwrap() {
        return;
    }
    let mut scratch = Scratch::new();
    let ContainerCallers { network, addr, gw, _dir } = container_callers(&mut scratch);
    let url = format!("http://{}/v1.41/_ping", addr.trim_start_matches("tcp://"));
    for attempt in 1..=5 {
        let name = scratch.container("eager");
        let out = real_docker(&[
            "run",
            "--rm",
            "--name",
            &name,
            "--network",
            &network,
            "--label",
            "sockgate.role=reader",
            TEST_IMAGE,
            "wget",
            "-q",
            "-O-",
            &url,
        ])
        .unwrap();
        assert!(
            out.success() && out.stdout == "OK",
            "attempt {attempt}: {name} was not recognised on its first call: {out}\n--- sockgate ---\n{}",
            gw.stderr()
        );
    }
}

/// A quiet TLS connection is parked like any other (the HTTP layer lets go of its buffers, the TLS
/// layer keeps its state) and serves its next request on the same session.
#[test]
fn a_quiet_tls_connection_is_parked_and_serves_its_next_request() {
    if !docker_ready().unwrap() {
        return;
    }
    let pki = Pki::new();
    let asked = "tcp://127.0.0.1:0".to_owned();
    let args = pki.serve_args(&asked, &[]);
    let env = [("SOCKGATE_LOG", "info,sockgate::serve::connection=trace")];
    let gw = Sockgate::serve_with_env(&args, &env, &[&asked]).unwrap();
    let port = port_of(&gw.bound(&asked));
    // One TLS session for the whole test: openssl's client, fed requests on its stdin.
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-servername", "localhost", "-CAfile"])
        .arg(&pki.ca.cert)
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            if tx.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = client.stdin.take().unwrap();
    let mut seen = String::new();
    let mut ping = |seen: &mut String, answers: usize, what: &str| {
        use std::io::Write;
        stdin.write_all(b"GET /_ping HTTP/1.1\r\nHost: sockgate\r\n\r\n").unwrap();
        stdin.flush().unwrap();
        let deadline = std::time::Instant::now() + LOG_WAIT;
        while seen.matches("\r\n\r\nOK").count() < answers {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("{what}: no answer; got {seen:?}\n--- sockgate ---\n{}", gw.stderr()),
            }
        }
    };
    ping(&mut seen, 1, "first request");
    std::thread::sleep(Duration::from_millis(1800));
    assert!(gw.stderr().contains("connection parked"), "not parked:\n{}", gw.stderr());
    ping(&mut seen, 2, "request after a park");
    assert_eq!(seen.matches("HTTP/1.1 200 OK").count(), 2, "{seen}");
    drop(stdin);
    let _ = client.kill();
    let _ = client.wait();
}

#[test]
fn check_config_reports_every_problem_with_its_place() {
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, profiles_config("tcp://127.0.0.1:23760")).unwrap();
    // The certificates it names do not exist yet: `serve` could not start, so the check fails.
    let out = sockgate_once(&["check-config", good.to_str().unwrap()]).unwrap();
    assert!(!out.success() && out.stderr.contains("ca.pem"), "{out}");
    let ca = Ca::new(dir.path(), "ca").unwrap();
    ca.server("server").unwrap();
    let out = sockgate_once(&["check-config", good.to_str().unwrap()]).unwrap();
    assert!(out.success() && out.stdout.trim() == "ok: 1 listener", "{out}");

    let misspelt = dir.path().join("misspelt.toml");
    std::fs::write(&misspelt, "version = 1\n\n[[listener]]\naddress = \"unix:///tmp/x.sock\"\nalow_cidrs = []\n")
        .unwrap();
    let out = sockgate_once(&["check-config", misspelt.to_str().unwrap()]).unwrap();
    let wanted = format!("{}:5:1: unknown key `alow_cidrs`, did you mean `allow_cidrs`?", misspelt.display());
    assert!(!out.success() && out.stderr.contains(&wanted), "wanted `{wanted}`: {out}");

    let cidrs = dir.path().join("cidrs.toml");
    std::fs::write(
        &cidrs,
        "version = 1\n\n[[listener]]\naddress = \"tcp://127.0.0.1:23760\"\nallow_cidrs = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n\n\
         [[listener.profile]]\nname = \"lan\"\ncidr = \"192.168.1/24\"\npolicy = []\n",
    )
    .unwrap();
    let out = sockgate_once(&["check-config", cidrs.to_str().unwrap()]).unwrap();
    assert!(!out.success(), "{out}");
    let file = cidrs.display();
    for wanted in [
        format!("{file}:5:30: `10.0.0.0/40` has an invalid prefix length"),
        format!("{file}:9:8: `192.168.1/24` is not an IP network"),
    ] {
        assert!(out.stderr.contains(&wanted), "wanted `{wanted}`: {out}");
    }

    let missing = dir.path().join("missing.toml");
    let absent = dir.path().join("no-such-policy.toml");
    std::fs::write(
        &missing,
        format!("version = 1\n[[listener]]\naddress = \"unix:///tmp/x.sock\"\npolicy = [\"{}\"]\n", absent.display()),
    )
    .unwrap();
    let out = sockgate_once(&["check-config", missing.to_str().unwrap()]).unwrap();
    assert!(!out.success() && out.stderr.contains(&absent.display().to_string()), "{out}");
}

#[test]
fn plaintext_beyond_loopback_needs_insecure_tcp() {
    if !docker_ready().unwrap() {
        return;
    }
    let addr = "tcp://0.0.0.0:0";
    let base = ["--listen", addr, "--upstream", DOCKER_HOST, "--policy", READ_ONLY];
    let mut refused = vec!["serve"];
    refused.extend(base);
    let out = sockgate_once(&refused).unwrap();
    assert!(!out.success(), "sockgate served plaintext on {addr}: {out}");
    assert!(out.stderr.contains(&format!("refusing to listen on `{addr}`")), "{out}");

    let mut insecure = base.to_vec();
    insecure.extend(["--insecure-tcp", "--allow-cidr", "127.0.0.0/8"]);
    let gw = Sockgate::serve(&insecure, &[addr]).unwrap();
    let port = port_of(&gw.bound(addr));
    assert!(gw.stderr().contains("without TLS"), "no warning about plaintext:\n{}", gw.stderr());
    let loopback = format!("tcp://127.0.0.1:{port}");
    let out = plain_docker(&loopback, &["ps"]);
    assert!(out.success(), "{out}");
    gw.wait_for_log("allowed client=\"127.0.0.1:", 0, LOG_WAIT).unwrap();

    // From the host's side of a docker network: a source outside 127.0.0.0/8 is turned away.
    let mut scratch = Scratch::new();
    let network = scratch.network("outside");
    real_docker(&["network", "create", &network]).unwrap().ok().unwrap();
    let (_, gateway) = network_addresses(&network);
    let refused_before = gw.count_log("outside the listener's allowed networks");
    let out = plain_docker(&format!("tcp://{gateway}:{port}"), &["ps"]);
    assert!(!out.success(), "a source outside the allowed networks got an answer: {out}");
    gw.wait_for_log("outside the listener's allowed networks", refused_before, LOG_WAIT).unwrap();
    let log = gw.stderr();
    let judged = log.lines().filter(|l| l.contains(" allowed client=") || l.contains(" denied client="));
    assert!(judged.into_iter().all(|l| l.contains("client=\"127.0.0.1:")), "a request from outside was judged:\n{log}");
}

/// The warning about plaintext goes to plaintext listeners beyond loopback, once each, and never
/// to a TLS listener.
#[test]
fn plaintext_warnings_name_only_plaintext_listeners() {
    if !docker_ready().unwrap() {
        return;
    }
    let pki = Pki::new();
    // Two listeners on port 0 of one address: the log names each one's port in the order of the file.
    let (tls_addr, plain_addr) = ("tcp://0.0.0.0:0", "tcp://0.0.0.0:0");
    let config = pki.path("sockgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1

[[listener]]
address = "{tls_addr}"
policy = ["{READ_ONLY}"]
[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"
verify = true

[[listener]]
address = "{plain_addr}"
policy = ["{READ_ONLY}"]
insecure = true
allow_cidrs = ["127.0.0.0/8"]
"#
        ),
    )
    .unwrap();
    let gw = Sockgate::with_config(&config, &[tls_addr]).unwrap();
    gw.wait_for_log("listening on tcp://", 1, LOG_WAIT).unwrap();
    let ports = listening_ports(&gw);
    assert_eq!(ports.len(), 2, "{}", gw.stderr());
    let (tls_port, plain_port) = (ports[0], ports[1]);
    let out = pki.docker(&format!("tcp://127.0.0.1:{tls_port}"), Some(&pki.reader), &["ps"]);
    assert!(out.success(), "{out}");
    let out = plain_docker(&format!("tcp://127.0.0.1:{plain_port}"), &["ps"]);
    assert!(out.success(), "{out}");

    let log = gw.stderr();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("without TLS")).collect();
    let tls_named = format!("`{tls_addr}`");
    assert!(warnings.iter().all(|l| !l.contains(&tls_named)), "the TLS listener is called plaintext:\n{log}");
    assert_eq!(warnings.len(), 1, "one warning for the one plaintext listener:\n{log}");
}

/// Replaces `to` with `from` in one step, as a certificate manager would.
fn install(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

#[test]
fn sighup_reloads_the_listener_certificate() {
    if !docker_ready().unwrap() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-pki-").tempdir().unwrap();
    let ca1 = Ca::new(&dir.path().join("one"), "ca1").unwrap();
    let ca2 = Ca::new(&dir.path().join("two"), "ca2").unwrap();
    let server1 = ca1.server("server1").unwrap();
    let server2 = ca2.server("server2").unwrap();
    let client = ca1.client("client", "reader").unwrap();
    let config = dir.path().join("docker-config");
    std::fs::create_dir(&config).unwrap();
    let live = Issued { cert: dir.path().join("live.pem"), key: dir.path().join("live-key.pem") };
    install(&server1.cert, &live.cert);
    install(&server1.key, &live.key);

    let asked = "tcp://127.0.0.1:0".to_owned();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let args = [
        "--listen".to_owned(),
        asked.clone(),
        "--upstream".to_owned(),
        DOCKER_HOST.to_owned(),
        "--tlscert".to_owned(),
        path(&live.cert),
        "--tlskey".to_owned(),
        path(&live.key),
        "--tlscacert".to_owned(),
        path(&ca1.cert),
        "--tlsverify".to_owned(),
        "--policy".to_owned(),
        READ_ONLY.to_owned(),
    ];
    let gw = Sockgate::serve(&args, &[&asked]).unwrap();
    let addr = gw.bound(&asked);
    let ps = |ca: &Ca| tls_docker(&addr, &ca.cert, Some(&client), &config, &["ps"]);
    assert!(ps(&ca1).success(), "{}", ps(&ca1));
    assert!(!ps(&ca2).success(), "CA 2 was trusted before the reload");

    // A stream opened under certificate 1; `--since` replays what happened before it subscribed.
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
    let label = format!("sockgate.test.reload={}", std::process::id());
    let filter = format!("label={label}");
    let mut events = Streaming::spawn(tls_docker_command(
        &addr,
        &ca1.cert,
        Some(&client),
        &config,
        &[
            "events",
            "--since",
            &since,
            "--filter",
            &filter,
            "--filter",
            "event=create",
            "--format",
            "{{.Actor.Attributes.name}}",
        ],
    ))
    .unwrap();
    let mut scratch = Scratch::new();
    let before = scratch.container("before");
    real_docker(&["create", "--label", &label, "--name", &before, TEST_IMAGE, "true"]).unwrap().ok().unwrap();
    events.expect_line(&before, EVENT_WAIT).unwrap();

    install(&server2.cert, &live.cert);
    install(&server2.key, &live.key);
    gw.signal("HUP").unwrap();
    gw.wait_for_log("TLS certificates reloaded", 0, LOG_WAIT).unwrap();

    let out = ps(&ca2);
    assert!(out.success(), "the new certificate is not served: {out}");
    let out = ps(&ca1);
    assert!(!out.success(), "the old certificate is still served: {out}");
    assert!(out.stderr.contains("x509"), "the CLI should reject the server certificate: {out}");

    // The stream from before the reload still delivers.
    let after = scratch.container("after");
    real_docker(&["create", "--label", &label, "--name", &after, TEST_IMAGE, "true"]).unwrap().ok().unwrap();
    events.expect_line(&after, EVENT_WAIT).unwrap();
    assert!(events.is_running().unwrap(), "the events stream ended: {}", events.stderr());

    // A reload that cannot read its files keeps the certificate it has.
    std::fs::write(&live.key, "not a key\n").unwrap();
    gw.signal("HUP").unwrap();
    gw.wait_for_log("TLS reload failed, keeping the old certificates", 0, LOG_WAIT).unwrap();
    let out = ps(&ca2);
    assert!(out.success(), "a failed reload dropped the working certificate: {out}");
}

/// The lines `docs/configuration.md` shows for mutual TLS, run as written with the certificates
/// `contrib/make-certs.sh` makes; only the port and the files' directory differ.
#[test]
fn the_documented_certificates_serve_the_docker_cli() {
    if !docker_ready().unwrap() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let line = |start: &str| doc.lines().find(|l| l.starts_with(start)).unwrap().to_owned();
    let serve = line("cargo run --release -- serve --listen tcp://127.0.0.1:2376 --tlscert");
    let client = line("docker --tlsverify");

    let dir = tempfile::Builder::new().prefix("sockgate-e2e-certs-").tempdir().unwrap();
    let mut script = Command::new("sh");
    script.arg(root.join("contrib/make-certs.sh")).arg(dir.path()).arg("reader");
    let made = run(script, None, CLI_TIMEOUT).unwrap();
    assert!(made.success(), "{made}");

    let asked = "tcp://127.0.0.1:0";
    // The documented files are in the certificates' directory, the port the one the system gave.
    let in_dir = |word: &str, addr: &str| -> String {
        if word.ends_with(".pem") {
            dir.path().join(word).to_str().unwrap().to_owned()
        } else if word.starts_with("policies/") {
            root.join(word).to_str().unwrap().to_owned()
        } else {
            word.replace("tcp://127.0.0.1:2376", addr)
        }
    };
    let mut args: Vec<String> =
        serve.split_whitespace().skip_while(|w| *w != "serve").skip(1).map(|w| in_dir(w, asked)).collect();
    args.extend(["--upstream".to_owned(), DOCKER_HOST.to_owned()]);
    let gw = Sockgate::serve(&args, &[asked]).unwrap();
    let addr = gw.bound(asked);

    let words: Vec<String> = client.split_whitespace().skip(1).map(|w| in_dir(w, &addr)).collect();
    let config = dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let mut cmd = Command::new("docker");
    clear_docker_env(&mut cmd);
    cmd.env("DOCKER_CONFIG", &config).args(&words);
    let out = run(cmd, None, CLI_TIMEOUT).unwrap();
    assert!(out.success() && out.stdout.contains("CONTAINER ID"), "{out}\n{}", gw.stderr());

    // The same CLI without the client certificate is refused by the handshake.
    let out = tls_docker(&addr, &dir.path().join("ca.pem"), None, &config, &["ps"]);
    assert!(!out.success(), "no client certificate, yet: {out}");
}
