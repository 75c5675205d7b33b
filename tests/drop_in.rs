//! sockgate as a drop-in for Tecnativa's and linuxserver's docker-socket-proxy: a compose file in
//! the shape of Tecnativa's README, with only `image:` changed, comes up with docker-compose
//! against the real engine; a client container on its network lists containers over
//! `tcp://dockerproxy:2375`, a write is refused with sockgate's message, a connection from an
//! address outside sockgate's networks is refused, and sockgate serves as uid 65534 with the
//! engine socket's group. Started as root without the capabilities to switch users, it refuses to
//! serve and says why.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use real_binary::cli_image::build_cli_image;
use real_binary::process::{run, CmdOutput};
use real_binary::scratch::unique_name;
use real_binary::sockgate_image::{build_image, process_ids};
use real_binary::{docker_ready, real_docker, Scratch};

/// A compose project, taken down (containers, networks, volumes) when dropped, passed or failed.
struct Project {
    name: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Project {
    fn new(compose: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(&file, compose).unwrap();
        Project { name: unique_name("dropin").replace('-', ""), file, _dir: dir }
    }

    fn compose(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = Command::new("/usr/bin/docker-compose");
        cmd.arg("-p").arg(&self.name).arg("-f").arg(&self.file).args(args);
        real_binary::cli::clear_docker_env(&mut cmd);
        run(cmd, None, Duration::from_secs(180)).unwrap()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
    }
}

fn inspect(container: &str, format: &str) -> String {
    real_docker(&["inspect", "--format", format, container]).unwrap().stdout.trim().to_string()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Asks `GET /_ping` of `to` from the host, over a socket bound to the host's address `from`;
/// answers what came back (nothing when the connection was refused).
fn ping_from(from: Ipv4Addr, to: Ipv4Addr) -> String {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(from, 0))).unwrap();
    connect(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(to, 2375))).unwrap();
    let mut stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = stream.write_all(b"GET /_ping HTTP/1.1\r\nHost: dockerproxy\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// An IPv4 address of the host that is in no docker network's subnet (nor loopback).
fn host_address_outside_docker() -> Ipv4Addr {
    let ids = real_docker(&["network", "ls", "-q"]).unwrap().stdout;
    let mut args = vec!["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"];
    args.extend(ids.split_whitespace());
    let subnets: Vec<sockgate::address::Cidr> =
        real_docker(&args).unwrap().stdout.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    let mut ip_addr = Command::new("ip");
    ip_addr.args(["-4", "-o", "addr", "show", "scope", "global"]);
    let listed = run(ip_addr, None, Duration::from_secs(10)).unwrap().stdout;
    listed
        .split_whitespace()
        .filter_map(|word| word.split_once('/').and_then(|(a, _)| a.parse::<Ipv4Addr>().ok()))
        .find(|a| !a.is_loopback() && !subnets.iter().any(|s| s.contains((*a).into())))
        .expect("the host has an IPv4 address outside the docker networks")
}

fn ip(text: &str) -> Ipv4Addr {
    text.trim().parse().unwrap_or_else(|e| panic!("`{text}` is not an IPv4 address: {e}"))
}

#[test]
fn a_docker_socket_proxy_compose_service_works_by_changing_only_the_image() {
    if !docker_ready().unwrap() {
        return;
    }
    let mut scratch = Scratch::new();
    let image = build_image(&mut scratch).unwrap();
    let cli = scratch.image("docker-cli-dropin");
    build_cli_image(&cli).unwrap();

    // Tecnativa's README, `image:` changed and nothing else.
    let project = Project::new(&format!(
        "services:\n  dockerproxy:\n    image: {image}\n    environment:\n      CONTAINERS: 1\n    volumes:\n      \
         - /var/run/docker.sock:/var/run/docker.sock:ro\n"
    ));
    let up = project.compose(&["up", "-d"]);
    assert!(up.success(), "docker-compose up failed: {up}");
    let proxy = project.compose(&["ps", "-q", "dockerproxy"]).stdout.trim().to_string();
    assert!(!proxy.is_empty(), "no dockerproxy container");
    wait_for("the proxy to be healthy", Duration::from_secs(60), || {
        inspect(&proxy, "{{.State.Health.Status}}") == "healthy"
    });
    let network = format!("{}_default", project.name);
    let proxy_name = inspect(&proxy, "{{.Name}}").trim_start_matches('/').to_string();

    // A client on the same network, as the proxy's users run them.
    let client = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", &network, "-e", "DOCKER_HOST=tcp://dockerproxy:2375", &cli];
        all.push("docker");
        all.extend_from_slice(args);
        real_docker(&all).unwrap()
    };
    let ps = client(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.success() && ps.stdout.contains(&proxy_name), "cannot list containers through the proxy: {ps}");
    let volume = scratch.volume("dropin-write");
    let write = client(&["volume", "create", &volume]);
    assert!(!write.success(), "a write went through: {write}");
    assert!(
        write.stderr.contains("sockgate: volumes.create denied by policy `docker-socket-proxy`: no rule allows it"),
        "{write}"
    );

    // From the host: an address on the proxy's network gets an answer, one outside it none.
    let proxy_ip = ip(&inspect(&proxy, &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}")));
    // From the host, with the source address bound: the proxy network's gateway is on its network;
    // the host's own address outside every docker network is not. (A docker network's gateway
    // would not do for the outside: docker masquerades its subnet's traffic into other bridges.)
    let format = "{{range .IPAM.Config}}{{.Gateway}}{{end}}";
    let inside = ip(&real_docker(&["network", "inspect", "--format", format, &network]).unwrap().stdout);
    let outside = host_address_outside_docker();
    let answered = ping_from(inside, proxy_ip);
    assert!(answered.starts_with("HTTP/1.1 200") && answered.ends_with("OK"), "{answered}");
    let refused = ping_from(outside, proxy_ip);
    assert_eq!(refused, "", "a peer outside sockgate's networks got an answer");

    let logs = real_docker(&["logs", &proxy]).unwrap().stderr;
    assert!(logs.contains("only from sockgate's own networks"), "the start-up line does not say so: {logs}");
    assert!(logs.contains("connection refused: source address outside the listener's allowed networks"), "{logs}");
    assert!(logs.contains(&outside.to_string()), "the refusal does not name the peer: {logs}");

    // It started as root and serves as 65534, with the engine socket's group and no other.
    let socket_gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata("/var/run/docker.sock").unwrap());
    let pid: u32 = inspect(&proxy, "{{.State.Pid}}").parse().unwrap();
    let (uid, gid, groups) = process_ids(pid).unwrap();
    assert_eq!((uid.as_str(), gid.as_str()), ("65534 65534 65534 65534", "65534 65534 65534 65534"));
    assert_eq!(groups, socket_gid.to_string());
    let top = real_docker(&["top", &proxy, "-o", "pid,uid,comm"]).unwrap();
    assert!(top.success() && top.stdout.lines().count() > 1, "{top}");
    assert!(top.stdout.lines().skip(1).all(|l| l.split_whitespace().nth(1) == Some("65534")), "{top}");
}

