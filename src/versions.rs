//! Engine API versions: reading them as dockerd compares them, and the range a request's
//! `/vX.Y` prefix must fall in.
//!
//! dockerd 20.10 accepts every version from 1.12 to its own, and several routes mean something
//! else below 1.24: `POST /containers/{id}/start` takes a host config that replaces the one judged
//! at create (`postContainersStart`), and creates get other defaults. sockgate refuses versions
//! below a configured minimum ([`DEFAULT_MINIMUM`], what the docker CLI, compose and docker-py of
//! the last years send) and outside the range the engine announced, so no route is read at a
//! version sockgate was not written for. An unversioned request is served at the engine's own
//! version. This module compares; it asks nobody (the engine's range is learned by the gateway).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The lowest version sockgate serves unless configured otherwise.
pub const DEFAULT_MINIMUM: &str = "1.24";

/// An API version such as `1.41`, compared as dockerd's `api/types/versions.compare` does:
/// numerically part by part, a missing part counting as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion {
    parts: Vec<u64>,
    text: String,
}

/// Why a version or a request's version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{0}` is not an API version (digits and dots, like `1.41`)")]
    Invalid(String),
    #[error("client API version {version} is too old: sockgate serves {minimum} and newer, as configured")]
    BelowMinimum { version: String, minimum: String },
    #[error("client API version {version} is too old: the engine's minimum is {minimum}")]
    BelowEngine { version: String, minimum: String },
    #[error("client API version {version} is too new: the engine's maximum is {maximum}")]
    AboveEngine { version: String, maximum: String },
}

impl ApiVersion {
    /// [`DEFAULT_MINIMUM`].
    pub fn default_minimum() -> ApiVersion {
        ApiVersion { parts: vec![1, 24], text: DEFAULT_MINIMUM.to_owned() }
    }
}

impl ApiVersion {
    /// How this version compares with the version spelt `text`, which must be valid.
    fn cmp_text(&self, text: &str) -> Result<Ordering, VersionError> {
        let mut theirs = text.split('.');
        let mut ours = self.parts.iter();
        loop {
            let (mine, other) = (ours.next(), theirs.next());
            if mine.is_none() && other.is_none() {
                return Ok(Ordering::Equal);
            }
            let other = match other {
                None => 0,
                Some(p) if !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| VersionError::Invalid(text.to_owned()))?
                }
                Some(_) => return Err(VersionError::Invalid(text.to_owned())),
            };
            let order = mine.copied().unwrap_or(0).cmp(&other);
            if order.is_ne() {
                // The rest must still be a version.
                if theirs.any(|p| p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit())) {
                    return Err(VersionError::Invalid(text.to_owned()));
                }
                return Ok(order);
            }
        }
    }
}

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<ApiVersion, VersionError> {
        let parts: Option<Vec<u64>> = text
            .split('.')
            .map(|p| {
                (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect();
        match parts {
            Some(parts) => Ok(ApiVersion { parts, text: text.to_owned() }),
            None => Err(VersionError::Invalid(text.to_owned())),
        }
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &ApiVersion) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| self.parts.get(i).copied().unwrap_or(0).cmp(&other.parts.get(i).copied().unwrap_or(0)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &ApiVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The versions a request may use: the configured minimum, and the engine's range once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub minimum: ApiVersion,
    /// `(MinAPIVersion, ApiVersion)` as the engine announced them.
    pub engine: Option<(ApiVersion, ApiVersion)>,
}

impl Range {
    /// The engine's range from the texts of its `/version` answer.
    pub fn engine_from(low: &str, high: &str) -> Result<(ApiVersion, ApiVersion), VersionError> {
        Ok((low.parse()?, high.parse()?))
    }
}

impl Range {
    /// Checks a request's version prefix; `None` (unversioned) is the engine's own version.
    pub fn check(&self, version: Option<&str>) -> Result<(), VersionError> {
        check(&self.minimum, self.engine.as_ref(), version)
    }
}

/// [`Range::check`] without a `Range`, so a caller holding the parts behind a lock need not copy
/// them; the request's version is compared as text, without allocating.
pub fn check(
    minimum: &ApiVersion,
    engine: Option<&(ApiVersion, ApiVersion)>,
    version: Option<&str>,
) -> Result<(), VersionError> {
    let Some(text) = version else { return Ok(()) };
    if minimum.cmp_text(text)?.is_gt() {
        return Err(VersionError::BelowMinimum { version: text.into(), minimum: minimum.to_string() });
    }
    if let Some((low, high)) = engine {
        if low.cmp_text(text)?.is_gt() {
            return Err(VersionError::BelowEngine { version: text.into(), minimum: low.to_string() });
        }
        if high.cmp_text(text)?.is_lt() {
            return Err(VersionError::AboveEngine { version: text.into(), maximum: high.to_string() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> ApiVersion {
        text.parse().unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn versions_compare_part_by_part() {
        assert_eq!(ApiVersion::default_minimum(), v(DEFAULT_MINIMUM));
        assert!(v("1.9") < v("1.24"));
        assert!(v("1.24") < v("1.41"));
        assert_eq!(v("1.41").cmp(&v("1.41.0")), Ordering::Equal);
        assert!(v("1.41.1") > v("1.41"));
        assert!(v("2") > v("1.99"));
        for bad in ["", "1.", ".1", "1..2", "a", "1.4a", "-1", "1.9999999999"] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_are_held_to_the_minimum_and_the_engines_range() {
        let mut range = Range { minimum: v(DEFAULT_MINIMUM), engine: None };
        assert_eq!(range.check(None), Ok(()));
        assert_eq!(range.check(Some("1.24")), Ok(()));
        assert_eq!(range.check(Some("1.99")), Ok(()), "the engine's range is not known yet");
        assert!(matches!(range.check(Some("1.23")), Err(VersionError::BelowMinimum { .. })));
        assert!(matches!(range.check(Some("1.12")), Err(VersionError::BelowMinimum { .. })));
        range.engine = Some((v("1.12"), v("1.41")));
        assert_eq!(range.check(Some("1.41")), Ok(()));
        assert!(matches!(range.check(Some("1.42")), Err(VersionError::AboveEngine { .. })));
        range.minimum = v("1.0");
        assert_eq!(range.check(Some("1.12")), Ok(()));
        assert!(matches!(range.check(Some("1.11")), Err(VersionError::BelowEngine { .. })));
        assert_eq!(
            Range { minimum: v("1.24"), engine: None }.check(Some("1.2")).map_err(|e| e.to_string()),
            Err("client API version 1.2 is too old: sockgate serves 1.24 and newer, as configured".into())
        );
    }

    proptest! {
        /// Comparing with text agrees with comparing parsed versions.
        #[test]
        fn text_comparison_agrees(a in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}", b in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}|[0-9.a]{0,6}") {
            let left = v(&a);
            match b.parse::<ApiVersion>() {
                Ok(right) => prop_assert_eq!(left.cmp_text(&b).ok(), Some(left.cmp(&right))),
                Err(_) => prop_assert!(left.cmp_text(&b).is_err()),
            }
        }

        /// Every version below the minimum is refused, every one in range is served.
        #[test]
        fn the_range_is_exact(major in 0u64..3, minor in 0u64..60) {
            let range = Range { minimum: v("1.24"), engine: Some((v("1.12"), v("1.41"))) };
            let text = format!("{major}.{minor}");
            let inside = (major, minor) >= (1, 24) && (major, minor) <= (1, 41);
            prop_assert_eq!(range.check(Some(&text)).is_ok(), inside);
        }
    }
}
