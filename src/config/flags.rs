//! `sockgate serve`'s flags, and the configuration they describe: every `--listen` with the same
//! policy and TLS settings. Defaults and value parsers come from [`super::defaults`], the same
//! ones the configuration file uses. It parses flags; it opens and loads nothing.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{compat_listen, defaults, ListenAddr, ListenerConfig, PolicySource, ServeConfig, UpstreamConfig};
use crate::address::UpstreamAddr;
use crate::decide::Mode;
use crate::diagnostics::Problems;
use crate::policy::compat::{self, CompatError};
use crate::privileges::RunAs;
use crate::record::audit::AuditTarget;
use crate::tls::{ClientTls, ServerTls};

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file: listeners, TLS and a policy per client (replaces the flags below)
    #[arg(long, value_name = "FILE", env = "SOCKGATE_CONFIG", conflicts_with_all = ["listen", "policy", "tlscert", "upstream"])]
    pub config: Option<PathBuf>,
    /// Where to listen: `unix:///path/to.sock` or `tcp://host:port` (repeatable)
    #[arg(long = "listen", value_name = "ADDR", default_value = defaults::DEFAULT_LISTEN, env = "SOCKGATE_LISTEN", value_delimiter = ',')]
    pub listen: Vec<ListenAddr>,
    /// The real engine: `unix:///path` or `tcp://host:port`
    #[arg(long, value_name = "ADDR", default_value = defaults::DEFAULT_UPSTREAM, value_parser = crate::address::parse_upstream, env = "SOCKGATE_UPSTREAM")]
    pub upstream: UpstreamAddr,
    /// Policy file, or a built-in policy: `builtin:read-only`, `builtin:ci`, `builtin:watchtower`,
    /// `builtin:full-access` (repeatable: several make one policy). Without it: docker-socket-proxy
    /// variables (`CONTAINERS=1`, `POST=0`, ...) if set, else the built-in read-only policy
    #[arg(long, value_name = "FILE", env = "SOCKGATE_POLICY", value_delimiter = ',')]
    pub policy: Vec<PathBuf>,
    /// Permission bits of created unix sockets, in octal
    #[arg(long, value_name = "MODE", default_value = defaults::DEFAULT_SOCKET_MODE_TEXT, value_parser = defaults::parse_socket_mode)]
    pub socket_mode: u32,
    /// Group (name or id) that owns created unix sockets
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// TLS certificate of TCP listeners (as dockerd's --tlscert)
    #[arg(long, value_name = "FILE", requires = "tlskey")]
    pub tlscert: Option<PathBuf>,
    /// TLS private key of TCP listeners
    #[arg(long, value_name = "FILE", requires = "tlscert")]
    pub tlskey: Option<PathBuf>,
    /// CA that signs client certificates
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Require client certificates signed by --tlscacert
    #[arg(long, requires_all = ["tlscert", "tlscacert"])]
    pub tlsverify: bool,
    /// Source networks TCP listeners accept (repeatable), e.g. 172.16.0.0/12; any if none
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    pub allow_cidr: Vec<super::Cidr>,
    /// Serve a non-loopback TCP address without TLS (anyone who reaches it gets what the policy allows)
    #[arg(long)]
    pub insecure_tcp: bool,
    /// CA that signs the engine's certificate, for a `tcp://` upstream with TLS
    #[arg(long, value_name = "FILE")]
    pub upstream_tlscacert: Option<PathBuf>,
    /// sockgate's client certificate for the engine
    #[arg(long, value_name = "FILE", requires_all = ["upstream_tlskey", "upstream_tlscacert"])]
    pub upstream_tlscert: Option<PathBuf>,
    /// sockgate's client key for the engine
    #[arg(long, value_name = "FILE", requires = "upstream_tlscert")]
    pub upstream_tlskey: Option<PathBuf>,
    /// Seconds in-flight requests may take to finish after SIGTERM or SIGINT
    #[arg(long, value_name = "SECONDS", default_value_t = defaults::DEFAULT_GRACE_PERIOD_SECS)]
    pub grace_period: u64,
    /// Connections served at once; more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = defaults::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    #[command(flatten)]
    pub limits: super::limits::LimitArgs,
    /// Threads serving connections; 0 is one per core
    #[arg(long, value_name = "N", default_value_t = defaults::DEFAULT_WORKERS)]
    pub workers: usize,
    /// Microseconds a worker serving a lone request keeps polling before it sleeps, which saves
    /// the wake-ups a one-at-a-time client would wait for; 0 never
    #[arg(long, value_name = "MICROSECONDS", default_value_t = defaults::DEFAULT_SPIN_US)]
    pub spin_us: u64,
    /// Bind each worker thread to a core of its own (of those sockgate may use), for a host where
    /// sockgate has cores to itself
    #[arg(long)]
    pub pin_workers: bool,
    /// Largest request body read for inspection (container specs and the like); larger get 413
    #[arg(long, value_name = "BYTES", default_value_t = defaults::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Turns ownership on with this one owner name for every caller (one sockgate per CI job):
    /// callers reach only what they created through it
    #[arg(long, value_name = "NAME", env = "SOCKGATE_OWNER")]
    pub owner: Option<String>,
    /// Lowest Engine API version served; older clients are refused (below 1.24 some routes mean
    /// something else to the engine)
    #[arg(long, value_name = "VERSION", default_value = crate::versions::DEFAULT_MINIMUM)]
    pub min_api_version: crate::versions::ApiVersion,
    /// Serve /metrics, /health and /ready here, e.g. tcp://127.0.0.1:9323
    #[arg(long, value_name = "ADDR", env = "SOCKGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<ListenAddr>,
    /// Write one JSON line per decision here (`-` for standard output); reopened on SIGHUP
    #[arg(long, value_name = "PATH", env = "SOCKGATE_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// enforce: deny what the policy denies; audit: log and count it, but let it through;
    /// learn: let everything readable through and write the policy that allows exactly that
    #[arg(long, value_name = "MODE", default_value = defaults::DEFAULT_MODE, env = "SOCKGATE_MODE")]
    pub mode: Mode,
    /// Where learn mode writes its policy (on exit and on SIGUSR1)
    #[arg(long, value_name = "FILE", default_value = defaults::DEFAULT_LEARN_OUTPUT)]
    pub learn_output: PathBuf,
    /// When started as root: once the listeners are bound, run as this user (`UID:GID`) with the
    /// engine socket's group as its only other group; refuses to serve as root if it cannot.
    /// Not started as root: ignored. The image sets 65534:65534
    #[arg(long, value_name = "UID:GID", env = "SOCKGATE_USER")]
    pub user: Option<RunAs>,
    /// When the policy comes from docker-socket-proxy variables, also serve plain TCP here, to
    /// peers on the networks of sockgate's own interfaces only (as read at start, loopback
    /// included). The image sets tcp://0.0.0.0:2375
    #[arg(long, value_name = "ADDR", env = "SOCKGATE_COMPAT_LISTEN", value_parser = compat_listen::parse)]
    pub compat_listen: Option<ListenAddr>,
}

