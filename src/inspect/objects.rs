//! Findings from the other requests that can reach the host: swarm service specs, volume creation,
//! plugin privileges, and the query parameters of builds, pulls, imports, tags and commits.

use super::container::{capability, image_finding, local_volume, mounts, namespace};
use super::json::{Json, Struct};
use super::query::Query;
use super::{Finding, InspectError, Kind};

/// `POST /services/create` and `/services/{id}/update`: `swarm.ServiceSpec`.
pub fn service(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let spec = Struct::new(body, "")?;
    networks(&spec, findings)?;
    let Some(task) = spec.get("TaskTemplate") else {
        return Ok(());
    };
    let task = Struct::new(task, "TaskTemplate")?;
    networks(&task, findings)?;
    if task.has("PluginSpec") || task.string("Runtime")?.eq_ignore_ascii_case("plugin") {
        findings.push(Finding::new(
            Kind::Privileged,
            task.child("PluginSpec"),
            "plugin",
            "installs a plugin, which runs with privileges",
        ));
    }
    let Some(container) = task.get("ContainerSpec") else {
        return Ok(());
    };
    let container = Struct::new(container, &task.child("ContainerSpec"))?;
    let image = container.string("Image")?;
    if !image.is_empty() {
        findings.push(image_finding(&container.child("Image"), image, false)?);
    }
    mounts(&container, "Mounts", findings)?;
    for cap in container.strings("CapabilityAdd")? {
        findings.push(capability(&container.child("CapabilityAdd"), cap));
    }
    for (key, _) in container.map("Sysctls")? {
        findings.push(Finding::new(Kind::Sysctl, container.child("Sysctls"), key, format!("sets `{key}`")));
    }
    if let Some(privileges) = container.get("Privileges") {
        let privileges = Struct::new(privileges, &container.child("Privileges"))?;
        if let Some(selinux) = privileges.get("SELinuxContext") {
            let selinux = Struct::new(selinux, &privileges.child("SELinuxContext"))?;
            if selinux.bool("Disable")? {
                findings.push(Finding::new(
                    Kind::Unconfined,
                    selinux.child("Disable"),
                    "true",
                    "disables SELinux labels",
                ));
            }
        }
        for (name, bad, says) in
            [("Seccomp", "unconfined", "disables seccomp"), ("AppArmor", "disabled", "disables AppArmor")]
        {
            if let Some(section) = privileges.get(name) {
                let section = Struct::new(section, &privileges.child(name))?;
                let mode = section.string("Mode")?;
                if mode.eq_ignore_ascii_case(bad) || mode.eq_ignore_ascii_case("custom") {
                    findings.push(Finding::new(Kind::Unconfined, section.child("Mode"), mode, says));
                }
            }
        }
    }
    Ok(())
}

/// `Networks: [{Target: "host"}]` in a service spec or its task template.
fn networks(parent: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    for (path, network) in parent.list("Networks")? {
        let network = Struct::new(network, &path)?;
        if let Some(finding) = namespace(&network.child("Target"), "network", network.string("Target")?) {
            findings.push(finding);
        }
    }
    Ok(())
}

/// `POST /volumes/create`: `volume.CreateOptions`.
pub fn volume(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let options = Struct::new(body, "")?;
    let field = options.child("DriverOpts");
    if let Some(finding) = local_volume(&field, options.string("Driver")?, &options.map("DriverOpts")?, false)? {
        findings.push(finding);
    }
    Ok(())
}

