//! Findings from the other requests that can reach the host: swarm service and cluster specs,
//! volume and network creation, checkpoints, plugin privileges, and the query parameters of builds,
//! pulls, imports, tags and commits.

use super::container::{capability, image_finding, local_volume, mounts, namespace};
use super::drivers::{self, DriverKind};
use super::json::{Json, Struct};
use super::query::Query;
use super::{Finding, InspectError, Kind};
use crate::naming::clean_path;

/// `POST /services/create` and `/services/{id}/update`: `swarm.ServiceSpec`.
pub fn service(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let spec = Struct::new(body, "")?;
    networks(&spec, findings)?;
    let Some(task) = spec.get("TaskTemplate") else {
        return Ok(());
    };
    let task = Struct::new(task, "TaskTemplate")?;
    networks(&task, findings)?;
    log_driver(&task, findings)?;
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
    // A service's named volumes are created on whichever node runs its tasks; their drivers are
    // judged here, where the spec names them.
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

/// `LogDriver: {Name, Options}` in a task template or the swarm's task defaults.
fn log_driver(parent: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(log) = parent.get("LogDriver") {
        let log = Struct::new(log, &parent.child("LogDriver"))?;
        drivers::push(findings, DriverKind::Log, &log.child("Name"), log.string("Name")?)?;
    }
    Ok(())
}

/// `POST /swarm/init` and `/swarm/update`: the log driver every task defaults to
/// (`Spec.TaskDefaults.LogDriver`; init wraps the spec in `InitRequest.Spec`, update sends it bare).
pub fn swarm(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let top = Struct::new(body, "")?;
    let mut specs = vec![top.clone()];
    if let Some(spec) = top.get("Spec") {
        specs.push(Struct::new(spec, "Spec")?);
    }
    for spec in specs {
        if let Some(defaults) = spec.get("TaskDefaults") {
            log_driver(&Struct::new(defaults, &spec.child("TaskDefaults"))?, findings)?;
        }
    }
    Ok(())
}

/// The name a container is created with (`containers.create`) or renamed to (`containers.rename`),
/// which profiles may match callers on.
pub fn name(query: &Query, key: &str, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(name) = query.get(key)?.filter(|n| !n.is_empty()) {
        findings.push(Finding::new(Kind::Name, format!("query {key}"), name, format!("names the container `{name}`")));
    }
    Ok(())
}

/// A Go `map[string]string` member: `null` values read as "" (Go's zero value), others must be
/// strings.
pub(super) fn string_map<'a>(parent: &Struct<'a>, name: &str) -> Result<Vec<(&'a str, &'a str)>, InspectError> {
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
pub(super) fn labels<'a>(
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
pub fn volume(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
pub fn network(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
pub fn checkpoint_query(
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
pub fn checkpoint_create(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    let options = Struct::new(body, "")?;
    findings.extend(checkpoint_dir(&options.child("CheckpointDir"), options.string("CheckpointDir")?, false)?);
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
    // `labels` is a JSON object (`build_routes.go` `json.Unmarshal` into `map[string]string`).
    if let Some(text) = query.get("labels")?.filter(|t| !t.is_empty()) {
        let parsed = super::json::parse(text.as_bytes())?;
        let wrapped = Json::Object(vec![("labels".into(), parsed)]);
        let top = Struct::new(&wrapped, "query")?;
        labels("query labels", string_map(&top, "labels")?.into_iter(), findings)?;
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
    fn drivers_wherever_they_are_named() {
        let driver = |body: &[u8], f: fn(&Json, &mut Vec<Finding>) -> Result<(), InspectError>| {
            let body = parse(body).unwrap_or(Json::Null);
            run(|findings| f(&body, findings))
        };
        assert_eq!(
            driver(br#"{"Name":"v","Driver":"flocker"}"#, volume),
            "Driver names volume driver `flocker` [flocker]"
        );
        assert!(driver(br#"{"Name":"v","Driver":"../../x"}"#, volume).starts_with("error"));
        assert_eq!(driver(br#"{"Name":"n"}"#, network), "");
        assert_eq!(
            driver(br#"{"Name":"n","driver":"weave","IPAM":{"Driver":"infoblox"}}"#, network),
            "Driver names network driver `weave` [weave]; IPAM.Driver names IPAM driver `infoblox` [infoblox]"
        );
        assert!(driver(br#"{"Name":"n","IPAM":{"Driver":"x/../../y"}}"#, network).starts_with("error"));
        assert_eq!(
            driver(br#"{"Spec":{"TaskDefaults":{"LogDriver":{"Name":"gelf"}}}}"#, swarm),
            "Spec.TaskDefaults.LogDriver.Name names log driver `gelf` [gelf]"
        );
        assert_eq!(
            driver(br#"{"TaskDefaults":{"LogDriver":{"Name":"syslog"}}}"#, swarm),
            "TaskDefaults.LogDriver.Name names log driver `syslog` [syslog]"
        );
        let service_spec = br#"{"TaskTemplate":{"LogDriver":{"Name":"fluentd"},"ContainerSpec":{"Image":"a",
            "Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"rexray"}}}]}}}"#;
        let out = driver(service_spec, service);
        assert!(out.contains("TaskTemplate.LogDriver.Name names log driver `fluentd`"), "{out}");
        assert!(out.contains("Mounts[0].VolumeOptions.DriverConfig.Name names volume driver `rexray`"), "{out}");
    }

    #[test]
    fn checkpoint_directories_are_host_paths() {
        let create = parse(br#"{"CheckpointID":"c","CheckpointDir":"/var/lib/../etc"}"#).unwrap_or(Json::Null);
        assert_eq!(
            run(|f| checkpoint_create(&create, f)),
            "CheckpointDir writes checkpoints in host path `/var/etc` [/var/etc]"
        );
        let relative = parse(br#"{"CheckpointDir":"x"}"#).unwrap_or(Json::Null);
        assert!(run(|f| checkpoint_create(&relative, f)).starts_with("error"));
        assert_eq!(
            run(|f| checkpoint_query(&q("checkpoint=c&checkpoint-dir=%2Fsrv"), "checkpoint-dir", true, f)),
            "query checkpoint-dir reads checkpoints in host path `/srv` [/srv]"
        );
        assert_eq!(run(|f| checkpoint_query(&q("checkpoint=c"), "checkpoint-dir", true, f)), "");
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
