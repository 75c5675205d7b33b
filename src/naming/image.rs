//! Normalizes image references the way the engine does (`distribution/reference`
//! `ParseNormalizedNamed`): `alpine` is `docker.io/library/alpine:latest`, `index.docker.io` is
//! `docker.io`, and a first component is a registry only if it has a `.` or `:`, is `localhost`,
//! or has upper-case letters. References the engine would refuse are refused here too, and a bare
//! hex string is reported as a possible image id, since the engine resolves it by id prefix.

use std::sync::LazyLock;

use regex::Regex;

use crate::glob;

/// Compiles the reference grammar now, so the first request that names an image does not wait.
pub fn warm() {
    let _ = (&*PATH_COMPONENT, &*DOMAIN, &*TAG, &*DIGEST);
}

/// A reference the engine would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{0}`")]
pub struct ReferenceError(pub String);

/// What a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A normalized `domain/path:tag` or `domain/path[:tag]@digest`.
    Named(String),
    /// An image id or id prefix (`sha256:...`, or a bare hex string the engine may resolve as one).
    Id(String),
}

impl Reference {
    /// The string policies match against: the normalized name, or `id:HEX` for an id.
    pub fn policy_name(&self) -> String {
        match self {
            Reference::Named(name) => name.clone(),
            Reference::Id(id) => format!("id:{id}"),
        }
    }
}

const DEFAULT_DOMAIN: &str = "docker.io";

#[expect(clippy::expect_used, reason = "constant patterns")]
static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("valid regex"));
#[expect(clippy::expect_used, reason = "constant patterns")]
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$")
        .expect("valid regex")
});
#[expect(clippy::expect_used, reason = "constant patterns")]
// Go's `\w` is ASCII; Rust's Unicode `\w` would both accept tags the engine refuses and, under
// `{0,127}`, compile to a program of several megabytes.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("valid regex"));
#[expect(clippy::expect_used, reason = "constant patterns")]
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$").expect("valid regex")
});

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Splits a name into registry domain and remainder, as `splitDockerDomain` does.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
}

/// Normalizes a reference given to run or pull. With `ids`, a bare hex string or `sha256:` value
/// is reported as an id, since the engine resolves those by id prefix when no tag matches.
pub fn normalize(reference: &str, ids: bool) -> Result<Reference, ReferenceError> {
    let invalid = || ReferenceError(reference.to_string());
    if ids {
        if let Some(hex) = reference.strip_prefix("sha256:") {
            if is_hex(hex) {
                return Ok(Reference::Id(format!("sha256:{hex}")));
            }
        }
        if is_hex(reference) {
            return Ok(Reference::Id(reference.to_string()));
        }
    }
    if reference.len() == 64 && is_hex(reference) {
        return Err(invalid());
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
        None => (name_tag, None),
    };
    if name.is_empty() || name.len() > 255 {
        return Err(invalid());
    }
    let (domain, path) = split_domain(name);
    if !DOMAIN.is_match(&domain) || !path.split('/').all(|c| PATH_COMPONENT.is_match(c)) {
        return Err(invalid());
    }
    if tag.is_some_and(|t| !TAG.is_match(t)) || digest.is_some_and(|d| !DIGEST.is_match(d)) {
        return Err(invalid());
    }
    let mut out = format!("{domain}/{path}");
    match (tag, digest) {
        (None, None) => out.push_str(":latest"),
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(Reference::Named(out))
}

/// Normalizes an allow-list pattern the way [`normalize`] normalizes references, keeping `*`:
/// `alpine:*` becomes `docker.io/library/alpine:*`, `registry.example.com/*` stays as it is.
pub fn normalize_pattern(pattern: &str) -> String {
    if pattern == "*" || pattern.starts_with("id:") {
        return pattern.to_string();
    }
    let (domain, rest) = split_domain(pattern);
    let last = rest.rsplit('/').next().unwrap_or("");
    let needs_tag = !last.contains([':', '@', '*']);
    format!("{domain}/{rest}{}", if needs_tag { ":latest" } else { "" })
}

/// An image a container-matched profile requires its container to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A full image id, `sha256:` and 64 hex digits: the image itself, whatever it is called.
    Id(String),
    /// A normalized name pattern, matched against the reference the container was created with
    /// (weaker: a caller allowed to tag or build can put another image behind a name).
    Name(String),
}

/// Reads a `container_image` entry: `sha256:<64 hex>` or a name pattern.
pub fn pin(text: &str) -> Result<Pin, String> {
    if let Some(hex) = text.strip_prefix("sha256:") {
        if hex.len() == 64 && is_hex(hex) {
            return Ok(Pin::Id(text.to_owned()));
        }
        return Err(format!("image id `{text}` must be `sha256:` and 64 lower-case hex digits"));
    }
    if text.trim().is_empty() {
        return Err("empty image pattern".into());
    }
    Ok(Pin::Name(normalize_pattern(text)))
}

