//! Replays the kept corpus: the request targets in `corpus/paths.txt` and the bodies in
//! `corpus/bodies/` with their expectations in `corpus/bodies/EXPECT.toml`. These are the inputs
//! that once mattered (tricky spellings, refusals, findings of property tests in
//! `properties.rs`); each file says how to read it. Entries marked with a `bug` once exposed a
//! sockgate bug; they are checked by their own tests, which now guard the fixes.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{Method, Uri};
use serde::Deserialize;
use sockgate::classify::{classify, ClassifyError, Operation};
use sockgate::error::GatewayError;
use sockgate::gateway;
use sockgate::inspect::{self, Finding, Kind};
use sockgate::normalize::{self, TargetError};
use sockgate::policy::Policy;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

// ---------------------------------------------------------------------------------------------
// Request targets
// ---------------------------------------------------------------------------------------------

struct PathCase {
    line: usize,
    bug: bool,
    method: String,
    target: String,
    expected: String,
}

fn path_cases() -> Vec<PathCase> {
    let text = std::fs::read_to_string(corpus().join("paths.txt")).unwrap();
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (bug, line) = match line.strip_prefix("! ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let mut fields = line.split_whitespace();
        let (Some(method), Some(target)) = (fields.next(), fields.next()) else {
            panic!("paths.txt:{}: want `METHOD TARGET EXPECTED`, got `{line}`", i + 1);
        };
        let expected = fields.collect::<Vec<_>>().join(" ");
        assert!(!expected.is_empty(), "paths.txt:{}: no expected outcome", i + 1);
        cases.push(PathCase { line: i + 1, bug, method: method.into(), target: target.into(), expected });
    }
    cases
}

/// What sockgate makes of a request target, in the corpus's words.
fn path_outcome(method: &str, target: &str) -> String {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let uri = match target.parse::<Uri>() {
        Ok(uri) => uri,
        // hyper would answer 400 before sockgate sees the request.
        Err(_) => return "refuse form".into(),
    };
    let normalized = match normalize::target(&uri) {
        Ok(t) => t,
        Err(e) => {
            let why = match e {
                TargetError::NotOriginForm(_) => "form",
                TargetError::BadEscape(_) => "escape",
                TargetError::Control(_) => "control",
                TargetError::NotUtf8(_) => "utf8",
                TargetError::Unclean(_) => "unclean",
                TargetError::BadVersion(_) => "version",
            };
            return format!("refuse {why}");
        }
    };
    // What is forwarded must normalize to itself: dockerd decodes once and routes that path.
    let forwarded = normalized.to_origin_form();
    let again = normalize::target(&forwarded.parse::<Uri>().unwrap());
    assert_eq!(again.as_ref(), Ok(&normalized), "{target} forwards {forwarded}, which is not a fixed point");
    match classify(&method, &normalized.path) {
        Ok(c) => match c.resource {
            Some(r) => format!("{} {r}", c.operation),
            None => c.operation.to_string(),
        },
        Err(ClassifyError::NoRoute { .. }) => "refuse noroute".into(),
        Err(ClassifyError::Ambiguous { .. }) => "refuse ambiguous".into(),
    }
}

fn path_matches(expected: &str, actual: &str) -> bool {
    // A bare `refuse` accepts any reason.
    expected == actual || (expected == "refuse" && actual.starts_with("refuse"))
}

