//! What a container create or network connect names by reference (volumes, networks, other
//! containers), and how an object the engine described is judged as if the request created it.
//! It asks the engine nothing; the resolve stage does.

use super::super::drivers::DriverKind;
use super::super::json::{Json, Struct};
use super::super::{Finding, InspectError, Kind, Reference, Resolved};
use super::mounts::local_volume;
use super::security::namespace;
use crate::references::{Network, Volume};

/// What a create names by reference, and what the engine said of it.
pub(in crate::inspect) struct Refs<'r> {
    pub(in crate::inspect) resolved: Option<&'r Resolved>,
    pub(in crate::inspect) found: &'r mut Vec<Reference>,
}

impl Refs<'_> {
    /// Adds a reference once, whatever names it again.
    pub(in crate::inspect) fn note(&mut self, reference: Reference) {
        if !self.found.contains(&reference) {
            self.found.push(reference);
        }
    }

    pub(in crate::inspect) fn volume(
        &mut self,
        field: &str,
        name: &str,
        read_only: bool,
        findings: &mut Vec<Finding>,
    ) -> Result<(), InspectError> {
        self.note(Reference::Volume(name.to_owned()));
        if let Some(volume) = self.resolved.and_then(|r| r.volume(name)) {
            existing_volume(field, volume, read_only, findings)?;
        }
        Ok(())
    }

    pub(in crate::inspect) fn network(
        &mut self,
        field: &str,
        name: &str,
        findings: &mut Vec<Finding>,
    ) -> Result<(), InspectError> {
        self.note(Reference::Network(name.to_owned()));
        if let Some(resolved) = self.resolved {
            joined_network(field, name, resolved, findings)?;
        }
        Ok(())
    }
}

/// An endpoint's `NetworkID`: for a user-defined network dockerd joins the network it names instead
/// of the one the key (or a connect's path) names (`daemon/network.go` `getNetworkID`), so it is
/// judged as a network of its own.
pub(in crate::inspect) fn endpoint_network(
    endpoint: &Struct<'_>,
    refs: &mut Refs<'_>,
    findings: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let id = endpoint.string("NetworkID")?;
    if !id.is_empty() {
        match namespace(&endpoint.child("NetworkID"), "network", id) {
            Some(finding) => findings.push(finding),
            None => refs.network(&endpoint.child("NetworkID"), id, findings)?,
        }
    }
    Ok(())
}

/// `POST /networks/{id}/connect`: `types.NetworkConnect`, whose `EndpointConfig.NetworkID` may
/// name another network than the path.
pub(in crate::inspect) fn connect(
    body: &Json,
    resolved: Option<&Resolved>,
    findings: &mut Vec<Finding>,
    references: &mut Vec<Reference>,
) -> Result<(), InspectError> {
    let mut refs = Refs { resolved, found: references };
    let connect = Struct::new(body, "")?;
    if let Some(endpoint) = connect.get("EndpointConfig") {
        endpoint_network(&Struct::new(endpoint, "EndpointConfig")?, &mut refs, findings)?;
    }
    Ok(())
}

/// The containers a create names besides its own: `container:` namespace modes (in both
/// host-config places), `VolumesFrom` (`name[:mode]`) and `Links` (`name:alias`).
pub(in crate::inspect) fn named_containers(body: &Json) -> Result<Vec<String>, InspectError> {
    let top = Struct::new(body, "")?;
    let mut places = vec![top.clone()];
    if let Some(host_config) = top.get("HostConfig") {
        places.push(Struct::new(host_config, "HostConfig")?);
    }
    let mut out = Vec::new();
    for hc in places {
        for field in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode", "Cgroup"] {
            let mode = hc.string(field)?;
            if let Some(target) = mode.get(..10).filter(|p| p.eq_ignore_ascii_case("container:")).and(mode.get(10..)) {
                out.push(target.to_owned());
            }
        }
        for from in hc.strings("VolumesFrom")? {
            out.push(from.split(':').next().unwrap_or(from).to_owned());
        }
        for link in hc.strings("Links")? {
            out.push(link.split(':').next().unwrap_or(link).trim_start_matches('/').to_owned());
        }
    }
    out.retain(|name| !name.is_empty());
    Ok(out)
}

/// `NetworkMode` values the engine does not look up as a network (`runconfig` `IsDefault`,
/// `IsBridge`, `IsNone`; `host` and `container:` are namespace findings of their own).
pub(in crate::inspect) fn is_builtin_network_mode(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "none")
}

/// An existing volume mounted by name, judged as if the request had created it.
pub(in crate::inspect) fn existing_volume(
    field: &str,
    volume: &Volume,
    read_only: bool,
    findings: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let name = &volume.name;
    if volume.driver != "local" {
        let says = format!("mounts volume `{name}` of volume driver `{}`", volume.driver);
        findings.push(Finding::new(Kind::Driver(DriverKind::Volume), field, &volume.driver, says));
        return Ok(());
    }
    let options: Vec<(&str, Json)> =
        volume.options.iter().map(|(k, v)| (k.as_str(), Json::String(v.clone()))).collect();
    let options: Vec<(&str, &Json)> = options.iter().map(|(k, v)| (*k, v)).collect();
    if let Some(mut finding) = local_volume(field, "local", &options, read_only)? {
        finding.says = format!("mounts volume `{name}`, which {}", finding.says);
        findings.push(finding);
    }
    Ok(())
}

/// A network a container joins or is connected to, judged by what the engine said of it: the
/// host's network is the host's namespace, and its drivers must be allowed.
pub(in crate::inspect) fn joined_network(
    field: &str,
    name: &str,
    resolved: &Resolved,
    findings: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let Some(Network { name: real, driver, ipam_driver, .. }) = resolved.network(name) else {
        return Ok(());
    };
    if driver == "host" {
        let says = format!("joins network `{name}`, which is the host's network namespace");
        findings.push(Finding::new(Kind::Namespace, field, real, says));
        return Ok(());
    }
    // As for a driver the request names, the engine's own default is no finding.
    if driver != DriverKind::Network.default_name() {
        let says = format!("joins network `{name}` of network driver `{driver}`");
        findings.push(Finding::new(Kind::Driver(DriverKind::Network), field, driver, says));
    }
    if !ipam_driver.is_empty() && ipam_driver != DriverKind::Ipam.default_name() {
        let says = format!("joins network `{name}` of IPAM driver `{ipam_driver}`");
        findings.push(Finding::new(Kind::Driver(DriverKind::Ipam), field, ipam_driver, says));
    }
    Ok(())
}
