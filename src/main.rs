//! The `sockgate` command: parses the command line, starts logging, runs the library, and maps the
//! outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sockgate::config::{self, ListenAddr, ServeConfig};
use sockgate::forward::UpstreamAddr;

#[derive(Parser)]
#[command(
    name = "sockgate",
    version,
    about = "A Docker socket proxy and access-control gateway"
)]
struct Cli {
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing directive)
    #[arg(long, global = true, env = "SOCKGATE_LOG", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Docker Engine API through the policy
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Where to listen: `unix:///path/to.sock` or `tcp://host:port` (repeatable)
    #[arg(long = "listen", value_name = "ADDR", default_value = config::DEFAULT_LISTEN)]
    listen: Vec<ListenAddr>,
    /// The real engine: `unix:///path` or `tcp://host:port`
    #[arg(long, value_name = "ADDR", default_value = config::DEFAULT_UPSTREAM, value_parser = config::parse_upstream)]
    upstream: UpstreamAddr,
    /// Policy file (repeatable: several files make one policy); the built-in read-only policy if none
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Permission bits of created unix sockets, in octal
    #[arg(long, value_name = "MODE", default_value = "660", value_parser = parse_mode)]
    socket_mode: u32,
    /// Group (name or id) that owns created unix sockets
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// Seconds in-flight requests may take to finish after SIGTERM or SIGINT
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    grace_period: u64,
    /// Connections served at once; more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{s}` is not an octal permission mode such as 660"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (writer, _guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let config = ServeConfig {
                listen: args.listen,
                upstream: args.upstream,
                policy: args.policy,
                socket_mode: args.socket_mode,
                socket_group: args.socket_group,
                grace_period: Duration::from_secs(args.grace_period),
                max_connections: args.max_connections,
            };
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(sockgate::serve::run(config, stop_signal()))?;
            Ok(())
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
