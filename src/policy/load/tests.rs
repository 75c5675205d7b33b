//! Tests of policy loading: every problem reported with its place, unknown keys and operations
//! suggested, rules indexed by operation.

use super::*;

fn check(text: &str) -> Result<Policy, String> {
    Policy::from_sources("t", &[("p.toml".to_string(), text.to_string())]).map_err(|e| e.to_string())
}

#[test]
fn a_type_error_does_not_hide_unknown_operations() {
    let text = "version = 1\nname = 3\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", 5]\n[[rule]]\nid = \"b\"\nallow = \"images.list\"\n";
    let err = check(text).err().unwrap_or_default();
    for wanted in [
        "p.toml:2:8: invalid type: integer `3`, expected a string",
        "p.toml:5:10: unknown operation `containers.lst`, did you mean `containers.list`?",
        "p.toml:5:28: `allow` must hold strings, not a number",
        "p.toml:8:9: `allow` must be a list of strings",
    ] {
        assert!(err.contains(wanted), "no `{wanted}` in:\n{err}");
    }
}

#[test]
fn reports_every_error_with_position() {
    let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", \"imagess.*\"]\n")
        .err()
        .unwrap_or_default();
    assert!(err.contains("p.toml:4:10: unknown operation `containers.lst`, did you mean `containers.list`?"), "{err}");
    assert!(err.contains("p.toml:4:28: unknown operation `imagess.*`"), "{err}");
}

#[test]
fn rejects_unknown_keys_and_bad_shapes() {
    let err = check("version = 1\n[[rule]]\nid = \"a\"\nalow = [\"*\"]\n").err().unwrap_or_default();
    assert!(err.starts_with("p.toml:4:1: unknown key `alow`, did you mean `allow`?"), "{err}");
    let err = check("version = 1\n[containers]\nprivilege = false\n").err().unwrap_or_default();
    assert!(err.starts_with("p.toml:3:1: unknown key `privilege`, did you mean `privileged`?"), "{err}");
    // Several misspellings are all reported at once.
    let err =
        check("version = 1\n[[rule]]\nid = \"a\"\nalow = [\"*\"]\n[containers]\nprivilege = false\nhost_mount = []\n")
            .err()
            .unwrap_or_default();
    assert!(err.contains("p.toml:4:1: unknown key `alow`"), "{err}");
    assert!(err.contains("p.toml:6:1: unknown key `privilege`"), "{err}");
    assert!(err.contains("p.toml:7:1: unknown key `host_mount`, did you mean `host_mounts`?"), "{err}");
    let err = check("version = 2\n").err().unwrap_or_default();
    assert!(err.contains("p.toml:1:11: unsupported policy version `2`"), "{err}");
    let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\ndeny = [\"*\"]\n").err().unwrap_or_default();
    assert!(err.contains("needs exactly one of `allow` or `deny`"), "{err}");
    let err = check("version = 1\n[[rule]]\nid = \"a\"\nallow = [\"*\"]\n[[rule]]\nid = \"a\"\ndeny = [\"*\"]\n")
        .err()
        .unwrap_or_default();
    assert!(err.contains("p.toml:6:6: rule id `a` is already used"), "{err}");
}

#[test]
fn indexes_rules_by_operation() {
    let policy = check("version = 1\n[[rule]]\nid = \"r\"\nallow = [\"containers.*\"]\n[[rule]]\nid = \"d\"\ndeny = [\"containers.create\"]\n");
    let policy = policy.unwrap_or_else(|e| unreachable!("{e}"));
    let ids = |name: &str| -> Vec<String> {
        Operation::from_name(name).map(|op| policy.rules_for(op).map(|r| r.id.clone()).collect()).unwrap_or_default()
    };
    assert_eq!(ids("containers.create"), ["r", "d"]);
    assert_eq!(ids("containers.list"), ["r"]);
    assert!(ids("exec.create").is_empty());
}
