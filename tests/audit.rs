//! The field audit (`docs/audit/fields.toml`, explained in `docs/audit.md`) covers every field of
//! every route that can reach the host, as the engine's API definitions name them.
//!
//! The routes' parameters and body schemas are walked in both API definitions kept in
//! `tests/data` (1.41, the oldest engine sockgate is proven against, and 1.56; copied unchanged
//! from moby's `api/docs/v1.41.yaml` and `api/swagger.yaml`, Apache-2.0), `$ref` and `allOf`
//! resolved, into dotted paths: `HostConfig.Mounts[].VolumeOptions.DriverConfig.Name` (`[]` for a
//! list's items, `<key>` for a map's keys and values, `?name` for a query parameter, `(body)` for
//! a body that is not a JSON object). The test fails when a field has no entry, when two entries
//! cover one field, when an entry names a field neither definition has, and when the gaps differ
//! from the list below, so a new engine version cannot add an unjudged field silently and a
//! closed gap must be struck from the list.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value as Yaml;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DEFINITIONS: &[&str] = &["tests/data/swagger-v1.41.yaml", "tests/data/swagger-v1.56.yaml"];

/// Every route that can reach the host; the table must have exactly these.
const ROUTES: &[&str] = &[
    "POST /containers/create",
    "POST /containers/{id}/update",
    "POST /containers/{id}/start",
    "POST /containers/{id}/exec",
    "POST /exec/{id}/start",
    "POST /volumes/create",
    "POST /networks/create",
    "POST /networks/{id}/connect",
    "POST /services/create",
    "POST /services/{id}/update",
    "POST /swarm/init",
    "POST /swarm/update",
    "POST /swarm/join",
    "POST /plugins/pull",
    "POST /plugins/{name}/upgrade",
    "POST /plugins/{name}/set",
    "POST /plugins/create",
    "POST /build",
    "POST /images/create",
    "POST /commit",
    "POST /images/load",
    "POST /images/{name}/push",
    "POST /images/{name}/tag",
    "POST /containers/{id}/checkpoints",
    "GET /containers/{id}/checkpoints",
    "DELETE /containers/{id}/checkpoints/{checkpoint}",
    "PUT /containers/{id}/archive",
    "POST /containers/{id}/attach",
    "GET /containers/{id}/attach/ws",
    "POST /secrets/create",
    "POST /configs/create",
];

/// The `[containers]` keys a `judged` entry may name.
const CONSTRAINTS: &[&str] = &[
    "privileged",
    "host_mounts",
    "host_mounts_read_only",
    "devices",
    "capabilities",
    "unconfined",
    "host_namespaces",
    "sysctls",
    "runtimes",
    "cgroup_parent",
    "volumes_from",
    "exec_root",
    "images",
    "build_host_network",
    "volume_drivers",
    "network_drivers",
    "ipam_drivers",
    "log_drivers",
];

/// The fields that reach the host and that sockgate does not judge yet, as `route field`. Closing
/// one means judging it and striking it here; the list may only shrink.
const KNOWN_GAPS: &[&str] = &[
    "POST /build (body)",
    "POST /build ?outputs",
    "POST /build ?remote",
    "POST /containers/create HostConfig.Annotations",
    "POST /containers/create HostConfig.Mounts[].BindOptions.ReadOnlyNonRecursive",
    "POST /containers/create HostConfig.PortBindings.*",
    "POST /containers/create HostConfig.PublishAllPorts",
    "POST /images/create ?fromSrc",
    "POST /images/load (body)",
    "POST /networks/create EnableIPv6",
    "POST /networks/create IPAM.Config[].*",
    "POST /networks/create Options",
    "POST /services/create EndpointSpec.Ports[].*",
    "POST /services/create TaskTemplate.ContainerSpec.Mounts[].BindOptions.ReadOnlyNonRecursive",
    "POST /services/create TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Level",
    "POST /services/create TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Role",
    "POST /services/create TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Type",
    "POST /services/create TaskTemplate.ContainerSpec.Privileges.SELinuxContext.User",
    "POST /services/create ?rollback",
    "POST /swarm/init DataPathPort",
    "POST /swarm/init ListenAddr",
    "POST /swarm/init Spec.CAConfig.ExternalCAs[].URL",
    "POST /swarm/join ListenAddr",
    "POST /swarm/join RemoteAddrs",
    "POST /swarm/update CAConfig.ExternalCAs[].URL",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    route: Vec<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    /// The routes this list covers, spelled as the API definitions spell them; routes that share
    /// a body share a list.
    routes: Vec<String>,
    /// sockgate's names for them, in the same order.
    operations: Vec<String>,
    /// For a route the API definitions leave out: where dockerd reads it.
    #[serde(default)]
    source: Option<String>,
    field: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    field: String,
    dockerd: String,
    sockgate: Status,
    #[serde(default)]
    by: Vec<String>,
    #[serde(default)]
    why: Option<String>,
    /// For a field the API definitions leave out: where dockerd reads it.
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Judged,
    Harmless,
    Refused,
    Gap,
}

