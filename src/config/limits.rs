//! `sockgate serve`'s flags for what one caller may hold (connections, requests in flight) and how
//! long a connection may sit idle or take to send a request head. Defaults come from
//! [`super::defaults`], as the configuration file's do. It parses; it enforces nothing (that is
//! [`crate::serve`]'s job).

use std::time::Duration;

use clap::Args;

use super::{defaults, CallerLimits};

#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Connections one caller (uid, certificate, container or source address) may hold open;
    /// more are closed as they arrive. Default: a quarter of --max-connections
    #[arg(long, value_name = "N")]
    pub max_connections_per_caller: Option<usize>,
    /// Requests one caller may have in flight (streams included); more get 429.
    /// Default: an eighth of --max-connections
    #[arg(long, value_name = "N")]
    pub max_requests_per_caller: Option<usize>,
    /// Seconds a keep-alive connection may wait for its next request before it is closed; 0
    /// never. A request in flight (a `logs -f` stream, an attach) is never idle
    #[arg(long, value_name = "SECONDS", default_value_t = defaults::DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout: u64,
    /// Seconds a client has to send a whole request head, from its first byte; sending it slowly
    /// does not extend it
    #[arg(long, value_name = "SECONDS", default_value_t = defaults::DEFAULT_HEADER_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
}

impl LimitArgs {
    /// What one caller may hold, given the server's connection limit.
    pub fn caller_limits(&self, max_connections: usize) -> CallerLimits {
        resolve(max_connections, self.max_connections_per_caller, self.max_requests_per_caller)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout)
    }
}

/// The caller limits given (or not) with the server's connection limit.
pub fn resolve(max_connections: usize, connections: Option<usize>, requests: Option<usize>) -> CallerLimits {
    let (connections, requests) = defaults::caller_limits(max_connections, connections, requests);
    CallerLimits { connections, requests }
}
