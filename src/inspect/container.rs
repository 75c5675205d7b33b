//! Findings from container create, update and exec create bodies.
//!
//! dockerd 20.10 decodes a create body into `runconfig.ContainerConfigWrapper`, which embeds a
//! deprecated `*container.HostConfig` at the top level beside `HostConfig`: a top-level
//! `"Privileged": true` is honoured when `HostConfig` is absent (`getHostConfig`). Both places are
//! read, and anything host-reaching in either is a finding.

use super::image::{self, Reference};
use super::json::{Json, JsonError, Struct};
use super::{Finding, InspectError, Kind};
use crate::lookup::Container;

/// `POST /containers/create`.
pub fn create(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let top = Struct::new(body, "")?;
    let image = top.string("Image")?;
    if !image.is_empty() {
        findings.push(image_finding("Image", image, true)?);
    }
    if let Some(host_config) = top.get("HostConfig") {
        self::host_config(&Struct::new(host_config, "HostConfig")?, findings)?;
    }
    // The deprecated embedded HostConfig: the same fields at the top level.
    self::host_config(&top, findings)?;
    if let Some(networking) = top.get("NetworkingConfig") {
        let networking = Struct::new(networking, "NetworkingConfig")?;
        let field = networking.child("EndpointsConfig");
        for (name, _) in networking.map("EndpointsConfig")? {
            if let Some(finding) = namespace(&field, "network", name) {
                findings.push(finding);
            }
        }
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
        Reference::Named(name) => format!("is `{name}`"),
        Reference::Id(id) => format!("refers to image id `{id}`, not to a name"),
    };
    Ok(Finding::new(Kind::Image, field, normalized.policy_name(), says))
}

fn host_config(hc: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if hc.bool("Privileged")? {
        findings.push(Finding::new(Kind::Privileged, hc.child("Privileged"), "true", "is true"));
    }
    for bind in hc.strings("Binds")? {
        if let Some(finding) = parse_bind(&hc.child("Binds"), bind)? {
            findings.push(finding);
        }
    }
    mounts(hc, "Mounts", findings)?;
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

/// `HostConfig.Mounts` and a service's `ContainerSpec.Mounts`: `[]mount.Mount`.
pub(super) fn mounts(parent: &Struct<'_>, name: &str, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    for (path, mount) in parent.list(name)? {
        let mount = Struct::new(mount, &path)?;
        let kind = mount.string("Type")?;
        let read_only = mount.bool("ReadOnly")?;
        match kind.to_ascii_lowercase().as_str() {
            "tmpfs" => {}
            "volume" => {
                let Some(options) = mount.get("VolumeOptions") else {
                    continue;
                };
                let options = Struct::new(options, &mount.child("VolumeOptions"))?;
                let Some(driver) = options.get("DriverConfig") else {
                    continue;
                };
                let driver = Struct::new(driver, &options.child("DriverConfig"))?;
                let field = driver.child("Options");
                if let Some(finding) = local_volume(&field, driver.string("Name")?, &driver.map("Options")?, read_only)?
                {
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
    Ok(())
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

/// Parses one `Binds` entry as dockerd's Linux mount parser does (`src:dst[:mode]`, or an
/// anonymous volume `dst[:mode]`). A source that is not an absolute path is a named volume.
fn parse_bind(field: &str, bind: &str) -> Result<Option<Finding>, InspectError> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, mode) = match parts.as_slice() {
        [_] => return Ok(None),
        [_, mode] if valid_mode(mode) => return Ok(None),
        [source, _] => (*source, ""),
        [source, _, mode] => (*source, *mode),
        _ => return Err(InspectError::Invalid(format!("{field}: invalid bind `{bind}`"))),
    };
    if source.starts_with('/') {
        let read_only = mode.split(',').any(|m| m == "ro");
        return host_mount(field, source, read_only).map(Some);
    }
    if is_volume_name(source) {
        return Ok(None);
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

/// Go's `path.Clean` for absolute paths; a relative path is returned as it is.
pub(crate) fn clean_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let mut stack: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    format!("/{}", stack.join("/"))
}

/// An added capability, named as dockerd normalizes it: upper case, without `CAP_`.
pub(super) fn capability(field: &str, cap: &str) -> Finding {
    let upper = cap.to_ascii_uppercase();
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
    match key.as_str() {
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

    fn create_findings(body: &str) -> Result<Vec<String>, InspectError> {
        let mut findings = Vec::new();
        create(&parse(body.as_bytes())?, &mut findings)?;
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
        assert_eq!(
            one(r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#),
            "NetworkingConfig.EndpointsConfig uses the host's network namespace"
        );
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
        Container { id: "0".repeat(64), user: user.into(), privileged }
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
        assert!(create(&body, &mut findings).is_ok());
        assert_eq!(findings.first().map(|f| f.value.as_str()), Some("docker.io/library/alpine:3"));
    }
}