impl Entry {
    /// Whether this entry covers `field`: itself, or its subtree for a `prefix.*` entry (`*`
    /// alone covers every body field).
    fn covers(&self, field: &str) -> bool {
        match self.field.strip_suffix('*') {
            Some("") => !field.starts_with('?'),
            Some(prefix) => {
                let base = prefix.trim_end_matches('.');
                field.strip_prefix(base).is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]"))
            }
            None => self.field == field,
        }
    }
}

fn load_table() -> Table {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/audit/fields.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("docs/audit/fields.toml: {e}"))
}

fn load_definitions() -> Vec<Yaml> {
    DEFINITIONS
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        })
        .collect()
}

/// The fields of `route` (`METHOD /path`) in one definition, or `None` if it lacks the route.
fn fields(doc: &Yaml, route: &str) -> Option<BTreeSet<String>> {
    let (method, path) = route.split_once(' ').unwrap();
    let operation = &doc["paths"][path][method.to_ascii_lowercase().as_str()];
    if operation.is_null() {
        return None;
    }
    let mut out = BTreeSet::new();
    for parameter in operation["parameters"].as_sequence().map(Vec::as_slice).unwrap_or_default() {
        match parameter["in"].as_str() {
            Some("query") => {
                out.insert(format!("?{}", parameter["name"].as_str().unwrap()));
            }
            Some("body") => walk(doc, &parameter["schema"], "", &mut out, 0),
            _ => {}
        }
    }
    Some(out)
}

fn resolve<'a>(doc: &'a Yaml, mut schema: &'a Yaml) -> &'a Yaml {
    while let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/definitions/").unwrap();
        schema = &doc["definitions"][name];
        assert!(!schema.is_null(), "unresolved {reference}");
    }
    schema
}

/// A schema's properties, with those of its `allOf` parts.
fn properties<'a>(doc: &'a Yaml, schema: &'a Yaml) -> Vec<(&'a str, &'a Yaml)> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    for part in schema["allOf"].as_sequence().map(Vec::as_slice).unwrap_or_default() {
        out.extend(properties(doc, part));
    }
    if let Some(hash) = schema["properties"].as_mapping() {
        for (name, property) in hash {
            let name = name.as_str().unwrap();
            out.retain(|(n, _)| *n != name);
            out.push((name, property));
        }
    }
    out
}

/// Whether a schema has fields of its own to walk into.
fn has_fields(doc: &Yaml, schema: &Yaml) -> bool {
    let schema = resolve(doc, schema);
    !properties(doc, schema).is_empty()
        || (schema["type"].as_str() == Some("array") && has_fields(doc, &schema["items"]))
        || schema["additionalProperties"].as_mapping().is_some() && has_fields(doc, &schema["additionalProperties"])
}

fn walk(doc: &Yaml, schema: &Yaml, path: &str, out: &mut BTreeSet<String>, depth: usize) {
    assert!(depth < 32, "{path}: schema nests too deep");
    let schema = resolve(doc, schema);
    let props = properties(doc, schema);
    if !props.is_empty() {
        for (name, property) in props {
            let child = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
            walk(doc, property, &child, out, depth + 1);
        }
    } else if schema["type"].as_str() == Some("array") && has_fields(doc, &schema["items"]) {
        walk(doc, &schema["items"], &format!("{path}[]"), out, depth + 1);
    } else if schema["additionalProperties"].as_mapping().is_some() && has_fields(doc, &schema["additionalProperties"])
    {
        // The key names something too (a network to join, a port to publish).
        out.insert(format!("{path}.<key>"));
        walk(doc, &schema["additionalProperties"], &format!("{path}.<key>"), out, depth + 1);
    } else {
        out.insert(if path.is_empty() { "(body)".to_string() } else { path.to_string() });
    }
}

