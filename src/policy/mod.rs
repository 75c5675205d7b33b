//! Loads and checks policy files into the form [`crate::decide`] evaluates.
//!
//! A policy is TOML with a `version` key, `[[rule]]` tables and an optional `[containers]` table
//! of constraints (see [`constraints`]). A rule has an `id` and either `allow` or `deny`: operation
//! names, globs (`containers.*`, `*`) or `@group` names from `[groups]`; `methods` and `paths`
//! (regular expressions over the unversioned, decoded path) narrow it. Several files may make up one
//! policy; rule ids are unique across them. Loading reports every problem with `file:line:col`,
//! rejects unknown keys with a suggestion, and suggests the closest operation for a misspelt one.
//! This module does not evaluate requests.

pub mod cases;
pub mod compat;
pub mod constraints;
pub mod keys;
pub mod ownership;
mod scan;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::classify::Operation;
pub use constraints::Constraints;
use constraints::RawConstraints;

/// The read-only policy used when none is given: `policies/read-only.toml`, built in.
pub const BUILTIN_READ_ONLY: &str = include_str!("../../policies/read-only.toml");

/// The shipped policies, built in so they travel with the binary: `--policy builtin:NAME`.
pub const BUILTINS: &[(&str, &str)] = &[
    ("ci", include_str!("../../policies/ci.toml")),
    ("full-access", include_str!("../../policies/full-access.toml")),
    ("read-only", BUILTIN_READ_ONLY),
    ("watchtower", include_str!("../../policies/watchtower.toml")),
];

/// How a built-in policy is named where a policy file could be.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The text of the built-in policy `path` names (`builtin:ci`), if it names one; an error for
/// an unknown name, listing the known ones.
fn builtin_source(path: &Path) -> Option<Result<&'static str, String>> {
    let name = path.to_str()?.strip_prefix(BUILTIN_PREFIX)?;
    Some(BUILTINS.iter().find(|(known, _)| *known == name).map(|(_, text)| *text).ok_or_else(|| {
        let known: Vec<String> = BUILTINS.iter().map(|(n, _)| format!("{BUILTIN_PREFIX}{n}")).collect();
        format!("unknown built-in policy `{name}`: the built-in policies are {}", known.join(", "))
    }))
}

/// The largest policy file sockgate reads.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Whether a rule lets matching requests through or stops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One rule, checked and ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub effect: Effect,
    /// The patterns as written, for explanations.
    pub patterns: Vec<String>,
    /// Methods the rule is limited to, if any.
    pub methods: Option<Vec<String>>,
    /// Path expressions the rule is limited to, if any; one must match.
    pub paths: Option<Vec<Regex>>,
}

impl Rule {
    /// Whether the rule's method and path conditions hold for a request.
    pub fn applies(&self, method: &str, path: &str) -> bool {
        self.methods.as_ref().is_none_or(|m| m.iter().any(|m| m == method))
            && self.paths.as_ref().is_none_or(|p| p.iter().any(|re| re.is_match(path)))
    }
}

/// A checked policy: its rules, its constraints, and for each operation the rules that name it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
    pub constraints: Constraints,
    /// Indexed by [`Operation::index`]: the rules whose patterns match that operation.
    by_operation: Vec<Vec<usize>>,
    /// Container names and labels that other profiles of the same listener match on, which a
    /// caller under this policy may not give a container (see [`crate::profile`]).
    pub reserved: Vec<Reservation>,
    /// Whose objects its callers reach, when ownership is on (see [`ownership`]).
    pub ownership: Option<ownership::Ownership>,
    /// Indexed by [`Operation::index`]: what would allow that operation, when the policy was made
    /// from settings other than its own text (`INFO=1 would allow it`).
    hints: Vec<Option<String>>,
}

/// A container name glob or label that a profile matches callers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub profile: String,
    /// A glob over container names.
    pub name: Option<String>,
    /// `key=value`, or `key` for any value.
    pub label: Option<String>,
}

