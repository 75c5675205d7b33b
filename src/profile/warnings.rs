//! What `check-config` tells a reviewer about container-matched profiles: an unpinned image, and
//! policies whose callers could take over a matched container. It warns; it refuses nothing.

use super::Profiles;
use crate::classify::Operation;
use crate::config::{ListenerConfig, Profile};

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
    let takeover = [Operation::EXEC_CREATE, Operation::CONTAINERS_ARCHIVE_PUT];
    for profiles in loaded {
        let all =
            std::iter::once((None, &profiles.default)).chain(profiles.profiles.iter().map(|(n, _, p)| (Some(n), p)));
        for (name, policy) in all {
            let allowed: Vec<&str> = takeover
                .iter()
                .copied()
                .filter(|&operation| {
                    let request = crate::decide::Request { operation, method: "POST", path: "/", findings: &[] };
                    crate::decide::decide(policy, &request).allowed
                })
                .map(Operation::name)
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
