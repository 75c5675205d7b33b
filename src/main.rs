//! The `sockgate` command: parses the command line, starts logging, runs the library, and maps the
//! outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory, Parser, Subcommand};
use sockgate::cases;
use sockgate::config::{self, ListenAddr, ListenerConfig, PolicySource, ServeConfig, UpstreamConfig};
use sockgate::decide::Mode;
use sockgate::forward::UpstreamAddr;
use sockgate::logging::{LogFilter, LogFormat};
use sockgate::policy::{compat, Policy};
use sockgate::record::audit::AuditTarget;
use sockgate::tls::{ClientTls, ServerTls};

// A request makes a few dozen small, short-lived allocations (header maps, buffers, body frames)
// across threads; mimalloc serves them from per-thread pages at a fraction of glibc malloc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sockgate", version = env!("SOCKGATE_VERSION"), about = "A Docker socket proxy and access-control gateway")]
struct Cli {
    /// Log level: `error`, `warn`, `info`, `debug` or `trace`, or directives that each name one
    /// (`info,sockgate=debug`)
    #[arg(long, global = true, env = "SOCKGATE_LOG", default_value = "info")]
    log_level: LogFilter,
    /// Log lines as `text` (time, level, message, then key=value pairs) or `json` (one object a line)
    #[arg(long, global = true, env = "SOCKGATE_LOG_FORMAT", default_value = "text", value_name = "FORMAT")]
    log_format: LogFormat,
    /// Log every request at `info` once its response is done: client, method, path, operation,
    /// decision, status, duration and bytes (by default only denials and refusals are logged)
    #[arg(long, global = true, env = "SOCKGATE_ACCESS_LOG")]
    access_log: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Docker Engine API through the policy
    Serve(Box<ServeArgs>),
    /// Check, explain and test policies
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Ask a running sockgate's admin listener whether it is healthy (exit 0) or not (exit 1)
    Healthcheck {
        /// The admin listener
        #[arg(value_name = "ADDR", default_value = config::DEFAULT_ADMIN)]
        addr: ListenAddr,
        /// Also require the engine to answer (`/ready` instead of `/health`)
        #[arg(long)]
        ready: bool,
    },
    /// Check a configuration file and every policy it names
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a completion script for a shell, e.g. `sockgate completions bash > /etc/bash_completion.d/sockgate`
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, e.g. `sockgate man > /usr/local/share/man/man1/sockgate.1`
    Man,
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file: listeners, TLS and a policy per client (replaces the flags below)
    #[arg(long, value_name = "FILE", env = "SOCKGATE_CONFIG", conflicts_with_all = ["listen", "policy", "tlscert", "upstream"])]
    config: Option<PathBuf>,
    /// Where to listen: `unix:///path/to.sock` or `tcp://host:port` (repeatable)
    #[arg(long = "listen", value_name = "ADDR", default_value = config::DEFAULT_LISTEN, env = "SOCKGATE_LISTEN", value_delimiter = ',')]
    listen: Vec<ListenAddr>,
    /// The real engine: `unix:///path` or `tcp://host:port`
    #[arg(long, value_name = "ADDR", default_value = config::DEFAULT_UPSTREAM, value_parser = config::parse_upstream, env = "SOCKGATE_UPSTREAM")]
    upstream: UpstreamAddr,
    /// Policy file, or a built-in policy: `builtin:read-only`, `builtin:ci`, `builtin:watchtower`,
    /// `builtin:full-access` (repeatable: several make one policy). Without it: docker-socket-proxy
    /// variables (`CONTAINERS=1`, `POST=0`, ...) if set, else the built-in read-only policy
    #[arg(long, value_name = "FILE", env = "SOCKGATE_POLICY", value_delimiter = ',')]
    policy: Vec<PathBuf>,
    /// Permission bits of created unix sockets, in octal
    #[arg(long, value_name = "MODE", default_value = "660", value_parser = parse_mode)]
    socket_mode: u32,
    /// Group (name or id) that owns created unix sockets
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// TLS certificate of TCP listeners (as dockerd's --tlscert)
    #[arg(long, value_name = "FILE", requires = "tlskey")]
    tlscert: Option<PathBuf>,
    /// TLS private key of TCP listeners
    #[arg(long, value_name = "FILE", requires = "tlscert")]
    tlskey: Option<PathBuf>,
    /// CA that signs client certificates
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// Require client certificates signed by --tlscacert
    #[arg(long, requires_all = ["tlscert", "tlscacert"])]
    tlsverify: bool,
    /// Source networks TCP listeners accept (repeatable), e.g. 172.16.0.0/12; any if none
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    allow_cidr: Vec<sockgate::config::Cidr>,
    /// Serve a non-loopback TCP address without TLS (anyone who reaches it gets what the policy allows)
    #[arg(long)]
    insecure_tcp: bool,
    /// CA that signs the engine's certificate, for a `tcp://` upstream with TLS
    #[arg(long, value_name = "FILE")]
    upstream_tlscacert: Option<PathBuf>,
    /// sockgate's client certificate for the engine
    #[arg(long, value_name = "FILE", requires_all = ["upstream_tlskey", "upstream_tlscacert"])]
    upstream_tlscert: Option<PathBuf>,
    /// sockgate's client key for the engine
    #[arg(long, value_name = "FILE", requires = "upstream_tlscert")]
    upstream_tlskey: Option<PathBuf>,
    /// Seconds in-flight requests may take to finish after SIGTERM or SIGINT
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    grace_period: u64,
    /// Connections served at once; more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Threads serving connections; 0 is one per core
    #[arg(long, value_name = "N", default_value_t = 0)]
    workers: usize,
    /// Microseconds a worker serving a lone request keeps polling before it sleeps, which saves
    /// the wake-ups a one-at-a-time client would wait for; 0 never
    #[arg(long, value_name = "MICROSECONDS", default_value_t = config::DEFAULT_SPIN_US)]
    spin_us: u64,
    /// Largest request body read for inspection (container specs and the like); larger get 413
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Turns ownership on with this one owner name for every caller (one sockgate per CI job):
    /// callers reach only what they created through it
    #[arg(long, value_name = "NAME", env = "SOCKGATE_OWNER")]
    owner: Option<String>,
    /// Lowest Engine API version served; older clients are refused (below 1.24 some routes mean
    /// something else to the engine)
    #[arg(long, value_name = "VERSION", default_value = sockgate::versions::DEFAULT_MINIMUM)]
    min_api_version: sockgate::versions::ApiVersion,
    /// Serve /metrics, /health and /ready here, e.g. tcp://127.0.0.1:9323
    #[arg(long, value_name = "ADDR", env = "SOCKGATE_ADMIN_LISTEN")]
    admin_listen: Option<ListenAddr>,
    /// Write one JSON line per decision here (`-` for standard output); reopened on SIGHUP
    #[arg(long, value_name = "PATH", env = "SOCKGATE_AUDIT_LOG")]
    audit_log: Option<String>,
    /// enforce: deny what the policy denies; audit: log and count it, but let it through;
    /// learn: let everything readable through and write the policy that allows exactly that
    #[arg(long, value_name = "MODE", default_value = "enforce", env = "SOCKGATE_MODE")]
    mode: Mode,
    /// Where learn mode writes its policy (on exit and on SIGUSR1)
    #[arg(long, value_name = "FILE", default_value = config::DEFAULT_LEARN_OUTPUT)]
    learn_output: PathBuf,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check policy files (together, as one policy); report every problem with file:line:col
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Show how a policy decides one request, and why
    Explain {
        /// Policy file or `builtin:NAME` (repeatable). Without it, the policy `serve` would apply:
        /// docker-socket-proxy variables if set, else the built-in read-only policy
        #[arg(long, value_name = "FILE")]
        policy: Vec<PathBuf>,
        /// Request body, read from this file (`-` for standard input)
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// Content-Type of the body
        #[arg(long, value_name = "TYPE", default_value = "application/json")]
        content_type: String,
        /// HTTP method, e.g. POST
        method: String,
        /// Request path, e.g. /v1.41/containers/create
        path: String,
    },
    /// Run the policy test cases (`*.cases.toml`) in a directory
    Test {
        #[arg(default_value = "policies", value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the policy equivalent to docker-socket-proxy environment variables
    FromEnv,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{s}` is not an octal permission mode such as 660"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Lines are formatted on the request's thread and written by a worker thread, which writes
    // what has queued up in one go (it flushes whenever the queue is empty).
    let (writer, _guard) =
        tracing_appender::non_blocking(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    sockgate::logging::init(&cli.log_level, cli.log_format, cli.access_log, writer, ansi);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// `1 rule`, `2 rules`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// An error and its causes on one line, leaving out a cause whose text the message already holds
/// (the leaf errors quote their `io::Error`, which is also their source).
fn message(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(*args),
        Command::Policy(command) => policy(command),
        Command::CheckConfig { file } => check_config(&file),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sockgate", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { addr, ready } => {
            let path = if ready { "/ready" } else { "/health" };
            match sockgate::admin::check(&addr, path, Duration::from_secs(3)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("sockgate healthcheck: {addr}{path}: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn check_config(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = match sockgate::config::file::load(file) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut failed = false;
    match sockgate::profile::Profiles::load_all(&config.listeners) {
        Ok(loaded) => {
            for warning in sockgate::profile::warnings(&config.listeners, &loaded) {
                eprintln!("{}: warning: {warning}", file.display());
            }
        }
        Err(errors) => {
            eprintln!("{errors}");
            failed = true;
        }
    }
    for listener in &config.listeners {
        // `serve` resolves the group when it creates the socket: a name this host does not know
        // fails there, so it fails here.
        if let (ListenAddr::Unix(_), Some(group)) = (&listener.addr, &listener.socket_group) {
            if let Err(e) = sockgate::listen::resolve_group(group) {
                eprintln!("{}: listener `{}`: {e}", file.display(), listener.addr);
                failed = true;
            }
        }
    }
    for listener in &config.listeners {
        if let Some(tls) = &listener.tls {
            if let Err(e) = sockgate::tls::server_config(tls) {
                eprintln!("{}: listener `{}`: {e}", file.display(), listener.addr);
                failed = true;
            }
        }
    }
    if let Some(tls) = &config.upstream.tls {
        if let Err(e) = sockgate::tls::client_config(tls) {
            eprintln!("{}: upstream: {e}", file.display());
            failed = true;
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    println!("ok: {}", plural(config.listeners.len(), "listener"));
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(file) => sockgate::config::file::load(file).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?,
        None => config_from_flags(args)?,
    };
    // Connections are served on worker threads of their own (`sockgate::workers`); this runtime
    // only accepts them and runs the admin endpoints, signals and reloads.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(sockgate::serve::run(config, stop_signal()))?;
    Ok(ExitCode::SUCCESS)
}

/// The policy `--policy` names; without it, the docker-socket-proxy variables if set, else the
/// built-in read-only policy. `tell` logs which, for `serve`.
fn policy_source(files: Vec<PathBuf>, tell: bool) -> anyhow::Result<PolicySource> {
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
fn config_from_flags(args: ServeArgs) -> anyhow::Result<ServeConfig> {
    let policy = policy_source(args.policy, true)?;
    let tls = match (args.tlscert, args.tlskey) {
        (Some(cert), Some(key)) => Some(ServerTls { cert, key, ca: args.tlscacert, verify: args.tlsverify }),
        _ => None,
    };
    let upstream_tls =
        args.upstream_tlscacert.map(|ca| ClientTls { ca, cert: args.upstream_tlscert, key: args.upstream_tlskey });
    let listeners = args
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
                policy: policy.clone(),
                profiles: Vec::new(),
                owner: args.owner.clone(),
            }
        })
        .collect();
    Ok(ServeConfig {
        listeners,
        upstream: UpstreamConfig { addr: args.upstream, tls: upstream_tls },
        grace_period: Duration::from_secs(args.grace_period),
        max_connections: args.max_connections,
        workers: args.workers,
        spin: Duration::from_micros(args.spin_us),
        max_body_bytes: args.max_body_bytes,
        min_api_version: args.min_api_version,
        container_discovery: false,
        admin_listen: args.admin_listen,
        audit_log: args.audit_log.as_deref().map(AuditTarget::parse),
        mode: args.mode,
        learn_output: args.learn_output,
        config_file: None,
    })
}

fn policy(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { files } => match Policy::load(&files) {
            Ok(policy) => {
                println!("ok: policy `{}` with {}", policy.name, plural(policy.rules.len(), "rule"));
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::FAILURE)
            }
        },
        PolicyCommand::Explain { policy, body, content_type, method, path } => {
            let source = policy_source(policy, false)?;
            let policy =
                sockgate::profile::load_source(&source).map_err(|e| anyhow::anyhow!("invalid policy:\n{e}"))?;
            let body = match body {
                None => None,
                Some(p) if p.as_os_str() == "-" => {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                    Some(buf)
                }
                Some(p) => Some(std::fs::read(&p).with_context(|| format!("cannot read `{}`", p.display()))?),
            };
            let method = http::Method::from_bytes(method.as_bytes()).context("invalid method")?;
            let uri: http::Uri = path.parse().context("invalid path")?;
            let content_type = body.as_ref().map(|_| content_type.as_bytes());
            match sockgate::gateway::explain(&policy, &method, &uri, content_type, body.as_deref()) {
                Ok(j) => {
                    println!("operation: {}", j.classified.operation);
                    if let Some(resource) = &j.classified.resource {
                        println!("resource:  {resource}");
                    }
                    for finding in &j.findings {
                        println!("finding:   {finding}");
                    }
                    if j.decision.allowed {
                        println!("decision:  allow, by rule {}", j.decision.rule_list());
                        Ok(ExitCode::SUCCESS)
                    } else {
                        println!("decision:  deny");
                        println!("message:   sockgate: {}", j.decision.denial_message());
                        Ok(ExitCode::from(2))
                    }
                }
                Err(e) => {
                    println!("decision:  refuse ({})", e.status().as_u16());
                    println!("message:   sockgate: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        PolicyCommand::Test { dir } => {
            let outcomes = cases::run_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
            if outcomes.is_empty() {
                bail!("no `*.cases.toml` files in `{}`", dir.display());
            }
            let failed = outcomes.iter().filter(|o| !o.passed).count();
            for o in &outcomes {
                let mark = if o.passed { "ok  " } else { "FAIL" };
                println!("{mark} {}: {}: {}", o.file.display(), o.name, o.detail);
            }
            println!("{} passed, {failed} failed", outcomes.len() - failed);
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        PolicyCommand::FromEnv => {
            print!("{}", compat::policy_from_env(&|name: &str| std::env::var(name).ok())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
