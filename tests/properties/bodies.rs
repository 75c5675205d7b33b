//! Bodies: every spelling of host access is found, in any field order and at either HostConfig
//! level, and every duplicate key is refused.

use super::model::{map, s, shuffle, st, to_json, Tape, V};
use super::*;

/// A create body holding one of each kind of host access, with noise around it, and the
/// findings it must yield as `(kind, value)`.
fn create_body(cap_as_string: bool) -> (V, Vec<(Kind, &'static str)>) {
    let cap = if cap_as_string { s("SYS_ADMIN") } else { V::Arr(vec![s("cap_sys_admin")]) };
    let volume_mount = st(
        true,
        &[
            ("Type", s("volume")),
            ("Target", s("/v")),
            (
                "VolumeOptions",
                st(
                    true,
                    &[
                        ("NoCopy", V::Bool(true)),
                        (
                            "DriverConfig",
                            st(
                                true,
                                &[
                                    ("Name", s("local")),
                                    (
                                        "Options",
                                        map(true, &[("type", s("none")), ("o", s("bind")), ("device", s("/srv/data"))]),
                                    ),
                                ],
                            ),
                        ),
                    ],
                ),
            ),
        ],
    );
    let bind_mount = st(
        true,
        &[
            ("Type", s("bind")),
            ("Source", s("/var/run/docker.sock")),
            ("Target", s("/s")),
            ("BindOptions", st(false, &[("Propagation", s("rprivate"))])),
        ],
    );
    let host_config = st(
        true,
        &[
            ("Privileged", V::Bool(true)),
            ("Binds", V::Arr(vec![s("/etc:/host-etc:ro"), s("data:/data"), s("/anon")])),
            ("CapAdd", cap),
            ("CapDrop", V::Arr(vec![s("MKNOD")])),
            ("NetworkMode", s("host")),
            ("Mounts", V::Arr(vec![bind_mount, volume_mount])),
            ("Sysctls", map(true, &[("net.ipv4.ip_forward", s("1"))])),
            ("RestartPolicy", st(false, &[("Name", s("no")), ("MaximumRetryCount", V::Int(0))])),
            ("LogConfig", st(false, &[("Type", s("json-file")), ("Config", map(false, &[("max-size", s("1m"))]))])),
            ("Memory", V::Int(0)),
            ("AutoRemove", V::Bool(true)),
        ],
    );
    let body = st(
        true,
        &[
            ("Image", s("alpine:3")),
            ("Cmd", V::Arr(vec![s("sh"), s("-c"), s("true")])),
            ("Env", V::Arr(vec![s("A=1")])),
            ("Labels", map(false, &[("com.example.kind", s("test"))])),
            ("Healthcheck", st(false, &[("Test", V::Arr(vec![s("NONE")]))])),
            ("HostConfig", host_config),
            (
                "NetworkingConfig",
                st(true, &[("EndpointsConfig", map(true, &[("bridge", st(false, &[("Aliases", V::Arr(vec![]))]))]))]),
            ),
        ],
    );
    let expected = vec![
        (Kind::Privileged, "true"),
        (Kind::HostMount { read_only: true }, "/etc"),
        (Kind::Capability, "SYS_ADMIN"),
        (Kind::Namespace, "host"),
        (Kind::HostMount { read_only: false }, "/var/run/docker.sock"),
        (Kind::HostMount { read_only: false }, "/srv/data"),
        (Kind::Sysctl, "net.ipv4.ip_forward"),
        (Kind::Image, "docker.io/library/alpine:3"),
    ];
    (body, expected)
}

/// Moves the HostConfig members that `moves` picks to the top level (the deprecated embedded
/// HostConfig), and then keeps an emptied HostConfig as `{}`, `null`, or drops it.
fn move_to_top(body: &mut V, moves: &[bool], emptied: u8) {
    let V::Struct { members: top, .. } = body else { unreachable!() };
    let at = top.iter().position(|(k, _)| k == "HostConfig").unwrap();
    let V::Struct { members: hc, .. } = &mut top[at].1 else { unreachable!() };
    let mut moved = Vec::new();
    let mut i = 0;
    hc.retain(|member| {
        let go = moves.get(i).copied().unwrap_or(false);
        i += 1;
        if go {
            moved.push(member.clone());
        }
        !go
    });
    if hc.is_empty() {
        match emptied % 3 {
            0 => {}
            1 => top[at].1 = V::Null,
            _ => {
                top.remove(at);
            }
        }
    }
    top.extend(moved);
}

fn has(findings: &[Finding], kind: Kind, value: &str) -> bool {
    findings.iter().any(|f| f.kind == kind && f.value == value)
}

/// Paths (member or item indices) to every struct object, or every map object, in `value`.
fn objects(value: &V, here: &mut Vec<usize>, pick: &dyn Fn(&V) -> bool, out: &mut Vec<Vec<usize>>) {
    if pick(value) {
        out.push(here.clone());
    }
    let children: Vec<&V> = match value {
        V::Struct { members, .. } | V::Map { members, .. } => members.iter().map(|(_, v)| v).collect(),
        V::Arr(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    for (i, child) in children.into_iter().enumerate() {
        here.push(i);
        objects(child, here, pick, out);
        here.pop();
    }
}

fn object_at<'a>(value: &'a mut V, path: &[usize]) -> &'a mut V {
    match path.split_first() {
        None => value,
        Some((&i, rest)) => match value {
            V::Struct { members, .. } | V::Map { members, .. } => object_at(&mut members[i].1, rest),
            V::Arr(items) => object_at(&mut items[i], rest),
            _ => unreachable!(),
        },
    }
}

/// Adds a duplicate of one key of the object at `path`, with one of a few values, at a random place.
fn add_duplicate(body: &mut V, path: &[usize], key: Index, value: u8, at: Index) {
    let (V::Struct { members, .. } | V::Map { members, .. }) = object_at(body, path) else { unreachable!() };
    let (name, original) = members[key.index(members.len())].clone();
    let value = match value % 4 {
        0 => original,
        1 => V::Null,
        2 => V::Bool(false),
        _ => s("x"),
    };
    let at = at.index(members.len() + 1);
    members.insert(at, (name, value));
}

fn walked_with_members(v: &V) -> bool {
    matches!(v, V::Struct { walked: true, members } | V::Map { read: true, members } if !members.is_empty())
}

fn any_struct_with_members(v: &V) -> bool {
    matches!(v, V::Struct { members, .. } if !members.is_empty()) || walked_with_members(v)
}

/// Bodies of the other inspected operations, and a finding each must yield.
fn other_bodies() -> Vec<(&'static str, V, Kind, &'static str)> {
    vec![
        (
            "exec.create",
            st(true, &[("Privileged", V::Bool(true)), ("User", s("root")), ("Cmd", V::Arr(vec![s("sh")]))]),
            Kind::Privileged,
            "true",
        ),
        (
            "volumes.create",
            st(
                true,
                &[
                    ("Name", s("v")),
                    ("Driver", s("local")),
                    ("DriverOpts", map(true, &[("type", s("none")), ("o", s("bind")), ("device", s("/etc"))])),
                ],
            ),
            Kind::HostMount { read_only: false },
            "/etc",
        ),
        (
            "services.create",
            st(
                true,
                &[(
                    "TaskTemplate",
                    st(
                        true,
                        &[(
                            "ContainerSpec",
                            st(
                                true,
                                &[
                                    ("Image", s("alpine")),
                                    ("CapabilityAdd", V::Arr(vec![s("CAP_SYS_PTRACE")])),
                                    ("Mounts", V::Arr(vec![st(true, &[("Type", s("bind")), ("Source", s("/"))])])),
                                ],
                            ),
                        )],
                    ),
                )],
            ),
            Kind::Capability,
            "SYS_PTRACE",
        ),
        (
            "containers.update",
            st(true, &[("CgroupParent", s("/system.slice")), ("Memory", V::Int(1 << 20))]),
            Kind::CgroupParent,
            "/system.slice",
        ),
    ]
}

proptest! {
    #![proptest_config(config(300))]

    /// 5. However a create body spells its keys (re-cased, `\u`-escaped, `ſ`, Kelvin sign), in
    /// whatever order and whitespace, and whichever HostConfig fields sit at the top level, every
    /// host access in it is found: privileged, binds, mounts, local bind volumes, capabilities
    /// (list or StrSlice string), host network, sysctls.
    #[test]
    fn every_spelling_of_host_access_is_found(
        tape in prop::collection::vec(any::<u8>(), 0..400),
        moves in prop::collection::vec(any::<bool>(), 11),
        emptied in any::<u8>(),
        cap_as_string in any::<bool>(),
    ) {
        let (mut body, expected) = create_body(cap_as_string);
        move_to_top(&mut body, &moves, emptied);
        shuffle(&mut body, &mut Tape { bytes: &tape, pos: 7 });
        let json = to_json(&body, &tape);
        let findings = run("containers.create", json.as_bytes());
        prop_assert!(findings.is_ok(), "{json}\n{findings:?}");
        let findings = findings.unwrap();
        for (kind, value) in expected {
            prop_assert!(has(&findings, kind, value), "no {kind:?} `{value}` in {json}\n{findings:#?}");
        }
    }

    #[test]
    fn every_spelling_is_found_in_other_operations(
        tape in prop::collection::vec(any::<u8>(), 0..200),
        which in any::<Index>(),
    ) {
        let bodies = other_bodies();
        let (op, mut body, kind, value) = bodies[which.index(bodies.len())].clone();
        shuffle(&mut body, &mut Tape { bytes: &tape, pos: 3 });
        let json = to_json(&body, &tape);
        let findings = run(op, json.as_bytes());
        prop_assert!(findings.is_ok(), "{op} {json}\n{findings:?}");
        prop_assert!(has(&findings.unwrap(), kind, value), "no {kind:?} `{value}` in {op} {json}");
    }

    /// 6. A duplicate of any key of an object sockgate reads (a struct key in any spelling Go
    /// takes for the same field, or the identical key of a map) is refused, whatever its value
    /// and position: Go would read only one of the two, and sockgate cannot know which one
    /// matters.
    #[test]
    fn duplicate_keys_are_refused(
        tape in prop::collection::vec(any::<u8>(), 0..400),
        moves in prop::collection::vec(any::<bool>(), 11),
        object in any::<Index>(),
        key in any::<Index>(),
        value in any::<u8>(),
        at in any::<Index>(),
    ) {
        let (mut body, _) = create_body(false);
        move_to_top(&mut body, &moves, 0);
        let mut paths = Vec::new();
        objects(&body, &mut Vec::new(), &walked_with_members, &mut paths);
        let path = paths[object.index(paths.len())].clone();
        add_duplicate(&mut body, &path, key, value, at);
        let json = to_json(&body, &tape);
        let result = run("containers.create", json.as_bytes());
        prop_assert!(
            matches!(result, Err(InspectError::Json(JsonError::DuplicateKey { .. }))),
            "{json}\n{result:?}"
        );
    }

    /// The same in the other inspected operations.
    #[test]
    fn duplicate_keys_are_refused_in_other_operations(
        tape in prop::collection::vec(any::<u8>(), 0..200),
        which in any::<Index>(),
        object in any::<Index>(),
        key in any::<Index>(),
        value in any::<u8>(),
        at in any::<Index>(),
    ) {
        let bodies = other_bodies();
        let (op, mut body, _, _) = bodies[which.index(bodies.len())].clone();
        let mut paths = Vec::new();
        objects(&body, &mut Vec::new(), &walked_with_members, &mut paths);
        let path = paths[object.index(paths.len())].clone();
        add_duplicate(&mut body, &path, key, value, at);
        let json = to_json(&body, &tape);
        let result = run(op, json.as_bytes());
        prop_assert!(matches!(result, Err(InspectError::Json(JsonError::DuplicateKey { .. }))), "{op} {json}\n{result:?}");
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// The brief's wider reading of property 6: a duplicate key in *any* struct object of the body
    /// is refused, including objects sockgate does not otherwise look at (RestartPolicy,
    /// LogConfig, Healthcheck, BindOptions, an EndpointsConfig entry).
    #[test]
    fn duplicate_keys_are_refused_in_every_struct(
        tape in prop::collection::vec(any::<u8>(), 0..400),
        object in any::<Index>(),
        key in any::<Index>(),
        value in any::<u8>(),
        at in any::<Index>(),
    ) {
        let (mut body, _) = create_body(false);
        let mut paths = Vec::new();
        objects(&body, &mut Vec::new(), &any_struct_with_members, &mut paths);
        let path = paths[object.index(paths.len())].clone();
        add_duplicate(&mut body, &path, key, value, at);
        let json = to_json(&body, &tape);
        let result = run("containers.create", json.as_bytes());
        prop_assert!(result.is_err(), "{json}\n{result:?}");
    }
}
