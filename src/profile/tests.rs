//! The profile module's tests: matching, loading with reservations, and warnings.

use super::*;
use crate::config::{ListenerConfig, PolicySource, Profile};
use crate::identify::cert::CertIdentity;
use crate::identify::cert::San;
use crate::identify::containers::ContainerInfo;
use crate::identify::Peer;
use crate::naming::image::Pin;

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
    assert!(matches("p", &Match { cidr: net, cn: Some("ci".into()), ..Match::default() }, &tls(&["ci"], Vec::new())));
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
        Match { container_image: crate::naming::image::pin("traefik:*").ok().map(|p| vec![p]), ..by_label };
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
        own_networks_only: false,
        insecure: false,
        policy: ci.clone(),
        profiles,
        owner: None,
        caller_limits: crate::config::CallerLimits { connections: 1, requests: 1 },
    };
    let proxy = Profile {
        name: "proxy".into(),
        matches: Match { container_label: Some("role=proxy".into()), ..Match::default() },
        policy: PolicySource::BuiltinReadOnly,
        caller_limits: None,
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
            container_image: crate::naming::image::pin("traefik:*").ok().map(|p| vec![p]),
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
                caller_limits: None,
            },
            Profile {
                name: "proxy".into(),
                matches: Match { container_label: Some("role=proxy".into()), ..Match::default() },
                policy: PolicySource::BuiltinReadOnly,
                caller_limits: None,
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