/// `POST /plugins/pull` and `/plugins/{name}/upgrade`: the plugin reference in the query and the
/// privileges granted in the body (`types.PluginPrivileges`).
pub fn plugin(query: &Query, body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(remote) = query.get("remote")?.filter(|r| !r.is_empty()) {
        findings.push(image_finding("query remote", remote, false)?);
    }
    let items = match body {
        Json::Null => return Ok(()),
        Json::Array(items) => items,
        _ => return Err(super::JsonError::Type { path: "the body".into(), expected: "a list of privileges" }.into()),
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
                    let path = super::container::clean_path(source);
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
pub fn build(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
    Ok(())
}

/// `POST /images/create`: a pull (`fromImage`, `tag`) or an import (`fromSrc`, `repo`, `tag`).
/// A pull without a tag pulls every tag (`docker pull --all-tags`), reported as `name:*`.
pub fn pull(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
pub fn commit(query: &Query, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(repo) = query.get("repo")?.filter(|r| !r.is_empty()) {
        findings.push(named_with_tag("query repo", repo, query.get("tag")?.unwrap_or(""), false)?);
    }
    Ok(())
}

fn named_with_tag(field: &str, name: &str, tag: &str, all_tags_if_none: bool) -> Result<Finding, InspectError> {
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

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;

    fn run(f: impl Fn(&mut Vec<Finding>) -> Result<(), InspectError>) -> String {
        let mut findings = Vec::new();
        match f(&mut findings) {
            Ok(()) => findings.iter().map(|f| format!("{} [{}]", f, f.value)).collect::<Vec<_>>().join("; "),
            Err(e) => format!("error: {e}"),
        }
    }

    fn q(s: &str) -> Query {
        Query::parse(s).unwrap_or_default()
    }

    #[test]
    fn services() {
        let body = parse(br#"{"TaskTemplate":{"ContainerSpec":{"Image":"alpine","Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}],"CapabilityAdd":["SYS_ADMIN"],"Privileges":{"Seccomp":{"Mode":"unconfined"}}},"Networks":[{"Target":"host"}]}}"#).unwrap_or(Json::Null);
        let out = run(|f| service(&body, f));
        for want in [
            "TaskTemplate.ContainerSpec.Image is `docker.io/library/alpine:latest`",
            "TaskTemplate.ContainerSpec.Mounts[0].Source mounts host path `/etc` read-write",
            "TaskTemplate.ContainerSpec.CapabilityAdd adds capability `SYS_ADMIN`",
            "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode disables seccomp",
            "TaskTemplate.Networks[0].Target uses the host's network namespace",
        ] {
            assert!(out.contains(want), "missing {want:?} in {out}");
        }
    }

    #[test]
    fn volumes() {
        let bind = parse(br#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#)
            .unwrap_or(Json::Null);
        assert_eq!(run(|f| volume(&bind, f)), "DriverOpts mounts host path `/` read-write [/]");
        let tmpfs = parse(br#"{"Name":"v","DriverOpts":{"type":"tmpfs","device":"tmpfs"}}"#).unwrap_or(Json::Null);
        assert_eq!(run(|f| volume(&tmpfs, f)), "");
        let plain = parse(br#"{"Name":"v"}"#).unwrap_or(Json::Null);
        assert_eq!(run(|f| volume(&plain, f)), "");
    }

    #[test]
    fn plugins() {
        let body = parse(br#"[{"Name":"network","Value":["host"]},{"Name":"mount","Value":["/var/lib"]},{"Name":"capabilities","Value":["CAP_SYS_ADMIN"]}]"#).unwrap_or(Json::Null);
        let out = run(|f| plugin(&q("remote=vieux/sshfs:latest"), &body, f));
        assert!(out.contains("query remote is `docker.io/vieux/sshfs:latest`"), "{out}");
        assert!(out.contains("[0].Value uses the host's network namespace"), "{out}");
        assert!(out.contains("[1].Value mounts host path `/var/lib`"), "{out}");
        assert!(out.contains("[2].Value adds capability `SYS_ADMIN`"), "{out}");
    }

    #[test]
    fn query_operations() {
        assert_eq!(run(|f| build(&q("networkmode=host"), f)), "query networkmode builds with host networking [host]");
        assert_eq!(run(|f| build(&q("cgroupparent=%2Fx"), f)), "query cgroupparent is `/x` [/x]");
        assert!(run(|f| build(&q("networkmode=bridge&networkmode=host"), f)).starts_with("error"));
        assert_eq!(
            run(|f| pull(&q("fromImage=alpine&tag=3"), f)),
            "query fromImage is `docker.io/library/alpine:3` [docker.io/library/alpine:3]"
        );
        assert_eq!(
            run(|f| pull(&q("fromImage=alpine&tag="), f)),
            "query fromImage pulls every tag of `docker.io/library/alpine` [docker.io/library/alpine:*]"
        );
        assert_eq!(
            run(|f| pull(&q("fromImage=alpine:3.1"), f)),
            "query fromImage is `docker.io/library/alpine:3.1` [docker.io/library/alpine:3.1]"
        );
        assert_eq!(
            run(|f| pull(&q("fromSrc=-&repo=mine&tag=1"), f)),
            "query repo is `docker.io/library/mine:1` [docker.io/library/mine:1]"
        );
        assert_eq!(
            run(|f| commit(&q("container=c&repo=app&tag=v1"), f)),
            "query repo is `docker.io/library/app:v1` [docker.io/library/app:v1]"
        );
    }
}