/// The policy `--policy` names; without it, the docker-socket-proxy variables if set, else the
/// built-in read-only policy. `tell` logs which, for `serve`.
pub fn policy_source(files: Vec<PathBuf>, tell: bool) -> Result<PolicySource, CompatError> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(if !files.is_empty() {
        let ignored: Vec<&str> = compat::variables().filter(|name| env(name).is_some()).collect();
        if tell && !ignored.is_empty() {
            tracing::warn!(
                "docker-socket-proxy variables are set ({}) but ignored: --policy is given, and only its files apply",
                ignored.join(", ")
            );
        }
        PolicySource::Files(files)
    } else if compat::present(&env) {
        if tell {
            tracing::info!(
                "no --policy given: using the docker-socket-proxy environment variables (see `sockgate policy from-env`)"
            );
        }
        PolicySource::Inline { name: compat::POLICY_NAME.into(), text: compat::policy_from_env(&env)? }
    } else {
        PolicySource::BuiltinReadOnly
    })
}

/// The configuration the flags describe: every `--listen` with the same policy and TLS settings.
pub fn config_from_flags(args: ServeArgs) -> Result<ServeConfig, CompatError> {
    let policy = policy_source(args.policy, true)?;
    let tls = match (args.tlscert, args.tlskey) {
        (Some(cert), Some(key)) => Some(ServerTls { cert, key, ca: args.tlscacert, verify: args.tlsverify }),
        _ => None,
    };
    let upstream_tls =
        args.upstream_tlscacert.map(|ca| ClientTls { ca, cert: args.upstream_tlscert, key: args.upstream_tlskey });
    let caller_limits = args.limits.caller_limits(args.max_connections);
    let mut listeners: Vec<ListenerConfig> = args
        .listen
        .into_iter()
        .map(|addr| {
            let tcp = matches!(addr, ListenAddr::Tcp(_));
            ListenerConfig {
                addr,
                socket_mode: args.socket_mode,
                socket_group: args.socket_group.clone(),
                tls: if tcp { tls.clone() } else { None },
                allow_cidrs: args.allow_cidr.clone(),
                insecure: args.insecure_tcp,
                own_networks_only: false,
                policy: policy.clone(),
                profiles: Vec::new(),
                owner: args.owner.clone(),
                caller_limits,
            }
        })
        .collect();
    let owner = args.owner.clone();
    listeners.extend(compat_listen::listener(
        args.compat_listen,
        &policy,
        &listeners,
        &args.allow_cidr,
        owner,
        caller_limits,
    ));
    Ok(ServeConfig {
        listeners,
        upstream: UpstreamConfig { addr: args.upstream, tls: upstream_tls },
        grace_period: Duration::from_secs(args.grace_period),
        max_connections: args.max_connections,
        idle_timeout: args.limits.idle_timeout(),
        header_timeout: args.limits.header_timeout(),
        workers: args.workers,
        spin: Duration::from_micros(args.spin_us),
        pin_workers: args.pin_workers,
        max_body_bytes: args.max_body_bytes,
        min_api_version: args.min_api_version,
        container_discovery: false,
        admin_listen: args.admin_listen,
        audit_log: args.audit_log.as_deref().map(AuditTarget::parse),
        mode: args.mode,
        learn_output: args.learn_output,
        config_file: None,
        run_as: args.user,
    })
}

/// The configuration a file describes, with the user to run as from the flags (the image sets
/// it for whatever it serves). The drop-in listener is for docker-socket-proxy variables only,
/// which a configuration file replaces.
pub fn config_from_file(file: &std::path::Path, args: &ServeArgs) -> Result<ServeConfig, Problems> {
    if let Some(addr) = &args.compat_listen {
        compat_listen::ignored::<()>(addr, "a configuration file is given");
    }
    let mut config = super::file::load(file)?;
    config.run_as = args.user;
    Ok(config)
}
