//! A policy file as written: the serde shapes it deserializes into, with the place of every
//! value kept for error positions, and the list of keys it may hold (for "did you mean"). It
//! checks nothing beyond what serde does; [`super::load`] checks the rest.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::constraints::{self, RawConstraints};
use crate::diagnostics::keys::Shape;

/// Every key a policy file may hold.
pub(super) const POLICY_SHAPE: &[(&str, Shape)] = &[
    ("version", Shape::Value),
    ("name", Shape::Value),
    ("description", Shape::Value),
    ("groups", Shape::Names),
    (
        "rule",
        Shape::Tables(&[
            ("id", Shape::Value),
            ("description", Shape::Value),
            ("allow", Shape::Value),
            ("deny", Shape::Value),
            ("methods", Shape::Value),
            ("paths", Shape::Value),
        ]),
    ),
    ("containers", Shape::Table(constraints::KEYS)),
    ("ownership", Shape::Table(&[("owner", Shape::Value), ("label", Shape::Value)])),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub version: Spanned<i64>,
    pub name: Option<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
    pub containers: Option<RawConstraints>,
    pub ownership: Option<RawOwnership>,
}

/// `[ownership]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOwnership {
    pub owner: Option<Spanned<String>>,
    pub label: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub id: Spanned<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    pub allow: Option<Vec<Spanned<String>>>,
    pub deny: Option<Vec<Spanned<String>>>,
    pub methods: Option<Vec<Spanned<String>>>,
    pub paths: Option<Vec<Spanned<String>>>,
}
