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

mod load;
mod matching;
#[cfg(test)]
mod tests;
mod warnings;

use std::sync::Arc;

use crate::config::{CallerLimits, Match};
use crate::identify::Identity;
use crate::policy::Policy;
pub use crate::references::CREATED_BY;
pub use load::load_source;
pub use matching::matches;
pub use warnings::warnings;

/// The policies of one listener.
#[derive(Debug)]
pub struct Profiles {
    default: Arc<Policy>,
    profiles: Vec<(Arc<str>, Match, Arc<Policy>)>,
    /// The limits per caller of the profiles that set their own, by name.
    limits: Vec<(Arc<str>, CallerLimits)>,
}

impl Profiles {
    /// Whether any of its policies derives owners from the calling container, which needs
    /// container discovery.
    pub fn needs_containers(&self) -> bool {
        use crate::policy::ownership::OwnerSource;
        std::iter::once(&self.default).chain(self.profiles.iter().map(|(_, _, p)| p)).any(|policy| {
            policy.ownership.as_ref().is_some_and(|o| {
                matches!(o.source, OwnerSource::Identity | OwnerSource::Container | OwnerSource::ContainerLabel(_))
            })
        })
    }

    /// The limits per caller of profile `name`, if it sets its own.
    pub fn limits(&self, name: Option<&str>) -> Option<CallerLimits> {
        let name = name?;
        self.limits.iter().find(|(n, _)| &**n == name).map(|(_, limits)| *limits)
    }

    /// The profile name (if one matched) and the policy for `identity`.
    pub fn select(&self, identity: &Identity) -> (Option<Arc<str>>, Arc<Policy>) {
        self.profiles
            .iter()
            .find(|(name, m, _)| matches(name, m, identity))
            .map_or((None, self.default.clone()), |(name, _, policy)| (Some(name.clone()), policy.clone()))
    }
}
