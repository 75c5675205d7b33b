//! `sockgate policy check`, `explain`, `test` and `from-env`, run as a user runs them, and every
//! shipped policy's cases, run in-process as well.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sockgate");
const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

fn sockgate(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_clear().output().expect("sockgate runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn shipped_policy_cases_all_pass() {
    let outcomes = sockgate::cases::run_dir(Path::new(POLICIES)).expect("cases load");
    let failed: Vec<String> =
        outcomes.iter().filter(|o| !o.passed).map(|o| format!("{}: {}", o.name, o.detail)).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for policy in ["read-only", "full-access", "ci", "watchtower"] {
        let file = Path::new(POLICIES).join(format!("{policy}.cases.toml"));
        assert!(outcomes.iter().any(|o| o.file == file), "no cases for {policy}");
    }
}

#[test]
fn policy_test_command_reports_and_fails_on_a_failing_case() {
    let out = sockgate(&["policy", "test", POLICIES]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(" passed, 0 failed"), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(POLICIES).join("ci.toml"), dir.path().join("ci.toml")).unwrap();
    std::fs::write(
        dir.path().join("ci.cases.toml"),
        "[[case]]\nname = \"wrongly expected\"\nrequest = \"POST /containers/create\"\nbody = '{\"HostConfig\":{\"Privileged\":true}}'\nexpect = \"allow\"\n",
    )
    .unwrap();
    let out = sockgate(&["policy", "test", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("FAIL"), "{}", text(&out));
    assert!(text(&out).contains("0 passed, 1 failed"), "{}", text(&out));
}

#[test]
fn policy_check_reports_every_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", \"imagess.*\"]\n[[rule]]\nid = \"b\"\ndeny = [\"@nope\"]\npaths = [\"(\"]\n",
    )
    .unwrap();
    let out = sockgate(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    let file = bad.display().to_string();
    for want in [
        format!("{file}:4:10: unknown operation `containers.lst`, did you mean `containers.list`?"),
        format!("{file}:4:28: unknown operation `imagess.*`"),
        format!("{file}:7:9: unknown group `@nope`"),
        format!("{file}:8:10: invalid path expression `(`"),
    ] {
        assert!(report.contains(&want), "missing {want:?} in:\n{report}");
    }

    let misspelt = dir.path().join("misspelt.toml");
    std::fs::write(&misspelt, "version = 1\n[containers]\nprivilegd = false\n").unwrap();
    let out = sockgate(&["policy", "check", misspelt.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains(":3:1: unknown key `privilegd`, did you mean `privileged`?"), "{}", text(&out));

    for policy in ["read-only", "full-access", "ci", "watchtower"] {
        let out = sockgate(&["policy", "check", &format!("{POLICIES}/{policy}.toml")]);
        assert!(out.status.success(), "{policy}: {}", text(&out));
    }
}

#[test]
fn policy_explain_says_what_decided_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("create.json");
    std::fs::write(&body, r#"{"Image":"alpine","HostConfig":{"Privileged":true,"Binds":["/srv/../etc:/etc"]}}"#)
        .unwrap();
    let ci = format!("{POLICIES}/ci.toml");
    let out = sockgate(&[
        "policy",
        "explain",
        "--policy",
        &ci,
        "--body",
        body.to_str().unwrap(),
        "POST",
        "/v1.41/containers/create",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report = text(&out);
    for want in [
        "operation: containers.create",
        "finding:   Image is `docker.io/library/alpine:latest`",
        "finding:   HostConfig.Privileged is true",
        "finding:   HostConfig.Binds mounts host path `/etc` read-write",
        "decision:  deny",
        "message:   sockgate: containers.create denied by rules `containers.privileged`, `containers.host_mounts`",
    ] {
        assert!(report.contains(want), "missing {want:?} in:\n{report}");
    }

    let out = sockgate(&["policy", "explain", "--policy", &ci, "GET", "/v1.41/containers/web/logs"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("decision:  allow, by rule ci-ops"), "{}", text(&out));
    assert!(text(&out).contains("resource:  web"), "{}", text(&out));

    let out = sockgate(&["policy", "explain", "--policy", &ci, "GET", "/v1.41/containers/a%2F..%2F..%2Fsecrets"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("decision:  refuse (400)"), "{}", text(&out));
}

#[test]
fn policy_from_env_prints_a_policy_that_checks() {
    let out = Command::new(BIN)
        .args(["policy", "from-env"])
        .env_clear()
        .env("CONTAINERS", "1")
        .env("ALLOW_START", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let policy = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(policy.contains("#   POST=0 AUTH=0 BUILD=0 COMMIT=0 CONFIGS=0 CONTAINERS=1"), "{policy}");
    assert!(policy.contains("id = \"env-containers\""), "{policy}");
    assert!(policy.contains("\"containers.list\""), "{policy}");
    assert!(!policy.contains("\"containers.create\""), "POST=0 must not allow writes:\n{policy}");
    assert!(policy.contains("id = \"env-allow-start\""), "{policy}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.toml");
    std::fs::write(&file, &policy).unwrap();
    let out = sockgate(&["policy", "check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let out = Command::new(BIN).args(["policy", "from-env"]).env_clear().env("POST", "maybe").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("POST=`maybe` is not 0 or 1"), "{}", text(&out));
}

#[test]
fn policy_check_reports_type_errors_and_unknown_operations_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("typed.toml");
    std::fs::write(
        &bad,
        "version = 1\nname = 3\n[[rule]]\nid = \"a\"\nallow = [\"containers.lst\", 5]\n[[rule]]\nid = \"b\"\nallow = \"images.list\"\ndeny = [\"imagess.*\"]\n",
    )
    .unwrap();
    let out = sockgate(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    let file = bad.display().to_string();
    for want in [
        format!("{file}:2:8: invalid type: integer `3`, expected a string"),
        format!("{file}:5:10: unknown operation `containers.lst`, did you mean `containers.list`?"),
        format!("{file}:5:28: `allow` must hold strings, not a number"),
        format!("{file}:8:9: `allow` must be a list of strings"),
        format!("{file}:9:9: unknown operation `imagess.*`"),
    ] {
        assert!(report.contains(&want), "missing {want:?} in:\n{report}");
    }
}

#[test]
fn policy_test_names_the_place_of_an_error_in_a_case_file_and_reports_without_debug_formatting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "version = 1\n[[rule]]\nid = \"r\"\nallow = [\"system.ping\"]\n")
        .unwrap();
    let cases = dir.path().join("p.cases.toml");
    std::fs::write(&cases, "[[case]]\nname = \"x\"\nrequest = \"GET /_ping\"\nexpect = \"allw\"\nrulez = []\n")
        .unwrap();
    let out = sockgate(&["policy", "test", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(
        report.contains(&format!("{}:5:1: unknown key `rulez`, did you mean `rules`?", cases.display())),
        "{report}"
    );

    std::fs::write(&cases, "[[case]]\nname = \"x\"\nrequest = \"GET /_ping\"\nexpect = \"allw\"\n").unwrap();
    let report = text(&sockgate(&["policy", "test", dir.path().to_str().unwrap()]));
    assert!(report.contains(&format!("{}:4:10: unknown variant `allw`", cases.display())), "{report}");

    std::fs::write(&cases, "[[case]]\nname = \"x\"\nrequest = \"GET /_ping\"\nexpect = \"deny\"\n").unwrap();
    let report = text(&sockgate(&["policy", "test", dir.path().to_str().unwrap()]));
    assert!(report.contains("x: expected deny, got allow by rule `r`"), "{report}");
}
