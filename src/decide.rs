//! Evaluates a policy for one classified request into a [`Decision`].
//!
//! Evaluation does not depend on rule order and fails closed: a matching deny wins, no allow means
//! deny. A decision carries its reasons (the rule ids that decided), and every client-facing message,
//! log line and metric label is rendered from it. This module does not load policies or log.

use crate::classify::{Classified, Operation};
use crate::policy::{Effect, Policy};

/// The outcome for one request, with the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub operation: Operation,
    pub allowed: bool,
    /// The rules that decided: the allowing rules, or the denying rules; empty when nothing allowed.
    pub rules: Vec<String>,
    /// The policy that was evaluated.
    pub policy: String,
}

impl Decision {
    /// The sentence a denied client sees, after `sockgate: `.
    pub fn denial_message(&self) -> String {
        match self.rules.as_slice() {
            [] => format!(
                "{} denied by policy `{}`: no rule allows it",
                self.operation, self.policy
            ),
            [rule] => format!("{} denied by rule `{rule}`", self.operation),
            rules => format!("{} denied by rules {}", self.operation, backticked(rules)),
        }
    }

    /// The rule ids joined for logs and labels.
    pub fn rule_list(&self) -> String {
        self.rules.join(",")
    }
}

fn backticked(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides one request.
pub fn decide(policy: &Policy, request: &Classified) -> Decision {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for rule in policy.rules_for(request.operation) {
        match rule.effect {
            Effect::Allow => allow.push(rule.id.clone()),
            Effect::Deny => deny.push(rule.id.clone()),
        }
    }
    let allowed = deny.is_empty() && !allow.is_empty();
    Decision {
        operation: request.operation,
        allowed,
        rules: if deny.is_empty() { allow } else { deny },
        policy: policy.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_op(policy: &str, op: &str) -> Decision {
        let policy = Policy::from_sources("test", &[("t.toml".into(), policy.into())])
            .unwrap_or_else(|e| unreachable!("{e}"));
        let operation = Operation::from_name(op).unwrap_or_else(|| unreachable!("{op}"));
        decide(
            &policy,
            &Classified {
                operation,
                resource: None,
            },
        )
    }

    const POLICY: &str = r#"
version = 1
[[rule]]
id = "containers"
allow = ["containers.*"]
[[rule]]
id = "no-create"
deny = ["containers.create"]
"#;

    #[test]
    fn allow_needs_a_rule_and_deny_wins() {
        let d = decide_op(POLICY, "containers.list");
        assert!(d.allowed);
        assert_eq!(d.rules, ["containers"]);
        let d = decide_op(POLICY, "containers.create");
        assert!(!d.allowed);
        assert_eq!(
            d.denial_message(),
            "containers.create denied by rule `no-create`"
        );
        let d = decide_op(POLICY, "exec.create");
        assert!(!d.allowed);
        assert_eq!(
            d.denial_message(),
            "exec.create denied by policy `test`: no rule allows it"
        );
    }

    #[test]
    fn order_does_not_matter() {
        let reversed = "version = 1\n[[rule]]\nid = \"no-create\"\ndeny = [\"containers.create\"]\n[[rule]]\nid = \"containers\"\nallow = [\"containers.*\"]\n";
        for op in ["containers.list", "containers.create", "exec.create"] {
            assert_eq!(
                decide_op(POLICY, op).allowed,
                decide_op(reversed, op).allowed,
                "{op}"
            );
        }
    }
}
