//! Learn mode: remembers what every client did and writes the smallest policy that allows exactly
//! that: the operations seen, and `[containers]` constraints opened only as far as the requests
//! needed (the host paths, capabilities, images and so on that appeared). Its output file is
//! checked when learning starts, not when the result is due. It does not enforce.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::classify::Operation;
use crate::inspect::{Finding, Kind};
use crate::naming::{check_driver_name, DriverKind};
use crate::policy::constraints::{flag, FLAGS};

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

/// Why the learned policy cannot be written where it should go.
#[derive(Debug, thiserror::Error)]
#[error(
    "learn mode cannot write its policy to `{}`: {source}; pass --learn-output (`learn_output` in a \
     configuration file) with a path in a writable directory",
    path.display()
)]
pub struct LearnError {
    path: PathBuf,
    source: io::Error,
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

    /// A learner whose output can be written: a file is created and removed where the policy
    /// will be written (as `write` does), so that a read-only or missing directory stops the start
    /// instead of losing what was learnt at exit.
    pub fn open(output: PathBuf) -> Result<Learner, LearnError> {
        let probe = temporary(&output);
        let created = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&probe);
        if let Err(source) = created.and_then(|_| std::fs::remove_file(&probe)) {
            return Err(LearnError { path: shown(&output), source });
        }
        if output.is_dir() {
            let source = io::Error::other("it is a directory");
            return Err(LearnError { path: shown(&output), source });
        }
        Ok(Learner::new(output))
    }

    /// Where the policy is written.
    pub fn output(&self) -> &PathBuf {
        &self.output
    }

    /// Remembers one request.
    pub fn observe(&self, client: &str, operation: Operation, findings: &[Finding]) {
        let mut seen = self.seen.lock();
        // A process id names one run of a client, not the client: each would be a line of its own
        // in the policy's comments, and none would mean anything once the process is gone.
        let client: Vec<&str> = client.split(' ').filter(|word| !word.starts_with("pid=")).collect();
        seen.operations.entry(operation.name()).or_default().insert(client.join(" "));
        for finding in findings {
            if let Some(flag) = flag(finding.kind) {
                seen.flags.insert(flag);
                continue;
            }
            match finding.kind {
                Kind::HostMount { read_only } => {
                    seen.host_mounts.insert(finding.value.clone());
                    seen.read_write_mount |= !read_only;
                }
                Kind::Capability => {
                    seen.capabilities.insert(finding.value.clone());
                }
                Kind::Runtime => {
                    seen.runtimes.insert(finding.value.clone());
                }
                Kind::Image => {
                    seen.images.insert(finding.value.clone());
                }
                Kind::Driver(kind) => {
                    seen.drivers.insert((kind, finding.value.clone()));
                }
                // Switches are noted above; names and labels are judged by reservations.
                Kind::Privileged
                | Kind::Device
                | Kind::Unconfined
                | Kind::Namespace
                | Kind::Sysctl
                | Kind::CgroupParent
                | Kind::VolumesFrom
                | Kind::ExecRoot
                | Kind::BuildHostNetwork
                | Kind::Name
                | Kind::Labels => {}
            }
        }
    }

    /// The policy that allows exactly what was seen.
    pub fn policy_text(&self) -> String {
        let seen = self.seen.lock();
        let mut out = String::from(
            "# Learned by `sockgate serve --mode learn`: it allows exactly what the clients below did.\n\
             # Review it before enforcing it.\nversion = 1\nname = \"learned\"\n\n[[rule]]\nid = \"learned\"\nallow = [\n",
        );
        for (operation, clients) in &seen.operations {
            let clients: Vec<&str> = clients.iter().map(String::as_str).collect();
            let _ = writeln!(out, "  \"{operation}\", # {}", clients.join("; ").replace('\n', " "));
        }
        out.push_str("]\n\n[containers]\n");
        for flag in FLAGS {
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
    pub fn write(&self) -> Result<(), LearnError> {
        let text = self.policy_text();
        let temporary = temporary(&self.output);
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &self.output))
            .map_err(|source| LearnError { path: shown(&self.output), source })
    }
}

/// The file the policy is written to before it is renamed into place.
fn temporary(output: &Path) -> PathBuf {
    output.with_extension("tmp")
}

/// The output as the error shows it: absolute, since a relative path is relative to a working
/// directory the user may not know (`/` in the image).
fn shown(output: &Path) -> PathBuf {
    std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf())
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
    fn an_output_that_cannot_be_written_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(Learner::open(dir.path().join("learned.toml")).is_ok());
        assert_eq!(std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(1), 0, "the probe stayed");
        let missing = Learner::open(dir.path().join("no/such/dir/learned.toml")).err();
        let message = missing.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("no/such/dir/learned.toml") && message.contains("--learn-output"), "{message}");
        assert!(Learner::open(dir.path().to_path_buf()).is_err());
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
        learner.observe("uid=0 gid=0 pid=4242 via unix:///s", op("containers.create"), &[image]);
        learner.observe("uid=0", op("containers.list"), &[]);
        let text = learner.policy_text();
        assert!(
            text.contains("\"containers.create\", # uid=0 gid=0 via unix:///s") && !text.contains("4242"),
            "{text}"
        );
        let policy = Policy::from_sources("learned", &[("learned".into(), text.clone())]);
        let policy = policy.unwrap_or_else(|e| unreachable!("{e}\n{text}"));
        assert_eq!(policy.rules_for(op("containers.list")).count(), 1);
        assert_eq!(policy.rules_for(op("exec.create")).count(), 0);
        assert!(!policy.constraints.privileged);
        assert_eq!(policy.constraints.capabilities.as_deref(), Some(&[][..]));
        assert_eq!(policy.constraints.images.as_deref(), Some(&["docker.io/library/busybox:latest".to_string()][..]));
    }
}
