//! A network as the engine describes it: one entry of `GET /networks`, or the answer to
//! `GET /networks/{id}` (`types.NetworkResource`), with its address management. It reads; it does
//! not judge where addresses come from.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// The full id.
    pub id: Option<String>,
    pub name: Option<String>,
    pub driver: Option<String>,
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: Option<String>,
    pub config: Option<Vec<IpamConfig>>,
}

/// One range the network hands addresses out of.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
}
