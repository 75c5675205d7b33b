//! Findings from the other requests that can reach the host: volume and network creation,
//! checkpoints, names and labels here; swarm services in [`service`], plugins and image queries
//! in [`images`]. It finds facts; it decides nothing.

mod images;
mod service;
#[cfg(test)]
mod tests;

pub(in crate::inspect) use images::{build, commit, plugin, pull};
pub(in crate::inspect) use service::{service, swarm};

use super::container::local_volume;
use super::drivers::{self, DriverKind};
use super::json::{Json, Struct};
use super::query::Query;
use super::{Finding, InspectError, Kind};
use crate::naming::clean_path;

/// The name a container is created with (`containers.create`) or renamed to (`containers.rename`),
/// which profiles may match callers on.
pub(in crate::inspect) fn name(query: &Query, key: &str, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(name) = query.get(key)?.filter(|n| !n.is_empty()) {
        findings.push(Finding::new(Kind::Name, format!("query {key}"), name, format!("names the container `{name}`")));
    }
    Ok(())
}

/// A Go `map[string]string` member: `null` values read as "" (Go's zero value), others must be
/// strings.
pub(in crate::inspect) fn string_map<'a>(
    parent: &Struct<'a>,
    name: &str,
) -> Result<Vec<(&'a str, &'a str)>, InspectError> {
    parent
        .map(name)?
        .into_iter()
        .map(|(key, value)| match value {
            Json::String(text) => Ok((key, text.as_str())),
            Json::Null => Ok((key, "")),
            _ => {
                Err(super::JsonError::Type { path: format!("{}.{key}", parent.child(name)), expected: "a string" }
                    .into())
            }
        })
        .collect()
}

/// Labels a request gives a container or an image: profiles may match callers on them. The label
/// sockgate stamps on its own creates ([`crate::references::CREATED_BY`]) is replaced by sockgate's
/// own value whatever a client sends, so it is left out here.
pub(in crate::inspect) fn labels<'a>(
    field: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    findings: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let mut lines = Vec::new();
    for (key, value) in labels {
        if key == crate::references::CREATED_BY {
            continue;
        }
        lines.push(format!("{key}={value}"));
    }
    if !lines.is_empty() {
        let says = format!("sets {} label{}", lines.len(), if lines.len() == 1 { "" } else { "s" });
        findings.push(Finding::new(Kind::Labels, field, lines.join("\n"), says));
    }
    Ok(())
}

/// `POST /volumes/create`: `volume.CreateOptions`. No driver means `local`.
pub(in crate::inspect) fn volume(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let options = Struct::new(body, "")?;
    let driver = options.string("Driver")?;
    drivers::push(findings, DriverKind::Volume, &options.child("Driver"), driver)?;
    let field = options.child("DriverOpts");
    if let Some(finding) = local_volume(&field, driver, &options.map("DriverOpts")?, false)? {
        findings.push(finding);
    }
    Ok(())
}

/// `POST /networks/create`: `types.NetworkCreateRequest`. No driver means `bridge`, no IPAM
/// driver means `default`.
pub(in crate::inspect) fn network(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let request = Struct::new(body, "")?;
    drivers::push(findings, DriverKind::Network, &request.child("Driver"), request.string("Driver")?)?;
    if let Some(ipam) = request.get("IPAM") {
        let ipam = Struct::new(ipam, &request.child("IPAM"))?;
        drivers::push(findings, DriverKind::Ipam, &ipam.child("Driver"), ipam.string("Driver")?)?;
    }
    Ok(())
}

/// A checkpoint directory: CRIU writes a checkpoint into it or restores one from it, on the host
/// (`daemon/checkpoint.go` `getCheckpointDir` joins it as given). Judged as a host mount.
fn checkpoint_dir(field: &str, dir: &str, read_only: bool) -> Result<Option<Finding>, InspectError> {
    if dir.is_empty() {
        return Ok(None);
    }
    if !dir.starts_with('/') {
        return Err(InspectError::Invalid(format!("{field}: checkpoint directory `{dir}` must be an absolute path")));
    }
    let path = clean_path(dir);
    let access = if read_only { "reads" } else { "writes" };
    let says = format!("{access} checkpoints in host path `{path}`");
    Ok(Some(Finding::new(Kind::HostMount { read_only }, field, path, says)))
}

/// `checkpoint-dir` of a start, `dir` of a checkpoint list or delete.
pub(in crate::inspect) fn checkpoint_query(
    query: &Query,
    name: &str,
    read_only: bool,
    findings: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    if let Some(dir) = query.get(name)? {
        findings.extend(checkpoint_dir(&format!("query {name}"), dir, read_only)?);
    }
    Ok(())
}

/// `POST /containers/{id}/checkpoints`: `types.CheckpointCreateOptions`.
pub(in crate::inspect) fn checkpoint_create(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let options = Struct::new(body, "")?;
    findings.extend(checkpoint_dir(&options.child("CheckpointDir"), options.string("CheckpointDir")?, false)?);
    Ok(())
}