impl Pin {
    /// Whether a container created from `reference` that runs image `id` satisfies this pin.
    pub fn holds(&self, id: &str, reference: &str) -> bool {
        match self {
            Pin::Id(want) => want == id,
            Pin::Name(pattern) => match normalize(reference, true) {
                Ok(Reference::Named(name)) => matches(pattern, &name),
                _ => false,
            },
        }
    }
}

/// Whether a normalized reference matches a normalized pattern. `name:*` also matches the name
/// pinned by digest (`name@sha256:...`).
pub fn matches(pattern: &str, name: &str) -> bool {
    if glob::matches(pattern, name) {
        return true;
    }
    match pattern.strip_suffix(":*") {
        Some(base) => glob::matches(&format!("{base}@*"), name),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hold_by_id_or_by_name() {
        let id = format!("sha256:{}", "a".repeat(64));
        let by_id = pin(&id).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(by_id.holds(&id, "traefik:3"));
        assert!(!by_id.holds(&format!("sha256:{}", "b".repeat(64)), "traefik:3"));
        let by_name = pin("traefik:*").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(by_name.holds(&id, "traefik:3"));
        assert!(by_name.holds(&id, "docker.io/library/traefik:latest"));
        assert!(!by_name.holds(&id, "evil/traefik:3"));
        assert!(!by_name.holds(&id, &id), "a container created by image id names no image");
        assert!(pin("sha256:abc").is_err());
        assert!(pin(" ").is_err());
    }

    fn named(r: &str) -> String {
        match normalize(r, true) {
            Ok(Reference::Named(n)) => n,
            Ok(Reference::Id(id)) => format!("id {id}"),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn normalizes_like_the_engine() {
        assert_eq!(named("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(named("alpine:3.19"), "docker.io/library/alpine:3.19");
        assert_eq!(named("user/app"), "docker.io/user/app:latest");
        assert_eq!(named("docker.io/alpine"), "docker.io/library/alpine:latest");
        assert_eq!(named("index.docker.io/library/alpine:3"), "docker.io/library/alpine:3");
        assert_eq!(named("registry.example.com:5000/team/app:1.2"), "registry.example.com:5000/team/app:1.2");
        assert_eq!(named("localhost/app"), "localhost/app:latest");
        let digest = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(named(&format!("alpine@{digest}")), format!("docker.io/library/alpine@{digest}"));
        assert_eq!(named(&format!("alpine:3@{digest}")), format!("docker.io/library/alpine:3@{digest}"));
    }

    #[test]
    fn ids_and_invalid_references() {
        assert_eq!(named("76dba27166db"), "id 76dba27166db");
        assert_eq!(named("sha256:76dba27166db"), "id sha256:76dba27166db");
        assert!(named("Alpine").starts_with("error"));
        assert!(named("alpine:").starts_with("error"));
        assert!(named("a//b").starts_with("error"));
        assert!(named("").starts_with("error"));
        // The engine's tag grammar is ASCII (Go's `\w`), and at most 128 characters.
        assert!(named("alpine:caf\u{e9}").starts_with("error"));
        assert!(named("alpine:\u{661}").starts_with("error"));
        assert!(named(&format!("alpine:{}", "a".repeat(129))).starts_with("error"));
        assert_eq!(
            named(&format!("alpine:_{}", "a.-".repeat(42))),
            format!("docker.io/library/alpine:_{}", "a.-".repeat(42))
        );
        assert_eq!(normalize("cafe", false), Ok(Reference::Named("docker.io/library/cafe:latest".into())));
    }

    #[test]
    fn patterns() {
        assert_eq!(normalize_pattern("alpine:*"), "docker.io/library/alpine:*");
        assert_eq!(normalize_pattern("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(normalize_pattern("registry.example.com/*"), "registry.example.com/*");
        assert_eq!(normalize_pattern("*"), "*");
        let p = normalize_pattern("alpine:*");
        assert!(matches(&p, "docker.io/library/alpine:3.19"));
        assert!(matches(&p, &format!("docker.io/library/alpine@sha256:{}", "a".repeat(64))));
        assert!(!matches(&p, "docker.io/library/alpine-evil:latest"));
        assert!(!matches(&p, "id:76dba27166db"));
        assert!(matches(&normalize_pattern("registry.example.com/*"), "registry.example.com/team/app:1"));
        assert!(!matches(&normalize_pattern("registry.example.com/*"), "registry.example.com.evil.io/app:1"));
    }
}
