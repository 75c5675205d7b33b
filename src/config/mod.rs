//! What `sockgate serve` is told: listeners with their TLS, network limits and policies per
//! client, the engine's address, and bounds; from the command line or a configuration file
//! ([`file`]). It opens nothing and loads no policy.

pub mod compat_listen;
pub mod defaults;
pub mod file;
pub mod flags;
pub mod limits;

pub use defaults::{
    parse_socket_mode, DEFAULT_ADMIN, DEFAULT_LEARN_OUTPUT, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_SPIN_US,
    DEFAULT_UPSTREAM,
};

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::{Cidr, ListenAddr, UpstreamAddr};
use crate::decide::Mode;
use crate::privileges::RunAs;
use crate::record::audit::AuditTarget;
use crate::tls::{ClientTls, ServerTls};

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listeners: Vec<ListenerConfig>,
    pub upstream: UpstreamConfig,
    /// How long in-flight requests may take to finish after a stop signal.
    pub grace_period: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// How long a keep-alive connection may wait for its next request; zero never closes it.
    pub idle_timeout: Duration,
    /// How long a client has to send a whole request head, however it trickles it.
    pub header_timeout: Duration,
    /// Threads serving connections; 0 is one per core.
    pub workers: usize,
    /// How long a worker serving a lone request keeps polling after its last activity before it
    /// sleeps; zero never.
    pub spin: Duration,
    /// Each worker thread bound to a core of its own.
    pub pin_workers: bool,
    /// The largest request body read for inspection; larger ones get 413.
    pub max_body_bytes: usize,
    /// The lowest API version served (the engine's own range applies too).
    pub min_api_version: crate::versions::ApiVersion,
    /// Follow the engine's containers, to recognise callers that are containers.
    pub container_discovery: bool,
    /// Where `/metrics`, `/health` and `/ready` are served, if anywhere.
    pub admin_listen: Option<ListenAddr>,
    /// Where audit lines go, if anywhere.
    pub audit_log: Option<AuditTarget>,
    pub mode: Mode,
    /// Where learn mode writes its policy.
    pub learn_output: PathBuf,
    /// The configuration file this came from, read again on reload.
    pub config_file: Option<PathBuf>,
    /// Started as root, who to run as once the listeners are bound (see [`crate::privileges`]).
    pub run_as: Option<RunAs>,
}

/// The engine and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub addr: UpstreamAddr,
    pub tls: Option<ClientTls>,
}

/// One listener and who may do what through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub addr: ListenAddr,
    /// Permission bits of a unix socket sockgate creates.
    pub socket_mode: u32,
    /// Group (name or numeric id) to own a unix socket sockgate creates.
    pub socket_group: Option<String>,
    pub tls: Option<ServerTls>,
    /// Source networks a TCP listener accepts; empty for any.
    pub allow_cidrs: Vec<Cidr>,
    /// Serve a non-loopback TCP address without TLS.
    pub insecure: bool,
    /// Plain TCP for peers on the networks of sockgate's own interfaces only, as they are at start
    /// (the docker-socket-proxy drop-in listener, [`compat_listen`]); on top of `allow_cidrs`.
    pub own_networks_only: bool,
    /// The policy of callers no profile matches.
    pub policy: PolicySource,
    /// Policies for particular callers; the first that matches applies.
    pub profiles: Vec<Profile>,
    /// One owner name for every caller of this listener (one sockgate per job): ownership is on
    /// for all its policies, whatever they say (see [`crate::tenancy`]).
    pub owner: Option<String>,
    /// What one caller may hold of this listener.
    pub caller_limits: CallerLimits,
}

/// What one caller (see [`crate::identify::Identity::key`]) may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerLimits {
    /// Connections open; more are closed as they arrive.
    pub connections: usize,
    /// Requests being answered, streams included; more get 429.
    pub requests: usize,
}

/// Where a policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Files(Vec<PathBuf>),
    /// Policy text given whole (the docker-socket-proxy compatibility mode).
    Inline {
        name: String,
        text: String,
    },
    /// `policies/read-only.toml`, built in.
    BuiltinReadOnly,
    /// No rule: everything is denied.
    DenyAll,
}

/// A policy for the callers a [`Match`] selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub matches: Match,
    pub policy: PolicySource,
    /// What one caller this profile matches may hold, in place of the listener's limits.
    pub caller_limits: Option<CallerLimits>,
}

/// What a caller must be for a profile to apply; every given field must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The client certificate's subject common name; a certificate with several has none.
    pub cn: Option<String>,
    /// Subject alternative names of the client certificate, each compared with its own type only.
    pub san_dns: Option<String>,
    pub san_uri: Option<String>,
    pub san_email: Option<String>,
    pub san_ip: Option<IpAddr>,
    pub cidr: Option<Cidr>,
    /// A glob over the calling container's name.
    pub container_name: Option<String>,
    /// `key=value`, or `key` for any value, among the calling container's labels.
    pub container_label: Option<String>,
    /// The images the calling container must run: ids (`sha256:...`) or name patterns.
    pub container_image: Option<Vec<crate::naming::image::Pin>>,
    /// Whether `uid` and `gid` also match processes inside containers (root in a container is
    /// uid 0 on the host). Off, they match host processes only.
    pub include_containers: bool,
}

impl Match {
    /// Whether any condition names a caller at all.
    pub fn names_someone(&self) -> bool {
        self.uid.is_some() || self.gid.is_some() || self.on_certificate() || self.cidr.is_some() || self.on_container()
    }

    /// Whether it matches on the client certificate.
    pub fn on_certificate(&self) -> bool {
        self.cn.is_some()
            || self.san_dns.is_some()
            || self.san_uri.is_some()
            || self.san_email.is_some()
            || self.san_ip.is_some()
    }

    /// Whether it matches on what a container is (its name or labels): facts whoever creates a
    /// container chooses, which sockgate therefore reserves (see [`crate::profile`]).
    pub fn on_container(&self) -> bool {
        self.container_name.is_some() || self.container_label.is_some()
    }
}
