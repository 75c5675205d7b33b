//! Reads the engine's answers about containers into what the directory holds: a listing's running
//! containers and one container's inspect answer, each with the addresses it holds. It asks the
//! engine one thing, a container's inspect answer; it does not touch the map.

use crate::engine::container::{Inspect, Listed};
use crate::forward::Upstream;
use crate::lookup::{fetch, API, MAX_INSPECT};

use super::{ContainerInfo, DiscoveryError, Known};

/// The answer to `GET /containers/json` (running containers only, without `all=1`).
pub(super) fn parse_listing(body: &[u8]) -> Result<Vec<Known>, DiscoveryError> {
    let listed: Vec<Listed> = serde_json::from_slice(body)?;
    Ok(listed
        .into_iter()
        .map(|c| {
            // `Names` also holds link aliases such as `/web/db` (daemon/list.go); the container's
            // own name is the one with no other `/`.
            let names = c.names.unwrap_or_default();
            let name = names.iter().map(|n| n.strip_prefix('/').unwrap_or(n)).find(|n| !n.contains('/'));
            let name = name.or(names.first().map(|n| n.trim_start_matches('/'))).unwrap_or_default().to_owned();
            let info = ContainerInfo {
                id: c.id,
                name,
                labels: c.labels.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
            };
            Known { info, ips: c.network_settings.unwrap_or_default().addresses() }
        })
        .collect())
}

/// The answer to `GET /containers/<id>/json`; `None` unless the container is running.
pub(super) fn parse_inspect(body: &[u8]) -> Result<Option<Known>, DiscoveryError> {
    let c: Inspect = serde_json::from_slice(body)?;
    let name = c.name.ok_or(DiscoveryError::Missing("Name"))?;
    if !c.state.is_some_and(|s| s.running) {
        return Ok(None);
    }
    let (labels, image) = c.config.map(|config| (config.labels, config.image)).unwrap_or_default();
    let info = ContainerInfo {
        id: c.id,
        name: name.trim_start_matches('/').to_owned(),
        labels: labels.unwrap_or_default(),
        image: image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
    };
    Ok(Some(Known { info, ips: c.network_settings.unwrap_or_default().addresses() }))
}

/// The engine's current view of container `id`, if it is running.
pub(super) async fn inspect(upstream: &Upstream, id: &str) -> Result<Option<Known>, DiscoveryError> {
    match fetch(upstream, &format!("{API}/containers/{id}/json"), MAX_INSPECT).await? {
        Some(body) => parse_inspect(&body),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{known, ID, OTHER};
    use super::*;

    #[test]
    fn reads_a_listing_with_addresses_on_every_network() {
        let body = format!(
            r#"[{{"Id":"{ID}","Names":["/web/db","/db"],"Labels":{{"team":"blue"}},"State":"running",
              "NetworkSettings":{{"Networks":{{
                "a":{{"IPAddress":"172.28.0.2","GlobalIPv6Address":"fd00:5a:3796::2"}},
                "b":{{"IPAddress":"10.9.0.3","GlobalIPv6Address":""}},
                "host":{{"IPAddress":"","GlobalIPv6Address":""}}}}}}}},
              {{"Id":"{OTHER}","Names":["/lonely"],"Labels":null,"NetworkSettings":{{"Networks":null}}}}]"#
        );
        let listing = parse_listing(body.as_bytes()).ok();
        let mut db = known(ID, "db", &["10.9.0.3", "172.28.0.2", "fd00:5a:3796::2"]);
        db.info.labels.insert("team".into(), "blue".into());
        assert_eq!(listing, Some(vec![db, known(OTHER, "lonely", &[])]));
    }

    #[test]
    fn reads_an_inspect_answer_and_ignores_stopped_containers() {
        let running = format!(
            r#"{{"Id":"{ID}","Name":"/renamed","State":{{"Running":true,"Pid":23582}},
               "Config":{{"Labels":null}},"NetworkSettings":{{"IPAddress":"",
               "Networks":{{"n":{{"IPAddress":"172.28.0.2","GlobalIPv6Address":"fd00:5a:3796::2"}}}}}}}}"#
        );
        let expected = known(ID, "renamed", &["172.28.0.2", "fd00:5a:3796::2"]);
        assert_eq!(parse_inspect(running.as_bytes()).ok(), Some(Some(expected)));
        let stopped = format!(r#"{{"Id":"{ID}","Name":"/x","State":{{"Running":false}},"NetworkSettings":{{}}}}"#);
        assert_eq!(parse_inspect(stopped.as_bytes()).ok(), Some(None));
        assert!(parse_inspect(b"{\"Id\":1}").is_err());
        let nameless = format!(r#"{{"Id":"{ID}","State":{{"Running":true}}}}"#);
        assert!(parse_inspect(nameless.as_bytes()).is_err());
    }
}
