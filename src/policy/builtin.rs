//! Where policy text comes from: the built-in policies that travel with the binary
//! (`builtin:NAME`) and policy files read from disk within [`MAX_POLICY_BYTES`]. It hands the text
//! to [`Policy::from_sources`]; it checks nothing itself.

use std::path::{Path, PathBuf};

use super::Policy;
use crate::diagnostics::Problems;

/// The read-only policy used when none is given: `policies/read-only.toml`, built in.
pub const BUILTIN_READ_ONLY: &str = include_str!("../../policies/read-only.toml");

/// The shipped policies, built in so they travel with the binary: `--policy builtin:NAME`.
pub const BUILTINS: &[(&str, &str)] = &[
    ("ci", include_str!("../../policies/ci.toml")),
    ("full-access", include_str!("../../policies/full-access.toml")),
    ("read-only", BUILTIN_READ_ONLY),
    ("watchtower", include_str!("../../policies/watchtower.toml")),
];

/// How a built-in policy is named where a policy file could be.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The largest policy file sockgate reads.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// The text of the built-in policy `path` names (`builtin:ci`), if it names one; an error for
/// an unknown name, listing the known ones.
fn builtin_source(path: &Path) -> Option<Result<&'static str, String>> {
    let name = path.to_str()?.strip_prefix(BUILTIN_PREFIX)?;
    Some(BUILTINS.iter().find(|(known, _)| *known == name).map(|(_, text)| *text).ok_or_else(|| {
        let known: Vec<String> = BUILTINS.iter().map(|(n, _)| format!("{BUILTIN_PREFIX}{n}")).collect();
        format!("unknown built-in policy `{name}`: the built-in policies are {}", known.join(", "))
    }))
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read policy: {e}"))?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(format!("policy file is larger than {MAX_POLICY_BYTES} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read policy: {e}"))
}

impl Policy {
    /// Loads and checks one policy made of the given files; `builtin:NAME` is a built-in policy.
    pub fn load(paths: &[PathBuf]) -> Result<Policy, Problems> {
        let mut sources = Vec::new();
        let mut errors = Problems::default();
        for path in paths {
            let text = match builtin_source(path) {
                Some(builtin) => builtin.map(str::to_string),
                None => read_bounded(path),
            };
            match text {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(path.display().to_string(), None, e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let name = paths.first().map_or_else(
            || "policy".to_string(),
            |p| match p.to_str().and_then(|p| p.strip_prefix(BUILTIN_PREFIX)) {
                Some(builtin) => builtin.to_string(),
                None => p.file_stem().map_or_else(|| "policy".to_string(), |s| s.to_string_lossy().into_owned()),
            },
        );
        Policy::from_sources(&name, &sources)
    }

    /// The built-in read-only policy.
    pub fn builtin_read_only() -> Result<Policy, Problems> {
        Policy::from_sources("read-only", &[("<built-in read-only>".to_string(), BUILTIN_READ_ONLY.to_string())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads_and_an_unknown_one_is_named() {
        for (name, _) in BUILTINS {
            let policy = Policy::load(&[PathBuf::from(format!("builtin:{name}"))]).map_err(|e| e.to_string());
            assert_eq!(policy.map(|p| p.name), Ok(name.to_string()));
        }
        let err = Policy::load(&[PathBuf::from("builtin:nope")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("unknown built-in policy `nope`") && err.contains("builtin:ci, builtin:full-access"),
            "{err}"
        );
    }

    #[test]
    fn builtin_read_only_loads() {
        let policy = Policy::builtin_read_only().map_err(|e| e.to_string());
        assert!(policy.is_ok(), "{policy:?}");
    }
}
