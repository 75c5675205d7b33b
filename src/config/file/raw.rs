//! The configuration file as written: the serde shapes it deserializes into, with the place of
//! the values that are checked later, and the list of keys it may hold (for "did you mean"). It
//! checks nothing beyond what serde does.

use serde::Deserialize;
use toml::Spanned;

use crate::decide::Mode;
use crate::diagnostics::keys::Shape;

/// Every key a configuration file may hold.
pub(super) const CONFIG_SHAPE: &[(&str, Shape)] = &[
    ("version", Shape::Value),
    ("upstream", Shape::Value),
    ("upstream_tls", Shape::Table(&[("ca", Shape::Value), ("cert", Shape::Value), ("key", Shape::Value)])),
    ("grace_period", Shape::Value),
    ("max_connections", Shape::Value),
    ("max_connections_per_caller", Shape::Value),
    ("max_requests_per_caller", Shape::Value),
    ("idle_timeout", Shape::Value),
    ("header_timeout", Shape::Value),
    ("workers", Shape::Value),
    ("spin_us", Shape::Value),
    ("pin_workers", Shape::Value),
    ("max_body_bytes", Shape::Value),
    ("min_api_version", Shape::Value),
    ("container_discovery", Shape::Value),
    ("admin_listen", Shape::Value),
    ("audit_log", Shape::Value),
    ("mode", Shape::Value),
    ("learn_output", Shape::Value),
    (
        "listener",
        Shape::Tables(&[
            ("address", Shape::Value),
            ("policy", Shape::Value),
            ("socket_mode", Shape::Value),
            ("socket_group", Shape::Value),
            ("allow_cidrs", Shape::Value),
            ("insecure", Shape::Value),
            ("owner", Shape::Value),
            ("max_connections_per_caller", Shape::Value),
            ("max_requests_per_caller", Shape::Value),
            (
                "tls",
                Shape::Table(&[
                    ("cert", Shape::Value),
                    ("key", Shape::Value),
                    ("ca", Shape::Value),
                    ("verify", Shape::Value),
                ]),
            ),
            (
                "profile",
                Shape::Tables(&[
                    ("name", Shape::Value),
                    ("policy", Shape::Value),
                    ("uid", Shape::Value),
                    ("gid", Shape::Value),
                    ("cn", Shape::Value),
                    ("san", Shape::Value),
                    ("san_dns", Shape::Value),
                    ("san_uri", Shape::Value),
                    ("san_email", Shape::Value),
                    ("san_ip", Shape::Value),
                    ("cidr", Shape::Value),
                    ("container_name", Shape::Value),
                    ("container_label", Shape::Value),
                    ("container_image", Shape::Value),
                    ("include_containers", Shape::Value),
                    ("max_connections_per_caller", Shape::Value),
                    ("max_requests_per_caller", Shape::Value),
                ]),
            ),
        ]),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub version: Spanned<i64>,
    pub upstream: Option<Spanned<String>>,
    pub upstream_tls: Option<RawClientTls>,
    pub grace_period: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_caller: Option<usize>,
    pub max_requests_per_caller: Option<usize>,
    pub idle_timeout: Option<u64>,
    pub header_timeout: Option<Spanned<u64>>,
    pub workers: Option<usize>,
    pub spin_us: Option<u64>,
    pub pin_workers: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub min_api_version: Option<Spanned<String>>,
    pub container_discovery: Option<bool>,
    pub admin_listen: Option<Spanned<String>>,
    pub audit_log: Option<String>,
    pub mode: Option<Mode>,
    pub learn_output: Option<String>,
    #[serde(default)]
    pub listener: Vec<RawListener>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClientTls {
    pub ca: String,
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    pub address: Spanned<String>,
    pub policy: Option<Vec<String>>,
    pub socket_mode: Option<Spanned<String>>,
    pub socket_group: Option<String>,
    #[serde(default)]
    pub allow_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    pub insecure: bool,
    pub owner: Option<Spanned<String>>,
    pub max_connections_per_caller: Option<usize>,
    pub max_requests_per_caller: Option<usize>,
    pub tls: Option<RawServerTls>,
    #[serde(default)]
    pub profile: Vec<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServerTls {
    pub cert: String,
    pub key: String,
    pub ca: Option<String>,
    #[serde(default)]
    pub verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    pub name: Spanned<String>,
    pub policy: Vec<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub cn: Option<String>,
    pub san: Option<String>,
    pub san_dns: Option<String>,
    pub san_uri: Option<String>,
    pub san_email: Option<String>,
    pub san_ip: Option<Spanned<String>>,
    pub cidr: Option<Spanned<String>>,
    pub container_name: Option<String>,
    pub container_label: Option<String>,
    pub container_image: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub include_containers: bool,
    pub max_connections_per_caller: Option<usize>,
    pub max_requests_per_caller: Option<usize>,
}
