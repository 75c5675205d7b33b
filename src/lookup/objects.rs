//! The objects a request refers to, as the engine describes them now: a container (its id, its
//! user, which dockerd copies from the image's `USER` at create, empty meaning root, and whether
//! it is privileged), an exec's container, a volume (its driver and options) and a network (its
//! id and drivers); and the one object sockgate creates itself, an owned volume. It reads the
//! answers into [`crate::references`]' data and judges none of them.

use http::StatusCode;

use super::{fetch, percent_encode, LookupError, API, MAX_INSPECT, REQUEST_TIMEOUT};
use crate::engine;
use crate::forward::Upstream;
pub use crate::references::Container;
use crate::references::{Exec, Network, Volume};

/// The container `name` (a name, id or id prefix, as a request path gives it), or `None` when the
/// engine knows no such container.
pub async fn container(upstream: &Upstream, name: &str) -> Result<Option<Container>, LookupError> {
    let path = format!("{API}/containers/{}/json", percent_encode(name));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    parse_container(&body).map(Some).map_err(|reason| LookupError::Json { path, reason })
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

/// The exec instance `id` and the container it runs in, or `None` when either is unknown.
pub async fn exec(upstream: &Upstream, id: &str) -> Result<Option<Exec>, LookupError> {
    let path = format!("{API}/exec/{}/json", percent_encode(id));
    let Some(body) = fetch(upstream, &path, MAX_INSPECT).await? else { return Ok(None) };
    let answer: engine::exec::Exec =
        serde_json::from_slice(&body).map_err(|e| LookupError::Json { path: path.clone(), reason: e.to_string() })?;
    let Some(container) = container(upstream, &answer.container_id).await? else { return Ok(None) };
    Ok(Some(Exec { id: answer.id, container }))
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

/// A field the answer must carry for sockgate to use it.
fn required<T>(value: Option<T>, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing field `{field}`"))
}

fn parse_container(body: &[u8]) -> Result<Container, String> {
    let inspected: engine::container::Inspect = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // The id goes into the path the request is sent to: only a real id may.
    if !engine::container::is_id(&inspected.id) {
        return Err(format!("`{}` is not a container id", inspected.id));
    }
    let (user, labels) = inspected.config.map(|c| (c.user, c.labels)).unwrap_or_default();
    let privileged = inspected.host_config.and_then(|h| h.privileged).unwrap_or(false);
    Ok(Container { id: inspected.id, user: user.unwrap_or_default(), privileged, labels: labels.unwrap_or_default() })
}

fn parse_volume(body: &[u8]) -> Result<Volume, String> {
    let answer: engine::volume::Volume = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let options = answer.options.unwrap_or_default().into_iter().collect();
    Ok(Volume { name: answer.name, driver: answer.driver, options, labels: answer.labels.unwrap_or_default() })
}

fn parse_network(body: &[u8]) -> Result<Network, String> {
    let answer: engine::network::Network = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let ipam_driver = answer.ipam.and_then(|i| i.driver).unwrap_or_default();
    Ok(Network {
        id: required(answer.id, "Id")?,
        name: required(answer.name, "Name")?,
        driver: required(answer.driver, "Driver")?,
        ipam_driver,
        labels: answer.labels.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::references::Labels;

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
    fn reads_volume_and_network_answers() {
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
        assert!(parse_network(br#"{"Name":"host","Driver":"host"}"#).is_err(), "an answer without an id");
    }
}
