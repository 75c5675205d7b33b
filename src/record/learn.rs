//! Learn mode: remembers what every client did and writes the smallest policy that allows exactly
//! that: the operations seen, and `[containers]` constraints opened only as far as the requests
//! needed (the host paths, capabilities, images and so on that appeared). It does not enforce.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::classify::Operation;
use crate::inspect::drivers::{check_driver_name, DriverKind};
use crate::inspect::{Finding, Kind};

/// What learn mode has seen so far.
#[derive(Debug, Default)]
struct Seen {
    /// Operation name, with the clients that used it.
    operations: BTreeMap<&'static str, BTreeSet<String>>,
    host_mounts: BTreeSet<String>,
    read_write_mount: bool,
    capabilities: BTreeSet<String>,
    runtimes: BTreeSet<String>,
    images: BTreeSet<String>,
    drivers: BTreeSet<(DriverKind, String)>,
    flags: BTreeSet<&'static str>,
}

/// A TOML basic string, escaped as TOML escapes (Rust's `{:?}` escapes differently, e.g. `\u{7f}`).
fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string().trim().to_owned()
}

/// Records requests and writes the learned policy to a file.
pub struct Learner {
    output: PathBuf,
    seen: Mutex<Seen>,
}

impl Learner {
    pub fn new(output: PathBuf) -> Learner {
        Learner { output, seen: Mutex::new(Seen::default()) }
    }

    /// Where the policy is written.
    pub fn output(&self) -> &PathBuf {
        &self.output
    }

    /// Remembers one request.
    pub fn observe(&self, client: &str, operation: Operation, findings: &[Finding]) {
        let Ok(mut seen) = self.seen.lock() else { return };
        seen.operations.entry(operation.name()).or_default().insert(client.to_string());
        for finding in findings {
            let flag = match finding.kind {
                Kind::Privileged => "privileged",
                Kind::HostMount { read_only } => {
                    seen.host_mounts.insert(finding.value.clone());
                    seen.read_write_mount |= !read_only;
                    continue;
                }
                Kind::Device => "devices",
                Kind::Capability => {
                    seen.capabilities.insert(finding.value.clone());
                    continue;
                }
                Kind::Unconfined => "unconfined",
                Kind::Namespace => "host_namespaces",
                Kind::Sysctl => "sysctls",
                Kind::Runtime => {
                    seen.runtimes.insert(finding.value.clone());
                    continue;
                }
                Kind::CgroupParent => "cgroup_parent",
                Kind::VolumesFrom => "volumes_from",
                Kind::ExecRoot => "exec_root",
                Kind::Image => {
                    seen.images.insert(finding.value.clone());
                    continue;
                }
                Kind::BuildHostNetwork => "build_host_network",
                Kind::Name | Kind::Labels => continue,
                Kind::Driver(kind) => {
                    seen.drivers.insert((kind, finding.value.clone()));
                    continue;
                }
            };
            seen.flags.insert(flag);
        }
    }

    /// The policy that allows exactly what was seen.
    pub fn policy_text(&self) -> String {
        let Ok(seen) = self.seen.lock() else { return String::new() };
        let mut out = String::from(
            "# Learned by `sockgate serve --mode learn`: it allows exactly what the clients below did.\n\
             # Review it before enforcing it.\nversion = 1\nname = \"learned\"\n\n[[rule]]\nid = \"learned\"\nallow = [\n",
        );
        for (operation, clients) in &seen.operations {
            let clients: Vec<&str> = clients.iter().map(String::as_str).collect();
            let _ = writeln!(out, "  \"{operation}\", # {}", clients.join("; ").replace('\n', " "));
        }
        out.push_str("]\n\n[containers]\n");
        for flag in [
            "privileged",
            "devices",
            "unconfined",
            "host_namespaces",
            "sysctls",
            "cgroup_parent",
            "volumes_from",
            "exec_root",
            "build_host_network",
        ] {
            let _ = writeln!(out, "{flag} = {}", seen.flags.contains(flag));
        }
        let list = |items: &BTreeSet<String>| items.iter().map(|i| toml_string(i)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "host_mounts = [{}]", list(&seen.host_mounts));
        let _ = writeln!(out, "host_mounts_read_only = {}", !seen.host_mounts.is_empty() && !seen.read_write_mount);
        let _ = writeln!(out, "capabilities = [{}]", list(&seen.capabilities));
        let mut runtimes = seen.runtimes.clone();
        runtimes.insert("runc".to_string());
        let _ = writeln!(out, "runtimes = [{}]", list(&runtimes));
        if !seen.images.is_empty() {
            let _ = writeln!(out, "images = [{}]", list(&seen.images));
        }
        let defaults = crate::policy::Constraints::default();
        for kind in [DriverKind::Volume, DriverKind::Network, DriverKind::Ipam, DriverKind::Log] {
            let mut names: BTreeSet<String> = defaults.drivers(kind).iter().cloned().collect();
            // A name no policy may list (a path, a namespaced plugin) stays out: it is refused anyway.
            let learned = seen.drivers.iter().filter(|(k, name)| *k == kind && check_driver_name(name).is_ok());
            names.extend(learned.map(|(_, name)| name.clone()));
            let _ = writeln!(out, "{} = [{}]", kind.key(), list(&names));
        }
        out
    }

    /// Writes the policy to the output file, atomically.
    pub fn write(&self) -> io::Result<()> {
        let text = self.policy_text();
        let temporary = self.output.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn op(name: &str) -> Operation {
        Operation::from_name(name).unwrap_or_else(|| unreachable!("{name}"))
    }

    #[test]
    fn strings_are_written_as_toml_reads_them() {
        for text in ["/srv/a b", "quote\"d", "back\\slash", "ctrl\u{7f}\u{1}", "é"] {
            let doc = format!("x = {}", toml_string(text));
            let parsed: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| unreachable!("{doc}: {e}"));
            assert_eq!(parsed.get("x").and_then(toml::Value::as_str), Some(text), "{doc}");
        }
    }

    #[test]
    fn writes_a_policy_that_loads_and_allows_only_what_was_seen() {
        let learner = Learner::new("/nonexistent".into());
        let image = Finding {
            kind: Kind::Image,
            field: "Image".into(),
            value: "docker.io/library/busybox:latest".into(),
            says: "is".into(),
        };
        learner.observe("uid=0", op("containers.create"), &[image]);
        learner.observe("uid=0", op("containers.list"), &[]);
        let text = learner.policy_text();
        let policy = Policy::from_sources("learned", &[("learned".into(), text.clone())]);
        let policy = policy.unwrap_or_else(|e| unreachable!("{e}\n{text}"));
        assert_eq!(policy.rules_for(op("containers.list")).count(), 1);
        assert_eq!(policy.rules_for(op("exec.create")).count(), 0);
        assert!(!policy.constraints.privileged);
        assert_eq!(policy.constraints.capabilities.as_deref(), Some(&[][..]));
        assert_eq!(policy.constraints.images.as_deref(), Some(&["docker.io/library/busybox:latest".to_string()][..]));
    }
}
