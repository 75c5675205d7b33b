//! The `sockgate` command: parses the command line, starts logging, runs the library, and maps the
//! outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand};
use sockgate::address::ListenAddr;
use sockgate::cases;
use sockgate::config;
use sockgate::logging::{LogFilter, LogFormat};
use sockgate::policy::compat;
use sockgate::tools;

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
    Serve(Box<config::flags::ServeArgs>),
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

/// Log lines that may wait for the writer thread; a burst beyond it is dropped, not waited for.
const LOG_QUEUE_LINES: usize = 8 * 1024;

fn main() -> ExitCode {
    sockgate::allocator::release_freed_pages_at_once();
    let cli = Cli::parse();
    // Lines are formatted on the request's thread and written by a worker thread, which writes
    // what has queued up in one go (it flushes whenever the queue is empty). The queue's slots are
    // allocated up front: the crate's default of 128,000 lines would hold 4 MB for the process's life.
    let (writer, _guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
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
        Command::CheckConfig { file } => Ok(print(tools::check_config(&file))),
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

fn serve(args: config::flags::ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(file) => {
            config::flags::config_from_file(file, &args).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?
        }
        None => config::flags::config_from_flags(args)?,
    };
    // Connections are served on worker threads of their own (`sockgate::workers`); this runtime
    // only accepts them and runs the admin endpoints, signals and reloads.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(sockgate::serve::run(config, stop_signal()))?;
    Ok(ExitCode::SUCCESS)
}

fn policy(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { files } => Ok(print(tools::check_policy(&files))),
        PolicyCommand::Explain { policy, body, content_type, method, path } => {
            let source = config::flags::policy_source(policy, false)?;
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
            Ok(print(tools::explain(&policy, &method, &uri, content_type, body.as_deref())))
        }
        PolicyCommand::Test { dir } => {
            let outcomes = cases::run_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
            if outcomes.is_empty() {
                bail!("no `*.cases.toml` files in `{}`", dir.display());
            }
            Ok(print(tools::cases(&outcomes)))
        }
        PolicyCommand::FromEnv => {
            print!("{}", compat::policy_from_env(&|name: &str| std::env::var(name).ok())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints what a tool reports and maps its status to the exit code.
fn print(report: tools::Report) -> ExitCode {
    print!("{}", report.out);
    eprint!("{}", report.err);
    ExitCode::from(report.status)
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
