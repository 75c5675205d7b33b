//! Findings from container create, update and exec create bodies.
//!
//! dockerd 20.10 decodes a create body into `runconfig.ContainerConfigWrapper`, which embeds a
//! deprecated `*container.HostConfig` at the top level beside `HostConfig`: a top-level
//! `"Privileged": true` is honoured when `HostConfig` is absent (`getHostConfig`). Both places are
//! read, and anything host-reaching in either is a finding (`getHostConfig` even carries a
//! top-level `VolumeDriver` into `HostConfig` when the latter names none).
//!
//! Named volumes and networks are references: the engine reuses what exists under the name, so
//! once the resolve stage has its answers, an existing volume is judged by its driver and options
//! and an existing network by its drivers, as if the request had created them.

mod mounts;
mod refs;
mod security;
#[cfg(test)]
mod tests;

pub(in crate::inspect) use mounts::{local_volume, mounts, parse_bind, Bind};
pub(in crate::inspect) use refs::{
    connect, endpoint_network, is_builtin_network_mode, joined_network, named_containers, Refs,
};
pub(in crate::inspect) use security::{capability, namespace, unconfining_security_opt};

use super::drivers::{self, DriverKind};
use super::json::{Json, Struct};
use super::{Finding, InspectError, Kind, Reference, Resolved};
use crate::naming::image::{self, Reference as ImageReference};
use crate::references::Container;

/// `POST /containers/create`. Named volumes and networks are added to `references`, and judged
/// by what the engine said of them when `resolved` holds its answers.
pub fn create(
    body: &Json,
    resolved: Option<&Resolved>,
    findings: &mut Vec<Finding>,
    references: &mut Vec<Reference>,
) -> Result<(), InspectError> {
    let mut refs = Refs { resolved, found: references };
    let top = Struct::new(body, "")?;
    let image = top.string("Image")?;
    if !image.is_empty() {
        findings.push(image_finding("Image", image, true)?);
    }
    super::objects::labels("Labels", super::objects::string_map(&top, "Labels")?.into_iter(), findings)?;
    if let Some(host_config) = top.get("HostConfig") {
        self::host_config(&Struct::new(host_config, "HostConfig")?, findings, &mut refs)?;
    }
    // The deprecated embedded HostConfig: the same fields at the top level.
    self::host_config(&top, findings, &mut refs)?;
    if let Some(networking) = top.get("NetworkingConfig") {
        let networking = Struct::new(networking, "NetworkingConfig")?;
        let field = networking.child("EndpointsConfig");
        for (name, endpoint) in networking.map("EndpointsConfig")? {
            match namespace(&field, "network", name) {
                Some(finding) => findings.push(finding),
                None if !is_builtin_network_mode(name) => refs.network(&field, name, findings)?,
                None => {}
            }
            let endpoint = Struct::new(endpoint, &format!("{field}.{name}"))?;
            endpoint_network(&endpoint, &mut refs, findings)?;
        }
    }
    Ok(())
}

/// A start body: dockerd before API 1.24 decodes one longer than 7 bytes (`postContainersStart`)
/// into a HostConfig that replaces the container's, judged at create. It is never needed since.
pub fn start_body(body: &[u8]) -> Result<(), InspectError> {
    if body.len() > 7 {
        return Err(InspectError::Invalid(
            "a containers.start body replaces the container's host config on old API versions; \
             send the host config with containers.create instead"
                .into(),
        ));
    }
    Ok(())
}

/// `POST /containers/{id}/update`: `container.UpdateConfig` embeds `Resources`.
pub fn update(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    resources(&Struct::new(body, "")?, findings)
}

/// `POST /containers/{id}/exec`: `types.ExecConfig`, with what the engine said of the container
/// it enters, when it was asked: an exec that names no user runs as the container's user (empty
/// is root), and every exec in a privileged container is privileged.
pub fn exec(body: &Json, container: Option<&Container>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let config = Struct::new(body, "")?;
    if config.bool("Privileged")? {
        findings.push(Finding::new(Kind::Privileged, "Privileged", "true", "is true"));
    } else if container.is_some_and(|c| c.privileged) {
        let says = "is false, but the container it enters is privileged";
        findings.push(Finding::new(Kind::Privileged, "Privileged", "true", says));
    }
    let container_user = container.map(|c| c.user.as_str());
    let user = config.string("User")?;
    if is_root(user) {
        findings.push(Finding::new(Kind::ExecRoot, "User", user, format!("is `{user}`")));
    }
    // dockerd gives an exec that names no user its container's `Config.User` (daemon/exec.go).
    if let (true, Some(inherited)) = (user.is_empty(), container_user) {
        if inherited.is_empty() || is_root(inherited) {
            let shown = if inherited.is_empty() { "root" } else { inherited };
            let says = format!("is unset, so the exec runs as the container's user `{shown}`");
            findings.push(Finding::new(Kind::ExecRoot, "User", shown, says));
        }
    }
    Ok(())
}

/// Whether `user` (`name`, `uid`, `name:group` or `uid:gid`) is root by name or uid.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    // The engine parses a numeric user with Go's `strconv.Atoi`: `00`, `+0` and `-0` are uid 0 too.
    name == "root" || name.parse::<i64>().is_ok_and(|uid| uid == 0)
}

