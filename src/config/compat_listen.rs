//! The docker-socket-proxy drop-in listener. Tecnativa's and linuxserver's proxies serve plain TCP
//! on port 2375 to the containers next to them; in env-var mode (the policy comes from their
//! variables), `--compat-listen` (`SOCKGATE_COMPAT_LISTEN`, which the image sets to
//! `tcp://0.0.0.0:2375`) adds such a listener, for peers on the networks of sockgate's own
//! interfaces only. Outside env-var mode it adds nothing and says why. It describes the listener;
//! the server reads the interfaces when it starts.

use super::{CallerLimits, ListenAddr, ListenerConfig, PolicySource};
use crate::address::Cidr;
use crate::policy::compat;

/// Reads the drop-in listener's address: plain TCP only.
pub fn parse(text: &str) -> Result<ListenAddr, String> {
    match text.parse::<ListenAddr>().map_err(|e| e.to_string())? {
        addr @ ListenAddr::Tcp(_) => Ok(addr),
        ListenAddr::Unix(_) => Err(format!("`{text}` is not a `tcp://host:port` address")),
    }
}

/// The drop-in listener at `addr` if the policy comes from docker-socket-proxy variables and no
/// other listener has the address; else none, with a log line saying why.
pub fn listener(
    addr: Option<ListenAddr>,
    policy: &PolicySource,
    listeners: &[ListenerConfig],
    allow_cidrs: &[Cidr],
    owner: Option<String>,
    caller_limits: CallerLimits,
) -> Option<ListenerConfig> {
    let addr = addr?;
    match policy {
        PolicySource::Inline { name, .. } if name == compat::POLICY_NAME => {}
        PolicySource::Files(_) => return ignored(&addr, "--policy is given"),
        _ => return ignored(&addr, "no docker-socket-proxy variable is set"),
    }
    if listeners.iter().any(|l| l.addr == addr) {
        return ignored(&addr, "--listen names the same address");
    }
    Some(ListenerConfig {
        addr,
        socket_mode: super::defaults::DEFAULT_SOCKET_MODE,
        socket_group: None,
        tls: None,
        allow_cidrs: allow_cidrs.to_vec(),
        insecure: false,
        own_networks_only: true,
        policy: policy.clone(),
        profiles: Vec::new(),
        owner,
        caller_limits,
    })
}

/// Logs that the drop-in listener at `addr` is not opened, and `why`.
pub fn ignored<T>(addr: &ListenAddr, why: &str) -> Option<T> {
    tracing::info!(
        "SOCKGATE_COMPAT_LISTEN `{addr}` is ignored: it applies only when the policy comes from \
         docker-socket-proxy variables, and {why}"
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: CallerLimits = CallerLimits { connections: 256, requests: 128 };

    fn tcp() -> ListenAddr {
        parse("tcp://0.0.0.0:2375").unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn only_in_env_var_mode_and_only_plain_tcp() {
        assert!(parse("unix:///run/x.sock").is_err());
        let env = PolicySource::Inline { name: compat::POLICY_NAME.into(), text: String::new() };
        let added = listener(Some(tcp()), &env, &[], &[], None, LIMITS).unwrap_or_else(|| unreachable!());
        assert!(added.own_networks_only && added.tls.is_none() && !added.insecure);
        assert_eq!(added.policy, env);
        assert!(listener(None, &env, &[], &[], None, LIMITS).is_none());
        assert!(listener(Some(tcp()), &PolicySource::Files(vec!["p.toml".into()]), &[], &[], None, LIMITS).is_none());
        assert!(listener(Some(tcp()), &PolicySource::BuiltinReadOnly, &[], &[], None, LIMITS).is_none());
        assert!(listener(Some(tcp()), &env, &[added], &[], None, LIMITS).is_none());
    }
}
