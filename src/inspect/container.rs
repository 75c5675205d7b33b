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

use super::drivers::{self, DriverKind};
use super::json::{Json, JsonError, Struct};
use super::{Finding, InspectError, Kind, Reference, Resolved};
use crate::naming::clean_path;
use crate::naming::image::{self, Reference as ImageReference};
use crate::references::{Container, Network, Volume};

/// What a create names by reference, and what the engine said of it.
struct Refs<'r> {
    resolved: Option<&'r Resolved>,
    found: &'r mut Vec<Reference>,
}

impl Refs<'_> {
    /// Adds a reference once, whatever names it again.
    fn note(&mut self, reference: Reference) {
        if !self.found.contains(&reference) {
            self.found.push(reference);
        }
    }

    fn volume(
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

    fn network(&mut self, field: &str, name: &str, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
        self.note(Reference::Network(name.to_owned()));
        if let Some(resolved) = self.resolved {
            joined_network(field, name, resolved, findings)?;
        }
        Ok(())
    }
}

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

/// An endpoint's `NetworkID`: for a user-defined network dockerd joins the network it names instead
/// of the one the key (or a connect's path) names (`daemon/network.go` `getNetworkID`), so it is
/// judged as a network of its own.
fn endpoint_network(
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
pub fn connect(
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
pub fn named_containers(body: &Json) -> Result<Vec<String>, InspectError> {
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
fn is_builtin_network_mode(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "none")
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

/// An existing volume mounted by name, judged as if the request had created it.
fn existing_volume(
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
pub fn joined_network(
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

/// `HostConfig.Mounts` and a service's `ContainerSpec.Mounts`: `[]mount.Mount`. Returns the
/// named volumes mounted, with whether each is mounted read-only.
pub(super) fn mounts(
    parent: &Struct<'_>,
    name: &str,
    findings: &mut Vec<Finding>,
) -> Result<Vec<(String, bool)>, InspectError> {
    let mut named = Vec::new();
    for (path, mount) in parent.list(name)? {
        let mount = Struct::new(mount, &path)?;
        let kind = mount.string("Type")?;
        let read_only = mount.bool("ReadOnly")?;
        match kind.to_ascii_lowercase().as_str() {
            "tmpfs" => {}
            "volume" => {
                let source = mount.string("Source")?;
                if !source.is_empty() {
                    named.push((source.to_owned(), read_only));
                }
                let Some(options) = mount.get("VolumeOptions") else {
                    continue;
                };
                let options = Struct::new(options, &mount.child("VolumeOptions"))?;
                let Some(driver) = options.get("DriverConfig") else {
                    continue;
                };
                let driver = Struct::new(driver, &options.child("DriverConfig"))?;
                let driver_name = driver.string("Name")?;
                drivers::push(findings, DriverKind::Volume, &driver.child("Name"), driver_name)?;
                let field = driver.child("Options");
                if let Some(finding) = local_volume(&field, driver_name, &driver.map("Options")?, read_only)? {
                    findings.push(finding);
                }
            }
            // `bind`, and anything the engine does not know (it refuses those; so does sockgate).
            _ => {
                let source = mount.string("Source")?;
                findings.push(host_mount(&mount.child("Source"), source, read_only)?);
            }
        }
    }
    Ok(named)
}

/// A volume of the `local` driver is a host mount when it has a `device` option (a host path with
/// `o=bind`, or a block device), unless it is a tmpfs.
pub(super) fn local_volume(
    field: &str,
    driver: &str,
    options: &[(&str, &Json)],
    read_only: bool,
) -> Result<Option<Finding>, InspectError> {
    if !(driver.is_empty() || driver == "local") {
        return Ok(None);
    }
    let option = |name: &str| -> Result<Option<&str>, InspectError> {
        match options.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(JsonError::Type { path: format!("{field}.{name}"), expected: "a string" }.into()),
        }
    };
    let Some(device) = option("device")? else {
        return Ok(None);
    };
    let flags: Vec<&str> = option("o")?.map(|o| o.split(',').map(str::trim).collect()).unwrap_or_default();
    // mount(2) ignores the filesystem type of a bind mount: `type=tmpfs,o=bind` binds the device
    // path all the same. Only a real tmpfs (no bind) takes nothing from the host.
    let binds = flags.iter().any(|f| *f == "bind" || *f == "rbind");
    if !binds && option("type")?.is_some_and(|t| t.eq_ignore_ascii_case("tmpfs")) {
        return Ok(None);
    }
    // Mount options apply left to right: the last of `ro` and `rw` wins.
    let options_read_only = flags.iter().rev().find(|f| **f == "ro" || **f == "rw").is_some_and(|f| *f == "ro");
    host_mount(field, device, read_only || options_read_only).map(Some)
}

/// A host path mounted into a container, cleaned as Go's `filepath.Clean` would.
fn host_mount(field: &str, source: &str, read_only: bool) -> Result<Finding, InspectError> {
    let path = clean_path(source);
    let access = if read_only { "read-only" } else { "read-write" };
    Ok(Finding::new(Kind::HostMount { read_only }, field, &path, format!("mounts host path `{path}` {access}")))
}

/// What one `Binds` entry mounts.
enum Bind<'a> {
    Host(Finding),
    Volume { name: &'a str, read_only: bool },
    Anonymous,
}

/// Parses one `Binds` entry as dockerd's Linux mount parser does (`src:dst[:mode]`, or an
/// anonymous volume `dst[:mode]`). A source that is not an absolute path is a named volume.
fn parse_bind<'a>(field: &str, bind: &'a str) -> Result<Bind<'a>, InspectError> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, mode) = match parts.as_slice() {
        [_] => return Ok(Bind::Anonymous),
        [_, mode] if valid_mode(mode) => return Ok(Bind::Anonymous),
        [source, _] => (*source, ""),
        [source, _, mode] => (*source, *mode),
        _ => return Err(InspectError::Invalid(format!("{field}: invalid bind `{bind}`"))),
    };
    let read_only = mode.split(',').any(|m| m == "ro");
    if source.starts_with('/') {
        return host_mount(field, source, read_only).map(Bind::Host);
    }
    if is_volume_name(source) {
        return Ok(Bind::Volume { name: source, read_only });
    }
    Err(InspectError::Invalid(format!("{field}: invalid bind source `{source}`")))
}

/// `volume/mounts` `ValidMountMode` for Linux: comma-separated known modes.
fn valid_mode(mode: &str) -> bool {
    !mode.is_empty()
        && mode.split(',').all(|m| {
            matches!(
                m,
                "rw" | "ro"
                    | "z"
                    | "Z"
                    | "nocopy"
                    | "shared"
                    | "rshared"
                    | "slave"
                    | "rslave"
                    | "private"
                    | "rprivate"
                    | "consistent"
                    | "cached"
                    | "delegated"
            )
        })
}

/// Named volumes: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn is_volume_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() > 1
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// An added capability, named as dockerd normalizes it: upper case, without `CAP_`. dockerd
/// upper-cases with Go's `strings.ToUpper` (`oci/caps` `NormalizeLegacyCapabilities`), which maps
/// each character by its simple Unicode mapping, so `ſys_admin` is `SYS_ADMIN` and `net_admın`
/// (dotless i) is `NET_ADMIN`.
pub(super) fn capability(field: &str, cap: &str) -> Finding {
    let upper: String = cap
        .chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(one), None) => one,
                // A special casing (`ß` to `SS`); Go's simple mapping leaves the character.
                _ => c,
            }
        })
        .collect();
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
    Finding::new(Kind::Capability, field, &name, format!("adds capability `{name}`"))
}

