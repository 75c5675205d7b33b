//! TLS towards the engine: a sockgate on a unix socket forwards to a TLS, `--tlsverify` endpoint
//! (another sockgate in front of the real dockerd) with a client certificate, and the docker CLI
//! works through both, hijacked streams included. Without its client certificate the first
//! sockgate answers 502 with a JSON message naming the engine.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::path::{Path, PathBuf};
use std::time::Duration;

use real_binary::dockerd::DOCKER_HOST;
use real_binary::http::http_request;
use real_binary::pki::{Ca, Issued};
use real_binary::server::Sockgate;
use real_binary::{docker_command, docker_ready, real_docker, run, CmdOutput, Scratch, CLI_TIMEOUT};
use real_binary::{FULL_ACCESS, TEST_IMAGE};
use tempfile::TempDir;

/// How long sockgate may take to log what a connection did.
const LOG_WAIT: Duration = Duration::from_secs(10);

struct Setup {
    dir: TempDir,
    ca: Ca,
    /// Sockgate B, the TLS endpoint in front of dockerd.
    engine: Sockgate,
    /// B's address, `tcp://127.0.0.1:<port>`.
    engine_addr: String,
    /// The certificate sockgate A presents to B.
    client: Issued,
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// A CA, and sockgate B serving dockerd over TLS with `--tlsverify` and full access.
fn engine_behind_tls() -> Setup {
    let dir = tempfile::Builder::new().prefix("sockgate-e2e-").tempdir().unwrap();
    let ca = Ca::new(&dir.path().join("pki"), "ca").unwrap();
    let server = ca.server("engine").unwrap();
    let client = ca.client("gateway-a", "gateway-a").unwrap();
    let asked = "tcp://127.0.0.1:0".to_owned();
    let args = [
        "--listen".to_owned(),
        asked.clone(),
        "--upstream".to_owned(),
        DOCKER_HOST.to_owned(),
        "--tlscert".to_owned(),
        text(&server.cert),
        "--tlskey".to_owned(),
        text(&server.key),
        "--tlscacert".to_owned(),
        text(&ca.cert),
        "--tlsverify".to_owned(),
        "--policy".to_owned(),
        FULL_ACCESS.to_owned(),
    ];
    let engine = Sockgate::serve(&args, &[&asked]).unwrap();
    let engine_addr = engine.bound(&asked);
    Setup { dir, ca, engine, engine_addr, client }
}

impl Setup {
    /// Sockgate A on `<dir>/<name>.sock`, forwarding to B over TLS, presenting `client` if given.
    fn gateway(&self, name: &str, client: Option<&Issued>) -> (Sockgate, PathBuf) {
        let socket = self.dir.path().join(format!("{name}.sock"));
        let listen = format!("unix://{}", socket.display());
        let mut args = vec![
            "--listen".to_owned(),
            listen.clone(),
            "--upstream".to_owned(),
            self.engine_addr.clone(),
            "--upstream-tlscacert".to_owned(),
            text(&self.ca.cert),
            "--policy".to_owned(),
            FULL_ACCESS.to_owned(),
        ];
        if let Some(client) = client {
            args.extend([
                "--upstream-tlscert".to_owned(),
                text(&client.cert),
                "--upstream-tlskey".to_owned(),
                text(&client.key),
            ]);
        }
        (Sockgate::serve(&args, &[&listen]).unwrap(), socket)
    }
}

fn docker_at(socket: &Path, args: &[&str], stdin: Option<&[u8]>) -> CmdOutput {
    let mut cmd = docker_command(&format!("unix://{}", socket.display()));
    cmd.args(args);
    run(cmd, stdin, CLI_TIMEOUT).unwrap()
}

#[test]
fn the_cli_works_through_a_tls_upstream() {
    if !docker_ready().unwrap() {
        return;
    }
    let setup = engine_behind_tls();
    let (gateway, socket) = setup.gateway("a", Some(&setup.client));

    let direct = real_docker(&["version", "--format", "{{.Server.Version}}"]).unwrap().ok().unwrap();
    let out = docker_at(&socket, &["version", "--format", "{{.Server.Version}}"], None);
    assert!(out.success(), "{out}\n--- sockgate A ---\n{}", gateway.stderr());
    assert_eq!(out.stdout.trim(), direct.stdout.trim(), "another engine answered: {out}");

    let mut scratch = Scratch::new();
    let once = scratch.container("echo");
    let out = docker_at(&socket, &["run", "--rm", "--name", &once, TEST_IMAGE, "echo", "hi"], None);
    assert!(out.success() && out.stdout == "hi\n", "{out}");

    // A hijacked exec over TLS: stdin's EOF must reach `cat` (a half-close through both hops)
    // for it to exit, and its output must come back.
    let name = scratch.container("exec");
    real_docker(&["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "120"]).unwrap().ok().unwrap();
    let out = docker_at(&socket, &["exec", "-i", &name, "cat"], Some(b"data\nmore data\n"));
    assert!(out.success() && out.stdout == "data\nmore data\n", "{out}\n--- sockgate A ---\n{}", gateway.stderr());

    // Megabytes both ways through both hops: an image saved (an answer streamed down) and loaded
    // back (a request body streamed up), by ID so that no tag moves.
    let id = real_docker(&["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE]).unwrap().ok().unwrap();
    let id = id.stdout.trim();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("image.tar");
    let tar = tar.to_str().unwrap();
    let out = docker_at(&socket, &["save", "-o", tar, id], None);
    assert!(out.success(), "{out}\n--- sockgate A ---\n{}", gateway.stderr());
    let size = std::fs::metadata(tar).unwrap().len();
    assert!(size > 1 << 20, "the saved image is {size} bytes");
    let out = docker_at(&socket, &["load", "-i", tar], None);
    assert!(out.success() && out.stdout.contains(id), "{out}\n--- sockgate A ---\n{}", gateway.stderr());

    // B saw every request as coming from A's certificate.
    let seen = setup.engine.wait_for_log("allowed client=\"CN=gateway-a 127.0.0.1:", 0, LOG_WAIT).unwrap();
    for operation in ["operation=system.version", "operation=containers.create", "operation=exec.start"] {
        assert!(seen.iter().any(|l| l.contains(operation)), "B never saw {operation} from A:\n{seen:#?}");
    }
    assert!(!setup.engine.stderr().contains("TLS handshake failed"), "{}", setup.engine.stderr());
}

#[test]
fn without_its_client_certificate_the_gateway_answers_502() {
    if !docker_ready().unwrap() {
        return;
    }
    let setup = engine_behind_tls();
    let (gateway, socket) = setup.gateway("anonymous", None);

    let response = http_request(&socket, "GET", "/v1.41/version", None).unwrap();
    assert_eq!(response.status, 502, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let message = response.json().unwrap()["message"].as_str().unwrap_or_default().to_owned();
    let engine = setup.engine_addr.as_str();
    assert!(
        message.starts_with(&format!("sockgate: docker engine at `{engine}")) && message.contains("is unavailable"),
        "{message}"
    );

    let out = docker_at(&socket, &["ps"], None);
    assert!(!out.success() && out.stderr.contains("is unavailable"), "{out}");
    setup.engine.wait_for_log("TLS handshake failed", 0, LOG_WAIT).unwrap();
    assert!(!setup.engine.stderr().contains("allowed client="), "B let A in:\n{}", setup.engine.stderr());
    assert!(gateway.stderr().contains("is unavailable"), "{}", gateway.stderr());
}