impl Reservation {
    /// Whether a container with `labels` (`key=value` each) would carry the reserved label.
    pub fn holds_label<'a>(&self, mut labels: impl Iterator<Item = &'a str>) -> bool {
        let Some(reserved) = &self.label else { return false };
        labels.any(|label| {
            let (key, value) = label.split_once('=').unwrap_or((label, ""));
            match reserved.split_once('=') {
                Some((k, v)) => k == key && v == value,
                None => reserved == key,
            }
        })
    }

    /// Whether a container called `name` would carry the reserved name.
    pub fn holds_name(&self, name: &str) -> bool {
        self.name.as_ref().is_some_and(|glob| glob_match(glob, name.trim_start_matches('/')))
    }
}

impl Policy {
    /// The rules whose operation patterns match `operation`.
    pub fn rules_for(&self, operation: Operation) -> impl Iterator<Item = &Rule> {
        self.by_operation.get(operation.index()).into_iter().flatten().filter_map(|&i| self.rules.get(i))
    }

    /// The policy with, for each operation it does not allow, the setting that would.
    pub fn with_hints(mut self, hint: impl Fn(Operation) -> Option<String>) -> Policy {
        self.hints = Operation::all().map(hint).collect();
        self
    }

    /// What would allow `operation`, if the policy knows.
    pub fn hint(&self, operation: Operation) -> Option<&str> {
        self.hints.get(operation.index()).and_then(Option::as_deref)
    }

