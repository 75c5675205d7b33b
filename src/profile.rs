//! Picks the policy that applies to a caller: the first of the listener's profiles whose match
//! holds for the caller's identity, or else the listener's default (deny-all unless configured).
//! It does not evaluate requests.
//!
//! A profile may match only on facts that no caller with a weaker profile can produce through
//! sockgate. Certificates and the uids of host processes are such facts. A container's name and
//! labels are chosen by whoever creates it, so a container-matched profile holds only for a
//! container that sockgate did not create for another profile (every create through sockgate is
//! stamped with the creating profile, [`CREATED_BY`]), that was not created from a bare image id
//! (as the classic builder creates the container of every `RUN` step, with the labels the
//! Dockerfile has set so far) unless the profile pins that id, and that runs a pinned image when
//! the profile pins one. uid and gid match host processes only, unless the profile says
//! `include_containers`: root in a container is uid 0 on the host.

use std::sync::Arc;

use crate::config::{ListenerConfig, Match, PolicySource, Profile};
use crate::diagnostics::Problems;
use crate::identify::cert::San;
use crate::identify::containers::ContainerInfo;
use crate::identify::{Identity, Peer};
use crate::inspect::image::Pin;
use crate::policy::{compat, Policy, Reservation};
pub use crate::references::CREATED_BY;

/// The policies of one listener.
#[derive(Debug)]
pub struct Profiles {
    default: Arc<Policy>,
    profiles: Vec<(Arc<str>, Match, Arc<Policy>)>,
}

impl Profiles {
    /// Loads every listener's policies. Each policy is given the container names and labels that
    /// the profiles of every listener match on (but its own), as reservations its callers may not
    /// take: a caller of one listener must not make a container that another listener's profile
    /// would take for its own caller.
    pub fn load_all(listeners: &[ListenerConfig]) -> Result<Vec<Profiles>, Problems> {
        let reservations = reservations(listeners.iter().flat_map(|l| &l.profiles));
        let mut errors = Problems::default();
        let mut loaded = Vec::new();
        for listener in listeners {
            match Profiles::load_reserving(
                &listener.policy,
                &listener.profiles,
                &reservations,
                listener.owner.as_deref(),
            ) {
                Ok(profiles) => loaded.push(profiles),
                Err(e) => errors.0.extend(e.0),
            }
        }
        if errors.0.is_empty() {
            Ok(loaded)
        } else {
            Err(errors)
        }
    }

    /// Loads one listener's default policy and its profiles' policies, reserving what its own
    /// profiles match on.
    pub fn load(default: &PolicySource, profiles: &[Profile]) -> Result<Profiles, Problems> {
        Profiles::load_reserving(default, profiles, &reservations(profiles.iter()), None)
    }

    fn load_reserving(
        default: &PolicySource,
        profiles: &[Profile],
        reservations: &[Reservation],
        owner: Option<&str>,
    ) -> Result<Profiles, Problems> {
        let mut errors = Problems::default();
        let mut load = |source: &PolicySource| match load_source(source) {
            Ok(policy) => Some(policy),
            Err(e) => {
                errors.0.extend(e.0);
                None
            }
        };
        let default = load(default);
        let loaded: Vec<_> = profiles.iter().filter_map(|p| load(&p.policy).map(|policy| (p, policy))).collect();
        let (Some(mut default), true) = (default, errors.0.is_empty()) else { return Err(errors) };
        default.reserved = reservations.to_vec();
        // A listener's fixed owner turns ownership on for every policy it serves.
        let owned = |policy: &mut Policy| {
            if let Some(owner) = owner {
                let label = policy.ownership.as_ref().map_or(crate::tenancy::DEFAULT_LABEL, |o| o.label.as_str());
                policy.ownership = Some(crate::tenancy::Ownership {
                    source: crate::tenancy::OwnerSource::Fixed(owner.to_owned()),
                    label: label.to_owned(),
                });
            }
        };
        owned(&mut default);
        let profiles = loaded
            .into_iter()
            .map(|(profile, mut policy)| {
                policy.reserved = reservations.iter().filter(|r| r.profile != profile.name).cloned().collect();
                owned(&mut policy);
                (Arc::from(profile.name.as_str()), profile.matches.clone(), Arc::new(policy))
            })
            .collect();
        Ok(Profiles { default: Arc::new(default), profiles })
    }

    /// Whether any of its policies derives owners from the calling container, which needs
    /// container discovery.
    pub fn needs_containers(&self) -> bool {
        use crate::tenancy::OwnerSource;
        std::iter::once(&self.default).chain(self.profiles.iter().map(|(_, _, p)| p)).any(|policy| {
            policy.ownership.as_ref().is_some_and(|o| {
                matches!(o.source, OwnerSource::Identity | OwnerSource::Container | OwnerSource::ContainerLabel(_))
            })
        })
    }

