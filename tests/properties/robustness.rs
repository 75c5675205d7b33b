//! The inspector never panics: on random JSON that reaches deep into its walks, on random
//! bytes, on random queries and Content-Types; nor does image reference normalization.

use super::model::{s, to_json, V};
use super::*;

/// Every field name sockgate reads, so that random bodies reach deep into the inspector.
const FIELDS: &[&str] = &[
    "Image",
    "HostConfig",
    "Privileged",
    "Binds",
    "Mounts",
    "Type",
    "Source",
    "Target",
    "ReadOnly",
    "VolumeOptions",
    "DriverConfig",
    "Name",
    "Options",
    "CapAdd",
    "Capabilities",
    "SecurityOpt",
    "MaskedPaths",
    "ReadonlyPaths",
    "NetworkMode",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Cgroup",
    "Sysctls",
    "Runtime",
    "VolumesFrom",
    "CgroupParent",
    "Devices",
    "PathOnHost",
    "DeviceRequests",
    "DeviceCgroupRules",
    "NetworkingConfig",
    "EndpointsConfig",
    "User",
    "TaskTemplate",
    "PluginSpec",
    "ContainerSpec",
    "CapabilityAdd",
    "Privileges",
    "SELinuxContext",
    "Disable",
    "Seccomp",
    "AppArmor",
    "Mode",
    "Networks",
    "Driver",
    "DriverOpts",
    "Value",
    "device",
    "o",
    "type",
    "hostconfig",
    "Hoſtconfig",
    "NetworKMode",
];

/// Values that mean something to the inspector.
const STRINGS: &[&str] = &[
    "host",
    "container:abc",
    "container:",
    "/",
    "/etc",
    "//",
    "/../..",
    "bind",
    "volume",
    "tmpfs",
    "local",
    "none",
    "SYS_ADMIN",
    "cap_net_admin",
    "ALL",
    "/a:/b:ro",
    "/a:/b",
    "a:b:c:d",
    "v:/x",
    ":",
    "::",
    "/a:ro",
    "seccomp=unconfined",
    "apparmor:unconfined",
    "label=disable",
    "label=type:x",
    "systempaths=unconfined",
    "seccomp",
    "=",
    "alpine",
    "alpine:3",
    "sha256:abc",
    "ABC/def",
    "localhost:5000/x@sha256:0123456789abcdef0123456789abcdef",
    "0",
    "root",
    "0:0",
    ":0",
    "plugin",
    "unconfined",
    "custom",
    "disabled",
    "network",
    "mount",
    "device",
    "capabilities",
    "host pid",
    "host ipc",
    "allow-all-devices",
    "",
    "rbind,ro",
    "ro",
    "é",
    "\u{017F}",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![6 => prop::sample::select(FIELDS).prop_map(String::from), 1 => "\\PC{0,8}"]
}

fn arb_json() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        1 => Just(V::Null),
        1 => any::<bool>().prop_map(V::Bool),
        1 => any::<i64>().prop_map(V::Int),
        4 => prop::sample::select(STRINGS).prop_map(s),
        1 => "\\PC{0,12}".prop_map(V::Str),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..5).prop_map(V::Arr),
            3 => prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|members| V::Struct { members, walked: false }),
        ]
    })
}

/// A body that reaches the inspector's walks: random members under the keys it reads.
fn arb_body() -> impl Strategy<Value = V> {
    prop::collection::vec((arb_key(), arb_json()), 0..8).prop_map(|members| V::Struct { members, walked: false })
}

const BODY_OPERATIONS: &[&str] = &[
    "containers.create",
    "containers.update",
    "exec.create",
    "services.create",
    "services.update",
    "volumes.create",
    "plugins.pull",
    "plugins.upgrade",
];

const QUERY_OPERATIONS: &[&str] = &["images.build", "images.create", "containers.commit", "images.tag", "plugins.pull"];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("Application/JSON"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    Some("application/x-tar"),
    Some("application/json; charset"),
    Some(""),
    None,
];

const QUERY_KEYS: &[&str] =
    &["networkmode", "cgroupparent", "t", "fromImage", "tag", "repo", "remote", "fromSrc", "container", "x"];
const QUERY_VALUES: &[&str] = &[
    "host",
    "HOST",
    "ho%73t",
    "container:x",
    "bridge",
    "%2F",
    "/x",
    "alpine",
    "alpine:3",
    "alpine:",
    "a@sha256:",
    "sha256:abc",
    "%zz",
    "%",
    "+",
    "a+b",
    ":",
    "",
    "%C3%A9",
    "%ff",
    "UPPER/case",
    "x;y",
];

fn arb_query() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(QUERY_KEYS), any::<bool>(), prop::sample::select(QUERY_VALUES)), 0..5)
        .prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, eq, v)| if *eq { format!("{k}={v}") } else { (*k).to_string() })
                .collect::<Vec<_>>()
                .join("&")
        })
}

fn inspect_all(op: &str, query: Option<&str>, content_type: Option<&str>, body: &[u8]) {
    let operation = sockgate::classify::Operation::from_name(op).unwrap();
    let _ = inspect::inspect(&inspect::Request {
        operation,
        query,
        content_type: content_type.map(str::as_bytes),
        body: Some(body),
        resource: None,
        resolved: None,
        tenancy: false,
    });
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn inspector_never_panics_on_json(
        body in arb_body(),
        tape in prop::collection::vec(any::<u8>(), 0..64),
        query in arb_query(),
    ) {
        let json = to_json(&body, &tape);
        for op in BODY_OPERATIONS {
            inspect_all(op, Some(&query), Some("application/json"), json.as_bytes());
        }
        // A plugin privilege list is a top-level array.
        let list = to_json(&V::Arr(vec![body]), &tape);
        inspect_all("plugins.pull", Some(&query), Some("application/json"), list.as_bytes());
    }

    #[test]
    fn inspector_never_panics_on_bytes(
        body in prop::collection::vec(prop_oneof![
            4 => prop::sample::select(&b"{}[]\":,\\/u0123456789abcdefnultrsEe+-. \n"[..]),
            1 => any::<u8>(),
        ], 0..96),
        content_type in prop::sample::select(CONTENT_TYPES),
    ) {
        for op in BODY_OPERATIONS.iter().chain(QUERY_OPERATIONS) {
            inspect_all(op, None, content_type, &body);
        }
        let _ = inspect::json::parse(&body);
    }

    #[test]
    fn inspector_never_panics_on_queries(
        query in arb_query(),
        content_type in prop::sample::select(CONTENT_TYPES),
    ) {
        for op in QUERY_OPERATIONS {
            inspect_all(op, Some(&query), content_type, b"");
        }
    }

    #[test]
    fn image_normalize_never_panics(
        reference in prop_oneof![
            "\\PC{0,40}",
            "[a-zA-Z0-9./:@_-]{0,60}",
            "([a-z0-9.-]{1,12}(:[0-9]{1,5})?/)?[a-z0-9._/-]{1,20}(:[\\w.-]{0,10})?(@[a-z0-9]+:[0-9a-f]{0,70})?",
        ],
        ids in any::<bool>(),
    ) {
        let _ = sockgate::naming::image::normalize(&reference, ids);
    }
}
