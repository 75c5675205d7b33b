//! sockgate's reading of container create bodies, checked against Go's own: `tests/go/jsonoracle`
//! decodes each body with `encoding/json` into moby 20.10's `runconfig.ContainerConfigWrapper`
//! (the container config and the deprecated top-level host config embedded, the inner
//! `HostConfig` beside them), picks the host config dockerd acts on as `getHostConfig` does, and
//! says what it read there: privileged, binds (parsed as dockerd's Linux mount parser does),
//! mounts, added capabilities (normalized as dockerd does), security options, namespace modes,
//! devices, volume and log drivers, sysctls, runtime, volumes-from, image and labels.
//!
//! For every body that both Go and sockgate accept, each host-reaching fact Go read is among
//! sockgate's findings (or references, for named volumes and networks, which the engine is asked
//! about before the request is judged). A body that either refuses needs nothing more: what Go
//! refuses, dockerd refuses, and what sockgate refuses never reaches it. sockgate refuses every
//! body with two keys Go reads as one; the test checks that too.
//!
//! The inputs are the kept body corpus (`corpus/bodies/`) and generated bodies: host-reaching
//! fields at the top level, in `HostConfig`, or both with different values, spelt in every way Go
//! matches (re-cased, `\u`-escaped, `ſ` and the Kelvin sign), shuffled, among fields sockgate does
//! not read; then maybe a duplicate key, a `null`, a wrong type, an invalid UTF-8 byte, a lone
//! surrogate, deep nesting or data after the body, each of which Go reads differently from a
//! strict parser.
//!
//! Without `go` the test is skipped, unless `CI=true`, where it fails.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::Deserialize;
use sockgate::classify::Operation;
use sockgate::inspect::{self, Inspection, Kind, Reference};
use sockgate::naming::DriverKind;

#[path = "go/build.rs"]
mod build;
#[path = "properties/model.rs"]
#[expect(dead_code, reason = "whether sockgate walks a struct or reads a map matters to the property tests only")]
mod model;

use model::{map, s, shuffle, st, to_json, Tape, V};

