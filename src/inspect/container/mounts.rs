//! Mounts as dockerd's Linux mount parser reads them: `Binds` entries, `Mounts`, and `local`
//! volumes backed by a host path or device. It finds host paths; it judges none of them.

use super::super::drivers::{self, DriverKind};
use super::super::json::{Json, JsonError, Struct};
use super::super::{Finding, InspectError, Kind};
use crate::naming::clean_path;

/// `HostConfig.Mounts` and a service's `ContainerSpec.Mounts`: `[]mount.Mount`. Returns the
/// named volumes mounted, with whether each is mounted read-only.
pub(in crate::inspect) fn mounts(
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
pub(in crate::inspect) fn local_volume(
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
pub(in crate::inspect) fn host_mount(field: &str, source: &str, read_only: bool) -> Result<Finding, InspectError> {
    let path = clean_path(source);
    let access = if read_only { "read-only" } else { "read-write" };
    Ok(Finding::new(Kind::HostMount { read_only }, field, &path, format!("mounts host path `{path}` {access}")))
}

/// What one `Binds` entry mounts.
pub(in crate::inspect) enum Bind<'a> {
    Host(Finding),
    Volume { name: &'a str, read_only: bool },
    Anonymous,
}

/// Parses one `Binds` entry as dockerd's Linux mount parser does (`src:dst[:mode]`, or an
/// anonymous volume `dst[:mode]`). A source that is not an absolute path is a named volume.
pub(in crate::inspect) fn parse_bind<'a>(field: &str, bind: &'a str) -> Result<Bind<'a>, InspectError> {
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
pub(in crate::inspect) fn valid_mode(mode: &str) -> bool {
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
pub(in crate::inspect) fn is_volume_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() > 1
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
