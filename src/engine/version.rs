//! The engine's version as it describes it: the answer to `GET /version` (`types.Version`).
//! It does not compare versions.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    /// The engine's release, such as `20.10.24`.
    pub version: Option<String>,
    /// The newest API version it speaks.
    pub api_version: Option<String>,
    /// The oldest API version it still accepts.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: Option<String>,
}