#[test]
fn on_the_host_started_as_root_it_serves_as_the_user_and_the_drop_in_listener_names_its_networks() {
    if !nix::unistd::geteuid().is_root() || !docker_ready().unwrap() {
        eprintln!("skipped: needs root and the engine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The user removes its socket at exit.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let unix = format!("unix://{}", dir.path().join("docker.sock").display());
    // Port 0: the drop-in listener gets a port from the system, which the log names.
    let asked = "tcp://127.0.0.1:0";
    let args = ["--listen", &unix, "--upstream", "unix:///var/run/docker.sock", "--user", "65534:65534"];
    let env = [("CONTAINERS", "1"), ("SOCKGATE_COMPAT_LISTEN", asked)];
    let server = real_binary::server::Sockgate::serve_with_env(&args, &env, &[&unix, asked]).unwrap();
    let tcp = server.bound(asked);
    let started = server.wait_for_log("sockgate started", 0, Duration::from_secs(15)).unwrap();
    let wanted = format!("{tcp} (plain TCP, only from sockgate's own networks ");
    assert!(started[0].contains(&wanted) && started[0].contains("127.0.0.0/8"), "{}", started[0]);
    let socket_gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata("/var/run/docker.sock").unwrap());
    let (uid, gid, groups) = process_ids(server.pid()).unwrap();
    assert_eq!((uid.as_str(), gid.as_str()), ("65534 65534 65534 65534", "65534 65534 65534 65534"));
    assert_eq!(groups, socket_gid.to_string());
    let mut ps = real_binary::docker_command(&tcp);
    ps.args(["ps", "-q"]);
    let ps = run(ps, None, real_binary::CLI_TIMEOUT).unwrap();
    assert!(ps.success(), "{ps}");

    // With --policy, the drop-in listener is not opened, and the log says why.
    let unix = format!("unix://{}", dir.path().join("other.sock").display());
    let args = ["--listen", &unix, "--upstream", "unix:///var/run/docker.sock", "--policy", "builtin:read-only"];
    drop(server);
    let server = real_binary::server::Sockgate::serve_with_env(&args, &env, &[&unix]).unwrap();
    server.wait_for_log("sockgate started", 0, Duration::from_secs(15)).unwrap();
    let ignored = format!("SOCKGATE_COMPAT_LISTEN `{asked}` is ignored");
    assert!(server.stderr().contains(&ignored) && server.stderr().contains("--policy is given"), "{}", server.stderr());
    assert!(TcpStream::connect(tcp.trim_start_matches("tcp://")).is_err(), "the drop-in listener was opened");
}

#[test]
fn a_switch_that_fails_leaves_no_socket_behind() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let unix = format!("unix://{}", socket.display());
    // The engine socket's group cannot be read: sockgate must not serve, as root or at all.
    let args = ["serve", "--listen", &unix, "--upstream", "unix:///nonexistent/docker.sock", "--user", "65534:65534"];
    let out = real_binary::server::sockgate_once(&args).unwrap();
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("cannot read the group of the engine socket `/nonexistent/docker.sock`"), "{out}");
    assert!(!socket.exists(), "the socket bound before the switch was left behind");
}

#[test]
fn without_the_capabilities_to_switch_users_it_refuses_to_serve_as_root() {
    if !docker_ready().unwrap() {
        return;
    }
    let mut scratch = Scratch::new();
    let image = build_image(&mut scratch).unwrap();
    let proxy = scratch.container("dropin-no-caps");
    let socket = "/var/run/docker.sock:/var/run/docker.sock:ro";
    let args = ["run", "-d", "--name", &proxy, "--cap-drop", "ALL", "-e", "CONTAINERS=1", "-v", socket, &image];
    real_docker(&args).unwrap().ok().unwrap();
    wait_for("the proxy to stop", Duration::from_secs(30), || inspect(&proxy, "{{.State.Status}}") == "exited");
    assert_ne!(inspect(&proxy, "{{.State.ExitCode}}"), "0");
    let logs = real_docker(&["logs", &proxy]).unwrap().stderr;
    assert!(
        logs.contains("without the capabilities SETUID and SETGID")
            && logs.contains("refusing to serve as root")
            && logs.contains("cap_drop: [ALL]"),
        "{logs}"
    );
}
