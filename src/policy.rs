//! Loads and checks policy files into the form [`crate::decide`] evaluates.
//!
//! A policy is TOML with a `version` key and `[[rule]]` tables, each with an `id` and either `allow`
//! or `deny`: a list of operation names or globs (`containers.*`, `*`). Several files may make up one
//! policy; rule ids are unique across them. Loading reports every problem with `file:line:col`,
//! rejects unknown keys, and suggests the closest operation for a misspelt one. This module does not
//! evaluate requests.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::classify::Operation;

/// The read-only policy used when none is given: `policies/read-only.toml`, built in.
pub const BUILTIN_READ_ONLY: &str = include_str!("../policies/read-only.toml");

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
}

/// A checked policy: its rules, and for each operation the rules that name it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
    /// Indexed by [`Operation::index`]: the rules whose patterns match that operation.
    by_operation: Vec<Vec<usize>>,
}

impl Policy {
    /// The rules whose operation patterns match `operation`.
    pub fn rules_for(&self, operation: Operation) -> impl Iterator<Item = &Rule> {
        self.by_operation
            .get(operation.index())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.rules.get(i))
    }

    /// Loads and checks one policy made of the given files.
    pub fn load(paths: &[PathBuf]) -> Result<Policy, PolicyErrors> {
        let mut sources = Vec::new();
        let mut errors = PolicyErrors::default();
        for path in paths {
            match read_bounded(path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(path.display().to_string(), None, e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let name = paths.first().and_then(|p| p.file_stem()).map_or_else(
            || "policy".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Policy::from_sources(&name, &sources)
    }

    /// The built-in read-only policy.
    pub fn builtin_read_only() -> Result<Policy, PolicyErrors> {
        Policy::from_sources(
            "read-only",
            &[(
                "<built-in read-only>".to_string(),
                BUILTIN_READ_ONLY.to_string(),
            )],
        )
    }

    /// Checks a policy from `(file name, text)` pairs.
    pub fn from_sources(
        default_name: &str,
        sources: &[(String, String)],
    ) -> Result<Policy, PolicyErrors> {
        let mut errors = PolicyErrors::default();
        let mut rules: Vec<Rule> = Vec::new();
        let mut name: Option<String> = None;
        let mut seen_ids: Vec<(String, String)> = Vec::new();
        for (file, text) in sources {
            let raw: RawPolicy = match toml::from_str(text) {
                Ok(raw) => raw,
                Err(e) => {
                    errors.push(
                        file.clone(),
                        e.span().map(|s| position(text, s.start)),
                        clean_toml_message(e.message()),
                    );
                    continue;
                }
            };
            let at = |span: std::ops::Range<usize>| Some(position(text, span.start));
            if *raw.version.get_ref() != 1 {
                errors.push(
                    file.clone(),
                    at(raw.version.span()),
                    format!(
                        "unsupported policy version `{}`, expected `1`",
                        raw.version.get_ref()
                    ),
                );
            }
            if let Some(n) = raw.name {
                name.get_or_insert(n);
            }
            for rule in raw.rule {
                let id = rule.id.get_ref().clone();
                if let Some((_, other)) = seen_ids.iter().find(|(seen, _)| *seen == id) {
                    errors.push(
                        file.clone(),
                        at(rule.id.span()),
                        format!("rule id `{id}` is already used in {other}"),
                    );
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
                for pattern in &patterns {
                    if let Err(message) = check_pattern(pattern.get_ref()) {
                        errors.push(file.clone(), at(pattern.span()), message);
                    }
                }
                rules.push(Rule {
                    id,
                    effect,
                    patterns: patterns.into_iter().map(Spanned::into_inner).collect(),
                });
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
            name: name.unwrap_or_else(|| default_name.to_string()),
            rules,
            by_operation,
        })
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
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    allow: Option<Vec<Spanned<String>>>,
    deny: Option<Vec<Spanned<String>>>,
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read policy: {e}"))?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(format!(
            "policy file is larger than {MAX_POLICY_BYTES} bytes"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read policy: {e}"))
}

/// An operation pattern must name at least one operation.
fn check_pattern(pattern: &str) -> Result<(), String> {
    if Operation::all().any(|op| glob_match(pattern, op.name())) {
        return Ok(());
    }
    let names: Vec<&str> = Operation::all().map(Operation::name).collect();
    match closest(pattern, &names) {
        Some(best) => Err(format!(
            "unknown operation `{pattern}`, did you mean `{best}`?"
        )),
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
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn clean_toml_message(message: &str) -> String {
    message.trim().trim_end_matches('.').replace('\n', " ")
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
    fn push(&mut self, file: String, position: Option<(usize, usize)>, message: impl Into<String>) {
        self.0.push(PolicyError {
            file,
            position,
            message: message.into(),
        });
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
        Policy::from_sources("t", &[("p.toml".to_string(), text.to_string())])
            .map_err(|e| e.to_string())
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
    fn builtin_read_only_loads() {
        let policy = Policy::builtin_read_only().map_err(|e| e.to_string());
        assert!(policy.is_ok(), "{policy:?}");
    }

    #[test]
    fn reports_every_error_with_position() {
        let err = check(
            "version = 1\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", \"imagess.*\"]\n",
        )
        .err()
        .unwrap_or_default();
        assert!(
            err.contains(
                "p.toml:4:10: unknown operation `containers.lst`, did you mean `containers.list`?"
            ),
            "{err}"
        );
        assert!(
            err.contains("p.toml:4:28: unknown operation `imagess.*`"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_shapes() {
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nalow = [\"*\"]\n")
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("p.toml:4:1: unknown field `alow`"), "{err}");
        let err = check("version = 2\n").err().unwrap_or_default();
        assert!(
            err.contains("p.toml:1:11: unsupported policy version `2`"),
            "{err}"
        );
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\ndeny = [\"*\"]\n")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("needs exactly one of `allow` or `deny`"),
            "{err}"
        );
        let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\n[[rule]]\nid = \"a\"\ndeny = [\"*\"]\n").err().unwrap_or_default();
        assert!(
            err.contains("p.toml:6:6: rule id `a` is already used"),
            "{err}"
        );
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
