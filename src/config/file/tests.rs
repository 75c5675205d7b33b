//! The configuration file read as users write it: full files, defaults, limits and every
//! problem with its place.

use super::*;

fn check(text: &str) -> Result<ServeConfig, String> {
    parse("s.toml", text, Path::new("/etc/sockgate")).map_err(|e| e.to_string())
}

#[test]
fn socket_modes_read_as_the_flag_reads_them() {
    for (text, mode) in [("660", 0o660), ("0o660", 0o660), ("0600", 0o600)] {
        let config =
            check(&format!("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\nsocket_mode = \"{text}\"\n"));
        let config = config.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(config.listeners[0].socket_mode, mode, "{text}");
        assert_eq!(crate::config::parse_socket_mode(text), Ok(mode), "{text}");
    }
    let err = check("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\nsocket_mode = \"0o999\"\n");
    assert!(err.err().unwrap_or_default().contains("s.toml:4:15: `0o999` is not an octal permission mode"));
    assert!(crate::config::parse_socket_mode("0o999").is_err());
}

#[test]
fn a_full_configuration() {
    let config = check(
        r#"version = 1
upstream = "tcp://10.0.0.2:2376"
spin_us = 0
[upstream_tls]
ca = "engine-ca.pem"
cert = "client.pem"
key = "client-key.pem"

[[listener]]
address = "tcp://0.0.0.0:2376"
policy = ["policies/deny.toml"]
allow_cidrs = ["172.16.0.0/12"]
[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"
verify = true
[[listener.profile]]
name = "reader"
cn = "reader"
policy = ["policies/read-only.toml"]
[[listener.profile]]
name = "ci"
container_label = "role=ci"
policy = ["policies/ci.toml"]

[[listener]]
address = "unix:///run/sockgate/ci.sock"
socket_mode = "600"
"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.listeners.len(), 2);
    let tcp = &config.listeners[0];
    assert_eq!(tcp.profiles[0].matches.cn.as_deref(), Some("reader"));
    assert_eq!(tcp.profiles[1].policy, PolicySource::Files(vec!["/etc/sockgate/policies/ci.toml".into()]));
    assert_eq!(tcp.tls.as_ref().map(|t| t.verify), Some(true));
    assert_eq!(config.listeners[1].policy, PolicySource::DenyAll);
    assert_eq!(config.listeners[1].socket_mode, 0o600);
    assert!(config.upstream.tls.is_some());
    assert_eq!(config.spin, Duration::ZERO);
    let defaults =
        check("version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\n").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(defaults.spin, Duration::from_micros(DEFAULT_SPIN_US));
    assert_eq!(defaults.listeners[0].caller_limits, crate::config::CallerLimits { connections: 256, requests: 128 });
    assert_eq!(defaults.idle_timeout, Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS));
}

#[test]
fn caller_limits_per_listener_over_the_file_over_the_default() {
    let config = check(
        "version = 1\nmax_connections = 100\nmax_requests_per_caller = 5\nidle_timeout = 0\nheader_timeout = 7\n\
         [[listener]]\naddress = \"unix:///a.sock\"\nmax_connections_per_caller = 3\n\
         [[listener]]\naddress = \"unix:///b.sock\"\n\
         [[listener.profile]]\nname = \"ci\"\nuid = 1000\npolicy = []\nmax_requests_per_caller = 2\n",
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let limits: Vec<_> =
        config.listeners.iter().map(|l| (l.caller_limits.connections, l.caller_limits.requests)).collect();
    assert_eq!(limits, [(3, 5), (25, 5)]);
    // A profile's own limit, the rest its listener's.
    let ci = config.listeners[1].profiles[0].caller_limits;
    assert_eq!(ci, Some(crate::config::CallerLimits { connections: 25, requests: 2 }));
    assert_eq!((config.idle_timeout, config.header_timeout), (Duration::ZERO, Duration::from_secs(7)));
    let err = check("version = 1\nheader_timeout = 0\n[[listener]]\naddress = \"unix:///a.sock\"\n").err();
    assert!(err.unwrap_or_default().contains("s.toml:2:18: `header_timeout` must be at least 1 second"));
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let err = check(
        "version = 1\n[[listener]]\naddress = \"tcp://nowhere\"\n[[listener]]\naddress = \"unix:///x.sock\"\nallow_cidrs = [\"10.0.0.0/99\"]\nsocket_mode = \"999\"\n[[listener.profile]]\nname = \"nobody\"\npolicy = []\n",
    )
    .err()
    .unwrap_or_default();
    assert!(err.contains("s.toml:3:11: invalid address `tcp://nowhere`"), "{err}");
    assert!(err.contains("s.toml:6:16: `10.0.0.0/99` has an invalid prefix length"), "{err}");
    assert!(err.contains("s.toml:7:15: `999` is not an octal permission mode"), "{err}");
    assert!(err.contains("s.toml:9:8: profile `nobody` matches nobody"), "{err}");
    let err = check("version = 1\n[[listener]]\nadress = \"unix:///x\"\n").err().unwrap_or_default();
    assert!(err.contains("s.toml:3:1: unknown key `adress`, did you mean `address`?"), "{err}");
}

#[test]
fn builtin_policies_are_named_as_with_the_flag() {
    let config = check(
        "version = 1\n[[listener]]\naddress = \"unix:///x.sock\"\npolicy = [\"builtin:ci\", \"extra.toml\"]\n\
         [[listener.profile]]\nname = \"root\"\nuid = 0\npolicy = [\"builtin:full-access\"]\n",
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let listener = &config.listeners[0];
    let files = vec!["builtin:ci".into(), "/etc/sockgate/extra.toml".into()];
    assert_eq!(listener.policy, PolicySource::Files(files));
    assert_eq!(listener.profiles[0].policy, PolicySource::Files(vec!["builtin:full-access".into()]));
    // And they load as they do from the command line.
    let policy = crate::profile::load_source(&listener.profiles[0].policy).map(|p| p.name);
    assert_eq!(policy.ok().as_deref(), Some("full-access"));
}