    /// The profile name (if one matched) and the policy for `identity`.
    pub fn select(&self, identity: &Identity) -> (Option<Arc<str>>, Arc<Policy>) {
        self.profiles
            .iter()
            .find(|(name, m, _)| matches(name, m, identity))
            .map_or((None, self.default.clone()), |(name, _, policy)| (Some(name.clone()), policy.clone()))
    }
}

/// What a reviewer should know about the container-matched profiles of a configuration whose
/// policies are `loaded` (one [`Profiles`] per listener, in order): a profile without an image pin
/// trusts any container someone made outside sockgate with its name or label, and callers that may
/// exec into or copy into containers can take over a matched container's identity.
pub fn warnings(listeners: &[ListenerConfig], loaded: &[Profiles]) -> Vec<String> {
    let mut out = Vec::new();
    let matched: Vec<&Profile> =
        listeners.iter().flat_map(|l| &l.profiles).filter(|p| p.matches.on_container()).collect();
    if matched.is_empty() {
        return out;
    }
    for profile in &matched {
        if profile.matches.container_image.is_none() {
            out.push(format!(
                "profile `{}` matches on a container's name or labels without `container_image`: any container \
                 made outside sockgate with them is taken for it; pin the image it runs",
                profile.name
            ));
        }
    }
    let takeover = ["exec.create", "containers.archive.put"];
    for profiles in loaded {
        let all =
            std::iter::once((None, &profiles.default)).chain(profiles.profiles.iter().map(|(n, _, p)| (Some(n), p)));
        for (name, policy) in all {
            let allowed: Vec<&str> = takeover
                .iter()
                .copied()
                .filter(|op| {
                    crate::classify::Operation::from_name(op).is_some_and(|operation| {
                        let request = crate::decide::Request { operation, method: "POST", path: "/", findings: &[] };
                        crate::decide::decide(policy, &request).allowed
                    })
                })
                .collect();
            if allowed.is_empty() || name.is_some_and(|n| matched.iter().any(|m| m.name == **n)) {
                continue;
            }
            let who =
                name.map_or_else(|| format!("the default policy `{}`", policy.name), |n| format!("profile `{n}`"));
            out.push(format!(
                "{who} allows {}: its callers can run code in a container that a container-matched profile \
                 names, and so act as that profile",
                allowed.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(" and ")
            ));
        }
    }
    out
}

/// The container names and labels that these profiles match callers on.
fn reservations<'a>(profiles: impl Iterator<Item = &'a Profile>) -> Vec<Reservation> {
    profiles
        .filter(|p| p.matches.on_container())
        .map(|p| Reservation {
            profile: p.name.clone(),
            name: p.matches.container_name.clone(),
            label: p.matches.container_label.clone(),
        })
        .collect()
}

