//! The engine's API version range, learned from `GET /version` at start and again after the
//! engine could not be reached, so a restarted or upgraded engine is read anew. It holds the range
//! and hands it to [`crate::versions`] for each request; it does not judge versions itself.

use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;
use http::StatusCode;

use super::{fetch, LookupError, MAX_INSPECT};
use crate::engine::version::Version;
use crate::forward::Upstream;
use crate::versions::{ApiVersion, Range, VersionError};

/// What sockgate knows of the engine's API versions.
pub struct EngineVersions {
    minimum: ApiVersion,
    /// Replaced whole each time the engine answers.
    known: ArcSwapOption<(ApiVersion, ApiVersion)>,
    stale: AtomicBool,
    asking: tokio::sync::Mutex<()>,
}

impl EngineVersions {
    pub fn new(minimum: ApiVersion) -> EngineVersions {
        EngineVersions {
            minimum,
            known: ArcSwapOption::empty(),
            stale: AtomicBool::new(true),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    /// Asks the engine again before the next request is checked.
    pub fn forget(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// Asks the engine for its range if it is not known, unless another request is asking.
    pub async fn learn(&self, upstream: &Upstream) {
        if !self.stale.load(Ordering::Relaxed) {
            return;
        }
        // Boxed: asking is rare, and its state would otherwise make every request's future as
        // large as itself.
        Box::pin(self.ask(upstream)).await;
    }

    async fn ask(&self, upstream: &Upstream) {
        let Ok(_asking) = self.asking.try_lock() else { return };
        // One question per staleness: an engine that cannot say leaves the configured minimum
        // alone in force until a failed request (see `forget`) makes it worth asking again.
        self.stale.store(false, Ordering::Relaxed);
        let learned = api_versions(upstream)
            .await
            .map_err(|e| e.to_string())
            .and_then(|(low, high)| Range::engine_from(&low, &high).map_err(|e| format!("the engine announced {e}")));
        match learned {
            Ok(range) => {
                tracing::debug!(minimum = %range.0, maximum = %range.1, "engine API versions");
                self.known.store(Some(std::sync::Arc::new(range)));
            }
            Err(e) => tracing::debug!("cannot learn the engine's API versions: {e}"),
        }
    }

    /// Checks a request's `/vX.Y` prefix against the configured minimum and the engine's range.
    pub async fn check(&self, upstream: &Upstream, version: Option<&str>) -> Result<(), VersionError> {
        if version.is_none() {
            return Ok(());
        }
        self.learn(upstream).await;
        let engine = self.known.load();
        crate::versions::check(&self.minimum, engine.as_deref(), version)
    }
}

/// The API versions the engine accepts: `(MinAPIVersion, ApiVersion)` of `GET /version`.
pub async fn api_versions(upstream: &Upstream) -> Result<(String, String), LookupError> {
    // Unversioned: an engine older than the version sockgate speaks still answers.
    let path = "/version";
    let body = fetch(upstream, path, MAX_INSPECT).await?;
    let body = body.ok_or_else(|| LookupError::Status { path: path.into(), status: StatusCode::NOT_FOUND })?;
    parse_versions(&body).map_err(|reason| LookupError::Json { path: path.into(), reason })
}

fn parse_versions(body: &[u8]) -> Result<(String, String), String> {
    let answer: Version = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let low = answer.min_api_version.ok_or("missing field `MinAPIVersion`")?;
    let high = answer.api_version.ok_or("missing field `ApiVersion`")?;
    Ok((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_answer() {
        let versions = br#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;
        assert_eq!(parse_versions(versions).ok(), Some(("1.12".into(), "1.41".into())));
        assert!(parse_versions(b"{}").is_err());
        assert!(parse_versions(br#"{"ApiVersion":"1.41"}"#).is_err());
    }
}
