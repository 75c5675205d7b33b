//! sockgate's own log with the real binary, docker CLI and engine: text lines split into
//! `key=value` pairs (values with spaces quoted), `--log-format json` writes one JSON object per
//! line, and `--access-log` adds a line per request that is off by default.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

mod real_binary;

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{bail, ensure, Result};

use real_binary::server::Sockgate;
use real_binary::{docker_command, docker_ready, run, CLI_TIMEOUT};

const ENGINE: &str = "unix:///var/run/docker.sock";
const WAIT: Duration = Duration::from_secs(15);

/// The `key=value` pairs of a text line after its message, read as logfmt reads them: a value is
/// a bare word, or a double-quoted string with JSON's escapes.
fn pairs(line: &str, message: &str) -> Result<BTreeMap<String, String>> {
    let Some((_, mut rest)) = line.split_once(&format!(" {message} ")) else { bail!("no `{message}` in {line}") };
    let mut out = BTreeMap::new();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { bail!("`{rest}` is no key=value in {line}") };
        ensure!(!key.is_empty() && !key.contains(' '), "bad key `{key}` in {line}");
        let (value, after) = if after.starts_with('"') {
            let mut de = serde_json::Deserializer::from_str(after).into_iter::<String>();
            let value = de.next().transpose()?.unwrap_or_default();
            (value, &after[de.byte_offset()..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.insert(key.to_string(), value);
        rest = after.strip_prefix(' ').unwrap_or(after);
    }
    Ok(out)
}

fn serve(dir: &std::path::Path, extra: &[&str]) -> Result<(Sockgate, String)> {
    let socket = dir.join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let mut args = vec!["--listen", host.as_str(), "--upstream", ENGINE];
    args.extend_from_slice(extra);
    let server = Sockgate::serve(&args, &[])?;
    real_binary::observe::poll_until(WAIT, "the socket", || Ok(UnixStream::connect(&socket).is_ok().then_some(())))?;
    Ok((server, host))
}

fn docker(host: &str, args: &[&str]) -> Result<real_binary::CmdOutput> {
    let mut cmd = docker_command(host);
    cmd.args(args);
    run(cmd, None, CLI_TIMEOUT)
}

#[test]
fn access_log_lines_split_into_key_value_pairs() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (server, host) = serve(dir.path(), &["--access-log"])?;
    docker(&host, &["ps"])?.ok()?;
    let lines = server.wait_for_log("operation=containers.list", 0, WAIT)?;
    let line = lines.iter().find(|l| l.contains(" INFO request ")).expect("no access line");
    let fields = pairs(line, "request")?;
    ensure!(
        fields["client"].starts_with("uid=0 gid=0 pid=") && fields["client"].ends_with(&format!("via {host}")),
        "{fields:?}"
    );
    for (key, value) in [("method", "GET"), ("path", "/containers/json"), ("decision", "allow"), ("status", "200")] {
        ensure!(fields.get(key).map(String::as_str) == Some(value), "{key} is not {value}: {fields:?}");
    }
    ensure!(fields.contains_key("duration_ms") && fields.contains_key("bytes_out"), "{fields:?}");

    // A denial's line splits as well, its reason quoted.
    let out = docker(&host, &["rm", "sockgate-no-such-container"])?;
    ensure!(!out.success(), "{out}");
    let lines = server.wait_for_log(" WARN denied ", 0, WAIT)?;
    let fields = pairs(&lines[0], "denied")?;
    ensure!(
        fields["reasons"] == "denied by policy `read-only`: no rule allows it" && fields["mode"] == "enforce",
        "{fields:?}"
    );
    Ok(())
}

#[test]
fn the_access_log_is_off_by_default() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    // At `debug` (as the test servers run) allowed requests are logged as decisions, not as accesses.
    let (server, host) = serve(dir.path(), &[])?;
    docker(&host, &["ps"])?.ok()?;
    server.wait_for_log("operation=containers.list", 0, WAIT)?;
    ensure!(server.count_log(" request ") == 0, "an access line without --access-log:\n{}", server.stderr());
    Ok(())
}

#[test]
fn json_lines_are_json_objects() -> Result<()> {
    if !docker_ready()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (server, host) = serve(dir.path(), &["--log-format", "json", "--access-log"])?;
    let out = docker(&host, &["rm", "sockgate-no-such-container"])?;
    ensure!(!out.success(), "{out}");
    server.wait_for_log("\"status\":403", 0, WAIT)?;
    let mut denied = None;
    for line in server.stderr().lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not JSON ({e}): {line}"))?;
        if value["message"] == "denied" {
            denied = Some(value);
        }
    }
    let denied = denied.expect("no denial logged");
    ensure!(denied["level"] == "WARN" && denied["operation"] == "containers.delete", "{denied}");
    ensure!(denied["client"].as_str().is_some_and(|c| c.contains(" via ")), "{denied}");
    Ok(())
}
