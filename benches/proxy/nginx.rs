//! The same-run nginx reference: a plain nginx reverse proxy in front of the same stub, so
//! sockgate's figures can be set against nginx's on the same machine, the same day. It writes its
//! config, pid file and temp directories into the bench's temp dir and never touches the
//! system's nginx files (`/etc/nginx`, `/var/log/nginx`, `/var/lib/nginx`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

use crate::child::Proxy;

/// Where Debian's nginx packages install it.
pub const DEBIAN: &str = "/usr/sbin/nginx";

/// The nginx to measure, from `SOCKGATE_BENCH_NGINX`: `0` or `off` for none, `1` or `on` for
/// Debian's, anything else is the binary's path. Unset, Debian's when it is installed, but only in
/// a run where `auto` holds (a `cargo bench` run that measures sockgate), so the smoke run under
/// `cargo test` neither needs nginx nor spends time on it.
pub fn from_env(auto: bool) -> Option<PathBuf> {
    match std::env::var_os("SOCKGATE_BENCH_NGINX") {
        None => (auto && Path::new(DEBIAN).is_file()).then(|| PathBuf::from(DEBIAN)),
        Some(v) if v == "0" || v == "off" => None,
        Some(v) if v == "1" || v == "on" => Some(PathBuf::from(DEBIAN)),
        Some(v) => Some(PathBuf::from(v)),
    }
}

/// Starts `bin` in the foreground, proxying `listen` to `upstream`, with its files in `dir/nginx`,
/// and returns once its socket takes connections and all its workers are running.
pub fn start(bin: &Path, dir: &Path, listen: &Path, upstream: &Path) -> anyhow::Result<Proxy> {
    let (command, workers) = command(bin, dir, listen, upstream)?;
    started(command, listen, workers)
}

/// Starts `command`, made by [`command`], and waits for its `workers`.
pub fn started(command: Command, listen: &Path, workers: usize) -> anyhow::Result<Proxy> {
    let mut nginx = Proxy::start("nginx", command, listen)?;
    // The master forks its workers after it has bound the socket; the CPU accounting of the first
    // phase must find them all.
    nginx.wait_for_children(workers)?;
    Ok(nginx)
}

/// The command that runs `bin` as [`start`] does, with its config written, and how many workers
/// it starts.
pub fn command(bin: &Path, dir: &Path, listen: &Path, upstream: &Path) -> anyhow::Result<(Command, usize)> {
    let home = dir.join("nginx");
    std::fs::create_dir(&home).with_context(|| format!("creating `{}`", home.display()))?;
    let conf = home.join("nginx.conf");
    // As many workers as sockgate's runtime has threads: tokio starts one per available core.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let text = config(&home, listen, upstream, workers, nix::unistd::geteuid().is_root(), crate::child::pinned());
    std::fs::write(&conf, text).with_context(|| format!("writing `{}`", conf.display()))?;
    let mut command = Command::new(bin);
    // `-p` and `-e`: relative paths resolve in the temp dir, and what nginx logs before it has
    // read `error_log` goes to the drained stderr, not to the packaged log directory.
    command.arg("-p").arg(&home).arg("-e").arg("stderr").arg("-c").arg(&conf);
    Ok((command, workers))
}

/// The config: a reverse proxy as one would write it for a Docker socket, tuned only where
/// nginx's defaults would hold it back in this bench. docs/performance.md shows it and says why.
fn config(home: &Path, listen: &Path, upstream: &Path, workers: usize, root: bool, pinned: bool) -> String {
    let (home, listen, upstream) = (home.display(), listen.display(), upstream.display());
    // As root, nginx runs its workers as `user` (`nobody` unless set), who may not reach the
    // stub's socket, and hands its temp directories to that user.
    let user = if root { "user root;\n" } else { "" };
    // Only with `SOCKGATE_BENCH_PIN=1`, as sockgate's `--pin-workers`.
    let affinity = if pinned { "worker_cpu_affinity auto;\n" } else { "" };
    format!(
        r#"{user}worker_processes {workers};
{affinity}daemon off;
error_log stderr warn;
pid "{home}/nginx.pid";
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    # nginx closes a client connection after 1000 requests by default; dockerd and sockgate don't.
    keepalive_requests 1000000;
    client_max_body_size 0;
    # An unbuffered upload moves through one buffer of this size, 8 or 16 KiB by default; the
    # stub's frames are 64 KiB.
    client_body_buffer_size 64k;
    # Every temp path, even of modules not used here, or nginx creates them under /var/lib/nginx.
    client_body_temp_path "{home}/body";
    proxy_temp_path "{home}/proxy";
    fastcgi_temp_path "{home}/fastcgi";
    uwsgi_temp_path "{home}/uwsgi";
    scgi_temp_path "{home}/scgi";
    upstream engine {{
        server "unix:{upstream}";
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen "unix:{listen}";
        location / {{
            proxy_pass http://engine;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Streams (logs -f, attach, events) must flow as they come, as through sockgate.
            proxy_buffering off;
            proxy_request_buffering off;
            # Unbuffered, an answer moves through one buffer of this size, 4 or 8 KiB by default.
            proxy_buffer_size 64k;
            # Unused without buffering, but nginx refuses a proxy_buffer_size these cannot hold.
            proxy_buffers 4 64k;
        }}
    }}
}}
"#
    )
}

/// Fails unless docs/performance.md shows the config as the bench writes it, here for a 2-core
/// machine and a run as root in a temp dir, so what reviewers judge is what runs.
pub fn check_docs() -> anyhow::Result<()> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/performance.md");
    let text = std::fs::read_to_string(&docs).with_context(|| format!("reading `{}`", docs.display()))?;
    let dir = Path::new("/tmp/sockgate-benchXXXXXX");
    let shown = config(&dir.join("nginx"), &dir.join("nginx.sock"), &dir.join("docker.sock"), 2, true, false);
    if !text.contains(&format!("```nginx\n{shown}```\n")) {
        bail!("`{}` does not show the nginx config the bench writes, which is:\n{shown}", docs.display());
    }
    Ok(())
}
