//! What the command-line tools report, as text and an exit status: `check-config`,
//! `policy check`, `policy explain` and `policy test`. The binary only prints a [`Report`] and
//! exits with its status; keeping the text here lets tests read it without starting a process.
//! It serves nothing and changes nothing.

use std::fmt::Write as _;
use std::path::Path;

use crate::address::ListenAddr;
use crate::cases::Outcome;
use crate::policy::Policy;

/// What a tool prints and how it exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// For standard output.
    pub out: String,
    /// For standard error.
    pub err: String,
    /// The exit status: 0 success, 1 failure, 2 a request the policy does not allow.
    pub status: u8,
}

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Checks a configuration file and everything it names that `serve` would fail on: policies,
/// socket groups, TLS files.
pub fn check_config(file: &Path) -> Report {
    let mut report = Report::default();
    let config = match crate::config::file::load(file) {
        Ok(config) => config,
        Err(errors) => {
            let _ = writeln!(report.err, "{errors}");
            report.status = 1;
            return report;
        }
    };
    let mut failed = false;
    match crate::profile::Profiles::load_all(&config.listeners) {
        Ok(loaded) => {
            for warning in crate::profile::warnings(&config.listeners, &loaded) {
                let _ = writeln!(report.err, "{}: warning: {warning}", file.display());
            }
        }
        Err(errors) => {
            let _ = writeln!(report.err, "{errors}");
            failed = true;
        }
    }
    for listener in &config.listeners {
        // `serve` resolves the group when it creates the socket: a name this host does not know
        // fails there, so it fails here.
        if let (ListenAddr::Unix(_), Some(group)) = (&listener.addr, &listener.socket_group) {
            if let Err(e) = crate::listen::resolve_group(group) {
                let _ = writeln!(report.err, "{}: listener `{}`: {e}", file.display(), listener.addr);
                failed = true;
            }
        }
    }
    for listener in &config.listeners {
        if let Some(tls) = &listener.tls {
            if let Err(e) = crate::tls::server_config(tls) {
                let _ = writeln!(report.err, "{}: listener `{}`: {e}", file.display(), listener.addr);
                failed = true;
            }
        }
    }
    if let Some(tls) = &config.upstream.tls {
        if let Err(e) = crate::tls::client_config(tls) {
            let _ = writeln!(report.err, "{}: upstream: {e}", file.display());
            failed = true;
        }
    }
    if failed {
        report.status = 1;
    } else {
        let _ = writeln!(report.out, "ok: {}", plural(config.listeners.len(), "listener"));
    }
    report
}

/// Checks policy files together, as one policy.
pub fn check_policy(files: &[std::path::PathBuf]) -> Report {
    let mut report = Report::default();
    match Policy::load(files) {
        Ok(policy) => {
            let _ = writeln!(report.out, "ok: policy `{}` with {}", policy.name, plural(policy.rules.len(), "rule"));
        }
        Err(errors) => {
            let _ = writeln!(report.err, "{errors}");
            report.status = 1;
        }
    }
    report
}

/// How `policy` decides one request, and why.
pub fn explain(
    policy: &Policy,
    method: &http::Method,
    uri: &http::Uri,
    content_type: Option<&[u8]>,
    body: Option<&[u8]>,
) -> Report {
    let mut report = Report::default();
    let out = &mut report.out;
    match crate::gateway::explain(policy, method, uri, content_type, body) {
        Ok(judgement) => {
            let _ = writeln!(out, "{judgement}");
            if !judgement.decision.allowed {
                report.status = 2;
            }
        }
        Err(e) => {
            let _ = writeln!(out, "decision:  refuse ({})", e.status().as_u16());
            let _ = writeln!(out, "message:   sockgate: {e}");
            report.status = 2;
        }
    }
    report
}

/// The outcome of policy test cases, one line each and a count.
pub fn cases(outcomes: &[Outcome]) -> Report {
    let mut report = Report::default();
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for o in outcomes {
        let mark = if o.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(report.out, "{mark} {}: {}: {}", o.file.display(), o.name, o.detail);
    }
    let _ = writeln!(report.out, "{} passed, {failed} failed", outcomes.len() - failed);
    report.status = u8::from(failed != 0);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_an_allowed_and_a_denied_request() {
        let policy = Policy::builtin_read_only().unwrap_or_else(|e| unreachable!("{e}"));
        let get: http::Uri = "/v1.41/containers/json".parse().unwrap_or_else(|e| unreachable!("{e}"));
        let report = explain(&policy, &http::Method::GET, &get, None, None);
        assert_eq!(report.status, 0, "{report:?}");
        assert!(report.out.starts_with("operation: containers.list\n"), "{report:?}");
        let create: http::Uri = "/v1.41/containers/create".parse().unwrap_or_else(|e| unreachable!("{e}"));
        let report = explain(&policy, &http::Method::POST, &create, Some(b"application/json"), Some(b"{}"));
        assert_eq!(report.status, 2, "{report:?}");
        assert!(report.out.contains("decision:  deny\n"), "{report:?}");
    }

    #[test]
    fn counts() {
        assert_eq!(plural(1, "rule"), "1 rule");
        assert_eq!(plural(3, "listener"), "3 listeners");
    }
}
