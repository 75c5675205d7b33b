//! Container create, update, start and exec bodies read as dockerd reads them.

use super::*;
use crate::inspect::json::parse;
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
    assert!(
        one(r#"{"Image":"a","HostConfig":{"Privileged":false},"hostConfig":{"Privileged":true}}"#).starts_with("error")
    );
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
    assert!(one(r#"{"HostConfig":{"VolumeDriver":"../../../var/lib/docker/volumes/x/_data/p"}}"#).starts_with("error"));
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
        options: vec![("device".into(), "/etc".into()), ("o".into(), "bind".into()), ("type".into(), "none".into())],
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