pub(super) fn image_finding(field: &str, reference: &str, ids: bool) -> Result<Finding, InspectError> {
    let normalized = image::normalize(reference, ids).map_err(|e| InspectError::Invalid(format!("{field}: {e}")))?;
    let says = match &normalized {
        ImageReference::Named(name) => format!("is `{name}`"),
        ImageReference::Id(id) => format!("refers to image id `{id}`, not to a name"),
    };
    Ok(Finding::new(Kind::Image, field, normalized.policy_name(), says))
}

fn host_config(hc: &Struct<'_>, findings: &mut Vec<Finding>, refs: &mut Refs<'_>) -> Result<(), InspectError> {
    if hc.bool("Privileged")? {
        findings.push(Finding::new(Kind::Privileged, hc.child("Privileged"), "true", "is true"));
    }
    let binds = hc.child("Binds");
    for bind in hc.strings("Binds")? {
        match parse_bind(&binds, bind)? {
            Bind::Host(finding) => findings.push(finding),
            Bind::Volume { name, read_only } => refs.volume(&binds, name, read_only, findings)?,
            Bind::Anonymous => {}
        }
    }
    for name in mounts(hc, "Mounts", findings)? {
        refs.volume(&hc.child("Mounts"), &name.0, name.1, findings)?;
    }
    drivers::push(findings, DriverKind::Volume, &hc.child("VolumeDriver"), hc.string("VolumeDriver")?)?;
    if let Some(log) = hc.get("LogConfig") {
        let log = Struct::new(log, &hc.child("LogConfig"))?;
        drivers::push(findings, DriverKind::Log, &log.child("Type"), log.string("Type")?)?;
    }
    let network_mode = hc.string("NetworkMode")?;
    if namespace("", "network", network_mode).is_none() && !is_builtin_network_mode(network_mode) {
        refs.network(&hc.child("NetworkMode"), network_mode, findings)?;
    }
    for name in ["CapAdd", "Capabilities"] {
        for cap in hc.str_slice(name)? {
            findings.push(capability(&hc.child(name), cap));
        }
    }
    for opt in hc.strings("SecurityOpt")? {
        if let Some(says) = unconfining_security_opt(opt) {
            findings.push(Finding::new(Kind::Unconfined, hc.child("SecurityOpt"), opt, says));
        }
    }
    // The CLI sends empty lists here for `--security-opt systempaths=unconfined`.
    for name in ["MaskedPaths", "ReadonlyPaths"] {
        if hc.has(name) {
            let paths = hc.strings(name)?;
            findings.push(Finding::new(
                Kind::Unconfined,
                hc.child(name),
                paths.join(","),
                "replaces the kernel paths the engine masks",
            ));
        }
    }
    for (field, kind) in [
        ("NetworkMode", "network"),
        ("PidMode", "PID"),
        ("IpcMode", "IPC"),
        ("UTSMode", "UTS"),
        ("UsernsMode", "user"),
        ("CgroupnsMode", "cgroup"),
        ("Cgroup", "cgroup"),
    ] {
        if let Some(finding) = namespace(&hc.child(field), kind, hc.string(field)?) {
            findings.push(finding);
        }
    }
    for (key, _) in hc.map("Sysctls")? {
        findings.push(Finding::new(Kind::Sysctl, hc.child("Sysctls"), key, format!("sets `{key}`")));
    }
    let runtime = hc.string("Runtime")?;
    if !runtime.is_empty() {
        findings.push(Finding::new(Kind::Runtime, hc.child("Runtime"), runtime, format!("is `{runtime}`")));
    }
    let volumes_from = hc.strings("VolumesFrom")?;
    if !volumes_from.is_empty() {
        let list = volumes_from.join(",");
        findings.push(Finding::new(
            Kind::VolumesFrom,
            hc.child("VolumesFrom"),
            &list,
            format!("takes volumes from `{list}`"),
        ));
    }
    resources(hc, findings)
}

/// Fields of `container.Resources`, embedded in both `HostConfig` and `UpdateConfig`.
fn resources(r: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let cgroup_parent = r.string("CgroupParent")?;
    if !cgroup_parent.is_empty() {
        findings.push(Finding::new(
            Kind::CgroupParent,
            r.child("CgroupParent"),
            cgroup_parent,
            format!("is `{cgroup_parent}`"),
        ));
    }
    for (path, device) in r.list("Devices")? {
        let device = Struct::new(device, &path)?;
        let host = device.string("PathOnHost")?;
        findings.push(Finding::new(Kind::Device, r.child("Devices"), host, format!("adds host device `{host}`")));
    }
    if !r.list("DeviceRequests")?.is_empty() {
        findings.push(Finding::new(Kind::Device, r.child("DeviceRequests"), "", "requests host devices"));
    }
    let rules = r.strings("DeviceCgroupRules")?;
    if !rules.is_empty() {
        findings.push(Finding::new(Kind::Device, r.child("DeviceCgroupRules"), rules.join(","), "opens device access"));
    }
    Ok(())
}
