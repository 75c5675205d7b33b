//! sockgate's own questions to the engine, each bounded in size and time: container discovery's
//! listings and events (see [`crate::identify`]), the engine's version range, and the objects a
//! request refers to (see [`crate::resolve`]): a container (its id, its user, which dockerd copies
//! from the image's `USER` at create, empty meaning root, and whether it is privileged), a volume
//! (its driver and options) and a network (its id and drivers). It decides nothing.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use crate::body::Body;
use crate::forward::{ForwardError, Upstream};
pub use crate::references::Container;
use crate::references::{Exec, Labels, Network, Volume};
use crate::versions::{ApiVersion, Range, VersionError};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

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

/// The container `name` (a name, id or id prefix, as a request path gives it), or `None` when the
/// engine knows no such container.
pub async fn container(upstream: &Upstream, name: &str) -> Result<Option<Container>, LookupError> {
    let path = format!("{API}/containers/{}/json", percent_encode(name));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    parse_container(&body).map(Some).map_err(|reason| LookupError::Json { path, reason })
}

/// What sockgate knows of the engine's API versions: learned at start and again after the engine
/// could not be reached, so a restarted or upgraded engine is read anew.
pub struct EngineVersions {
    minimum: ApiVersion,
    known: std::sync::RwLock<Option<(ApiVersion, ApiVersion)>>,
    stale: std::sync::atomic::AtomicBool,
    asking: tokio::sync::Mutex<()>,
}

