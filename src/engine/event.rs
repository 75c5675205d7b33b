//! One line of the engine's `/events` stream (`events.Message`), as far as naming what changed.
//! It does not say what a change means to anyone.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    /// The kind of object: `container`, `network`, `image`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    pub action: String,
    pub actor: Actor,
}

/// The object an event is about.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: Option<BTreeMap<String, String>>,
}
