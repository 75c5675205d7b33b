//! A container as the engine describes it: the inspect answer (`GET /containers/{id}/json`,
//! `types.ContainerJSON`) and one entry of a listing (`GET /containers/json`, `types.Container`),
//! with the addresses it holds on its networks. It reads; it does not judge what it reads.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

/// The answer to `GET /containers/{id}/json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    /// The full 64-hex id.
    pub id: String,
    /// The name with its leading `/`.
    pub name: Option<String>,
    /// The id of the image it runs.
    pub image: Option<String>,
    pub state: Option<State>,
    pub config: Option<Config>,
    pub host_config: Option<HostConfig>,
    pub network_settings: Option<NetworkSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub running: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// What a process started in it runs as unless told otherwise; empty is root.
    pub user: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    /// The reference it was created from: a name, or an image id.
    pub image: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub privileged: Option<bool>,
}

/// One entry of the answer to `GET /containers/json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub id: String,
    /// Its name and its link aliases, each with a leading `/`.
    pub names: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    /// The reference it was created from.
    pub image: Option<String>,
    #[serde(rename = "ImageID")]
    pub image_id: Option<String>,
    #[serde(default)]
    pub network_settings: Option<NetworkSettings>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    pub networks: Option<BTreeMap<String, Endpoint>>,
}

/// A container's place on one network.
#[derive(Debug, Deserialize)]
pub struct Endpoint {
    #[serde(rename = "IPAddress")]
    pub ipv4: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    pub ipv6: Option<String>,
}

impl NetworkSettings {
    /// Every address on every network, sorted and once each; dockerd leaves unassigned ones as `""`.
    pub fn addresses(self) -> Vec<IpAddr> {
        let endpoints = self.networks.unwrap_or_default().into_values();
        let texts = endpoints.flat_map(|e| [e.ipv4, e.ipv6]).flatten();
        let mut ips: Vec<IpAddr> =
            texts.filter_map(|t| t.parse::<IpAddr>().ok()).filter(|ip| !ip.is_unspecified()).collect();
        ips.sort_unstable();
        ips.dedup();
        ips
    }
}

/// Whether `text` is a full container id as the engine writes one: 64 lowercase hex digits.
pub fn is_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