impl EngineVersions {
    pub fn new(minimum: ApiVersion) -> EngineVersions {
        EngineVersions {
            minimum,
            known: std::sync::RwLock::new(None),
            stale: std::sync::atomic::AtomicBool::new(true),
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
                *self.known.write().unwrap_or_else(PoisonError::into_inner) = Some(range);
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
        let engine = self.known.read().unwrap_or_else(PoisonError::into_inner);
        crate::versions::check(&self.minimum, engine.as_ref(), version)
    }
}

/// The volume `name`, or `None` when the engine has no volume of that name.
pub async fn volume(upstream: &Upstream, name: &str) -> Result<Option<Volume>, LookupError> {
    let path = format!("{API}/volumes/{}", percent_encode(name));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    parse_volume(&body).map(Some).map_err(|reason| LookupError::Json { path, reason })
}

/// The network `name` (a name, id or id prefix), or `None` when the engine knows no such network.
pub async fn network(upstream: &Upstream, name: &str) -> Result<Option<Network>, LookupError> {
    let path = format!("{API}/networks/{}", percent_encode(name));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    parse_network(&body).map(Some).map_err(|reason| LookupError::Json { path, reason })
}

/// The API versions the engine accepts: `(MinAPIVersion, ApiVersion)` of `GET /version`.
pub async fn api_versions(upstream: &Upstream) -> Result<(String, String), LookupError> {
    // Unversioned: an engine older than the version sockgate speaks still answers.
    let path = "/version";
    let body = fetch(upstream, path, MAX_INSPECT).await?;
    let body = body.ok_or_else(|| LookupError::Status { path: path.into(), status: StatusCode::NOT_FOUND })?;
    parse_versions(&body).map_err(|reason| LookupError::Json { path: path.into(), reason })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionAnswer {
    #[serde(rename = "MinAPIVersion")]
    min_api_version: String,
    api_version: String,
}

fn parse_versions(body: &[u8]) -> Result<(String, String), String> {
    let answer: VersionAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok((answer.min_api_version, answer.api_version))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeAnswer {
    name: String,
    driver: String,
    options: Option<std::collections::BTreeMap<String, String>>,
    labels: Option<Labels>,
}

fn parse_volume(body: &[u8]) -> Result<Volume, String> {
    let answer: VolumeAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let options = answer.options.unwrap_or_default().into_iter().collect();
    Ok(Volume { name: answer.name, driver: answer.driver, options, labels: answer.labels.unwrap_or_default() })
}

/// Creates the local volume `name` carrying the label `label=owner`.
pub async fn create_volume(upstream: &Upstream, name: &str, label: &str, owner: &str) -> Result<(), LookupError> {
    let path = format!("{API}/volumes/create");
    let body = serde_json::json!({ "Name": name, "Labels": { label: owner } }).to_string();
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, upstream.post_json(&path, body))
        .await
        .map_err(|_| LookupError::Timeout { path: path.clone() })??;
    match answer.status() {
        StatusCode::OK | StatusCode::CREATED => Ok(()),
        status => Err(LookupError::Status { path, status }),
    }
}

/// The exec instance `id` and the container it runs in, or `None` when either is unknown.
pub async fn exec(upstream: &Upstream, id: &str) -> Result<Option<Exec>, LookupError> {
    let path = format!("{API}/exec/{}/json", percent_encode(id));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    let answer: ExecAnswer =
        serde_json::from_slice(&body).map_err(|e| LookupError::Json { path: path.clone(), reason: e.to_string() })?;
    let Some(container) = container(upstream, &answer.container_id).await? else { return Ok(None) };
    Ok(Some(Exec { id: answer.id, container }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecAnswer {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "ContainerID")]
    container_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkAnswer {
    id: String,
    name: String,
    driver: String,
    #[serde(rename = "IPAM")]
    ipam: Option<IpamAnswer>,
    labels: Option<Labels>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamAnswer {
    driver: Option<String>,
}

fn parse_network(body: &[u8]) -> Result<Network, String> {
    let answer: NetworkAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let ipam_driver = answer.ipam.and_then(|i| i.driver).unwrap_or_default();
    Ok(Network {
        id: answer.id,
        name: answer.name,
        driver: answer.driver,
        ipam_driver,
        labels: answer.labels.unwrap_or_default(),
    })
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
    labels: Option<Labels>,
}

fn parse_container(body: &[u8]) -> Result<Container, String> {
    let inspected: Inspected = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // The id goes into the path the request is sent to: only a real id may.
    if !(inspected.id.len() == 64 && inspected.id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))) {
        return Err(format!("`{}` is not a container id", inspected.id));
    }
    let (user, labels) = inspected.config.map(|c| (c.user, c.labels)).unwrap_or_default();
    let privileged = inspected.host_config.and_then(|h| h.privileged).unwrap_or(false);
    Ok(Container { id: inspected.id, user: user.unwrap_or_default(), privileged, labels: labels.unwrap_or_default() })
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
        let postgres = Container { id: id.into(), user: "postgres".into(), privileged: false, labels: Labels::new() };
        assert_eq!(parse_container(body.as_bytes()).ok(), Some(postgres));
        let privileged = format!(r#"{{"Id":"{id}","Config":{{}},"HostConfig":{{"Privileged":true}}}}"#);
        assert_eq!(parse_container(privileged.as_bytes()).ok().map(|c| c.privileged), Some(true));
        let rootful = format!(r#"{{"Id":"{id}","Config":{{"User":""}}}}"#);
        assert_eq!(parse_container(rootful.as_bytes()).ok().map(|c| c.user), Some(String::new()));
        assert!(parse_container(b"{\"Config\":{}}").is_err(), "an answer without an id");
        assert!(parse_container(br#"{"Id":"../../images/x","Config":{}}"#).is_err(), "an id that is a path");
    }

    #[test]
    fn reads_volume_network_and_version_answers() {
        let volume =
            br#"{"CreatedAt":"x","Driver":"local","Labels":null,"Mountpoint":"/var/lib/docker/volumes/v/_data",
            "Name":"v","Options":{"device":"/etc","o":"bind","type":"none"},"Scope":"local"}"#;
        let parsed = parse_volume(volume).ok();
        assert_eq!(parsed.as_ref().map(|v| v.driver.as_str()), Some("local"));
        assert_eq!(parsed.map(|v| v.options.len()), Some(3));
        let plain = br#"{"Driver":"local","Name":"v","Options":null}"#;
        assert_eq!(parse_volume(plain).ok().map(|v| v.options), Some(Vec::new()));
        let network = br#"{"Name":"host","Id":"8ebc","Driver":"host","IPAM":{"Driver":"default","Config":[]}}"#;
        let parsed = parse_network(network).ok();
        assert_eq!(parsed.map(|n| (n.driver, n.ipam_driver)), Some(("host".into(), "default".into())));
        let versions = br#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;
        assert_eq!(parse_versions(versions).ok(), Some(("1.12".into(), "1.41".into())));
        assert!(parse_versions(b"{}").is_err());
    }

    #[test]
    fn encodes_for_a_path_or_a_query() {
        assert_eq!(percent_encode("web-1.a_b"), "web-1.a_b");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(percent_encode(r#"{"type":["a b"]}"#), "%7B%22type%22%3A%5B%22a%20b%22%5D%7D");
    }
}
