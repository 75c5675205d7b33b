//! Whether a caller's identity meets a profile's match: uid and gid of host processes, the
//! client certificate's names, the network, and a container's name, labels and image, the last
//! only for containers no weaker caller could have made. It loads nothing and picks no profile.

use crate::config::Match;
use crate::identify::cert::San;
use crate::identify::containers::ContainerInfo;
use crate::identify::{Identity, Peer};
use crate::naming::image::Pin;

use super::CREATED_BY;

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
    let by_id = crate::naming::image::normalize(&container.image, true)
        .map_or(true, |r| matches!(r, crate::naming::image::Reference::Id(_)));
    let pins = m.container_image.as_deref();
    let pinned_id = pins.is_some_and(|pins| {
        pins.iter().any(|p| matches!(p, Pin::Id(_)) && p.holds(&container.image_id, &container.image))
    });
    let pinned = pins.is_none_or(|pins| pins.iter().any(|p| p.holds(&container.image_id, &container.image)));
    !stamped_by_other && (!by_id || pinned_id) && pinned
}
