//! Evaluates a policy for one request into a [`Decision`].
//!
//! Evaluation does not depend on rule order and fails closed: a matching deny wins, no allow means
//! deny, and an allowed request is then held to the policy's `[containers]` constraints, each
//! finding of the inspection against the constraint it touches. A decision carries its reasons
//! (the rule or constraint ids, and the fields at fault); every client-facing message, log line and
//! metric label is rendered from it. This module does not load policies, read bodies or log.

use crate::classify::Operation;
use crate::glob;
use crate::inspect::{Finding, Kind};
use crate::naming::image;
use crate::policy::constraints::{self, under, Constraints};
use crate::policy::{Effect, Policy, Reservation};

mod mode;
mod outcome;
pub mod remedy;
pub use mode::Mode;
pub use outcome::Outcome;

/// What is judged of one request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub operation: Operation,
    pub method: &'a str,
    /// The normalized, unversioned path.
    pub path: &'a str,
    pub findings: &'a [Finding],
}

/// The outcome for one request, with the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub operation: Operation,
    pub allowed: bool,
    /// The rules that decided: the allowing rules, or the denying rules or constraints (as
    /// `containers.privileged`); empty when nothing allowed.
    pub rules: Vec<String>,
    /// What was at fault, one entry per violated constraint (`HostConfig.Privileged is true`).
    pub reasons: Vec<String>,
    /// The policy that was evaluated.
    pub policy: String,
    /// Who was judged, when known (a connection's identity; not for `policy explain`).
    pub client: Option<std::sync::Arc<str>>,
    /// What would allow a request no rule allows, when the policy knows (`INFO=1 would allow it`).
    pub hint: Option<String>,
}

impl Decision {
    /// The sentence a denied client sees, after `sockgate: `.
    pub fn denial_message(&self) -> String {
        let mut message = format!("{} {}", self.operation, self.reason());
        if let Some(client) = &self.client {
            message.push_str(&format!(" (client: {client})"));
        }
        message
    }

    /// Why the request was denied, as both the 403 and the audit line say it: the rule or policy,
    /// the fields at fault and the hint, without the operation or the client. Empty when allowed.
    pub fn reason(&self) -> String {
        if self.allowed {
            return String::new();
        }
        let by = match self.rules.as_slice() {
            [] => format!("denied by policy `{}`: no rule allows it", self.policy),
            [rule] => format!("denied by rule `{rule}`"),
            rules => format!("denied by rules {}", backticked(rules)),
        };
        let mut reason = if self.reasons.is_empty() { by } else { format!("{by}: {}", self.reasons.join("; ")) };
        if let Some(hint) = &self.hint {
            reason.push_str(&format!("; {hint}"));
        }
        reason
    }

    /// The rule ids joined for logs and labels.
    pub fn rule_list(&self) -> String {
        self.rules.join(",")
    }
}

fn backticked(items: &[String]) -> String {
    let mut unique: Vec<&String> = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// Decides one request.
pub fn decide(policy: &Policy, request: &Request<'_>) -> Decision {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for rule in policy.rules_for(request.operation).filter(|r| r.applies(request.method, request.path)) {
        match rule.effect {
            Effect::Allow => allow.push(rule.id.clone()),
            Effect::Deny => deny.push(rule.id.clone()),
        }
    }
    let decision = |allowed, rules, reasons| Decision {
        operation: request.operation,
        allowed,
        rules,
        reasons,
        policy: policy.name.clone(),
        client: None,
        hint: None,
    };
    if !deny.is_empty() {
        return decision(false, deny, Vec::new());
    }
    if allow.is_empty() {
        let hint = policy.hint(request.operation).map(str::to_string);
        return Decision { hint, ..decision(false, Vec::new(), Vec::new()) };
    }
    let mut rules = Vec::new();
    let mut reasons = Vec::new();
    let mut settings: Vec<String> = Vec::new();
    for finding in request.findings {
        if let Some(constraint) = violated(&policy.constraints, finding) {
            rules.push(format!("containers.{constraint}"));
            reasons.push(finding.to_string());
            let setting = remedy::setting(constraint, &finding.value);
            if !settings.contains(&setting) {
                settings.push(setting);
            }
        }
        if let Some(reservation) = reserved(&policy.reserved, finding) {
            rules.push("profiles.reserved".to_owned());
            let what = match finding.kind {
                Kind::Name => format!("the name `{}`", finding.value),
                _ => "a label".to_owned(),
            };
            reasons.push(format!(
                "{} gives the container {what} that profile `{}` matches callers on",
                finding.field, reservation.profile
            ));
        }
    }
    if rules.is_empty() {
        return decision(true, allow, Vec::new());
    }
    // A policy made of files says which key of which file would allow it.
    let hint = match (&policy.constraints_file, settings.is_empty()) {
        (Some(file), false) => Some(remedy::hint(&settings, file)),
        _ => None,
    };
    Decision { hint, ..decision(false, rules, reasons) }
}