    /// Loads and checks one policy made of the given files; `builtin:NAME` is a built-in policy.
    pub fn load(paths: &[PathBuf]) -> Result<Policy, PolicyErrors> {
        let mut sources = Vec::new();
        let mut errors = PolicyErrors::default();
        for path in paths {
            let text = match builtin_source(path) {
                Some(builtin) => builtin.map(str::to_string),
                None => read_bounded(path),
            };
            match text {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(path.display().to_string(), None, e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let name = paths.first().map_or_else(
            || "policy".to_string(),
            |p| match p.to_str().and_then(|p| p.strip_prefix(BUILTIN_PREFIX)) {
                Some(builtin) => builtin.to_string(),
                None => p.file_stem().map_or_else(|| "policy".to_string(), |s| s.to_string_lossy().into_owned()),
            },
        );
        Policy::from_sources(&name, &sources)
    }

    /// The built-in read-only policy.
    pub fn builtin_read_only() -> Result<Policy, PolicyErrors> {
        Policy::from_sources("read-only", &[("<built-in read-only>".to_string(), BUILTIN_READ_ONLY.to_string())])
    }

    /// Checks a policy from `(file name, text)` pairs.
    pub fn from_sources(default_name: &str, sources: &[(String, String)]) -> Result<Policy, PolicyErrors> {
        let mut errors = PolicyErrors::default();
        let mut name: Option<String> = None;
        let mut parsed = Vec::new();
        for (file, text) in sources {
            match toml::from_str::<RawPolicy>(text) {
                Ok(raw) => parsed.push((file, text, raw)),
                Err(e) => {
                    let mut found = PolicyErrors::default();
                    report_toml_error(&mut found, file, text, &e, POLICY_SHAPE);
                    // The deserializer stops at its first error: read on for the others.
                    let reported = e.span().map(|s| position(text, s.start));
                    for (offset, message) in scan::problems(text) {
                        let at = position(text, offset);
                        if Some(at) != reported {
                            found.push(file.clone(), Some(at), message);
                        }
                    }
                    found.0.sort_by_key(|e| e.position);
                    errors.0.extend(found.0);
                }
            }
        }
        // Groups first: a rule in one file may name a group from another.
        let mut groups: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for (file, text, raw) in &parsed {
            for (group, members) in &raw.groups {
                if let Some((other, _)) = groups.get(group) {
                    errors.push((*file).clone(), None, format!("group `{group}` is already defined in {other}"));
                }
                for member in members {
                    if let Err(message) = check_pattern(member.get_ref(), &BTreeMap::new()) {
                        errors.push((*file).clone(), Some(position(text, member.span().start)), message);
                    }
                }
                let members = members.iter().map(|m| m.get_ref().clone()).collect();
                groups.insert(group.clone(), ((*file).clone(), members));
            }
        }
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen_ids: Vec<(String, String)> = Vec::new();
        let mut constraints: Option<(String, Constraints)> = None;
        let mut ownership: Option<(String, ownership::Ownership)> = None;
        for (file, text, raw) in parsed {
            let at = |span: std::ops::Range<usize>| Some(position(text, span.start));
            if *raw.version.get_ref() != 1 {
                errors.push(
                    file.clone(),
                    at(raw.version.span()),
                    format!("unsupported policy version `{}`, expected `1`", raw.version.get_ref()),
                );
            }
            if let Some(n) = raw.name {
                name.get_or_insert(n);
            }
            if let Some(table) = raw.containers {
                match table.check() {
                    Ok(checked) => {
                        if let Some((other, _)) = &constraints {
                            errors.push(file.clone(), None, format!("`[containers]` is already given in {other}"));
                        }
                        constraints = Some((file.clone(), checked));
                    }
                    Err(problems) => {
                        for (offset, message) in problems {
                            errors.push(file.clone(), Some(position(text, offset)), message);
                        }
                    }
                }
            }
            if let Some(table) = raw.ownership {
                if let Some((other, _)) = &ownership {
                    errors.push(file.clone(), None, format!("`[ownership]` is already given in {other}"));
                }
                let owner = table.owner.as_ref().map_or("identity", |o| o.get_ref().as_str());
                let label = table.label.as_ref().map_or(ownership::DEFAULT_LABEL, |l| l.get_ref().as_str());
                match ownership::Ownership::new(owner, label) {
                    Ok(checked) => ownership = Some((file.clone(), checked)),
                    Err(message) => {
                        let offset = table.owner.as_ref().map_or(0, |o| o.span().start);
                        errors.push(file.clone(), Some(position(text, offset)), message);
                    }
                }
            }
            for rule in raw.rule {
                let id = rule.id.get_ref().clone();
                if let Some((_, other)) = seen_ids.iter().find(|(seen, _)| *seen == id) {
                    errors.push(file.clone(), at(rule.id.span()), format!("rule id `{id}` is already used in {other}"));
                }
                seen_ids.push((id.clone(), file.clone()));
                let (effect, patterns) = match (rule.allow, rule.deny) {
                    (Some(allow), None) => (Effect::Allow, allow),
                    (None, Some(deny)) => (Effect::Deny, deny),
                    _ => {
                        errors.push(
                            file.clone(),
                            at(rule.id.span()),
                            format!("rule `{id}` needs exactly one of `allow` or `deny`"),
                        );
                        continue;
                    }
                };
                let group_members: BTreeMap<String, Vec<String>> =
                    groups.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
                for pattern in &patterns {
                    if let Err(message) = check_pattern(pattern.get_ref(), &group_members) {
                        errors.push(file.clone(), at(pattern.span()), message);
                    }
                }
                let methods = rule.methods.map(|methods| {
                    methods
                        .into_iter()
                        .map(|m| {
                            if !m.get_ref().bytes().all(|b| b.is_ascii_uppercase()) {
                                errors.push(file.clone(), at(m.span()), format!("method `{}` must be upper case, as the engine matches methods case-sensitively", m.get_ref()));
                            }
                            m.into_inner()
                        })
                        .collect()
                });
                let paths = rule.paths.map(|paths| {
                    paths
                        .into_iter()
                        .filter_map(|p| match Regex::new(p.get_ref()) {
                            Ok(re) => Some(re),
                            Err(e) => {
                                errors.push(
                                    file.clone(),
                                    at(p.span()),
                                    format!(
                                        "invalid path expression `{}`: {}",
                                        p.get_ref(),
                                        first_line(&e.to_string())
                                    ),
                                );
                                None
                            }
                        })
                        .collect()
                });
                let expanded = patterns
                    .into_iter()
                    .map(Spanned::into_inner)
                    .flat_map(|p| match p.strip_prefix('@') {
                        Some(group) => group_members.get(group).cloned().unwrap_or_default(),
                        None => vec![p],
                    })
                    .collect();
                rules.push(Rule { id, effect, patterns: expanded, methods, paths });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let by_operation = Operation::all()
            .map(|op| {
                rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.patterns.iter().any(|p| glob_match(p, op.name())))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        Ok(Policy {
            reserved: Vec::new(),
            name: name.unwrap_or_else(|| default_name.to_string()),
            rules,
            constraints: constraints.map(|(_, c)| c).unwrap_or_default(),
            ownership: ownership.map(|(_, o)| o),
            by_operation,
            hints: Vec::new(),
        })
    }
}

/// Every key a policy file may hold.
const POLICY_SHAPE: &[(&str, keys::Shape)] = &[
    ("version", keys::Shape::Value),
    ("name", keys::Shape::Value),
    ("description", keys::Shape::Value),
    ("groups", keys::Shape::Names),
    (
        "rule",
        keys::Shape::Tables(&[
            ("id", keys::Shape::Value),
            ("description", keys::Shape::Value),
            ("allow", keys::Shape::Value),
            ("deny", keys::Shape::Value),
            ("methods", keys::Shape::Value),
            ("paths", keys::Shape::Value),
        ]),
    ),
    ("containers", keys::Shape::Table(constraints::KEYS)),
    ("ownership", keys::Shape::Table(&[("owner", keys::Shape::Value), ("label", keys::Shape::Value)])),
];

/// Reports a file that did not deserialize: every unknown key in it (the usual cause, and there
/// may be several), and the deserializer's own error when it is about something else.
pub(crate) fn report_toml_error(
    errors: &mut PolicyErrors,
    file: &str,
    text: &str,
    error: &toml::de::Error,
    shape: &'static [(&'static str, keys::Shape)],
) {
    let unknown = keys::unknown(text, shape);
    let about_keys = error.message().starts_with("unknown field");
    if !about_keys || unknown.is_empty() {
        errors.push(file.to_string(), error.span().map(|s| position(text, s.start)), toml_message(error.message()));
    }
    for (offset, message) in unknown {
        errors.push(file.to_string(), Some(position(text, offset)), message);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    name: Option<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    rule: Vec<RawRule>,
    containers: Option<RawConstraints>,
    ownership: Option<RawOwnership>,
}

/// `[ownership]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwnership {
    owner: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    allow: Option<Vec<Spanned<String>>>,
    deny: Option<Vec<Spanned<String>>>,
    methods: Option<Vec<Spanned<String>>>,
    paths: Option<Vec<Spanned<String>>>,
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read policy: {e}"))?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(format!("policy file is larger than {MAX_POLICY_BYTES} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read policy: {e}"))
}

/// An operation pattern must name at least one operation; a `@group` must exist.
fn check_pattern(pattern: &str, groups: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    if let Some(group) = pattern.strip_prefix('@') {
        if groups.contains_key(group) {
            return Ok(());
        }
        let names: Vec<&str> = groups.keys().map(String::as_str).collect();
        return Err(match closest(group, &names) {
            Some(best) => format!("unknown group `@{group}`, did you mean `@{best}`?"),
            None => format!("unknown group `@{group}`"),
        });
    }
    if Operation::all().any(|op| glob_match(pattern, op.name())) {
        return Ok(());
    }
    let names: Vec<&str> = Operation::all().map(Operation::name).collect();
    match closest(pattern, &names) {
        Some(best) => Err(format!("unknown operation `{pattern}`, did you mean `{best}`?")),
        None => Err(format!("unknown operation `{pattern}`")),
    }
}

/// Matches `*` against any run of characters, dots included.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let Some((last, middle)) = parts.split_last() else {
        return true;
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `(line, column)`, both counted from 1, of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// toml's message on one line, with a suggestion for a misspelt key.
pub(crate) fn toml_message(message: &str) -> String {
    let message = message.trim().trim_end_matches('.').replace('\n', " ");
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((key, expected)) = rest.split_once('`') else {
        return message;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(key, &candidates) {
        Some(best) => format!("unknown key `{key}`, did you mean `{best}`?"),
        None => format!(
            "unknown key `{key}`, expected one of {}",
            candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// Every problem found in a policy, each with where it is.
#[derive(Debug, Default)]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// One problem in a policy file.
#[derive(Debug)]
pub struct PolicyError {
    pub file: String,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl PolicyErrors {
    pub(crate) fn push(&mut self, file: String, position: Option<(usize, usize)>, message: impl Into<String>) {
        self.0.push(PolicyError { file, position, message: message.into() });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Policy, String> {
        Policy::from_sources("t", &[("p.toml".to_string(), text.to_string())]).map_err(|e| e.to_string())
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "containers.create"));
        assert!(glob_match("containers.*", "containers.archive.get"));
        assert!(!glob_match("containers.*", "exec.create"));
        assert!(glob_match("*.list", "images.list"));
        assert!(glob_match("c*s.*t*", "containers.list"));
        assert!(glob_match("session", "session"));
        assert!(!glob_match("session", "sessions"));
    }

    #[test]
    fn every_builtin_loads_and_an_unknown_one_is_named() {
        for (name, _) in BUILTINS {
            let policy = Policy::load(&[PathBuf::from(format!("builtin:{name}"))]).map_err(|e| e.to_string());
            assert_eq!(policy.map(|p| p.name), Ok(name.to_string()));
        }
        let err = Policy::load(&[PathBuf::from("builtin:nope")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("unknown built-in policy `nope`") && err.contains("builtin:ci, builtin:full-access"),
            "{err}"
        );
    }

    #[test]
    fn a_type_error_does_not_hide_unknown_operations() {
        let text = "version = 1\nname = 3\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", 5]\n[[rule]]\nid = \"b\"\nallow = \"images.list\"\n";
        let err = check(text).err().unwrap_or_default();
        for wanted in [
            "p.toml:2:8: invalid type: integer `3`, expected a string",
            "p.toml:5:10: unknown operation `containers.lst`, did you mean `containers.list`?",
            "p.toml:5:28: `allow` must hold strings, not a number",
            "p.toml:8:9: `allow` must be a list of strings",
        ] {
            assert!(err.contains(wanted), "no `{wanted}` in:\n{err}");
        }
    }

    #[test]
    fn builtin_read_only_loads() {
        let policy = Policy::builtin_read_only().map_err(|e| e.to_string());
        assert!(policy.is_ok(), "{policy:?}");
    }

    #[test]
    fn reports_every_error_with_position() {
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", \"imagess.*\"]\n")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("p.toml:4:10: unknown operation `containers.lst`, did you mean `containers.list`?"),
            "{err}"
        );
        assert!(err.contains("p.toml:4:28: unknown operation `imagess.*`"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_shapes() {
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nalow = [\"*\"]\n").err().unwrap_or_default();
        assert!(err.starts_with("p.toml:4:1: unknown key `alow`, did you mean `allow`?"), "{err}");
        let err = check("version = 1\n[containers]\nprivilege = false\n").err().unwrap_or_default();
        assert!(err.starts_with("p.toml:3:1: unknown key `privilege`, did you mean `privileged`?"), "{err}");
        // Several misspellings are all reported at once.
        let err = check(
            "version = 1\n[[rule]]\nid = \"a\"\nalow = [\"*\"]\n[containers]\nprivilege = false\nhost_mount = []\n",
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("p.toml:4:1: unknown key `alow`"), "{err}");
        assert!(err.contains("p.toml:6:1: unknown key `privilege`"), "{err}");
        assert!(err.contains("p.toml:7:1: unknown key `host_mount`, did you mean `host_mounts`?"), "{err}");
        let err = check("version = 2\n").err().unwrap_or_default();
        assert!(err.contains("p.toml:1:11: unsupported policy version `2`"), "{err}");
        let err =
            check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\ndeny = [\"*\"]\n").err().unwrap_or_default();
        assert!(err.contains("needs exactly one of `allow` or `deny`"), "{err}");
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\n[[rule]]\nid = \"a\"\ndeny = [\"*\"]\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("p.toml:6:6: rule id `a` is already used"), "{err}");
    }

    #[test]
    fn indexes_rules_by_operation() {
        let policy = check("version = 1\n[[rule]]\nid = \"r\"\nallow = [\"containers.*\"]\n[[rule]]\nid = \"d\"\ndeny = [\"containers.create\"]\n");
        let policy = policy.unwrap_or_else(|e| unreachable!("{e}"));
        let ids = |name: &str| -> Vec<String> {
            Operation::from_name(name)
                .map(|op| policy.rules_for(op).map(|r| r.id.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(ids("containers.create"), ["r", "d"]);
        assert_eq!(ids("containers.list"), ["r"]);
        assert!(ids("exec.create").is_empty());
    }
}
