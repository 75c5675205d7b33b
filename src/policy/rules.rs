//! Checks one rule as written into a [`Rule`]: exactly one effect, patterns that name operations
//! or known `@group`s (expanded), upper-case methods, path expressions that compile. Every problem
//! is reported with its place; a rule with any problem is not built.

use std::collections::BTreeMap;
use std::ops::Range;

use regex::Regex;
use toml::Spanned;

use super::raw::RawRule;
use super::{Effect, Rule};
use crate::classify::Operation;
use crate::diagnostics::{closest, position, Problems};

/// The groups a policy defines, by name, with their members.
pub(super) type Groups = BTreeMap<String, Vec<String>>;

/// The rule `raw` describes, or `None` when it cannot be built (its problems are in `errors`;
/// a problem in a pattern, method or path is noted there and the rule is still returned, since
/// the policy as a whole is refused anyway).
pub(super) fn check_rule(raw: RawRule, groups: &Groups, file: &str, text: &str, errors: &mut Problems) -> Option<Rule> {
    let at = |span: Range<usize>| Some(position(text, span.start));
    let id = raw.id.get_ref().clone();
    let (effect, patterns) = match (raw.allow, raw.deny) {
        (Some(allow), None) => (Effect::Allow, allow),
        (None, Some(deny)) => (Effect::Deny, deny),
        _ => {
            errors.push(
                file.to_string(),
                at(raw.id.span()),
                format!("rule `{id}` needs exactly one of `allow` or `deny`"),
            );
            return None;
        }
    };
    for pattern in &patterns {
        if let Err(message) = check_pattern(pattern.get_ref(), groups) {
            errors.push(file.to_string(), at(pattern.span()), message);
        }
    }
    let methods = raw.methods.map(|methods| {
        methods
            .into_iter()
            .map(|m| {
                if !m.get_ref().bytes().all(|b| b.is_ascii_uppercase()) {
                    errors.push(
                        file.to_string(),
                        at(m.span()),
                        format!(
                            "method `{}` must be upper case, as the engine matches methods case-sensitively",
                            m.get_ref()
                        ),
                    );
                }
                m.into_inner()
            })
            .collect()
    });
    let paths = raw.paths.map(|paths| {
        paths
            .into_iter()
            .filter_map(|p| match Regex::new(p.get_ref()) {
                Ok(re) => Some(re),
                Err(e) => {
                    errors.push(
                        file.to_string(),
                        at(p.span()),
                        format!("invalid path expression `{}`: {}", p.get_ref(), first_line(&e.to_string())),
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
            Some(group) => groups.get(group).cloned().unwrap_or_default(),
            None => vec![p],
        })
        .collect();
    Some(Rule { id, effect, patterns: expanded, methods, paths })
}

/// An operation pattern must name at least one operation; a `@group` must exist.
pub(super) fn check_pattern(pattern: &str, groups: &Groups) -> Result<(), String> {
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
    if Operation::all().any(|op| crate::glob::matches(pattern, op.name())) {
        return Ok(());
    }
    let names: Vec<&str> = Operation::all().map(Operation::name).collect();
    match closest(pattern, &names) {
        Some(best) => Err(format!("unknown operation `{pattern}`, did you mean `{best}`?")),
        None => Err(format!("unknown operation `{pattern}`")),
    }
}

/// The last non-empty line of a regex error, which is the one that says what is wrong.
fn first_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}