/// The oracle, running: one body in, one line out.
struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start(binary: &Path) -> Oracle {
        let mut child = Command::new(binary)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the JSON oracle: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Oracle { child, stdin, stdout }
    }

    fn ask(&mut self, body: &[u8]) -> Go {
        writeln!(self.stdin, "{}", base64(body)).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        match line.trim_end().split_once(' ') {
            Some(("ok", summary)) => Go::Read(Box::new(
                serde_json::from_str(summary).unwrap_or_else(|e| panic!("the JSON oracle said `{summary}`: {e}")),
            )),
            Some(("error", _)) => Go::Error,
            _ => panic!("the JSON oracle said `{line}`"),
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What Go made of one body.
#[derive(Debug)]
enum Go {
    Error,
    Read(Box<Summary>),
}

/// The oracle's summary of what dockerd reads (see `tests/go/jsonoracle/main.go`).
#[derive(Debug, Deserialize)]
struct Summary {
    image: String,
    labels: BTreeMap<String, String>,
    privileged: bool,
    binds: Option<Vec<Bind>>,
    mounts: Option<Vec<Mount>>,
    cap_add: Option<Vec<String>>,
    security_opt: Option<Vec<String>>,
    modes: BTreeMap<String, String>,
    devices: Option<Vec<String>>,
    volume_driver: String,
    log_driver: String,
    sysctls: Option<Vec<String>>,
    runtime: String,
    volumes_from: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Bind {
    raw: String,
    host: Option<String>,
    volume: Option<String>,
    ro: bool,
    invalid: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Mount {
    #[serde(rename = "type")]
    kind: String,
    source: String,
    clean: String,
    ro: bool,
    driver: String,
    options: Option<BTreeMap<String, String>>,
    device: String,
}

/// Security options that turn confinement off, as dockerd's `parseSecurityOpt` reads them.
const UNCONFINING: &[&str] = &[
    "seccomp=unconfined",
    "seccomp:unconfined",
    "apparmor=unconfined",
    "apparmor:unconfined",
    "label=disable",
    "label:disable",
    "disable",
    "systempaths=unconfined",
];

/// The host-reaching facts Go read that sockgate's inspection does not account for.
fn missed(go: &Summary, seen: &Inspection) -> Vec<String> {
    let has = |kind: Kind, value: &str| seen.findings.iter().any(|f| f.kind == kind && f.value == value);
    let any = |kind: fn(&Kind) -> bool, value: &str| seen.findings.iter().any(|f| kind(&f.kind) && f.value == value);
    let mount = |path: &str, read_only: bool| {
        if read_only {
            any(|k| matches!(k, Kind::HostMount { .. }), path)
        } else {
            has(Kind::HostMount { read_only: false }, path)
        }
    };
    let refers = |reference: Reference| seen.references.contains(&reference);
    let mut missed = Vec::new();
    let mut want = |ok: bool, fact: String| {
        if !ok {
            missed.push(fact);
        }
    };
    want(!go.privileged || seen.findings.iter().any(|f| f.kind == Kind::Privileged), "privileged".into());
    for bind in go.binds.iter().flatten().filter(|b| b.invalid != Some(true)) {
        if let Some(host) = &bind.host {
            want(mount(host, bind.ro), format!("bind `{}` mounts `{host}` (ro: {})", bind.raw, bind.ro));
        }
        if let Some(volume) = &bind.volume {
            want(refers(Reference::Volume(volume.clone())), format!("bind `{}` names volume `{volume}`", bind.raw));
        }
    }
    for m in go.mounts.iter().flatten() {
        match m.kind.as_str() {
            "bind" if m.source.starts_with('/') => {
                want(mount(&m.clean, m.ro), format!("bind mount of `{}` (ro: {})", m.source, m.ro));
            }
            "volume" => {
                if !m.source.is_empty() {
                    want(refers(Reference::Volume(m.source.clone())), format!("volume mount of `{}`", m.source));
                }
                if !m.driver.is_empty() && m.driver != "local" {
                    want(has(Kind::Driver(DriverKind::Volume), &m.driver), format!("volume driver `{}`", m.driver));
                }
                let options = m.options.clone().unwrap_or_default();
                let binds = options.get("o").is_some_and(|o| o.split(',').any(|f| f == "bind" || f == "rbind"));
                if (m.driver.is_empty() || m.driver == "local") && binds && m.device.starts_with('/') {
                    want(
                        any(|k| matches!(k, Kind::HostMount { .. }), &m.device),
                        format!("local volume on `{}`", m.device),
                    );
                }
            }
            _ => {}
        }
    }
    for cap in go.cap_add.iter().flatten() {
        let name = cap.strip_prefix("CAP_").unwrap_or(cap);
        want(has(Kind::Capability, name), format!("capability `{cap}`"));
    }
    for opt in go.security_opt.iter().flatten().filter(|o| UNCONFINING.contains(&o.as_str())) {
        want(has(Kind::Unconfined, opt), format!("security option `{opt}`"));
    }
    for (field, mode) in &go.modes {
        // `IsHost` and `IsContainer` of dockerd's mode types compare exactly.
        let shared = mode == "host" || mode.split_once(':').is_some_and(|(kind, _)| kind == "container");
        if shared {
            want(has(Kind::Namespace, mode), format!("{field} `{mode}`"));
        } else if field == "NetworkMode" && !["default", "bridge", "none"].contains(&mode.as_str()) {
            let ok = refers(Reference::Network(mode.clone())) || has(Kind::Namespace, mode);
            want(ok, format!("network `{mode}`"));
        }
    }
    for device in go.devices.iter().flatten() {
        want(has(Kind::Device, device), format!("device `{device}`"));
    }
    if !go.volume_driver.is_empty() && go.volume_driver != "local" {
        let driver = &go.volume_driver;
        want(has(Kind::Driver(DriverKind::Volume), driver), format!("volume driver `{driver}`"));
    }
    if !go.log_driver.is_empty() {
        want(has(Kind::Driver(DriverKind::Log), &go.log_driver), format!("log driver `{}`", go.log_driver));
    }
    for key in go.sysctls.iter().flatten() {
        want(has(Kind::Sysctl, key), format!("sysctl `{key}`"));
    }
    if !go.runtime.is_empty() {
        want(has(Kind::Runtime, &go.runtime), format!("runtime `{}`", go.runtime));
    }
    if let Some(from) = go.volumes_from.as_ref().filter(|v| !v.is_empty()) {
        want(has(Kind::VolumesFrom, &from.join(",")), format!("volumes from `{}`", from.join(",")));
    }
    if !go.image.is_empty() {
        want(seen.findings.iter().any(|f| f.kind == Kind::Image), format!("image `{}`", go.image));
    }
    let labels: Vec<&str> =
        seen.findings.iter().filter(|f| f.kind == Kind::Labels).flat_map(|f| f.value.split('\n')).collect();
    for (key, value) in &go.labels {
        let line = format!("{key}={value}");
        want(labels.contains(&line.as_str()), format!("label `{line}`"));
    }
    missed
}

/// sockgate's reading of a create body.
fn sockgate(body: &[u8]) -> Result<Inspection, inspect::InspectError> {
    inspect::inspect_all(&inspect::Request {
        operation: Operation::from_name("containers.create").unwrap(),
        query: None,
        content_type: Some(b"application/json"),
        body: Some(body),
        resource: None,
        resolved: None,
        tenancy: false,
    })
}

/// Compares the two readings of one body; `Ok` names how it went.
fn compare(oracle: &mut Oracle, body: &[u8], duplicate: bool) -> Result<&'static str, String> {
    let go = oracle.ask(body);
    let seen = sockgate(body);
    let shown = || String::from_utf8_lossy(body).escape_debug().to_string();
    if duplicate {
        if let Ok(seen) = &seen {
            return Err(format!("a body with a duplicate key is accepted with {:?}: \"{}\"", seen.findings, shown()));
        }
    }
    match (&go, &seen) {
        (Go::Error, Ok(_)) => Ok("Go refuses"),
        (Go::Error, Err(_)) => Ok("both refuse"),
        (Go::Read(_), Err(_)) => Ok("sockgate refuses"),
        (Go::Read(summary), Ok(seen)) => {
            let missed = missed(summary, seen);
            if missed.is_empty() {
                Ok("both read")
            } else {
                Err(format!(
                    "Go reads {} that sockgate does not find in \"{}\"\n  Go: {summary:?}\n  sockgate: {:?}",
                    missed.join(", "),
                    shown(),
                    seen.findings
                ))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated bodies
// ---------------------------------------------------------------------------------------------

/// The host-reaching fields of a host config; `Image` and `Labels` belong to the container config.
const HOST_FIELDS: &[&str] = &[
    "Privileged",
    "Binds",
    "Mounts",
    "CapAdd",
    "SecurityOpt",
    "NetworkMode",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Devices",
    "VolumeDriver",
    "LogConfig",
    "Sysctls",
    "Runtime",
    "VolumesFrom",
];

fn pick<T: Clone>(options: &[T], choice: u8) -> T {
    options[usize::from(choice) % options.len()].clone()
}

fn strings(items: &[&str]) -> V {
    V::Arr(items.iter().map(|i| s(i)).collect())
}

/// A value for the field `name`, most of them host-reaching.
fn value(name: &str, choice: u8) -> V {
    let mode = || pick(&["host", "container:web", "private", "", "shareable", "HOST", "container:"], choice);
    match name {
        "Privileged" => V::Bool(choice % 3 != 0),
        "Binds" => pick(
            &[
                strings(&["/etc:/e"]),
                strings(&["/etc:/e:ro", "/var/run/docker.sock:/s:rw"]),
                strings(&["data:/data", "/anon"]),
                strings(&["//srv/./a/../b:/b:ro,z"]),
                strings(&["/x:ro"]),
                strings(&["/a:/b:c:d"]),
                strings(&["/root:/r:Z,rshared"]),
            ],
            choice,
        ),
        "Mounts" => {
            let bind = |source: &str, ro: bool| {
                st(true, &[("Type", s("bind")), ("Source", s(source)), ("Target", s("/t")), ("ReadOnly", V::Bool(ro))])
            };
            let volume = |source: &str, driver: &str, options: V| {
                let config = st(true, &[("Name", s(driver)), ("Options", options)]);
                st(
                    true,
                    &[
                        ("Type", s("volume")),
                        ("Source", s(source)),
                        ("Target", s("/v")),
                        ("VolumeOptions", st(true, &[("DriverConfig", config)])),
                    ],
                )
            };
            let device = map(true, &[("type", s("none")), ("o", s("bind")), ("device", s("/srv/data"))]);
            pick(
                &[
                    V::Arr(vec![bind("/etc", false)]),
                    V::Arr(vec![bind("/home/../etc", true), bind("/", false)]),
                    V::Arr(vec![volume("vol", "local", device.clone())]),
                    V::Arr(vec![volume("", "", device)]),
                    V::Arr(vec![volume("vol", "convoy", map(true, &[]))]),
                    V::Arr(vec![st(true, &[("Type", s("tmpfs")), ("Target", s("/tmp"))])]),
                ],
                choice,
            )
        }
        "CapAdd" => pick(
            &[
                s("SYS_ADMIN"),
                strings(&["cap_net_admin", "ALL"]),
                s("\u{17f}ys_admin"),
                strings(&["net_adm\u{131}n"]),
                strings(&["CAP_SYS_PTRACE"]),
            ],
            choice,
        ),
        "SecurityOpt" => pick(
            &[
                strings(&["seccomp=unconfined"]),
                strings(&["apparmor:unconfined", "no-new-privileges"]),
                strings(&["label=disable"]),
                strings(&["systempaths=unconfined"]),
            ],
            choice,
        ),
        "NetworkMode" => s(pick(&["host", "container:web", "bridge", "mynet", "none", "HOST", "default"], choice)),
        "PidMode" | "IpcMode" | "UTSMode" | "UsernsMode" | "CgroupnsMode" => s(mode()),
        "Devices" => V::Arr(vec![st(
            true,
            &[("PathOnHost", s(pick(&["/dev/sda", "/dev/fuse"], choice))), ("PathInContainer", s("/dev/x"))],
        )]),
        "VolumeDriver" => s(pick(&["convoy", "local", "", "flocker.1"], choice)),
        "LogConfig" => st(
            true,
            &[("Type", s(pick(&["syslog", "json-file", ""], choice))), ("Config", map(false, &[("tag", s("x"))]))],
        ),
        "Sysctls" => map(true, &[(pick(&["net.ipv4.ip_forward", "kernel.shm_rmid_forced"], choice), s("1"))]),
        "Runtime" => s(pick(&["runsc", "", "runc"], choice)),
        "VolumesFrom" => strings(pick(&[&["other"][..], &["a", "b:ro"]], choice)),
        "Image" => s(pick(&["alpine", "busybox:1", "", "localhost:5000/x/y"], choice)),
        "Labels" => map(true, &[(pick(&["a", "com.example.role", "A"], choice), s(pick(&["1", "", "x=y"], choice)))]),
        _ => V::Null,
    }
}

/// What to generate: facts as (field, value choice, where: HostConfig, top level or both), noise
/// fields, the writer's tape, one mutation and where it strikes.
#[derive(Debug, Clone)]
struct Spec {
    facts: Vec<(u8, u8, u8)>,
    noise: u8,
    tape: Vec<u8>,
    mutation: u8,
    at: u16,
}

fn specs() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec((any::<u8>(), any::<u8>(), 0u8..3), 0..6),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..48),
        0u8..13,
        any::<u16>(),
    )
        .prop_map(|(facts, noise, tape, mutation, at)| Spec { facts, noise, tape, mutation, at })
}

/// Nested arrays and objects `depth` deep.
fn nested(depth: usize) -> V {
    (0..depth).fold(V::Int(1), |inner, i| if i % 2 == 0 { V::Arr(vec![inner]) } else { st(false, &[("a", inner)]) })
}

/// Inserts `what` before a letter chosen by `at`: most letters are in keys and strings.
fn insert_at_letter(body: &mut Vec<u8>, at: u16, what: &[u8]) {
    let letters: Vec<usize> = (0..body.len()).filter(|i| body[*i].is_ascii_alphabetic()).collect();
    if let Some(i) = letters.get(usize::from(at) % letters.len().max(1)) {
        body.splice(*i..*i, what.iter().copied());
    }
}

/// The body a spec describes, and whether it holds two keys Go reads as one.
fn body(spec: &Spec) -> (Vec<u8>, bool) {
    let at = spec.at;
    let mut top: Vec<(String, V)> = Vec::new();
    let mut inner: Vec<(String, V)> = Vec::new();
    let add = |list: &mut Vec<(String, V)>, name: &str, value: V| {
        if !list.iter().any(|(k, _)| k == name) {
            list.push((name.to_owned(), value));
        }
    };
    for &(field, choice, place) in &spec.facts {
        let index = usize::from(field) % (HOST_FIELDS.len() + 2);
        let Some(name) = HOST_FIELDS.get(index) else {
            let name = ["Image", "Labels"][index - HOST_FIELDS.len()];
            add(&mut top, name, value(name, choice));
            continue;
        };
        match place {
            0 => add(&mut inner, name, value(name, choice)),
            1 => add(&mut top, name, value(name, choice)),
            _ => {
                add(&mut inner, name, value(name, choice));
                add(&mut top, name, value(name, choice.wrapping_add(1)));
            }
        }
    }
    // Fields sockgate does not read, at both levels.
    let noise: [(&str, V, bool); 6] = [
        ("Cmd", strings(&["sh", "-c", "true"]), false),
        ("Env", strings(&["A=1"]), false),
        ("Memory", V::Int(0), true),
        ("RestartPolicy", st(false, &[("Name", s("no")), ("MaximumRetryCount", V::Int(0))]), true),
        ("Cpuset", s("0"), false),
        ("NetworkingConfig", st(true, &[("EndpointsConfig", map(true, &[("bridge", st(false, &[]))]))]), false),
    ];
    for (i, (name, value, in_host_config)) in noise.into_iter().enumerate() {
        if spec.noise & (1 << i) != 0 {
            add(if in_host_config && spec.noise & 0x40 != 0 { &mut inner } else { &mut top }, name, value);
        }
    }
    let mut duplicate = false;
    {
        let list = if inner.is_empty() || (at & 1 == 0 && !top.is_empty()) { &mut top } else { &mut inner };
        let k = usize::from(at >> 1) % list.len().max(1);
        match spec.mutation {
            // A second key Go reads as the same field, with another value, before or after.
            5 if !list.is_empty() => {
                let (name, old) = list[k].clone();
                let new = match old {
                    V::Bool(b) => V::Bool(!b),
                    _ => value(&name, (at >> 8) as u8),
                };
                list.insert(if at & 0x100 == 0 { k + 1 } else { k }, (name, new));
                duplicate = true;
            }
            6 if !list.is_empty() => list[k].1 = V::Null,
            7 if !list.is_empty() => {
                list[k].1 =
                    pick(&[V::Int(1), s("true"), V::Bool(true), V::Arr(vec![]), st(false, &[])], (at >> 8) as u8);
            }
            9 => list.push(("Entrypoint".into(), nested(usize::from(at % 300) + 60))),
            12 => {
                if let Some(V::Arr(items)) = list.get_mut(k).map(|(_, v)| v) {
                    items.insert(0, V::Null);
                }
            }
            _ => {}
        }
    }
    if !inner.is_empty() || spec.noise & 0x80 != 0 {
        let host_config =
            if spec.mutation == 6 && at % 4 == 0 { V::Null } else { V::Struct { members: inner, walked: true } };
        top.push(("HostConfig".into(), host_config));
    }
    let mut value = V::Struct { members: top, walked: true };
    shuffle(&mut value, &mut Tape { bytes: &spec.tape, pos: 0 });
    let mut body = to_json(&value, &spec.tape).into_bytes();
    match spec.mutation {
        8 => {
            let bad: &[&[u8]] = &[b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80"];
            insert_at_letter(&mut body, at, pick(bad, (at >> 8) as u8));
        }
        10 => {
            let surrogates: &[&[u8]] = &[b"\\ud800", b"\\udc00", b"\\udbff\\u0041", b"\\uDFFF"];
            insert_at_letter(&mut body, at, pick(surrogates, (at >> 8) as u8));
        }
        11 => {
            let trailing: &[&[u8]] = &[b" {\"HostConfig\":{\"Privileged\":true}}", b"]", b" x", b"{}", b"\n\n"];
            body.extend_from_slice(pick(trailing, (at >> 8) as u8));
        }
        _ => {}
    }
    (body, duplicate)
}

/// The kept body corpus.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bodies");
    let mut bodies: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    bodies.sort();
    bodies
}

/// Generated bodies per run: with the corpus, a few seconds in a debug build.
const CASES: u32 = 5000;

#[test]
fn go_reads_no_host_access_that_sockgate_does_not_find() {
    let dir = tempfile::tempdir().unwrap();
    let Some(binary) = build::oracle("jsonoracle", dir.path()) else { return };
    let oracle = std::cell::RefCell::new(Oracle::start(&binary));
    let tally = std::cell::RefCell::new(BTreeMap::<&str, usize>::new());

    let mut failures = Vec::new();
    for (name, body) in corpus() {
        match compare(&mut oracle.borrow_mut(), &body, false) {
            Ok(how) => *tally.borrow_mut().entry(how).or_default() += 1,
            Err(e) => failures.push(format!("corpus/bodies/{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&specs(), |spec| {
        let (body, duplicate) = body(&spec);
        let how = compare(&mut oracle.borrow_mut(), &body, duplicate).map_err(TestCaseError::fail)?;
        *tally.borrow_mut().entry(how).or_default() += 1;
        Ok(())
    });
    let tally = tally.into_inner();
    eprintln!("bodies: {tally:?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches every outcome, or the test proves less than it says.
    for how in ["both read", "Go refuses", "sockgate refuses", "both refuse"] {
        assert!(tally.get(how).copied().unwrap_or(0) > 0, "no body was `{how}`: {tally:?}");
    }
}