#[test]
fn every_field_of_every_host_reaching_route_has_one_true_entry() {
    let table = load_table();
    let docs = load_definitions();
    let route_table = std::fs::read_to_string(Path::new(ROOT).join("src/classify/routes.rs")).unwrap();
    let mut problems = Vec::new();
    let mut gaps = BTreeSet::new();
    let mut summary = Vec::new();
    let mut routes_seen = BTreeSet::new();
    for route in &table.route {
        let key = route.routes.join(" + ");
        if route.operations.len() != route.routes.len() {
            problems.push(format!("{key}: name one operation per route"));
        }
        for operation in &route.operations {
            if !route_table.contains(&format!(" = \"{operation}\",")) {
                problems.push(format!("{key}: `{operation}` is not an operation of the route table"));
            }
        }
        // The fields of every route of this list, in either definition.
        let mut known = BTreeSet::new();
        let mut found = false;
        for name in &route.routes {
            if !routes_seen.insert(name.clone()) {
                problems.push(format!("{name}: listed twice"));
            }
            for doc in &docs {
                if let Some(fields) = fields(doc, name) {
                    found = true;
                    known.extend(fields);
                }
            }
        }
        match (found, &route.source) {
            (false, None) => {
                problems.push(format!("{key}: in neither definition, and no `source` says where dockerd reads it"))
            }
            (true, Some(_)) => problems.push(format!("{key}: has a `source` but the definitions have it")),
            _ => {}
        }
        let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
        for entry in &route.field {
            problems.extend(check_entry(&key, entry));
            let named = if entry.field.ends_with('*') {
                known.iter().any(|f| entry.covers(f))
            } else {
                known.contains(&entry.field)
            };
            match (named, &entry.source) {
                (false, None) => problems.push(format!("{key}: `{}` is in neither definition", entry.field)),
                (true, Some(_)) => {
                    problems.push(format!("{key}: `{}` has a `source` but the definitions have it", entry.field))
                }
                (false, Some(_)) => *counts.entry(entry.sockgate).or_default() += 1,
                (true, None) => {}
            }
            if entry.sockgate == Status::Gap {
                gaps.insert(format!("{} {}", route.routes[0], entry.field));
            }
        }
        for field in &known {
            let covering: Vec<&Entry> = route.field.iter().filter(|e| e.covers(field)).collect();
            match covering.as_slice() {
                [entry] => *counts.entry(entry.sockgate).or_default() += 1,
                [] => problems.push(format!("{key}: `{field}` has no entry")),
                many => problems.push(format!(
                    "{key}: `{field}` is covered by {} entries: {}",
                    many.len(),
                    many.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        let total: usize = counts.values().sum();
        summary.push(format!("{key}: {total} fields {counts:?}"));
    }
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.to_string()).collect();
    for missing in expected.difference(&routes_seen) {
        problems.push(format!("{missing}: no table"));
    }
    for extra in routes_seen.difference(&expected) {
        problems.push(format!("{extra}: not a host-reaching route of this test"));
    }
    let known_gaps: BTreeSet<String> = KNOWN_GAPS.iter().map(|g| g.to_string()).collect();
    for new in gaps.difference(&known_gaps) {
        problems.push(format!("gap `{new}` is not in KNOWN_GAPS: judge the field instead"));
    }
    for closed in known_gaps.difference(&gaps) {
        problems.push(format!("KNOWN_GAPS lists `{closed}`, which the table no longer marks a gap"));
    }
    println!("{}", summary.join("\n"));
    println!("gaps:\n  {}", gaps.iter().cloned().collect::<Vec<_>>().join("\n  "));
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

fn check_entry(route: &str, entry: &Entry) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("{route}: `{}`", entry.field);
    if entry.dockerd.trim().is_empty() {
        problems.push(format!("{at}: says nothing of what dockerd does"));
    }
    match (entry.sockgate, entry.by.is_empty()) {
        (Status::Judged, true) => problems.push(format!("{at}: judged, but `by` names no constraint")),
        (Status::Judged, false) => {}
        (_, false) => problems.push(format!("{at}: only a judged field names constraints in `by`")),
        (_, true) if entry.why.as_deref().is_none_or(|w| w.trim().is_empty()) => {
            problems.push(format!("{at}: {:?} needs a `why`", entry.sockgate))
        }
        (_, true) => {}
    }
    for key in &entry.by {
        if !CONSTRAINTS.contains(&key.as_str()) {
            problems.push(format!("{at}: `{key}` is not a `[containers]` key"));
        }
    }
    for text in [Some(&entry.dockerd), entry.why.as_ref()].into_iter().flatten() {
        if text.contains('\n') || text.len() > 200 {
            problems.push(format!("{at}: keep each line short (one line, 200 characters at most)"));
        }
    }
    problems
}

#[test]
fn the_docs_list_every_gap() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/audit.md")).unwrap();
    for gap in KNOWN_GAPS {
        let field = gap.splitn(3, ' ').nth(2).unwrap();
        assert!(page.contains(&format!("`{field}`")), "docs/audit.md does not name the gap `{gap}`");
    }
}
