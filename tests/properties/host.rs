//! Host access as the engine underneath reads it: local volumes as mount(2) and moby/sys/mount
//! read their options, exec users as runc reads them, security options as dockerd parses them,
//! and form bodies as `net/http` reads them.
//!
//! Local volumes: the `local` driver passes `type`, `o` and `device` to mount(2) as they are
//! (moby `volume/local/local_unix.go`, `mount.Mount(device, path, type, o)`), and mount(2) ignores
//! the file system type of an `MS_BIND` mount. moby/sys/mount `parseOptions` applies `o` left to
//! right, so the last of `ro` and `rw` wins.

use super::*;

fn mount_options(bind: &'static str, others: Vec<&'static str>, at: Index) -> String {
    let mut options = others;
    let at = at.index(options.len() + 1);
    options.insert(at, bind);
    options.join(",")
}

/// Whether `o` makes the mount read-only, as moby/sys/mount reads it.
fn read_only_by_options(options: &str) -> bool {
    options.split(',').fold(false, |ro, o| match o {
        "ro" => true,
        "rw" => false,
        _ => ro,
    })
}

fn volume_create_body(kind: &str, options: &str, device: &str) -> String {
    serde_json::json!({"Name": "v", "Driver": "local", "DriverOpts": {"type": kind, "o": options, "device": device}})
        .to_string()
}

fn mount_create_body(kind: &str, options: &str, device: &str, read_only: bool) -> String {
    serde_json::json!({"Image": "alpine", "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/v", "ReadOnly": read_only,
        "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": kind, "o": options, "device": device}}}}]}})
    .to_string()
}

fn host_mount(findings: &[Finding]) -> Option<(bool, String)> {
    findings.iter().find_map(|f| match f.kind {
        Kind::HostMount { read_only } => Some((read_only, f.value.clone())),
        _ => None,
    })
}

const DEVICES: &[&str] = &["/", "/etc", "/var/run", "/srv/../etc", "//root", "/home/user/"];
const OTHER_OPTIONS: &[&str] = &["nosuid", "noexec", "nodev", "noatime", "uid=0", "size=1m"];

proptest! {
    #![proptest_config(config(200))]

    /// A local volume over a host path is a host mount, read-only exactly when `ro` is in `o`
    /// (the file system types here are ones sockgate and mount(2) agree on).
    #[test]
    fn local_bind_volumes_are_host_mounts(
        kind in prop::sample::select(&["none", "", "ext4", "xfs", "btrfs", "NONE"][..]),
        bind in prop::sample::select(&["bind", "rbind"][..]),
        others in prop::collection::vec(prop::sample::select(OTHER_OPTIONS), 0..3),
        ro in any::<bool>(),
        at in any::<Index>(),
        device in prop::sample::select(DEVICES),
    ) {
        let mut others = others;
        if ro {
            others.push("ro");
        }
        let options = mount_options(bind, others, at);
        let clean = go_path_clean(device);
        for (op, body) in [
            ("volumes.create", volume_create_body(kind, &options, device)),
            ("containers.create", mount_create_body(kind, &options, device, false)),
        ] {
            let found = host_mount(&run(op, body.as_bytes()).unwrap());
            prop_assert_eq!(found, Some((ro, clean.clone())), "{} {}", op, body);
        }
    }

    /// With `o=bind`, mount(2) ignores the type: `type=tmpfs,o=bind,device=/etc` mounts the
    /// host's `/etc` (checked against dockerd 20.10: a container sees the host's `/etc/hostname`).
    #[test]
    fn local_bind_volumes_are_host_mounts_whatever_the_type(
        kind in prop::sample::select(&["tmpfs", "TMPFS", "Tmpfs", "none", "ext4"][..]),
        bind in prop::sample::select(&["bind", "rbind"][..]),
        others in prop::collection::vec(prop::sample::select(OTHER_OPTIONS), 0..3),
        at in any::<Index>(),
        device in prop::sample::select(DEVICES),
    ) {
        let options = mount_options(bind, others, at);
        for (op, body) in [
            ("volumes.create", volume_create_body(kind, &options, device)),
            ("containers.create", mount_create_body(kind, &options, device, false)),
        ] {
            let found = host_mount(&run(op, body.as_bytes()).unwrap());
            prop_assert_eq!(found, Some((false, go_path_clean(device))), "{} {}", op, body);
        }
    }

    /// `o=bind,ro,rw` is read-write: the last of `ro` and `rw` wins (checked against dockerd
    /// 20.10: a container can write through such a volume).
    #[test]
    fn local_bind_volume_read_only_follows_the_last_ro_or_rw(
        flags in prop::collection::vec(prop::sample::select(&["ro", "rw", "nosuid"][..]), 0..5),
        at in any::<Index>(),
        mount_read_only in any::<bool>(),
    ) {
        let options = mount_options("bind", flags, at);
        let want = read_only_by_options(&options);
        let body = volume_create_body("none", &options, "/srv");
        prop_assert_eq!(host_mount(&run("volumes.create", body.as_bytes()).unwrap()), Some((want, "/srv".into())), "{}", body);
        let body = mount_create_body("none", &options, "/srv", mount_read_only);
        let found = host_mount(&run("containers.create", body.as_bytes()).unwrap());
        prop_assert_eq!(found, Some((want || mount_read_only, "/srv".into())), "{}", body);
    }
}

// ---------------------------------------------------------------------------------------------
// Exec users and security options, as runc and dockerd read them
// ---------------------------------------------------------------------------------------------

