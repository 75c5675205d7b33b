//! Service, volume, network, checkpoint, plugin and image requests read as dockerd reads them.

use super::*;
use crate::inspect::json::parse;

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
    assert_eq!(driver(br#"{"Name":"v","Driver":"flocker"}"#, volume), "Driver names volume driver `flocker` [flocker]");
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
