//! The shape of the crate, checked from its source: no import cycles among the top-level modules,
//! and the stages that judge a request (`normalize`, `classify`, `inspect`, `decide`, `judge`)
//! import only modules that do no I/O. A module's tests are left out: they may start anything.
//!
//! Run alone with `cargo test --test layers`; it prints the module graph when it fails.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules that do no I/O: the judging stages and the leaves and models they may use.
const PURE: &[&str] = &[
    "address",
    "classify",
    "decide",
    "diagnostics",
    "engine",
    "glob",
    "inspect",
    "judge",
    "naming",
    "normalize",
    "policy",
    "references",
    "versions",
];

/// The stages that must import only [`PURE`] modules.
const JUDGING: &[&str] = &["normalize", "classify", "inspect", "decide", "judge"];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every top-level module's imports of other top-level modules (`crate::x`), tests left out.
fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_str().unwrap().to_owned();
            if !rel.ends_with(".rs") || rel == "lib.rs" || rel == "main.rs" || rel.ends_with("/tests.rs") {
                continue;
            }
            let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let imports = graph.entry(module.clone()).or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String =
                        line[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if !name.is_empty() && name != module {
                        imports.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// One cycle through `graph`, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn render(graph: &Graph) -> String {
    graph.iter().map(|(m, d)| format!("{m} -> {}\n", d.iter().cloned().collect::<Vec<_>>().join(", "))).collect()
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let graph = graph();
    assert!(graph.len() > 20, "the source tree was not found: {graph:?}");
    if let Some(cycle) = cycle(&graph) {
        panic!("import cycle: {}\n\n{}", cycle.join(" -> "), render(&graph));
    }
}

#[test]
fn the_judging_stages_import_only_what_does_no_io() {
    let graph = graph();
    // The judging stages are pure, and so is everything a pure module imports.
    assert!(JUDGING.iter().all(|stage| PURE.contains(stage)));
    for stage in PURE {
        let imports = graph.get(*stage).unwrap_or_else(|| panic!("no module `{stage}`"));
        let impure: Vec<&String> = imports.iter().filter(|m| !PURE.contains(&m.as_str())).collect();
        assert!(impure.is_empty(), "`{stage}` imports {impure:?}, which may do I/O\n\n{}", render(&graph));
    }
    // The check can fail: a made-up import of `forward` from `inspect` is caught.
    let mut broken = graph.clone();
    broken.entry("inspect".into()).or_default().insert("forward".into());
    broken.entry("forward".into()).or_default().insert("inspect".into());
    assert!(cycle(&broken).is_some());
}
