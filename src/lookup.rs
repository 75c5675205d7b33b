//! sockgate's own questions to the engine, each bounded in size and time: container discovery's
//! listings and events (see [`crate::identify`]), and what a request refers to but does not carry.
//! Today that is what an exec's container hands the exec: the user it runs as when it names none,
//! which is the container's own user (its `--user`, or its image's `USER`, which dockerd copies
//! into the container's configuration at create; empty means root), and whether the container is
//! privileged, which every process in it is.
//!
//! A container is looked up by the name the request uses, and the request is then sent to the full
//! id the engine answered with, so a rename or removal in between cannot put another container
//! behind the name that was judged. It decides nothing.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use crate::body::Body;
use crate::forward::{ForwardError, Upstream};

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
    #[error("engine did not answer `{path}` within {REQUEST_TIMEOUT:?}")]
    Timeout { path: String },
    #[error("cannot read the engine's answer to `{path}`: {reason}")]
    Body { path: String, reason: String },
    #[error("cannot parse the engine's answer to `{path}`: {reason}")]
    Json { path: String, reason: String },
}

/// A container, as much of it as judging an exec needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full 64-hex id.
    pub id: String,
    /// `Config.User`: what an exec naming no user runs as; empty is root.
    pub user: String,
    /// `HostConfig.Privileged`: every exec in the container runs with all privileges.
    pub privileged: bool,
}

/// The container `name` (a name, id or id prefix, as a request path gives it), or `None` when the
/// engine knows no such container.
pub async fn container(upstream: &Upstream, name: &str) -> Result<Option<Container>, LookupError> {
    let path = format!("{API}/containers/{}/json", percent_encode(name));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    parse_container(&body).map(Some).map_err(|reason| LookupError::Json { path, reason })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
    config: Option<Config>,
    host_config: Option<HostConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfig {
    privileged: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    user: Option<String>,
}

fn parse_container(body: &[u8]) -> Result<Container, String> {
    let inspected: Inspected = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // The id goes into the path the request is sent to: only a real id may.
    if !(inspected.id.len() == 64 && inspected.id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))) {
        return Err(format!("`{}` is not a container id", inspected.id));
    }
    let user = inspected.config.and_then(|c| c.user).unwrap_or_default();
    let privileged = inspected.host_config.and_then(|h| h.privileged).unwrap_or(false);
    Ok(Container { id: inspected.id, user, privileged })
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

/// Encodes everything but unreserved characters, for a path segment or a query value.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_id_and_the_user_of_an_inspect_answer() {
        let id = "6010f7e5d3bc9dc357def38a4deeebb7aa7360dc302db978775eeb8e7f1d585b";
        let body = format!(r#"{{"Id":"{id}","Name":"/db","Config":{{"User":"postgres","Image":"postgres:16"}}}}"#);
        let postgres = Container { id: id.into(), user: "postgres".into(), privileged: false };
        assert_eq!(parse_container(body.as_bytes()).ok(), Some(postgres));
        let privileged = format!(r#"{{"Id":"{id}","Config":{{}},"HostConfig":{{"Privileged":true}}}}"#);
        assert_eq!(parse_container(privileged.as_bytes()).ok().map(|c| c.privileged), Some(true));
        let rootful = format!(r#"{{"Id":"{id}","Config":{{"User":""}}}}"#);
        assert_eq!(parse_container(rootful.as_bytes()).ok().map(|c| c.user), Some(String::new()));
        assert!(parse_container(b"{\"Config\":{}}").is_err(), "an answer without an id");
        assert!(parse_container(br#"{"Id":"../../images/x","Config":{}}"#).is_err(), "an id that is a path");
    }

    #[test]
    fn encodes_for_a_path_or_a_query() {
        assert_eq!(percent_encode("web-1.a_b"), "web-1.a_b");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(percent_encode(r#"{"type":["a b"]}"#), "%7B%22type%22%3A%5B%22a%20b%22%5D%7D");
    }
}
