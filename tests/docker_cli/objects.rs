//! Commands that change dockerd's state: `run`, `wait`, `rm -f`, networks and volumes. Every
//! effect is checked on dockerd directly.

use anyhow::{ensure, Result};

use crate::full_access;
use crate::real_binary::dockerd::{container_exists, container_running, network_exists, volume_exists};
use crate::real_binary::http::{http_request, HttpConnection};
use crate::real_binary::{docker, docker_ready, Scratch, TEST_IMAGE};

#[test]
fn run_rm_prints_the_output_and_removes_the_container() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("run-rm");
    let gw = full_access()?;
    let out = docker(&gw, &["run", "--rm", "--name", &name, TEST_IMAGE, "echo", "hi"])?.ok()?;
    ensure!(out.stdout == "hi\n", "expected `hi`: {out}");
    ensure!(!container_exists(&name)?, "--rm left {name} behind");
    Ok(())
}

#[test]
fn wait_prints_the_exit_code() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("wait");
    let gw = full_access()?;
    let command = "sleep 1; exit 3";
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sh", "-c", command])?.ok()?;
    let out = docker(&gw, &["wait", &name])?.ok()?;
    ensure!(out.stdout.trim() == "3", "expected exit code 3: {out}");
    ensure!(!container_running(&name)?, "{name} still runs after `wait`");
    Ok(())
}

#[test]
fn rm_force_removes_a_running_container() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.container("rm-f");
    let gw = full_access()?;
    docker(&gw, &["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "600"])?.ok()?;
    ensure!(container_running(&name)?, "{name} is not running");
    let out = docker(&gw, &["rm", "-f", &name])?.ok()?;
    ensure!(out.stdout.trim() == name, "expected `{name}`: {out}");
    ensure!(!container_exists(&name)?, "{name} still exists after `rm -f`");
    Ok(())
}

#[test]
fn network_create_and_rm() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.network("net");
    let gw = full_access()?;
    docker(&gw, &["network", "create", &name])?.ok()?;
    ensure!(network_exists(&name)?, "dockerd has no network {name}");
    let listed = docker(&gw, &["network", "ls", "--format", "{{.Name}}"])?.ok()?;
    ensure!(listed.stdout.lines().any(|line| line == name), "{name} not listed: {listed}");
    docker(&gw, &["network", "rm", &name])?.ok()?;
    ensure!(!network_exists(&name)?, "{name} still exists after `network rm`");
    Ok(())
}

#[test]
fn volume_create_and_rm() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.volume("vol");
    let gw = full_access()?;
    let created = docker(&gw, &["volume", "create", &name])?.ok()?;
    ensure!(created.stdout.trim() == name, "expected `{name}`: {created}");
    ensure!(volume_exists(&name)?, "dockerd has no volume {name}");
    let listed = docker(&gw, &["volume", "ls", "--format", "{{.Name}}"])?.ok()?;
    ensure!(listed.stdout.lines().any(|line| line == name), "{name} not listed: {listed}");
    docker(&gw, &["volume", "rm", &name])?.ok()?;
    ensure!(!volume_exists(&name)?, "{name} still exists after `volume rm`");
    Ok(())
}

/// docker-py's integration suite names a network `test 01`: a space is part of a name, as it is
/// to dockerd.
#[test]
fn a_network_named_with_a_space_is_created_inspected_and_removed() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let name = scratch.network("test 01");
    let gw = full_access()?;
    docker(&gw, &["network", "create", &name])?.ok()?;
    ensure!(network_exists(&name)?, "dockerd has no network `{name}`");

    let path = format!("/v1.41/networks/{}", name.replace(' ', "%20"));
    let inspected = http_request(gw.socket(), "GET", &path, None)?;
    ensure!(inspected.status == 200, "GET {path}: {} {}", inspected.status, inspected.body);
    ensure!(inspected.json()?["Name"] == name.as_str(), "GET {path} answered another network: {}", inspected.body);
    let out = docker(&gw, &["network", "inspect", "--format", "{{.Name}}", &name])?.ok()?;
    ensure!(out.stdout.trim_end() == name, "docker network inspect: {out}");

    let removed = http_request(gw.socket(), "DELETE", &path, None)?;
    ensure!(removed.status == 204, "DELETE {path}: {} {}", removed.status, removed.body);
    ensure!(!network_exists(&name)?, "`{name}` is still there after DELETE {path}");
    Ok(())
}

