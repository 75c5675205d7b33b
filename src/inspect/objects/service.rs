//! Swarm service specs and cluster defaults: a service's container spec is a container create
//! the managers will run on many hosts, and cluster task defaults name log drivers. It finds facts;
//! it decides nothing.

use super::super::drivers::{self, DriverKind};
use super::super::json::{Json, Struct};
use super::super::{Finding, InspectError, Kind};
use crate::inspect::container::{capability, image_finding, mounts, namespace};

/// `POST /services/create` and `/services/{id}/update`: `swarm.ServiceSpec`.
pub(in crate::inspect) fn service(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
pub(in crate::inspect) fn networks(parent: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    for (path, network) in parent.list("Networks")? {
        let network = Struct::new(network, &path)?;
        if let Some(finding) = namespace(&network.child("Target"), "network", network.string("Target")?) {
            findings.push(finding);
        }
    }
    Ok(())
}

/// `LogDriver: {Name, Options}` in a task template or the swarm's task defaults.
pub(in crate::inspect) fn log_driver(parent: &Struct<'_>, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
    if let Some(log) = parent.get("LogDriver") {
        let log = Struct::new(log, &parent.child("LogDriver"))?;
        drivers::push(findings, DriverKind::Log, &log.child("Name"), log.string("Name")?)?;
    }
    Ok(())
}

/// `POST /swarm/init` and `/swarm/update`: the log driver every task defaults to
/// (`Spec.TaskDefaults.LogDriver`; init wraps the spec in `InitRequest.Spec`, update sends it bare).
pub(in crate::inspect) fn swarm(body: &Json, findings: &mut Vec<Finding>) -> Result<(), InspectError> {
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
