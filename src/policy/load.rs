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
        let mut ownership: Option<(String, crate::tenancy::Ownership)> = None;
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
                let label = table.label.as_ref().map_or(crate::tenancy::DEFAULT_LABEL, |l| l.get_ref().as_str());
                match crate::tenancy::Ownership::new(owner, label) {
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
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Policy, String> {
        Policy::from_sources("t", &[("p.toml".to_string(), text.to_string())]).map_err(|e| e.to_string())
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