/// The reservation of another profile that a name or label finding takes, if any.
fn reserved<'a>(reservations: &'a [Reservation], finding: &Finding) -> Option<&'a Reservation> {
    match finding.kind {
        Kind::Name => reservations.iter().find(|r| r.holds_name(&finding.value)),
        Kind::Labels => reservations.iter().find(|r| r.holds_label(finding.value.lines())),
        _ => None,
    }
}

/// The constraint a finding breaks, if any.
pub fn violated(c: &Constraints, finding: &Finding) -> Option<&'static str> {
    let value = finding.value.as_str();
    // A switch (`privileged = true`, ...) judges most kinds; the lists judge the rest.
    if let Some(key) = constraints::flag(finding.kind) {
        return (!c.flag(key)).then_some(key);
    }
    let broken = match finding.kind {
        Kind::HostMount { read_only } => {
            let outside = c.host_mounts.as_ref().is_some_and(|allowed| !allowed.iter().any(|p| under(value, p)));
            if outside {
                ("host_mounts", true)
            } else {
                ("host_mounts_read_only", c.host_mounts_read_only && !read_only)
            }
        }
        Kind::Capability => (
            "capabilities",
            c.capabilities.as_ref().is_some_and(|allowed| !allowed.iter().any(|a| a == value || a == "ALL")),
        ),
        Kind::Runtime => {
            ("runtimes", c.runtimes.as_ref().is_some_and(|allowed| !allowed.iter().any(|r| glob::matches(r, value))))
        }
        Kind::Image => {
            ("images", c.images.as_ref().is_some_and(|allowed| !allowed.iter().any(|p| image::matches(p, value))))
        }
        Kind::Driver(kind) => (kind.key(), !c.drivers(kind).iter().any(|d| d == value)),
        // The switches, judged above (a unit test holds `constraints::flag` to this list).
        Kind::Privileged
        | Kind::Device
        | Kind::Unconfined
        | Kind::Namespace
        | Kind::Sysctl
        | Kind::CgroupParent
        | Kind::VolumesFrom
        | Kind::ExecRoot
        | Kind::BuildHostNetwork => return None,
        // Judged against the profiles' reservations, not a constraint.
        Kind::Name | Kind::Labels => return None,
    };
    broken.1.then_some(broken.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::from_sources("test", &[("t.toml".into(), text.into())]).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn decide_op(policy: &Policy, op: &str, method: &str, path: &str, findings: &[Finding]) -> Decision {
        let operation = Operation::from_name(op).unwrap_or_else(|| unreachable!("{op}"));
        decide(policy, &Request { operation, method, path, findings })
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
        let p = policy(POLICY);
        let d = decide_op(&p, "containers.list", "GET", "/containers/json", &[]);
        assert!(d.allowed);
        assert_eq!(d.rules, ["containers"]);
        let d = decide_op(&p, "containers.create", "POST", "/containers/create", &[]);
        assert!(!d.allowed);
        assert_eq!(d.denial_message(), "containers.create denied by rule `no-create`");
        let d = decide_op(&p, "exec.create", "POST", "/containers/x/exec", &[]);
        assert!(!d.allowed);
        assert_eq!(d.denial_message(), "exec.create denied by policy `test`: no rule allows it");
    }

    #[test]
    fn order_does_not_matter() {
        let reversed = policy("version = 1\n[[rule]]\nid = \"no-create\"\ndeny = [\"containers.create\"]\n[[rule]]\nid = \"containers\"\nallow = [\"containers.*\"]\n");
        let p = policy(POLICY);
        for op in ["containers.list", "containers.create", "exec.create"] {
            assert_eq!(
                decide_op(&p, op, "GET", "/", &[]).allowed,
                decide_op(&reversed, op, "GET", "/", &[]).allowed,
                "{op}"
            );
        }
    }

    #[test]
    fn path_and_method_conditions_narrow_rules() {
        let p = policy(
            "version = 1\n[[rule]]\nid = \"web-only\"\nallow = [\"containers.inspect\"]\npaths = [\"^/containers/web-[a-z0-9]+/json$\"]\nmethods = [\"GET\"]\n",
        );
        assert!(decide_op(&p, "containers.inspect", "GET", "/containers/web-1/json", &[]).allowed);
        assert!(!decide_op(&p, "containers.inspect", "GET", "/containers/db/json", &[]).allowed);
    }

    #[test]
    fn groups_expand() {
        let p = policy("version = 1\n[groups]\nreaders = [\"containers.list\", \"images.*\"]\n[[rule]]\nid = \"r\"\nallow = [\"@readers\"]\n");
        assert!(decide_op(&p, "images.inspect", "GET", "/images/x/json", &[]).allowed);
        assert!(!decide_op(&p, "containers.create", "POST", "/containers/create", &[]).allowed);
    }

    fn finding(kind: Kind, value: &str) -> Finding {
        Finding { kind, field: "HostConfig.X".into(), value: value.into(), says: "is set".into() }
    }

    #[test]
    fn constraints_default_to_safe_and_name_the_field() {
        let p = policy("version = 1\n[[rule]]\nid = \"all\"\nallow = [\"*\"]\n");
        let d = decide_op(&p, "containers.create", "POST", "/containers/create", &[finding(Kind::Privileged, "true")]);
        assert!(!d.allowed);
        assert_eq!(
            d.denial_message(),
            "containers.create denied by rule `containers.privileged`: HostConfig.X is set; `privileged = true` under \
             [containers] in t.toml would allow it"
        );
        for (kind, value, allowed) in [
            (Kind::Capability, "NET_BIND_SERVICE", true),
            (Kind::Capability, "SYS_ADMIN", false),
            (Kind::HostMount { read_only: true }, "/etc", false),
            (Kind::Namespace, "host", false),
            (Kind::Runtime, "runc", true),
            (Kind::Runtime, "runsc", false),
            (Kind::ExecRoot, "root", true),
            (Kind::Image, "docker.io/library/alpine:latest", true),
        ] {
            let d = decide_op(&p, "containers.create", "POST", "/containers/create", &[finding(kind, value)]);
            assert_eq!(d.allowed, allowed, "{kind:?} {value}");
        }
    }

    #[test]
    fn constraints_as_configured() {
        let p = policy(
            r#"version = 1
[[rule]]
id = "all"
allow = ["*"]
[containers]
host_mounts = ["/srv/cache"]
host_mounts_read_only = true
capabilities = ["ALL"]
images = ["alpine:*", "registry.example.com/*"]
"#,
        );
        let check = |kind, value: &str| {
            decide_op(&p, "containers.create", "POST", "/containers/create", &[finding(kind, value)])
        };
        assert!(check(Kind::HostMount { read_only: true }, "/srv/cache/x").allowed);
        let d = check(Kind::HostMount { read_only: false }, "/srv/cache/x");
        assert_eq!(d.rules, ["containers.host_mounts_read_only"]);
        assert_eq!(check(Kind::HostMount { read_only: true }, "/srv/cache2").rules, ["containers.host_mounts"]);
        assert!(check(Kind::Capability, "SYS_ADMIN").allowed);
        assert!(check(Kind::Image, "docker.io/library/alpine:3.19").allowed);
        assert!(check(Kind::Image, "registry.example.com/team/app:1").allowed);
        assert_eq!(check(Kind::Image, "docker.io/library/ubuntu:latest").rules, ["containers.images"]);
        assert!(!check(Kind::Image, "id:76dba27166db").allowed);
    }
}
