//! Picks the policy that applies to a caller: the first of the listener's profiles whose match
//! holds for the caller's identity, or else the listener's default (deny-all unless configured).
//! It loads policies once per distinct source; it does not evaluate requests.

use std::sync::Arc;

use crate::config::{Match, PolicySource, Profile};
use crate::identify::{Identity, Peer};
use crate::policy::{compat, glob_match, Policy, PolicyErrors};

/// The policies of one listener.
#[derive(Debug)]
pub struct Profiles {
    default: Arc<Policy>,
    profiles: Vec<(Arc<str>, Match, Arc<Policy>)>,
}

impl Profiles {
    /// Loads a listener's default policy and its profiles' policies.
    pub fn load(default: &PolicySource, profiles: &[Profile]) -> Result<Profiles, PolicyErrors> {
        let mut errors = PolicyErrors::default();
        let mut load = |source: &PolicySource| match load_source(source) {
            Ok(policy) => Some(Arc::new(policy)),
            Err(e) => {
                errors.0.extend(e.0);
                None
            }
        };
        let default = load(default);
        let profiles: Vec<_> = profiles
            .iter()
            .filter_map(|p| load(&p.policy).map(|policy| (Arc::from(p.name.as_str()), p.matches.clone(), policy)))
            .collect();
        match default {
            Some(default) if errors.0.is_empty() => Ok(Profiles { default, profiles }),
            _ => Err(errors),
        }
    }

    /// The profile name (if one matched) and the policy for `identity`.
    pub fn select(&self, identity: &Identity) -> (Option<Arc<str>>, Arc<Policy>) {
        self.profiles
            .iter()
            .find(|(_, m, _)| matches(m, identity))
            .map_or((None, self.default.clone()), |(name, _, policy)| (Some(name.clone()), policy.clone()))
    }
}

/// Loads a policy from where the configuration says it is.
pub fn load_source(source: &PolicySource) -> Result<Policy, PolicyErrors> {
    match source {
        PolicySource::Files(files) => Policy::load(files),
        PolicySource::Inline { name, text } => {
            let policy = Policy::from_sources(name, &[(format!("<{name}>"), text.clone())])?;
            // The text was made from the process's docker-socket-proxy variables: a denial can
            // name the one that would allow it.
            Ok(if name == compat::POLICY_NAME {
                policy.with_hints(compat::hinter(&|n| std::env::var(n).ok()))
            } else {
                policy
            })
        }
        PolicySource::BuiltinReadOnly => Policy::builtin_read_only(),
        PolicySource::DenyAll => Policy::from_sources("deny-all", &[("<deny-all>".into(), "version = 1\n".into())]),
    }
}

/// Whether every condition of `m` holds for `identity`.
pub fn matches(m: &Match, identity: &Identity) -> bool {
    let (uid, gid) = match identity.peer {
        Peer::Unix { uid, gid, .. } => (Some(uid), Some(gid)),
        _ => (None, None),
    };
    let ip = match identity.peer {
        Peer::Tcp { addr } => Some(addr.ip()),
        _ => None,
    };
    let cert = identity.certificate.as_ref();
    let container = identity.container.as_ref();
    m.uid.is_none_or(|want| uid == Some(want))
        && m.gid.is_none_or(|want| gid == Some(want))
        && m.cn.as_ref().is_none_or(|want| cert.and_then(|c| c.common_name.as_ref()) == Some(want))
        && m.san.as_ref().is_none_or(|want| cert.is_some_and(|c| c.sans.iter().any(|s| s == want)))
        && m.cidr.is_none_or(|net| ip.is_some_and(|ip| net.contains(ip)))
        && m.container_name.as_ref().is_none_or(|glob| container.is_some_and(|c| glob_match(glob, &c.name)))
        && m.container_label.as_ref().is_none_or(|label| {
            container.is_some_and(|c| match label.split_once('=') {
                Some((k, v)) => c.labels.get(k).is_some_and(|have| have == v),
                None => c.labels.contains_key(label.as_str()),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identify::cert::CertIdentity;
    use crate::identify::containers::ContainerInfo;

    fn unix(uid: u32) -> Identity {
        Identity {
            listener: "unix:///x".into(),
            peer: Peer::Unix { uid, gid: 100, pid: None },
            certificate: None,
            container: None,
            profile: None,
        }
    }

    #[test]
    fn conditions() {
        let by_uid = Match { uid: Some(1000), ..Match::default() };
        assert!(matches(&by_uid, &unix(1000)));
        assert!(!matches(&by_uid, &unix(0)));
        let mut tls = unix(0);
        tls.peer = Peer::Tcp { addr: "10.1.2.3:5000".parse().unwrap_or_else(|_| unreachable!()) };
        tls.certificate = Some(CertIdentity {
            common_name: Some("ci".into()),
            sans: vec!["ci.example.com".into()],
            fingerprint: "ab".into(),
        });
        assert!(matches(&Match { cn: Some("ci".into()), ..Match::default() }, &tls));
        assert!(!matches(&Match { cn: Some("reader".into()), ..Match::default() }, &tls));
        assert!(matches(&Match { san: Some("ci.example.com".into()), ..Match::default() }, &tls));
        let net = "10.0.0.0/8".parse().ok();
        assert!(matches(&Match { cidr: net, cn: Some("ci".into()), ..Match::default() }, &tls));
        assert!(!matches(&Match { cidr: net, uid: Some(0), ..Match::default() }, &tls));
        tls.container = Some(ContainerInfo {
            id: "abc".into(),
            name: "runner-1".into(),
            labels: [("role".to_string(), "ci".to_string())].into_iter().collect(),
        });
        assert!(matches(&Match { container_name: Some("runner-*".into()), ..Match::default() }, &tls));
        assert!(matches(&Match { container_label: Some("role=ci".into()), ..Match::default() }, &tls));
        assert!(matches(&Match { container_label: Some("role".into()), ..Match::default() }, &tls));
        assert!(!matches(&Match { container_label: Some("role=web".into()), ..Match::default() }, &tls));
    }

    #[test]
    fn first_matching_profile_wins_and_the_rest_get_the_default() {
        let profiles = Profiles::load(
            &PolicySource::DenyAll,
            &[Profile {
                name: "root".into(),
                matches: Match { uid: Some(0), ..Match::default() },
                policy: PolicySource::BuiltinReadOnly,
            }],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let (name, policy) = profiles.select(&unix(0));
        assert_eq!((name.as_deref(), policy.name.as_str()), (Some("root"), "read-only"));
        let (name, policy) = profiles.select(&unix(1000));
        assert_eq!((name, policy.name.as_str()), (None, "deny-all"));
    }
}
