//! The one table of defaults, and the one parser per value, that both `sockgate serve`'s flags
//! ([`super::flags`]) and the configuration file ([`super::file`]) use, so the two cannot drift
//! apart. It holds values and parses text; it reads nothing.

/// Where sockgate listens when not told otherwise.
pub const DEFAULT_LISTEN: &str = "unix:///run/sockgate/docker.sock";
/// The engine's default socket.
pub const DEFAULT_UPSTREAM: &str = "unix:///var/run/docker.sock";
/// Where learn mode writes its policy unless told otherwise.
pub const DEFAULT_LEARN_OUTPUT: &str = "sockgate-learned.toml";
/// Where the admin endpoints are served by default in the container image, and asked by
/// `sockgate healthcheck`.
pub const DEFAULT_ADMIN: &str = "tcp://127.0.0.1:9323";
/// Permission bits of a created unix socket: owner and group may connect.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// [`DEFAULT_SOCKET_MODE`] as it is written.
pub const DEFAULT_SOCKET_MODE_TEXT: &str = "660";
/// Seconds in-flight requests may take to finish after SIGTERM or SIGINT.
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 10;
/// Connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The share of [`DEFAULT_MAX_CONNECTIONS`] (or of the configured limit) one caller may hold
/// unless told otherwise: a quarter, so one caller cannot keep every other out.
pub const CALLER_CONNECTIONS_SHARE: usize = 4;
/// The share of the connection limit one caller may have requests in flight on: an eighth.
pub const CALLER_REQUESTS_SHARE: usize = 8;
/// Seconds a keep-alive connection may wait for its next request before it is closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Seconds a client has to send a whole request head, from its first byte (or from connecting,
/// for the first request); trickling more bytes does not extend it.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Threads serving connections; 0 is one per core.
pub const DEFAULT_WORKERS: usize = 0;
/// The default bound on inspected bodies: far above any container spec the CLI sends.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How many microseconds a worker serving a lone request keeps polling before it sleeps.
pub const DEFAULT_SPIN_US: u64 = 50;
/// How decisions are applied unless told otherwise.
pub const DEFAULT_MODE: &str = "enforce";

/// What one caller may hold of `max_connections` when the configuration does not say: connections
/// and requests in flight, each its share, at least one.
pub fn caller_limits(max_connections: usize, connections: Option<usize>, requests: Option<usize>) -> (usize, usize) {
    let connections = connections.unwrap_or(max_connections / CALLER_CONNECTIONS_SHARE).max(1);
    let requests = requests.unwrap_or(max_connections / CALLER_REQUESTS_SHARE).max(1);
    (connections, requests)
}

/// Permission bits written in octal, with or without a leading `0o`: `660`, `0o660`, `0660`.
pub fn parse_socket_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{s}` is not an octal permission mode such as \"660\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_get_a_share_of_the_connections_unless_told() {
        assert_eq!(caller_limits(DEFAULT_MAX_CONNECTIONS, None, None), (256, 128));
        assert_eq!(caller_limits(2, None, None), (1, 1));
        assert_eq!(caller_limits(1024, Some(3), Some(0)), (3, 1));
    }

    #[test]
    fn socket_modes_read_the_same_everywhere() {
        assert_eq!(parse_socket_mode(DEFAULT_SOCKET_MODE_TEXT), Ok(DEFAULT_SOCKET_MODE));
        for (text, mode) in [("660", 0o660), ("0o660", 0o660), ("0660", 0o660), ("600", 0o600), ("777", 0o777)] {
            assert_eq!(parse_socket_mode(text), Ok(mode), "{text}");
        }
        for text in ["999", "1000", "0o", "", "rw-", "0x1b6", "0o0o660"] {
            assert!(parse_socket_mode(text).is_err(), "{text}");
        }
    }
}
