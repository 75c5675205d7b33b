//! The policy model: what [`crate::decide`] evaluates. A policy is a set of rules (an `id`, an
//! effect, operation patterns, optional `methods` and `paths`), the `[containers]` constraints
//! ([`constraints`]), the ownership it is under, and for each operation the rules that name it.
//! Loading and checking policy text is `load`'s job; the built-in policies are in [`builtin`];
//! test cases run through the gateway live in [`crate::cases`]. This module does not evaluate
//! requests and does no I/O beyond reading the named policy files.

pub mod builtin;
pub mod compat;
pub mod constraints;
mod load;
pub mod ownership;
mod raw;
mod rules;
mod scan;

use regex::Regex;

use crate::classify::Operation;
pub use builtin::{BUILTINS, BUILTIN_PREFIX, BUILTIN_READ_ONLY, MAX_POLICY_BYTES};
pub use constraints::Constraints;

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
    /// The file whose `[containers]` table applies, or, with none, the first file of the policy
    /// (where one would be written); none for a policy not made of files (`<docker-socket-proxy>`).
    pub constraints_file: Option<String>,
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
        self.name.as_ref().is_some_and(|glob| crate::glob::matches(glob, name.trim_start_matches('/')))
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
}