/// A namespace mode that shares the host's or another container's namespace.
pub(super) fn namespace(field: &str, kind: &str, mode: &str) -> Option<Finding> {
    let lower = mode.to_ascii_lowercase();
    let says = if lower == "host" {
        format!("uses the host's {kind} namespace")
    } else if lower.starts_with("container:") {
        format!("joins the {kind} namespace of `{}`", &mode["container:".len()..])
    } else {
        return None;
    };
    Some(Finding::new(Kind::Namespace, field, mode, says))
}

/// What a security option turns off, as dockerd's `parseSecurityOpt` reads it: bare `disable`
/// (an SELinux label option), `key=value`, or the legacy `key:value`; booleans as Go's
/// `strconv.ParseBool` reads them.
fn unconfining_security_opt(opt: &str) -> Option<String> {
    if opt == "disable" {
        return Some("disables SELinux labels".into());
    }
    if opt.eq_ignore_ascii_case("writable-cgroups") {
        return Some("makes cgroups writable".into());
    }
    let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':'))?;
    let key = key.to_ascii_lowercase();
    let value_lower = value.to_ascii_lowercase();
    let go_true = matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True");
    let go_false = matches!(value, "0" | "f" | "F" | "FALSE" | "false" | "False");
    match key.as_str() {
        // The daemon's `no-new-privileges` default is a hardening the operator chose.
        "no-new-privileges" if go_false => Some("turns off no-new-privileges".into()),
        // Any loaded AppArmor profile other than the engine's own may confine less.
        "apparmor" if !value.is_empty() && value != "docker-default" && value_lower != "unconfined" => {
            Some(format!("sets AppArmor profile `{value}` instead of the engine's"))
        }
        "writable-cgroups" if go_true => Some("makes cgroups writable".into()),
        "seccomp" if value_lower == "unconfined" => Some("disables seccomp".into()),
        "seccomp" if value_lower != "builtin" && value_lower != "default" => {
            Some("sets a custom seccomp profile".into())
        }
        "apparmor" if value_lower == "unconfined" => Some("disables AppArmor".into()),
        "label" if value_lower == "disable" => Some("disables SELinux labels".into()),
        "label" if value_lower.starts_with("type:") => Some("sets a custom SELinux type".into()),
        "systempaths" if value_lower == "unconfined" => Some("unmasks kernel paths".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use crate::references::{Network, Volume};

    fn create_findings(body: &str) -> Result<Vec<String>, InspectError> {
        let mut findings = Vec::new();
        create(&parse(body.as_bytes())?, None, &mut findings, &mut Vec::new())?;
        Ok(findings.iter().filter(|f| f.kind != Kind::Image).map(ToString::to_string).collect())
    }

    fn one(body: &str) -> String {
        match create_findings(body) {
            Ok(f) => f.join("; "),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn privileged_in_every_spelling() {
        assert_eq!(one(r#"{"Image":"a","HostConfig":{"Privileged":true}}"#), "HostConfig.Privileged is true");
        assert_eq!(one(r#"{"Image":"a","hostconfig":{"privileged":true}}"#), "HostConfig.Privileged is true");
        assert_eq!(one(r#"{"Image":"a","HOSTCONFIG":{"\u0070rivileged":true}}"#), "HostConfig.Privileged is true");
        // Top-level, as the deprecated embedded HostConfig.
        assert_eq!(one(r#"{"Image":"a","Privileged":true}"#), "Privileged is true");
        assert_eq!(one(r#"{"Image":"a","HostConfig":{"Privileged":false}}"#), "");
        assert!(one(r#"{"Image":"a","HostConfig":{"Privileged":false},"hostConfig":{"Privileged":true}}"#)
            .starts_with("error"));
        assert!(one(r#"{"Image":"a","HostConfig":{"Privileged":false,"Privileged":true}}"#).starts_with("error"));
        assert!(one(r#"{"Image":"a","HostConfig":{"Privileged":"yes"}}"#).starts_with("error"));
    }

    #[test]
    fn binds_and_mounts() {
        assert_eq!(one(r#"{"HostConfig":{"Binds":["/:/host"]}}"#), "HostConfig.Binds mounts host path `/` read-write");
        assert_eq!(
            one(r#"{"HostConfig":{"Binds":["/srv/x/../../etc:/e:ro"]}}"#),
            "HostConfig.Binds mounts host path `/etc` read-only"
        );
        assert_eq!(one(r#"{"HostConfig":{"Binds":["data:/data", "/anon", "/anon2:ro"]}}"#), "");
        assert!(one(r#"{"HostConfig":{"Binds":["a:b:c:d"]}}"#).starts_with("error"));
        assert!(one(r#"{"HostConfig":{"Binds":["./rel:/x"]}}"#).starts_with("error"));
        assert_eq!(
            one(r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/var/run","Target":"/r"}]}}"#),
            "HostConfig.Mounts[0].Source mounts host path `/var/run` read-write"
        );
        assert_eq!(
            one(
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v"},{"Type":"tmpfs","Target":"/t"}]}}"#
            ),
            ""
        );
        assert_eq!(
            one(
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}"#
            ),
            "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options mounts host path `/etc` read-write"
        );
    }

    #[test]
    fn namespaces_capabilities_and_security_options() {
        let out = one(
            r#"{"HostConfig":{"NetworkMode":"host","PidMode":"container:abc","IpcMode":"shareable","UsernsMode":"host",
            "CapAdd":["sys_admin","CAP_NET_ADMIN"],"SecurityOpt":["seccomp=unconfined","apparmor:unconfined","label=disable","no-new-privileges"],
            "Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"runsc","CgroupParent":"/x","VolumesFrom":["other"],
            "Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}],"MaskedPaths":[]}}"#,
        );
        for want in [
            "HostConfig.NetworkMode uses the host's network namespace",
            "HostConfig.PidMode joins the PID namespace of `abc`",
            "HostConfig.UsernsMode uses the host's user namespace",
            "HostConfig.CapAdd adds capability `SYS_ADMIN`",
            "HostConfig.CapAdd adds capability `NET_ADMIN`",
            "HostConfig.SecurityOpt disables seccomp",
            "HostConfig.SecurityOpt disables AppArmor",
            "HostConfig.SecurityOpt disables SELinux labels",
            "HostConfig.Sysctls sets `net.ipv4.ip_forward`",
            "HostConfig.Runtime is `runsc`",
            "HostConfig.CgroupParent is `/x`",
            "HostConfig.VolumesFrom takes volumes from `other`",
            "HostConfig.Devices adds host device `/dev/sda`",
            "HostConfig.MaskedPaths replaces the kernel paths the engine masks",
        ] {
            assert!(out.contains(want), "missing {want:?} in {out}");
        }
        assert!(!out.contains("IpcMode"), "{out}");
        assert_eq!(one(r#"{"HostConfig":{"CapAdd":"SYS_PTRACE"}}"#), "HostConfig.CapAdd adds capability `SYS_PTRACE`");
        // Go's `strings.ToUpper` reads these as `SYS_ADMIN` and `NET_ADMIN`.
        assert_eq!(
            one("{\"HostConfig\":{\"CapAdd\":[\"\u{17f}ys_admin\",\"cap_net_adm\u{131}n\",\"\u{df}\"]}}"),
            "HostConfig.CapAdd adds capability `SYS_ADMIN`; HostConfig.CapAdd adds capability `NET_ADMIN`; \
             HostConfig.CapAdd adds capability `\u{df}`"
        );
        assert_eq!(
            one(r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#),
            "NetworkingConfig.EndpointsConfig uses the host's network namespace"
        );
    }

    #[test]
    fn drivers_at_both_levels_and_in_mounts() {
        assert_eq!(
            one(
                r#"{"HostConfig":{"VolumeDriver":"convoy","LogConfig":{"Type":"syslog","Config":{"syslog-address":"udp://x:514"}}}}"#
            ),
            "HostConfig.VolumeDriver names volume driver `convoy`; HostConfig.LogConfig.Type names log driver `syslog`"
        );
        // `getHostConfig` carries a top-level VolumeDriver into HostConfig.
        assert_eq!(
            one(r#"{"HostConfig":{},"VolumeDriver":"convoy","LogConfig":{"Type":"gelf"}}"#),
            "VolumeDriver names volume driver `convoy`; LogConfig.Type names log driver `gelf`"
        );
        assert!(
            one(r#"{"HostConfig":{"VolumeDriver":"../../../var/lib/docker/volumes/x/_data/p"}}"#).starts_with("error")
        );
        assert!(one(r#"{"HostConfig":{"LogConfig":{"Type":"a/b"}}}"#).starts_with("error"));
        assert!(one(
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"..\x"}}}]}}"#
        )
        .starts_with("error"));
        assert_eq!(one(r#"{"HostConfig":{"VolumeDriver":"local","LogConfig":{"Type":""}}}"#), "");
    }

    #[test]
    fn security_options_that_loosen_the_engines_defaults() {
        assert_eq!(
            one(r#"{"HostConfig":{"SecurityOpt":["no-new-privileges=false"]}}"#),
            "HostConfig.SecurityOpt turns off no-new-privileges"
        );
        assert_eq!(one(r#"{"HostConfig":{"SecurityOpt":["no-new-privileges","no-new-privileges=true"]}}"#), "");
        assert_eq!(
            one(r#"{"HostConfig":{"SecurityOpt":["apparmor=lxc-container-default-with-mounting"]}}"#),
            "HostConfig.SecurityOpt sets AppArmor profile `lxc-container-default-with-mounting` instead of the engine's"
        );
        assert_eq!(one(r#"{"HostConfig":{"SecurityOpt":["apparmor=docker-default"]}}"#), "");
    }

    #[test]
    fn start_bodies_are_refused_where_dockerd_would_read_them() {
        assert!(start_body(b"").is_ok());
        assert!(start_body(b"{}").is_ok());
        assert!(start_body(b"{     }").is_ok(), "7 bytes: dockerd does not read it");
        assert!(start_body(br#"{"Privileged":true}"#).is_err());
    }

    fn resolved_create(body: &str, resolved: &Resolved) -> (Vec<String>, Vec<Reference>) {
        let mut findings = Vec::new();
        let mut references = Vec::new();
        let parsed = parse(body.as_bytes()).unwrap_or(Json::Null);
        if let Err(e) = create(&parsed, Some(resolved), &mut findings, &mut references) {
            return (vec![format!("error: {e}")], references);
        }
        (findings.iter().filter(|f| f.kind != Kind::Image).map(ToString::to_string).collect(), references)
    }

    #[test]
    fn named_volumes_and_networks_are_judged_as_the_engine_has_them() {
        let host_volume = Volume {
            name: "etc".into(),
            driver: "local".into(),
            options: vec![
                ("device".into(), "/etc".into()),
                ("o".into(), "bind".into()),
                ("type".into(), "none".into()),
            ],
            labels: Default::default(),
        };
        let plugin_volume =
            Volume { name: "p".into(), driver: "evil".into(), options: Vec::new(), labels: Default::default() };
        let plain =
            Volume { name: "plain".into(), driver: "local".into(), options: Vec::new(), labels: Default::default() };
        let network = |name: &str, driver: &str| Network {
            id: "f".repeat(64),
            name: name.into(),
            driver: driver.into(),
            ipam_driver: "default".into(),
            labels: Default::default(),
        };
        let mut macvlan = network("lan", "macvlan");
        macvlan.ipam_driver = "infoblox".into();
        let resolved = Resolved {
            containers: Vec::new(),
            volumes: vec![
                ("etc".into(), Some(host_volume)),
                ("p".into(), Some(plugin_volume)),
                ("plain".into(), Some(plain)),
                ("new".into(), None),
            ],
            networks: vec![
                ("8ebc".into(), Some(network("host", "host"))),
                ("web".into(), Some(network("web", "bridge"))),
                ("lan".into(), Some(macvlan)),
            ],
            execs: Vec::new(),
        };
        let (says, references) = resolved_create(
            r#"{"HostConfig":{"Binds":["etc:/e:ro","plain:/p","new:/n","/anon"],"NetworkMode":"web"}}"#,
            &resolved,
        );
        assert_eq!(says, ["HostConfig.Binds mounts volume `etc`, which mounts host path `/etc` read-only"]);
        assert_eq!(
            references,
            [
                Reference::Volume("etc".into()),
                Reference::Volume("plain".into()),
                Reference::Volume("new".into()),
                Reference::Network("web".into())
            ]
        );
        let (says, _) = resolved_create(
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"p","Target":"/p"}],"NetworkMode":"8ebc"}}"#,
            &resolved,
        );
        assert_eq!(
            says,
            [
                "HostConfig.Mounts mounts volume `p` of volume driver `evil`",
                "HostConfig.NetworkMode joins network `8ebc`, which is the host's network namespace",
            ]
        );
        let (says, references) =
            resolved_create(r#"{"NetworkingConfig":{"EndpointsConfig":{"8ebc":{},"bridge":{},"lan":{}}}}"#, &resolved);
        assert_eq!(
            says,
            [
                "NetworkingConfig.EndpointsConfig joins network `8ebc`, which is the host's network namespace",
                "NetworkingConfig.EndpointsConfig joins network `lan` of network driver `macvlan`",
                "NetworkingConfig.EndpointsConfig joins network `lan` of IPAM driver `infoblox`",
            ]
        );
        assert_eq!(references, [Reference::Network("8ebc".into()), Reference::Network("lan".into())]);
        // The NetworkID of a user-defined network's endpoint is the network dockerd joins.
        let (says, references) =
            resolved_create(r#"{"NetworkingConfig":{"EndpointsConfig":{"web":{"NetworkID":"8ebc"}}}}"#, &resolved);
        assert_eq!(
            says,
            ["NetworkingConfig.EndpointsConfig.web.NetworkID joins network `8ebc`, which is the host's network namespace"]
        );
        assert_eq!(references, [Reference::Network("web".into()), Reference::Network("8ebc".into())]);
        let mut findings = Vec::new();
        let mut references = Vec::new();
        let body = parse(br#"{"Container":"c","EndpointConfig":{"NetworkID":"8ebc"}}"#).unwrap_or(Json::Null);
        assert!(connect(&body, Some(&resolved), &mut findings, &mut references).is_ok());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, Kind::Namespace);
    }

    #[test]
    fn exec_bodies() {
        let mut findings = Vec::new();
        let body = parse(br#"{"privileged":true,"User":"0:0","Cmd":["sh"]}"#).unwrap_or(Json::Null);
        assert!(exec(&body, Some(&running_as("1000", false)), &mut findings).is_ok());
        let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["Privileged is true", "User is `0:0`"]);
    }

    fn running_as(user: &str, privileged: bool) -> Container {
        Container { id: "0".repeat(64), user: user.into(), privileged, labels: Default::default() }
    }

    fn exec_says(body: &[u8], container: Option<Container>) -> Vec<String> {
        let mut findings = Vec::new();
        let body = parse(body).unwrap_or(Json::Null);
        assert!(exec(&body, container.as_ref(), &mut findings).is_ok());
        findings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_exec_in_a_privileged_container_is_privileged() {
        let says = exec_says(br#"{"Cmd":["sh"],"User":"1000"}"#, Some(running_as("", true)));
        assert_eq!(says, ["Privileged is false, but the container it enters is privileged"]);
        let says = exec_says(br#"{"Privileged":true,"User":"1000"}"#, Some(running_as("", true)));
        assert_eq!(says, ["Privileged is true"]);
        assert!(exec_says(br#"{"User":"1000"}"#, Some(running_as("", false))).is_empty());
    }

    #[test]
    fn an_exec_naming_no_user_runs_as_its_containers() {
        let said =
            |body: &[u8], container_user: Option<&str>| exec_says(body, container_user.map(|u| running_as(u, false)));
        let unnamed = br#"{"Cmd":["sh"]}"#;
        let root = ["User is unset, so the exec runs as the container's user `root`"];
        assert_eq!(said(unnamed, Some("")), root, "an image without USER runs as root");
        assert_eq!(said(br#"{"Cmd":["sh"],"User":""}"#, Some("")), root);
        assert_eq!(said(unnamed, Some("0:0")), ["User is unset, so the exec runs as the container's user `0:0`"]);
        assert!(said(unnamed, Some("1000:1000")).is_empty());
        assert!(said(unnamed, Some("postgres")).is_empty());
        // Named, the exec's own user counts, whatever the container's.
        assert!(said(br#"{"User":"1000"}"#, Some("")).is_empty());
        assert_eq!(said(br#"{"user":"root"}"#, Some("1000")), ["User is `root`"]);
        // Not asked (`sockgate policy explain`), nothing is assumed.
        assert!(said(unnamed, None).is_empty());
    }

    #[test]
    fn images_are_normalized() {
        let mut findings = Vec::new();
        let body = parse(br#"{"Image":"alpine:3"}"#).unwrap_or(Json::Null);
        assert!(create(&body, None, &mut findings, &mut Vec::new()).is_ok());
        assert_eq!(findings.first().map(|f| f.value.as_str()), Some("docker.io/library/alpine:3"));
    }
}
