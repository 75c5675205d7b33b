//! Checks one `[[listener.profile]]` into a [`Profile`]: the caller it matches (uid, gid,
//! certificate names, network, container name, label and image) and the policy files it names.
//! A profile that matches nobody, or on what its listener cannot tell, is reported. Limits per
//! caller it does not set are its listener's. It loads no policy.

use std::net::IpAddr;
use std::path::PathBuf;

use super::raw::RawProfile;
use crate::config::{CallerLimits, Cidr, Match, PolicySource, Profile};
use crate::tls::ServerTls;

/// The profile `profile` describes; its problems go to `err` as `(byte offset, message)`, and
/// `policy_path` reads the policies it names.
pub(super) fn check(
    profile: RawProfile,
    tls: Option<&ServerTls>,
    listener_limits: CallerLimits,
    err: &mut impl FnMut(usize, String),
    policy_path: &impl Fn(&str) -> PathBuf,
) -> Profile {
    let cidr = profile.cidr.as_ref().and_then(|c| match c.get_ref().parse::<Cidr>() {
        Ok(cidr) => Some(cidr),
        Err(e) => {
            err(c.span().start, e);
            None
        }
    });
    let san_ip = profile.san_ip.as_ref().and_then(|ip| match ip.get_ref().parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            err(ip.span().start, format!("`{}` is not an IP address", ip.get_ref()));
            None
        }
    });
    let container_image = profile.container_image.map(|images| {
        images
            .into_iter()
            .filter_map(|i| match crate::naming::image::pin(i.get_ref()) {
                Ok(pin) => Some(pin),
                Err(e) => {
                    err(i.span().start, e);
                    None
                }
            })
            .collect()
    });
    // `san` is the DNS name it has always been compared with; the typed keys say which.
    let san_dns = match (profile.san, profile.san_dns) {
        (Some(_), Some(_)) => {
            err(profile.name.span().start, "`san` and `san_dns` are the same key: give one".into());
            None
        }
        (one, other) => one.or(other),
    };
    let matches = Match {
        uid: profile.uid,
        gid: profile.gid,
        cn: profile.cn,
        san_dns,
        san_uri: profile.san_uri,
        san_email: profile.san_email,
        san_ip,
        cidr,
        container_name: profile.container_name,
        container_label: profile.container_label,
        container_image,
        include_containers: profile.include_containers,
    };
    if !matches.names_someone() {
        err(
            profile.name.span().start,
            format!(
                "profile `{}` matches nobody: give it `uid`, `gid`, `cn`, `san_dns`, `san_uri`, `san_email`, \
                 `san_ip`, `cidr`, `container_name` or `container_label`",
                profile.name.get_ref()
            ),
        );
    }
    if matches.include_containers && matches.uid.is_none() && matches.gid.is_none() {
        err(
            profile.name.span().start,
            format!(
                "profile `{}`: `include_containers` is about `uid` and `gid`, which it does not match on",
                profile.name.get_ref()
            ),
        );
    }
    if matches.container_image.is_some() && matches.container_name.is_none() && matches.container_label.is_none() {
        err(
            profile.name.span().start,
            format!(
                "profile `{}`: `container_image` narrows `container_name` or `container_label`, which it does not match on",
                profile.name.get_ref()
            ),
        );
    }
    let verifies = tls.is_some_and(|t| t.verify);
    if matches.on_certificate() && !verifies {
        err(
            profile.name.span().start,
            format!(
                "profile `{}` matches on a client certificate, but its listener asks for none (`[listener.tls]` with `verify = true`)",
                profile.name.get_ref()
            ),
        );
    }
    let policy = PolicySource::Files(profile.policy.iter().map(|p| policy_path(p)).collect());
    let caller_limits = match (profile.max_connections_per_caller, profile.max_requests_per_caller) {
        (None, None) => None,
        (connections, requests) => Some(CallerLimits {
            connections: connections.unwrap_or(listener_limits.connections).max(1),
            requests: requests.unwrap_or(listener_limits.requests).max(1),
        }),
    };
    Profile { name: profile.name.into_inner(), matches, policy, caller_limits }
}
