//! A volume as the engine describes it: the answer to `GET /volumes/{name}` (`volume.Volume`).
//! It reads; it does not judge the driver or its options.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// The driver options it was created with.
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}