#[test]
fn a_create_whose_head_frames_its_body_ambiguously_is_refused_and_creates_nothing() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let gw = full_access()?;
    let body = format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#);
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    // Each head says two things about where the body ends. Go's server, and so dockerd, refuses
    // the second and third with these statuses; the first and last it would read a way of its own
    // choosing (the coding over the length; no body on HTTP/1.0), which sockgate refuses (400).
    let heads = [
        (format!("HTTP/1.1\r\nContent-Length: {}\r\nTransfer-Encoding: chunked", body.len()), &chunked, 400),
        (format!("HTTP/1.1\r\nContent-Length: {}\r\nContent-Length: 2", body.len()), &body, 400),
        ("HTTP/1.1\r\nTransfer-Encoding: gzip, chunked".to_owned(), &chunked, 501),
        ("HTTP/1.0\r\nTransfer-Encoding: chunked".to_owned(), &chunked, 400),
    ];
    for (i, (head, sent, status)) in heads.iter().enumerate() {
        let name = scratch.container(&format!("ambiguous-{i}"));
        let mut conn = HttpConnection::open(gw.socket())?;
        let request = format!(
            "POST /containers/create?name={name} {head}\r\nHost: docker\r\nContent-Type: application/json\r\n\r\n{sent}"
        );
        conn.send(request.as_bytes())?;
        let answer = conn.read_response()?;
        ensure!(answer.status == *status, "{head:?}: expected {status}, got {} {}", answer.status, answer.body);
        ensure!(answer.json()?["message"].as_str().is_some_and(|m| m.starts_with("sockgate: ")), "{}", answer.body);
        ensure!(!container_exists(&name)?, "{head:?} created {name} on dockerd");
    }
    // The same create, framed one way only, does create it: the refusals above were the heads'.
    let name = scratch.container("framed-once");
    let created = http_request(gw.socket(), "POST", &format!("/containers/create?name={name}"), Some(&body))?;
    ensure!(created.status == 201, "{} {}", created.status, created.body);
    ensure!(container_exists(&name)?, "{name} was not created");
    Ok(())
}

#[test]
fn the_engines_answer_fields_reach_the_client_once_each_as_dockerd_sent_them() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let gw = full_access()?;
    // The fields of an answer, but those that say when it was sent and, for the list, how long
    // it is: other tests make and remove containers between the two requests.
    let fields = |answer: &crate::real_binary::http::HttpResponse, path: &str| {
        let varies = |name: &str| name == "date" || (path.contains("/containers/json") && name == "content-length");
        let mut fields: Vec<(String, String)> =
            answer.headers.iter().filter(|(name, _)| !varies(name)).cloned().collect();
        fields.sort();
        fields
    };
    for path in ["/_ping", "/v1.41/version", "/v1.41/containers/json?all=1"] {
        let direct = http_request(std::path::Path::new("/var/run/docker.sock"), "GET", path, None)?;
        let through = http_request(gw.socket(), "GET", path, None)?;
        ensure!(direct.status == 200 && through.status == 200, "{path}: {} and {}", direct.status, through.status);
        ensure!(
            through.headers.iter().filter(|(name, _)| name == "content-length").count()
                == direct.headers.iter().filter(|(name, _)| name == "content-length").count(),
            "{path}: through sockgate {:?}, from dockerd {:?}",
            through.headers,
            direct.headers
        );
        ensure!(
            fields(&through, path) == fields(&direct, path),
            "{path}: through sockgate {:?}, from dockerd {:?}",
            through.headers,
            direct.headers
        );
        ensure!(through.header("api-version").is_some_and(|v| v.starts_with("1.")), "{path}: {:?}", through.headers);
        ensure!(through.headers.iter().filter(|(name, _)| name == "date").count() == 1, "{:?}", through.headers);
    }
    Ok(())
}
