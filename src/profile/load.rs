//! Loads the policies of listeners and their profiles: each policy is given the container names
//! and labels other profiles match on, as reservations its callers may not take, and a listener's
//! fixed owner. It picks no policy for a caller; [`super::Profiles::select`] does.

use std::sync::Arc;

use super::Profiles;
use crate::config::{ListenerConfig, PolicySource, Profile};
use crate::diagnostics::Problems;
use crate::policy::{compat, Policy, Reservation};

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
                let label =
                    policy.ownership.as_ref().map_or(crate::policy::ownership::DEFAULT_LABEL, |o| o.label.as_str());
                policy.ownership = Some(crate::policy::ownership::Ownership {
                    source: crate::policy::ownership::OwnerSource::Fixed(owner.to_owned()),
                    label: label.to_owned(),
                });
            }
        };
        owned(&mut default);
        let limits = profiles
            .iter()
            .filter_map(|p| p.caller_limits.map(|limits| (Arc::from(p.name.as_str()), limits)))
            .collect();
        let profiles = loaded
            .into_iter()
            .map(|(profile, mut policy)| {
                policy.reserved = reservations.iter().filter(|r| r.profile != profile.name).cloned().collect();
                owned(&mut policy);
                (Arc::from(profile.name.as_str()), profile.matches.clone(), Arc::new(policy))
            })
            .collect();
        Ok(Profiles { default: Arc::new(default), profiles, limits })
    }
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
