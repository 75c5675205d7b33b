//! sockgate's own questions to the engine, each bounded in size and time: the engine's version
//! range ([`api`]), the objects a request refers to ([`objects`]), and the one-shot `GET` and the
//! stream that container discovery reads. It reads the answers through the engine's wire types
//! ([`crate::engine`]) and writes what it sends so the engine reads it back as meant ([`encode`]).
//! It decides nothing.

pub mod api;
pub mod encode;
pub mod objects;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use crate::body::Body;
use crate::forward::{ForwardError, Upstream};

pub use api::{api_versions, EngineVersions};
pub use encode::{percent_encode, with_param};
pub use objects::{container, create_volume, exec, network, volume, Container};

/// dockerd 20.10 speaks API 1.41; every field read here exists in it.
pub const API: &str = "/v1.41";
/// For one-shot answers only; an event stream's body has no timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a container's inspect answer read; it is a few KB.
pub const MAX_INSPECT: usize = 4 << 20;

/// Why the engine's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Engine(#[from] ForwardError),
    #[error("engine answered {status} to `{path}`")]
    Status { path: String, status: StatusCode },
    #[error("engine did not answer `{path}` within {} seconds", REQUEST_TIMEOUT.as_secs())]
    Timeout { path: String },
    #[error("cannot read the engine's answer to `{path}`: {reason}")]
    Body { path: String, reason: String },
    #[error("cannot parse the engine's answer to `{path}`: {reason}")]
    Json { path: String, reason: String },
}

/// A bounded one-shot `GET`; `None` for a 404.
pub async fn fetch(upstream: &Upstream, path: &str, limit: usize) -> Result<Option<Bytes>, LookupError> {
    let answer = async {
        let response = send(upstream, path).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = Limited::new(response.into_body(), limit).collect().await;
        let body = body.map_err(|e| LookupError::Body { path: path.to_owned(), reason: e.to_string() })?;
        Ok(Some(body.to_bytes()))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, answer)
        .await
        .unwrap_or_else(|_| Err(LookupError::Timeout { path: path.to_owned() }))
}

/// Sends a `GET` and accepts only `200 OK` and `404 Not Found`; the headers must come in time.
pub async fn send(upstream: &Upstream, path: &str) -> Result<http::Response<Body>, LookupError> {
    let response = tokio::time::timeout(REQUEST_TIMEOUT, upstream.get(path))
        .await
        .map_err(|_| LookupError::Timeout { path: path.to_owned() })??;
    match response.status() {
        StatusCode::OK | StatusCode::NOT_FOUND => Ok(response),
        status => Err(LookupError::Status { path: path.to_owned(), status }),
    }
}
