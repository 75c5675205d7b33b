//! The route table matched as gorilla/mux matches dockerd's routes, and the table's own invariants.

use super::*;
use http::Method;
use regex::Regex;

fn op(method: &str, path: &str) -> String {
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    match classify(&method, path) {
        Ok(c) => format!("{}{}", c.operation, c.resource.map(|r| format!(" {r}")).unwrap_or_default()),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_route_with_a_variable_names_a_kind_of_object() {
    for (method, template, op) in routes() {
        let operation = Operation::from_name(op).unwrap_or_else(|| unreachable!("{op}"));
        // `OPTIONS /{anyroute:.*}` is answered by dockerd without acting on anything.
        if template.contains('{') && op != "system.options" {
            assert!(operation.object().is_some(), "{method} {template} ({op}) names no kind of object");
        }
    }
    let kind = |op: &str| Operation::from_name(op).and_then(Operation::object);
    assert_eq!(kind("containers.inspect"), Some(ObjectKind::Container));
    assert_eq!(kind("containers.checkpoints.delete"), Some(ObjectKind::Container));
    assert_eq!(kind("exec.start"), Some(ObjectKind::Exec));
    assert_eq!(kind("exec.create"), Some(ObjectKind::Container));
    assert_eq!(kind("volumes.inspect"), Some(ObjectKind::Volume));
    assert_eq!(kind("networks.connect"), Some(ObjectKind::Network));
    assert_eq!(kind("containers.list"), None);
    let classified = classify(&http::Method::GET, "/containers/web/json").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(classified.path_naming("/containers/web/json", "abc123"), "/containers/abc123/json");
}

#[test]
fn names_common_requests() {
    assert_eq!(op("GET", "/_ping"), "system.ping");
    assert_eq!(op("HEAD", "/_ping"), "system.ping");
    assert_eq!(op("GET", "/containers/json"), "containers.list");
    assert_eq!(op("POST", "/containers/create"), "containers.create");
    assert_eq!(op("GET", "/containers/abc/json"), "containers.inspect abc");
    assert_eq!(op("POST", "/containers/abc/exec"), "exec.create abc");
    assert_eq!(op("POST", "/exec/123/start"), "exec.start 123");
    assert_eq!(op("GET", "/images/library/alpine:3/json"), "images.inspect library/alpine:3");
    assert_eq!(op("GET", "/networks/"), "networks.list");
    assert_eq!(op("GET", "/networks/n1"), "networks.inspect n1");
    assert_eq!(op("POST", "/session"), "session");
}

#[test]
fn names_can_span_slashes_as_in_dockerd() {
    // `{name:.*}` is greedy and spans `/`: this is an inspect of a container named `x/logs`.
    assert_eq!(op("GET", "/containers/x/logs/json"), "containers.inspect x/logs");
    assert_eq!(op("GET", "/containers/json/json"), "containers.inspect json");
}

#[test]
fn methods_are_case_sensitive_and_unknown_routes_fail() {
    assert!(op("get", "/containers/json").starts_with("error: no docker api route"));
    assert!(op("GET", "/containers/create").starts_with("error: no docker api route"));
    assert!(op("HEAD", "/info").starts_with("error: no docker api route"));
    assert!(op("GET", "/nope").starts_with("error: no docker api route"));
    assert!(op("GET", "/containers/json/").starts_with("error: no docker api route"));
}

#[test]
fn overlapping_routes_resolve_as_dockerd_registers_them() {
    assert_eq!(op("DELETE", "/containers/a/checkpoints/b"), "containers.checkpoints.delete a");
    assert_eq!(op("DELETE", "/containers/a/b"), "containers.delete a/b");
    assert_eq!(op("GET", "/debug/pprof/cmdline"), "debug.pprof");
}

/// Samples paths for every route (variables filled with values with and without slashes) and
/// checks which other routes of the same method match them too.
#[test]
fn the_only_overlap_between_operations_is_the_checkpoint_delete() {
    let samples = ["a", "a/b", "json", "create", "a/checkpoints/b", "x/json"];
    let variable = Regex::new(r"\{[^}]*\}").unwrap_or_else(|e| unreachable!("{e}"));
    let mut overlaps = Vec::new();
    for (i, r) in routes::ROUTES.iter().enumerate() {
        let (method, template, op) = (&r.method, r.template, r.operation.name());
        for sample in samples {
            let path = variable.replace_all(template, sample).into_owned();
            for (j, other) in TABLE.routes.iter().enumerate() {
                if j != i
                    && other.method == *method
                    && other.pattern.matches(&path).is_some()
                    && other.operation.name() != op
                    && *method != "OPTIONS"
                {
                    overlaps.push(format!("{method} {path}: {op} / {}", other.operation));
                }
            }
        }
    }
    overlaps.sort();
    overlaps.dedup();
    assert!(
        overlaps.iter().all(|o| o.contains("containers.checkpoints.delete") && o.contains("containers.delete")),
        "{overlaps:#?}"
    );
    assert!(!overlaps.is_empty());
}

#[test]
fn routes_without_variables_classify_as_their_patterns_do() {
    let mut literal = 0;
    for (_, template, _) in routes().filter(|r| !r.1.contains('{')) {
        literal += 1;
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "get"] {
            let parsed = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            assert_eq!(classify(&parsed, template), by_patterns(parsed.as_str(), template), "{method} {template}");
        }
    }
    assert!(literal > 50, "only {literal} routes without variables");
    assert!(TABLE.literal.contains_key("/_ping") && TABLE.literal.contains_key("/containers/json"));
}

#[test]
fn the_declared_object_is_the_first_path_variable_and_one_kind_per_operation() {
    let variable = Regex::new(r"\{([^}:]*)").unwrap_or_else(|e| unreachable!("{e}"));
    for r in routes::ROUTES {
        let first = variable.captures(r.template).and_then(|c| c.get(1)).map(|m| m.as_str());
        if let Some((name, kind)) = r.object {
            assert_eq!(first, Some(name), "{} {}", r.method, r.template);
            assert_eq!(r.operation.object(), Some(kind), "{} {}", r.method, r.template);
        }
    }
}

#[test]
fn the_operation_constants_are_sorted_and_each_has_a_route() {
    assert!(routes::NAMES.windows(2).all(|w| w[0] < w[1]), "operations! must list names in order");
    for op in Operation::all() {
        assert!(routes::ROUTES.iter().any(|r| r.operation == op), "{op} has no route");
    }
    assert_eq!(Operation::CONTAINERS_CREATE.name(), "containers.create");
    assert_eq!(Operation::from_name("exec.start"), Some(Operation::EXEC_START));
}

#[test]
fn every_operation_has_a_dotted_lowercase_name() {
    for op in Operation::all() {
        assert!(op.name().bytes().all(|b| b.is_ascii_lowercase() || b == b'.'), "{op}");
        assert_eq!(Operation::from_name(op.name()), Some(op));
    }
}

/// The regular expression gorilla/mux builds from a template: anchored, `{name}` as `[^/]+`,
/// `{name:pattern}` as the pattern.
fn template_to_regex(template: &str) -> String {
    let mut out = String::from("^");
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let var = &rest[open + 1..close];
        let pattern = var.split_once(':').map_or("[^/]+", |(_, p)| p);
        out.push('(');
        out.push_str(pattern);
        out.push(')');
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(&regex::escape(rest));
    out.push('$');
    out
}

/// What the regular expression says of `path`: no match, or a match and its first group's span.
fn by_regex(regex: &Regex, path: &str) -> Option<Option<std::ops::Range<usize>>> {
    regex.captures(path).map(|c| c.get(1).map(|m| m.range()))
}

#[test]
fn every_template_parses_and_a_spanning_template_matches_as_its_regex() {
    let regex = Regex::new(&template_to_regex("/images/{name:.*}/push")).unwrap_or_else(|e| unreachable!("{e}"));
    let pattern = pattern::Pattern::parse("/images/{name:.*}/push").unwrap_or_else(|e| unreachable!("{e}"));
    for path in [
        "/images/a/push",
        "/images//push",
        "/images/a/push/push",
        "/images/push",
        "/images/a\nb/push",
        "/images/é/push",
    ] {
        assert_eq!(pattern.matches(path), by_regex(&regex, path), "{path}");
    }
    for r in routes::ROUTES {
        assert!(pattern::Pattern::parse(r.template).is_ok(), "{}", r.template);
    }
    assert!(pattern::Pattern::parse("/a/{x:[0-9]+}").is_err());
    assert!(pattern::Pattern::parse("/a/{x}b").is_err());
    assert!(pattern::Pattern::parse("/a/{x:.*}/{y}").is_err());
}

#[test]
fn a_tail_that_would_start_inside_a_character_does_not_match() {
    // `/json` is the last five bytes of `ééjson` only from inside the second `é`.
    let pattern = pattern::Pattern::parse("/containers/{name:.*}/json").unwrap_or_else(|e| unreachable!("{e}"));
    let regex = Regex::new(&template_to_regex("/containers/{name:.*}/json")).unwrap_or_else(|e| unreachable!("{e}"));
    for path in ["/containers/ééjson", "/containers/éjson", "/containers/é/json"] {
        assert_eq!(pattern.matches(path), by_regex(&regex, path), "{path}");
    }
    assert!(pattern.matches("/containers/ééjson").is_none());
    // What the request-target fuzz target found, through every route under every method.
    for method in [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE] {
        let _ = classify(&method, "/images/..oa/*\u{5b3}d*\u{5b3}");
    }
}

proptest::proptest! {
    /// Every route's template against the regular expression mux builds from it, on paths made
    /// of the characters that matter (slashes, newlines, multi-byte) and of the routes' own words.
    #[test]
    fn templates_match_as_their_regular_expressions(
        route in 0..routes::ROUTES.len(),
        pieces in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(vec!["/", "//", "a", "\n", "é", "json", "push", "checkpoints", "x", ".", ".."]),
                proptest::sample::select(routes::ROUTES.iter().map(|r| r.template).collect::<Vec<_>>()),
            ],
            0..8,
        ),
        fill in proptest::sample::select(vec!["a", "a/b", "", "a\nb", "é/x", "json"]),
    ) {
        let template = routes::ROUTES[route].template;
        let regex = Regex::new(&template_to_regex(template)).unwrap_or_else(|e| unreachable!("{e}"));
        let pattern = pattern::Pattern::parse(template).unwrap_or_else(|e| unreachable!("{e}"));
        let variable = Regex::new(r"\{[^}]*\}").unwrap_or_else(|e| unreachable!("{e}"));
        let filled = variable.replace_all(template, fill).into_owned();
        for path in [pieces.concat(), filled.clone(), format!("{filled}{}", pieces.concat())] {
            proptest::prop_assert_eq!(pattern.matches(&path), by_regex(&regex, &path), "{} on {:?}", template, path);
        }
    }
}
