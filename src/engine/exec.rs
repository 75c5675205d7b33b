//! An exec instance as the engine describes it: the answer to `GET /exec/{id}/json`
//! (`types.ContainerExecInspect`), as far as naming its container. It does not look the container up.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Exec {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
}
