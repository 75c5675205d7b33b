//! Every route the engine registers, bare and behind a `/vX.Y` prefix, classifies to exactly one
//! operation, and the operation is the one the route table names.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use http::Method;
use sockgate::classify::classify;
use sockgate::normalize;

const ENGINE_ROUTES: &str = include_str!("data/engine-routes.txt");

/// Fills a route template's variables with sample values, as a client would.
fn sample_path(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let var = &rest[open + 1..close];
        let name = var.split(':').next().unwrap_or("x");
        out.push_str(match name {
            "anyroute" => "containers/json",
            "checkpoint" => "cp1",
            "id" => "abc123",
            _ => "sample-name",
        });
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[test]
fn every_engine_route_classifies_with_and_without_version_prefix() {
    let mut count = 0;
    for line in ENGINE_ROUTES.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (method, template) = line.split_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
        let method = Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let path = sample_path(template);
        let mut names = Vec::new();
        for prefix in ["", "/v1.41", "/v1.56", "/v1"] {
            let uri: http::Uri = format!("{prefix}{path}").parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            let target = normalize::target(&uri).unwrap_or_else(|e| panic!("{line}: {e}"));
            let classified = classify(&method, &target.path).unwrap_or_else(|e| panic!("{line} ({prefix}): {e}"));
            names.push(classified.operation.name());
        }
        names.dedup();
        assert_eq!(names.len(), 1, "{line}: {names:?}");
        count += 1;
    }
    // The table names exactly the engine's routes: no more, no fewer.
    assert_eq!(count, sockgate::classify::routes().count());
    for (method, template, _) in sockgate::classify::routes() {
        let line = format!("{method} {template}");
        assert!(ENGINE_ROUTES.lines().any(|l| l == line), "{line} is not an engine route");
    }
}

#[test]
fn sample_resources_are_captured() {
    let classified = classify(&Method::GET, "/containers/sample-name/logs").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(classified.operation.name(), "containers.logs");
    assert_eq!(classified.resource.as_deref(), Some("sample-name"));
}
