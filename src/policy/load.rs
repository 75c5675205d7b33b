//! Checks policy text into a [`Policy`]: every file parsed (and, when one does not deserialize,
//! read on for its other problems), groups gathered across files, rules checked ([`super::rules`]),
//! `[containers]` and `[ownership]` given at most once, rule ids unique, and the rules indexed by
//! operation. Every problem is reported with `file:line:col`. It reads no files.

use std::collections::BTreeMap;

use super::raw::{RawPolicy, POLICY_SHAPE};
use super::rules::{check_pattern, check_rule, Groups};
use super::{scan, Constraints, Policy, Rule};
use crate::classify::Operation;
use crate::diagnostics::{position, report_toml_error, Problems};

impl Policy {
    /// Checks a policy from `(file name, text)` pairs.
    pub fn from_sources(default_name: &str, sources: &[(String, String)]) -> Result<Policy, Problems> {
        let mut errors = Problems::default();
        let mut name: Option<String> = None;
        let mut parsed = Vec::new();
        for (file, text) in sources {
            match toml::from_str::<RawPolicy>(text) {
                Ok(raw) => parsed.push((file, text, raw)),
                Err(e) => errors.0.extend(unparsed(file, text, &e).0),
            }
        }
        let groups = gather_groups(&parsed, &mut errors);
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen_ids: Vec<(String, String)> = Vec::new();
        let mut constraints: Option<(String, Constraints)> = None;
        let mut ownership: Option<(String, crate::policy::ownership::Ownership)> = None;
        for (file, text, raw) in parsed {
            if *raw.version.get_ref() != 1 {
                errors.push(
                    file.clone(),
                    Some(position(text, raw.version.span().start)),
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
                let label =
                    table.label.as_ref().map_or(crate::policy::ownership::DEFAULT_LABEL, |l| l.get_ref().as_str());
                match crate::policy::ownership::Ownership::new(owner, label) {
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
                    let at = Some(position(text, rule.id.span().start));
                    errors.push(file.clone(), at, format!("rule id `{id}` is already used in {other}"));
                }
                seen_ids.push((id, file.clone()));
                rules.extend(check_rule(rule, &groups, file, text, &mut errors));
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
                    .filter(|(_, r)| r.patterns.iter().any(|p| crate::glob::matches(p, op.name())))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let constraints_file = match &constraints {
            Some((file, _)) => Some(file.clone()),
            None => sources.first().map(|(file, _)| file.clone()),
        };
        Ok(Policy {
            constraints_file: constraints_file.filter(|file| !file.starts_with('<')),
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

/// The problems of a file that did not deserialize. The deserializer stops at its first error,
/// so the file is read on for the others.
fn unparsed(file: &str, text: &str, error: &toml::de::Error) -> Problems {
    let mut found = Problems::default();
    report_toml_error(&mut found, file, text, error, POLICY_SHAPE);
    let reported = error.span().map(|s| position(text, s.start));
    for (offset, message) in scan::problems(text) {
        let at = position(text, offset);
        if Some(at) != reported {
            found.push(file.to_string(), Some(at), message);
        }
    }
    found.0.sort_by_key(|e| e.position);
    found
}

/// Every file's groups, first: a rule in one file may name a group from another.
fn gather_groups(parsed: &[(&String, &String, RawPolicy)], errors: &mut Problems) -> Groups {
    let mut groups: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (file, text, raw) in parsed {
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
    groups.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[cfg(test)]
mod tests;