/// Loads a policy from where the configuration says it is.
pub fn load_source(source: &PolicySource) -> Result<Policy, Problems> {
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

/// Whether every condition of `m` holds for `identity`, for the profile called `profile`.
pub fn matches(profile: &str, m: &Match, identity: &Identity) -> bool {
    let (uid, gid) = match identity.peer {
        Peer::Unix { uid, gid, host, .. } if host || m.include_containers => (Some(uid), Some(gid)),
        _ => (None, None),
    };
    let ip = match identity.peer {
        Peer::Tcp { addr } => Some(addr.ip()),
        _ => None,
    };
    let cert = identity.certificate.as_ref();
    let san = |want: &dyn Fn(&San) -> bool| cert.is_some_and(|c| c.sans.iter().any(want));
    let container = identity.container.as_ref().filter(|c| !m.on_container() || trusted_for(profile, m, c));
    m.uid.is_none_or(|want| uid == Some(want))
        && m.gid.is_none_or(|want| gid == Some(want))
        && m.cn.as_ref().is_none_or(|want| cert.and_then(|c| c.common_name.as_ref()) == Some(want))
        && m.san_dns.as_ref().is_none_or(|want| san(&|s| matches!(s, San::Dns(d) if d.eq_ignore_ascii_case(want))))
        && m.san_uri.as_ref().is_none_or(|want| san(&|s| matches!(s, San::Uri(u) if u == want)))
        && m.san_email.as_ref().is_none_or(|want| san(&|s| matches!(s, San::Email(e) if e == want)))
        && m.san_ip.is_none_or(|want| san(&|s| matches!(s, San::Ip(ip) if ip.to_canonical() == want.to_canonical())))
        && m.cidr.is_none_or(|net| ip.is_some_and(|ip| net.contains(ip)))
        && m.container_name.as_ref().is_none_or(|glob| container.is_some_and(|c| crate::glob::matches(glob, &c.name)))
        && m.container_label.as_ref().is_none_or(|label| {
            container.is_some_and(|c| match label.split_once('=') {
                Some((k, v)) => c.labels.get(k).is_some_and(|have| have == v),
                None => c.labels.contains_key(label.as_str()),
            })
        })
}

/// Whether a container's name and labels may stand for the profile `profile`: no other profile
/// had sockgate create it, it was not created from a bare image id unless that id is pinned, and
/// it runs a pinned image where the profile pins any.
fn trusted_for(profile: &str, m: &Match, container: &ContainerInfo) -> bool {
    let stamped_by_other = container.labels.get(CREATED_BY).is_some_and(|by| by != profile);
    let by_id = crate::inspect::image::normalize(&container.image, true)
        .map_or(true, |r| matches!(r, crate::inspect::image::Reference::Id(_)));
    let pins = m.container_image.as_deref();
    let pinned_id = pins.is_some_and(|pins| {
        pins.iter().any(|p| matches!(p, Pin::Id(_)) && p.holds(&container.image_id, &container.image))
    });
    let pinned = pins.is_none_or(|pins| pins.iter().any(|p| p.holds(&container.image_id, &container.image)));
    !stamped_by_other && (!by_id || pinned_id) && pinned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identify::cert::CertIdentity;
    use crate::identify::containers::ContainerInfo;

    fn unix(uid: u32, host: bool) -> Identity {
        Identity {
            listener: "unix:///x".into(),
            peer: Peer::Unix { uid, gid: 100, pid: None, host },
            certificate: None,
            container: None,
        }
    }

    fn tls(common_names: &[&str], sans: Vec<San>) -> Identity {
        let mut identity = unix(0, true);
        identity.peer = Peer::Tcp { addr: "10.1.2.3:5000".parse().unwrap_or_else(|_| unreachable!()) };
        identity.certificate = Some(CertIdentity {
            common_name: match common_names {
                [one] => Some((*one).to_string()),
                _ => None,
            },
            common_names: common_names.len(),
            sans,
            fingerprint: "ab".into(),
        });
        identity
    }

    fn container(name: &str, labels: &[(&str, &str)], image: &str) -> ContainerInfo {
        ContainerInfo {
            id: "abc".into(),
            name: name.into(),
            labels: labels.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
            image: image.into(),
            image_id: format!("sha256:{}", "1".repeat(64)),
        }
    }

    #[test]
    fn uids_match_host_processes_unless_told_otherwise() {
        let by_uid = Match { uid: Some(0), ..Match::default() };
        assert!(matches("admin", &by_uid, &unix(0, true)));
        assert!(!matches("admin", &by_uid, &unix(1000, true)));
        assert!(!matches("admin", &by_uid, &unix(0, false)), "root in a container is not the host's root");
        let with_containers = Match { uid: Some(0), include_containers: true, ..Match::default() };
        assert!(matches("admin", &with_containers, &unix(0, false)));
    }

    #[test]
    fn certificates_match_by_one_common_name_and_by_typed_names() {
        let cn = Match { cn: Some("ci".into()), ..Match::default() };
        assert!(matches("p", &cn, &tls(&["ci"], Vec::new())));
        assert!(!matches("p", &Match { cn: Some("reader".into()), ..Match::default() }, &tls(&["ci"], Vec::new())));
        let admin = Match { cn: Some("admin".into()), ..Match::default() };
        assert!(!matches("p", &admin, &tls(&["admin", "ci"], Vec::new())), "two readers may read two CNs apart");
        assert!(!matches("p", &cn, &tls(&["admin", "ci"], Vec::new())));
        let dns = Match { san_dns: Some("ci.example.com".into()), ..Match::default() };
        assert!(matches("p", &dns, &tls(&[], vec![San::Dns("CI.example.com".into())])));
        assert!(!matches("p", &dns, &tls(&[], vec![San::Uri("ci.example.com".into())])), "a URI is no DNS name");
        let uri = Match { san_uri: Some("spiffe://ci".into()), ..Match::default() };
        assert!(matches("p", &uri, &tls(&[], vec![San::Uri("spiffe://ci".into())])));
        let ip = Match { san_ip: "10.0.0.1".parse().ok(), ..Match::default() };
        assert!(matches("p", &ip, &tls(&[], vec![San::Ip("10.0.0.1".parse().unwrap_or_else(|_| unreachable!()))])));
        assert!(!matches("p", &ip, &tls(&[], vec![San::Dns("10.0.0.1".into())])));
        let net = "10.0.0.0/8".parse().ok();
        assert!(matches(
            "p",
            &Match { cidr: net, cn: Some("ci".into()), ..Match::default() },
            &tls(&["ci"], Vec::new())
        ));
    }

    #[test]
    fn containers_match_only_where_no_weaker_caller_could_have_made_them() {
        let by_label = Match { container_label: Some("role=proxy".into()), ..Match::default() };
        let by_name = Match { container_name: Some("traefik*".into()), ..Match::default() };
        let with = |c: ContainerInfo| {
            let mut identity = unix(0, false);
            identity.container = Some(c);
            identity
        };
        let outside = with(container("traefik", &[("role", "proxy")], "traefik:3"));
        assert!(matches("proxy", &by_label, &outside));
        assert!(matches("proxy", &by_name, &outside));
        assert!(!matches("proxy", &Match { container_label: Some("role=web".into()), ..Match::default() }, &outside));
        // Made through sockgate for another profile: never this one's.
        let stamped = with(container("traefik", &[("role", "proxy"), (CREATED_BY, "ci")], "traefik:3"));
        assert!(!matches("proxy", &by_label, &stamped));
        assert!(!matches("proxy", &by_name, &stamped));
        let own = with(container("traefik", &[("role", "proxy"), (CREATED_BY, "proxy")], "traefik:3"));
        assert!(matches("proxy", &by_label, &own));
        // Made from a bare image id, as the classic builder makes every RUN step's container.
        let id = format!("sha256:{}", "1".repeat(64));
        let built = with(container("eager_turing", &[("role", "proxy")], &id));
        assert!(!matches("proxy", &by_label, &built));
        let pinned = Match { container_image: Some(vec![Pin::Id(id.clone())]), ..by_label.clone() };
        assert!(matches("proxy", &pinned, &built));
        // A pinned image must be the one the container runs.
        let pinned_name =
            Match { container_image: crate::inspect::image::pin("traefik:*").ok().map(|p| vec![p]), ..by_label };
        assert!(matches("proxy", &pinned_name, &outside));
        assert!(!matches("proxy", &pinned_name, &with(container("x", &[("role", "proxy")], "evil/traefik:3"))));
    }

    #[test]
    fn a_reviewer_is_told_where_a_container_profile_can_be_taken_over() {
        let ci = PolicySource::Inline {
            name: "ci".into(),
            text: "version = 1\n[[rule]]\nid = \"ci\"\nallow = [\"containers.*\", \"exec.*\"]\n".into(),
        };
        let listener = |profiles: Vec<Profile>| ListenerConfig {
            addr: "unix:///x.sock".parse().unwrap_or_else(|_| unreachable!()),
            socket_mode: 0o660,
            socket_group: None,
            tls: None,
            allow_cidrs: Vec::new(),
            insecure: false,
            policy: ci.clone(),
            profiles,
            owner: None,
        };
        let proxy = Profile {
            name: "proxy".into(),
            matches: Match { container_label: Some("role=proxy".into()), ..Match::default() },
            policy: PolicySource::BuiltinReadOnly,
        };
        let listeners = vec![listener(vec![proxy.clone()])];
        let loaded = Profiles::load_all(&listeners).unwrap_or_else(|e| unreachable!("{e}"));
        let said = warnings(&listeners, &loaded).join("\n");
        assert!(
            said.contains("profile `proxy` matches on a container's name or labels without `container_image`"),
            "{said}"
        );
        assert!(said.contains("the default policy `ci` allows `exec.create` and `containers.archive.put`"), "{said}");
        let pinned = Profile {
            matches: Match {
                container_image: crate::inspect::image::pin("traefik:*").ok().map(|p| vec![p]),
                ..proxy.matches
            },
            ..proxy
        };
        let listeners = vec![listener(vec![pinned])];
        let loaded = Profiles::load_all(&listeners).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(warnings(&listeners, &loaded).len(), 1, "only the exec warning is left");
        let plain = vec![listener(Vec::new())];
        let loaded = Profiles::load_all(&plain).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(warnings(&plain, &loaded).is_empty(), "no container profile, nothing to say");
    }

    #[test]
    fn first_matching_profile_wins_and_the_rest_get_the_default() {
        let profiles = Profiles::load(
            &PolicySource::DenyAll,
            &[
                Profile {
                    name: "root".into(),
                    matches: Match { uid: Some(0), ..Match::default() },
                    policy: PolicySource::BuiltinReadOnly,
                },
                Profile {
                    name: "proxy".into(),
                    matches: Match { container_label: Some("role=proxy".into()), ..Match::default() },
                    policy: PolicySource::BuiltinReadOnly,
                },
            ],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let (name, policy) = profiles.select(&unix(0, true));
        assert_eq!((name.as_deref(), policy.name.as_str()), (Some("root"), "read-only"));
        assert_eq!(policy.reserved.len(), 1, "the other profile's label is reserved for it");
        let (name, policy) = profiles.select(&unix(1000, true));
        assert_eq!((name, policy.name.as_str()), (None, "deny-all"));
        assert_eq!(policy.reserved.first().map(|r| r.profile.as_str()), Some("proxy"));
    }
}
