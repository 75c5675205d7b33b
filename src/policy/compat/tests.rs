//! Tests of the docker-socket-proxy translation: the policy made from each variable decides
//! requests through the gateway as docker-socket-proxy would.

use super::*;
use crate::policy::Policy;

#[test]
fn flags_read_like_haproxy_and_nginx() {
    assert_eq!(flag("1"), Some(true));
    assert_eq!(flag("0"), Some(false));
    assert_eq!(flag(" 2 "), Some(true));
    assert_eq!(flag("true"), Some(true));
    assert_eq!(flag("1.2.3"), None);
}

#[test]
fn attaching_over_a_websocket_is_a_write() {
    let env = |name: &str| (name == "CONTAINERS").then(|| "1".to_string());
    let text = policy_from_env(&env).unwrap_or_default();
    assert!(text.contains("\"containers.logs\""), "{text}");
    assert!(!text.contains("containers.attach.ws"), "{text}");
    let env = |name: &str| (name == "CONTAINERS" || name == "POST").then(|| "1".to_string());
    assert!(policy_from_env(&env).unwrap_or_default().contains("\"containers.attach.ws\""));
}

#[test]
fn a_denied_operation_names_the_variable_that_would_allow_it() {
    let hint = |set: &[&str], op: &str| {
        let env = |name: &str| set.contains(&name).then(|| "1".to_string());
        hinter(&env)(Operation::from_name(op).unwrap_or_else(|| unreachable!("{op}")))
    };
    assert_eq!(hint(&[], "system.info").as_deref(), Some("INFO=1 would allow it"));
    assert_eq!(hint(&[], "containers.create").as_deref(), Some("CONTAINERS=1 and POST=1 would allow it"));
    assert_eq!(hint(&["CONTAINERS"], "containers.create").as_deref(), Some("POST=1 would allow it"));
    assert_eq!(hint(&["CONTAINERS"], "containers.start").as_deref(), Some("ALLOW_START=1 would allow it"));
    assert_eq!(hint(&["POST"], "exec.create").as_deref(), Some("EXEC=1 would allow it"));
    assert_eq!(hint(&["CONTAINERS"], "containers.attach.ws").as_deref(), Some("POST=1 would allow it"));
}

#[test]
fn generated_policy_loads() {
    let env = |name: &str| (name == "CONTAINERS" || name == "POST").then(|| "1".to_string());
    let text = policy_from_env(&env).unwrap_or_default();
    let policy = Policy::from_sources("env", &[("env".into(), text.clone())]);
    assert!(policy.is_ok(), "{text}\n{:?}", policy.err().map(|e| e.to_string()));
}

/// Every variable, with a request it reads and one it writes (where the section has them).
const TABLE: &[(&str, Option<&str>, Option<&str>)] = &[
    ("AUTH", None, Some("POST /auth")),
    ("BUILD", None, Some("POST /build")),
    ("COMMIT", None, Some("POST /commit?container=c")),
    ("CONFIGS", Some("GET /configs"), Some("POST /configs/create")),
    ("CONTAINERS", Some("GET /v1.41/containers/json"), Some("POST /v1.41/containers/create")),
    ("DISTRIBUTION", Some("GET /distribution/alpine/json"), None),
    ("EVENTS", Some("GET /events"), None),
    ("EXEC", Some("GET /exec/e1/json"), Some("POST /exec/e1/start")),
    ("GRPC", None, Some("POST /grpc")),
    ("IMAGES", Some("GET /images/json"), Some("POST /images/create?fromImage=alpine&tag=3")),
    ("INFO", Some("GET /info"), None),
    ("NETWORKS", Some("GET /networks"), Some("POST /networks/create")),
    ("NODES", Some("GET /nodes"), Some("POST /nodes/n1/update")),
    ("PING", Some("HEAD /_ping"), None),
    ("PLUGINS", Some("GET /plugins"), Some("POST /plugins/p1/enable")),
    ("SECRETS", Some("GET /secrets"), Some("POST /secrets/create")),
    ("SERVICES", Some("GET /services"), Some("POST /services/create")),
    ("SESSION", None, Some("POST /session")),
    ("SWARM", Some("GET /swarm"), Some("POST /swarm/init")),
    ("SYSTEM", Some("GET /system/df"), None),
    ("TASKS", Some("GET /tasks"), None),
    ("VERSION", Some("GET /version"), None),
    ("VOLUMES", Some("GET /volumes"), Some("POST /volumes/create")),
    ("ALLOW_START", None, Some("POST /containers/c1/start")),
    ("ALLOW_STOP", None, Some("POST /containers/c1/stop")),
    ("ALLOW_RESTARTS", None, Some("POST /containers/c1/restart")),
];