fn check_paths(bugs: bool) {
    let cases: Vec<PathCase> = path_cases().into_iter().filter(|c| c.bug == bugs).collect();
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let actual = path_outcome(&c.method, &c.target);
            (!path_matches(&c.expected, &actual)).then(|| {
                format!("paths.txt:{}: {} {}: want `{}`, got `{actual}`", c.line, c.method, c.target, c.expected)
            })
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn path_corpus() {
    check_paths(false);
}

#[test]
fn fixed_bugs_in_the_path_corpus_stay_fixed() {
    check_paths(true);
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyCase {
    /// The operation the body is sent for (default `containers.create`).
    operation: Option<String>,
    /// The query string, if any.
    query: Option<String>,
    /// The Content-Type (default `application/json`); `""` sends none.
    content_type: Option<String>,
    /// `"refuse"`, or every finding as `Kind field = value`.
    expect: Expect,
    /// For a refusal: a piece of the message.
    error: Option<String>,
    /// The decision under `policies/ci.toml`: `allow`, `deny` or `refuse`.
    ci: Option<String>,
    /// A known sockgate bug: the entry is checked only by the ignored test.
    bug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expect {
    Refuse(String),
    Findings(Vec<String>),
}

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::HostMount { read_only: true } => "HostMount(ro)".into(),
        Kind::HostMount { read_only: false } => "HostMount(rw)".into(),
        other => format!("{other:?}"),
    }
}

fn render(finding: &Finding) -> String {
    format!("{} {} = {}", kind_name(finding.kind), finding.field, finding.value)
}

fn body_cases() -> BTreeMap<String, BodyCase> {
    let text = std::fs::read_to_string(corpus().join("bodies/EXPECT.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("EXPECT.toml: {e}"))
}

/// The request line for an operation, for the policy check.
fn request_for(operation: &str) -> (Method, &'static str) {
    match operation {
        "containers.create" => (Method::POST, "/v1.41/containers/create"),
        "containers.update" => (Method::POST, "/v1.41/containers/job/update"),
        "exec.create" => (Method::POST, "/v1.41/containers/job/exec"),
        "volumes.create" => (Method::POST, "/v1.41/volumes/create"),
        "services.create" => (Method::POST, "/v1.41/services/create"),
        "plugins.pull" => (Method::POST, "/v1.41/plugins/pull"),
        other => panic!("no request line for `{other}`"),
    }
}

/// Checks one corpus body; returns what is wrong, if anything.
fn check_body(name: &str, case: &BodyCase, ci: &Policy) -> Option<String> {
    let body = std::fs::read(corpus().join("bodies").join(name)).unwrap();
    let op_name = case.operation.as_deref().unwrap_or("containers.create");
    let operation = Operation::from_name(op_name).unwrap_or_else(|| panic!("{name}: no operation `{op_name}`"));
    let content_type = match case.content_type.as_deref() {
        None => Some("application/json"),
        Some("") => None,
        Some(ct) => Some(ct),
    };
    let result = inspect::inspect(&inspect::Request {
        operation,
        query: case.query.as_deref(),
        content_type: content_type.map(str::as_bytes),
        body: Some(&body),
        resource: None,
        resolved: None,
        tenancy: false,
    });
    let mut problems = Vec::new();
    match (&case.expect, &result) {
        (Expect::Refuse(word), Err(e)) => {
            assert_eq!(word, "refuse", "{name}: `expect` is `refuse` or a list of findings");
            if let Some(part) = &case.error {
                if !e.to_string().contains(part.as_str()) {
                    problems.push(format!("refused with `{e}`, which does not say `{part}`"));
                }
            }
        }
        (Expect::Findings(want), Ok(findings)) => {
            let mut want = want.clone();
            let mut got: Vec<String> = findings.iter().map(render).collect();
            want.sort();
            got.sort();
            if want != got {
                problems.push(format!("findings differ:\n  want {want:?}\n  got  {got:?}"));
            }
        }
        (Expect::Refuse(_), Ok(findings)) => {
            let got: Vec<String> = findings.iter().map(render).collect();
            problems.push(format!("want a refusal, got findings {got:?}"));
        }
        (Expect::Findings(_), Err(e)) => problems.push(format!("want findings, got a refusal: {e}")),
    }
    if let Some(want) = &case.ci {
        let (method, path) = request_for(op_name);
        let target = match &case.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let uri: Uri = target.parse().unwrap();
        let got = match gateway::explain(ci, &method, &uri, content_type.map(str::as_bytes), Some(&body)) {
            Ok(j) if j.decision.allowed => "allow",
            Ok(_) => "deny",
            Err(GatewayError::Inspect(_)) => "refuse",
            Err(e) => panic!("{name}: {e}"),
        };
        if got != want {
            problems.push(format!("ci.toml: want `{want}`, got `{got}`"));
        }
    }
    (!problems.is_empty()).then(|| format!("{name}: {}", problems.join("; ")))
}

fn check_bodies(bugs: bool) {
    let cases = body_cases();
    let ci = Policy::load(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/ci.toml")]).unwrap();
    let selected: Vec<(&String, &BodyCase)> = cases.iter().filter(|(_, c)| c.bug.is_some() == bugs).collect();
    assert!(!selected.is_empty());
    let failures: Vec<String> = selected
        .iter()
        .filter_map(|(name, case)| {
            check_body(name, case, &ci).map(|p| match &case.bug {
                Some(bug) => format!("{p}\n  (known bug: {bug})"),
                None => p,
            })
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} bodies fail:\n{}", failures.len(), selected.len(), failures.join("\n"));
}

#[test]
fn body_corpus() {
    check_bodies(false);
}

#[test]
fn fixed_bugs_in_the_body_corpus_stay_fixed() {
    check_bodies(true);
}

/// Every body file has an expectation and every expectation a file.
#[test]
fn every_body_has_an_expectation() {
    let cases = body_cases();
    let mut files: Vec<String> = std::fs::read_dir(corpus().join("bodies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "EXPECT.toml")
        .collect();
    files.sort();
    let expected: Vec<String> = cases.keys().cloned().collect();
    assert_eq!(files, expected, "tests/corpus/bodies and EXPECT.toml disagree");
}
