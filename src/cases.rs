//! Policy test cases: requests with the decision a policy must reach, kept as data beside the
//! policy (`NAME.cases.toml` next to `NAME.toml`). `sockgate policy test` and `cargo test` both
//! run them through [`crate::gateway::explain`], the path the server takes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostics::keys::Shape;
use crate::diagnostics::{report_toml_error, Problems};
use crate::error::GatewayError;
use crate::gateway;
use crate::policy::Policy;

/// A file of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// Policy files, relative to the case file; by default `NAME.toml` for `NAME.cases.toml`.
    policy: Option<Vec<String>>,
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

/// One request and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// `METHOD /path?query`.
    request: String,
    body: Option<String>,
    content_type: Option<String>,
    expect: Expect,
    /// The rule or constraint ids that must have decided, in any order.
    rules: Option<Vec<String>>,
    /// Text the client's message must contain.
    message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Deny,
    /// Refused before any decision: an ambiguous path, an unreadable body (400).
    Refuse,
}

/// Every key a case file may hold.
const CASES_SHAPE: &[(&str, Shape)] = &[
    ("policy", Shape::Value),
    (
        "case",
        Shape::Tables(&[
            ("name", Shape::Value),
            ("request", Shape::Value),
            ("body", Shape::Value),
            ("content_type", Shape::Value),
            ("expect", Shape::Value),
            ("rules", Shape::Value),
            ("message", Shape::Value),
        ]),
    ),
];

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::Refuse => "refuse",
        }
    }
}

/// Rule ids for a report: `` `a`, `b` ``, or `no rule`.
fn listed(rules: &[String]) -> String {
    match rules {
        [] => "no rule".to_string(),
        [one] => format!("rule `{one}`"),
        many => format!("rules {}", many.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")),
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: PathBuf,
    pub name: String,
    pub passed: bool,
    /// What happened, for the report.
    pub detail: String,
}

/// Why cases could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("cannot read `{0}`: {1}")]
    Read(PathBuf, String),
    #[error("{0}")]
    Policy(#[from] Problems),
}

/// Finds every `*.cases.toml` under `dir` (not recursing) and runs it.
pub fn run_dir(dir: &Path) -> Result<Vec<Outcome>, CasesError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CasesError::Read(dir.to_path_buf(), e.to_string()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".cases.toml")))
        .collect();
    files.sort();
    let mut outcomes = Vec::new();
    for file in files {
        outcomes.extend(run_file(&file)?);
    }
    Ok(outcomes)
}

/// Runs one case file.
pub fn run_file(file: &Path) -> Result<Vec<Outcome>, CasesError> {
    let text = std::fs::read_to_string(file).map_err(|e| CasesError::Read(file.to_path_buf(), e.to_string()))?;
    let cases: CaseFile = toml::from_str(&text).map_err(|e| {
        let mut errors = Problems::default();
        report_toml_error(&mut errors, &file.display().to_string(), &text, &e, CASES_SHAPE);
        CasesError::Policy(errors)
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let policy_files: Vec<PathBuf> = match cases.policy {
        Some(list) => list.iter().map(|p| dir.join(p)).collect(),
        None => {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            vec![dir.join(name.replace(".cases.toml", ".toml"))]
        }
    };
    let policy = Policy::load(&policy_files)?;
    Ok(cases.cases.iter().map(|case| run_case(file, &policy, case)).collect())
}

fn run_case(file: &Path, policy: &Policy, case: &Case) -> Outcome {
    let outcome =
        |passed: bool, detail: String| Outcome { file: file.to_path_buf(), name: case.name.clone(), passed, detail };
    let Some((method, target)) = case.request.split_once(' ') else {
        return outcome(false, format!("request `{}` is not `METHOD /path`", case.request));
    };
    let (Ok(method), Ok(uri)) = (http::Method::from_bytes(method.as_bytes()), target.parse::<http::Uri>()) else {
        return outcome(false, format!("request `{}` does not parse", case.request));
    };
    let content_type = case.content_type.as_deref().or(case.body.as_ref().map(|_| "application/json"));
    let result = gateway::explain(
        policy,
        &method,
        &uri,
        content_type.map(str::as_bytes),
        case.body.as_deref().map(str::as_bytes),
    );
    let (got, rules, message) = match &result {
        Ok(j) if j.decision.allowed => (Expect::Allow, j.decision.rules.clone(), String::new()),
        Ok(j) => (Expect::Deny, j.decision.rules.clone(), format!("sockgate: {}", j.decision.denial_message())),
        Err(GatewayError::Denied(d)) => (Expect::Deny, d.rules.clone(), format!("sockgate: {}", d.denial_message())),
        Err(e) if e.status() == http::StatusCode::FORBIDDEN => (Expect::Deny, Vec::new(), format!("sockgate: {e}")),
        Err(e) => (Expect::Refuse, Vec::new(), format!("sockgate: {e}")),
    };
    let said = if message.is_empty() { format!("{} by {}", got.name(), listed(&rules)) } else { message.clone() };
    if got != case.expect {
        return outcome(false, format!("expected {}, got {said}", case.expect.name()));
    }
    if let Some(want) = &case.rules {
        let mut want = want.clone();
        let mut have = rules.clone();
        want.sort();
        have.sort();
        have.dedup();
        if want != have {
            return outcome(false, format!("expected rules {}, got {} ({said})", listed(&want), listed(&have)));
        }
    }
    if let Some(want) = &case.message {
        if !message.contains(want.as_str()) {
            return outcome(false, format!("message does not contain `{want}`: {said}"));
        }
    }
    outcome(true, said)
}