fn allowed(vars: &[(&str, &str)], request: &str) -> bool {
    let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let text = policy_from_env(&env).unwrap_or_default();
    let policy = Policy::from_sources("env", &[("env".into(), text)]).unwrap_or_else(|e| unreachable!("{e}"));
    let (method, path) = request.split_once(' ').unwrap_or(("GET", "/"));
    let method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);
    let uri: http::Uri = path.parse().unwrap_or_default();
    let body = method.ne(&http::Method::GET).then_some(&b"{}"[..]);
    crate::gateway::explain(&policy, &method, &uri, body.map(|_| &b"application/json"[..]), body)
        .is_ok_and(|j| j.decision.allowed)
}

#[test]
fn every_variable_behaves_as_documented() {
    assert_eq!(TABLE.len(), variables().count() - 1, "a variable is missing from the table");
    for &(name, read, write) in TABLE {
        let is_action = name.starts_with("ALLOW_");
        let default_on = matches!(name, "EVENTS" | "PING" | "VERSION");
        if let Some(read) = read {
            assert!(allowed(&[(name, "1")], read), "{name}=1 should allow {read}");
            assert!(!allowed(&[(name, "0")], read), "{name}=0 should deny {read}");
            assert_eq!(allowed(&[], read), default_on, "{name} default for {read}");
        }
        if let Some(write) = write {
            // Actions are allowed whatever POST says; sections need POST=1 to write.
            assert_eq!(allowed(&[(name, "1"), ("POST", "0")], write), is_action, "{name}=1 POST=0: {write}");
            assert!(allowed(&[(name, "1"), ("POST", "1")], write), "{name}=1 POST=1 should allow {write}");
            assert!(!allowed(&[(name, "0"), ("POST", "1")], write), "{name}=0 POST=1: {write}");
        }
    }
    // POST alone opens nothing, and the sections stay closed to other sections' paths.
    assert!(!allowed(&[("POST", "1")], "POST /v1.41/containers/create"));
    assert!(!allowed(&[("IMAGES", "1"), ("POST", "1")], "POST /v1.41/containers/create"));
    // EXEC covers creating an exec, as linuxserver documents.
    assert!(allowed(&[("EXEC", "1"), ("POST", "1")], "POST /containers/c1/exec"));
    // Container bodies are not inspected, as in docker-socket-proxy.
    let env = [("CONTAINERS", "1"), ("POST", "1")];
    let text = policy_from_env(&|name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
    let policy = Policy::from_sources("env", &[("env".into(), text.unwrap_or_default())])
        .unwrap_or_else(|e| unreachable!("{e}"));
    let body = br#"{"Image":"alpine","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}"#;
    let uri: http::Uri = "/containers/create".parse().unwrap_or_default();
    let judged = crate::gateway::explain(&policy, &http::Method::POST, &uri, Some(b"application/json"), Some(body));
    assert!(judged.is_ok_and(|j| j.decision.allowed));
}

#[test]
fn stray_variables_do_not_switch_the_mode_on() {
    assert!(!present(&|name: &str| (name == "VERSION").then(|| "1.2.3".to_string())));
    assert!(present(&|name: &str| (name == "CONTAINERS").then(|| "1".to_string())));
    let bad = policy_from_env(&|name: &str| (name == "POST").then(|| "maybe".to_string()));
    assert_eq!(bad.err().map(|e| e.name), Some("POST".to_string()));
}