/// An exec `User` that runs as uid 0: `root`, or a number Go's `strconv.Atoi` reads as 0 (runc's
/// `user.GetExecUser` falls back to it when no passwd entry has that name), with any group.
fn root_user(plain: bool) -> impl Strategy<Value = String> {
    let name = if plain {
        prop::sample::select(&["root", "0"][..]).prop_map(String::from).boxed()
    } else {
        (prop::sample::select(&["", "+", "-"][..]), 1usize..5)
            .prop_map(|(sign, zeros)| format!("{sign}{}", "0".repeat(zeros)))
            .boxed()
    };
    (name, prop::sample::select(&["", ":0", ":root", ":1000", ":"][..]))
        .prop_map(|(name, group)| format!("{name}{group}"))
}

fn exec_findings(user: &str) -> Vec<Finding> {
    let body = serde_json::json!({"User": user, "Cmd": ["id"], "AttachStdout": true}).to_string();
    run("exec.create", body.as_bytes()).unwrap()
}

proptest! {
    #![proptest_config(config(100))]

    #[test]
    fn exec_as_root_is_found(user in root_user(true)) {
        prop_assert!(exec_findings(&user).iter().any(|f| f.kind == Kind::ExecRoot), "{}", user);
    }

    /// Checked against dockerd 20.10: `docker exec -u 00`, `-u +0`, `-u -0` and `-u 000:0` all run
    /// as uid 0.
    #[test]
    fn exec_as_uid_zero_in_any_spelling_is_found(user in root_user(false)) {
        prop_assert!(exec_findings(&user).iter().any(|f| f.kind == Kind::ExecRoot), "{}", user);
    }
}

/// Security options that turn confinement off, as moby's `parseSecurityOpt` reads them: a bare
/// `disable` is `label=disable`, a bare `writable-cgroups` is `writable-cgroups=true`, and the
/// value of `writable-cgroups` goes through `strconv.ParseBool`.
const UNCONFINING_OPTS: &[(&str, bool)] = &[
    ("seccomp=unconfined", true),
    ("seccomp:unconfined", true),
    ("apparmor=unconfined", true),
    ("label=disable", true),
    ("label:disable", true),
    ("label=type:spc_t", true),
    ("systempaths=unconfined", true),
    ("writable-cgroups=true", true),
    ("writable-cgroups=TRUE", true),
    ("disable", false),
    ("writable-cgroups", false),
    ("writable-cgroups=1", false),
    ("writable-cgroups=t", false),
    ("writable-cgroups=T", false),
];

fn unconfined(opt: &str) -> bool {
    let body =
        serde_json::json!({"Image": "alpine", "HostConfig": {"SecurityOpt": ["no-new-privileges", opt]}}).to_string();
    run("containers.create", body.as_bytes()).unwrap().iter().any(|f| f.kind == Kind::Unconfined)
}

#[test]
fn unconfining_security_options_are_found() {
    for (opt, _) in UNCONFINING_OPTS.iter().filter(|(_, handled)| *handled) {
        assert!(unconfined(opt), "{opt}");
    }
}

#[test]
fn every_spelling_of_an_unconfining_security_option_is_found() {
    let missed: Vec<&str> = UNCONFINING_OPTS.iter().map(|(opt, _)| *opt).filter(|opt| !unconfined(opt)).collect();
    assert!(missed.is_empty(), "not found: {missed:?}");
}

// ---------------------------------------------------------------------------------------------
// Form bodies on query-judged operations
// ---------------------------------------------------------------------------------------------

/// A Content-Type whose media type is `application/x-www-form-urlencoded` in any letter case, with
/// parameters that are either well-formed or malformed as `mime.ParseMediaType` reads them.
fn form_content_type(well_formed: bool) -> impl Strategy<Value = String> {
    let params: &'static [&'static str] = if well_formed {
        &["", ";", "; charset=utf-8", ";charset=\"utf-8\"", " ; a=b ;"]
    } else {
        &["; charset", "; =x", "; a=b c", "; a=\"open", "; a b=c", "; é=1"]
    };
    (prop::collection::vec(any::<bool>(), 33), prop::sample::select(params)).prop_map(|(upper, param)| {
        let base: String = "application/x-www-form-urlencoded"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        format!("{base}{param}")
    })
}

fn tag_with(content_type: &str) -> Result<Vec<Finding>, InspectError> {
    let operation = sockgate::classify::Operation::from_name("images.tag").unwrap();
    inspect::inspect(&inspect::Request {
        operation,
        query: Some("repo=allowed&tag=q"),
        content_type: Some(content_type.as_bytes()),
        body: None,
        resource: None,
        resolved: None,
        tenancy: false,
    })
}

proptest! {
    #![proptest_config(config(100))]

    /// A form body would override the query sockgate judged (`Request.FormValue` reads the body
    /// first), so it is refused.
    #[test]
    fn form_bodies_are_refused(content_type in form_content_type(true)) {
        prop_assert!(matches!(tag_with(&content_type), Err(InspectError::FormBody(_))), "{}", content_type);
    }

    /// With a malformed parameter, Go's `mime.ParseMediaType` still returns the media type (with
    /// `ErrInvalidMediaParameter`), `net/http`'s `parsePostForm` still reads the body into the
    /// form, and dockerd's `httputils.ParseForm` ignores errors that start with `mime:`. Checked
    /// against dockerd 20.10: `POST /images/busybox/tag?repo=from-query` with
    /// `Content-Type: application/x-www-form-urlencoded; charset` and body `repo=from-body`
    /// creates the tag `from-body`.
    #[test]
    fn form_bodies_with_malformed_parameters_are_refused(content_type in form_content_type(false)) {
        prop_assert!(matches!(tag_with(&content_type), Err(InspectError::FormBody(_))), "{}", content_type);
    }
}
