//! Requests that fetch or make images and plugins: plugin privileges, and the query parameters of
//! builds, pulls, imports, tags and commits. It finds facts; it decides nothing.

use super::super::query::Query;
use super::super::{Finding, InspectError, Kind};
use super::{labels, string_map};
use crate::inspect::container::{capability, image_finding, namespace};
use crate::inspect::json::{Json, Struct};
use crate::naming::clean_path;

/// `POST /plugins/pull` and `/plugins/{name}/upgrade`: the plugin reference in the query and the
/// privileges granted in the body (`types.PluginPrivileges`).
pub(in crate::inspect) fn plugin(query: &Query, body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(remote) = query.get("remote")?.filter(|r| !r.is_empty()) {
        findings.push(image_finding("query remote", remote, false)?);
    }
    let items = match body {
        Json::Null => return Ok(()),
        Json::Array(items) => items,
        _ => {
            return Err(
                crate::inspect::JsonError::Type { path: "the body".into(), expected: "a list of privileges" }.into()
            )
        }
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("[{i}]");
        let privilege = Struct::new(item, &path)?;
        let name = privilege.string("Name")?;
        let field = privilege.child("Value");
        let values = privilege.strings("Value")?;
        match name {
            "network" => values.iter().filter_map(|v| namespace(&field, "network", v)).for_each(|f| findings.push(f)),
            "host pid" => findings.push(Finding::new(Kind::Namespace, &field, "host", "uses the host's PID namespace")),
            "host ipc" => findings.push(Finding::new(Kind::Namespace, &field, "host", "uses the host's IPC namespace")),
            "mount" => {
                for source in values {
                    let path = clean_path(source);
                    findings.push(Finding::new(
                        Kind::HostMount { read_only: false },
                        &field,
                        &path,
                        format!("mounts host path `{path}` read-write"),
                    ));
                }
            }
            "device" | "allow-all-devices" => {
                findings.push(Finding::new(Kind::Device, &field, values.join(","), "grants host devices"))
            }
            "capabilities" => values.iter().for_each(|cap| findings.push(capability(&field, cap))),
            other => findings.push(Finding::new(
                Kind::Privileged,
                privilege.child("Name"),
                other,
                format!("grants plugin privilege `{other}`"),
            )),
        }
    }
    Ok(())
}

/// `POST /build`: the query parameters the classic builder and BuildKit read.
pub(in crate::inspect) fn build(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(mode) = query.get("networkmode")? {
        if mode.eq_ignore_ascii_case("host") {
            findings.push(Finding::new(
                Kind::BuildHostNetwork,
                "query networkmode",
                mode,
                "builds with host networking",
            ));
        } else if let Some(finding) = namespace("query networkmode", "network", mode) {
            findings.push(finding);
        }
    }
    if let Some(parent) = query.get("cgroupparent")?.filter(|p| !p.is_empty()) {
        findings.push(Finding::new(Kind::CgroupParent, "query cgroupparent", parent, format!("is `{parent}`")));
    }
    for tag in query.all("t") {
        findings.push(image_finding("query t", tag, false)?);
    }
    // `labels` is a JSON object (`build_routes.go` `json.Unmarshal` into `map[string]string`).
    if let Some(text) = query.get("labels")?.filter(|t| !t.is_empty()) {
        let parsed = crate::inspect::json::parse(text.as_bytes())?;
        let wrapped = Json::Object(vec![("labels".into(), parsed)]);
        let top = Struct::new(&wrapped, "query")?;
        labels("query labels", string_map(&top, "labels")?.into_iter(), findings)?;
    }
    Ok(())
}

/// `POST /images/create`: a pull (`fromImage`, `tag`) or an import (`fromSrc`, `repo`, `tag`).
/// A pull without a tag pulls every tag (`docker pull --all-tags`), reported as `name:*`.
pub(in crate::inspect) fn pull(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let tag = query.get("tag")?.unwrap_or("");
    if let Some(from) = query.get("fromImage")?.filter(|f| !f.is_empty()) {
        // dockerd: `reference.ParseNormalizedNamed(strings.TrimSuffix(image, ":"))`.
        let from = from.strip_suffix(':').unwrap_or(from);
        findings.push(named_with_tag("query fromImage", from, tag, true)?);
    } else if let Some(repo) = query.get("repo")?.filter(|r| !r.is_empty()) {
        findings.push(named_with_tag("query repo", repo, tag, false)?);
    }
    Ok(())
}

/// `POST /commit` and `POST /images/{name}/tag`: the name an image is written under.
pub(in crate::inspect) fn commit(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(repo) = query.get("repo")?.filter(|r| !r.is_empty()) {
        findings.push(named_with_tag("query repo", repo, query.get("tag")?.unwrap_or(""), false)?);
    }
    Ok(())
}

pub(in crate::inspect) fn named_with_tag(
    field: &str,
    name: &str,
    tag: &str,
    all_tags_if_none: bool,
) -> Result<Finding, InspectError> {
    let has_own_tag = name.contains('@') || name.rsplit('/').next().is_some_and(|last| last.contains(':'));
    let reference = if tag.is_empty() || has_own_tag {
        name.to_string()
    } else if tag.contains(':') {
        format!("{name}@{tag}")
    } else {
        format!("{name}:{tag}")
    };
    let mut finding = image_finding(field, &reference, false)?;
    if all_tags_if_none && tag.is_empty() && !has_own_tag {
        if let Some(base) = finding.value.strip_suffix(":latest").map(str::to_string) {
            finding.value = format!("{base}:*");
            finding.says = format!("pulls every tag of `{base}`");
        }
    }
    Ok(finding)
}
