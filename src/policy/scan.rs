//! Reads a policy file that did not deserialize as far as it can, so that one type error does not
//! hide the rest: every value of the wrong type in the keys a policy's rules and groups are made
//! of, and every operation pattern that names no operation. `[containers]` is left to its own
//! checks. It reports; it builds nothing.

use std::collections::BTreeMap;

use toml_edit::{ImDocument, Item, Value};

use super::rules::check_pattern;

/// `(byte offset, message)` for every problem found.
pub fn problems(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let Ok(doc) = ImDocument::parse(text) else { return out };
    let root = doc.as_table();
    if let Some(item) = root.get("version") {
        if item.as_integer().is_none() {
            out.push((start(item), "`version` must be a number, such as `1`".to_string()));
        }
    }
    for key in ["name", "description"] {
        string(root.get(key), key, &mut out);
    }
    if let Some(groups) = root.get("groups").and_then(Item::as_table_like) {
        for (name, item) in groups.iter() {
            strings(item, &format!("group `{name}`"), true, &mut out);
        }
    }
    if let Some(rules) = root.get("rule").and_then(Item::as_array_of_tables) {
        for rule in rules.iter() {
            string(rule.get("id"), "id", &mut out);
            string(rule.get("description"), "description", &mut out);
            for key in ["allow", "deny"] {
                if let Some(item) = rule.get(key) {
                    strings(item, &format!("`{key}`"), true, &mut out);
                }
            }
            for key in ["methods", "paths"] {
                if let Some(item) = rule.get(key) {
                    strings(item, &format!("`{key}`"), false, &mut out);
                }
            }
        }
    }
    out.sort_by_key(|(offset, _)| *offset);
    out
}

fn start(item: &Item) -> usize {
    item.span().map_or(0, |s| s.start)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "a number",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::InlineTable(_) => "a table",
    }
}

fn string(item: Option<&Item>, key: &str, out: &mut Vec<(usize, String)>) {
    if let Some(Item::Value(value)) = item {
        if !value.is_str() {
            out.push((start_of(value), format!("`{key}` must be a string, not {}", kind(value))));
        }
    }
}

fn start_of(value: &Value) -> usize {
    value.span().map_or(0, |s| s.start)
}

/// A list of strings; with `patterns`, each must name an operation (a `@group` is checked once the
/// file loads, since it may come from another file).
fn strings(item: &Item, what: &str, patterns: bool, out: &mut Vec<(usize, String)>) {
    let Some(array) = item.as_array() else {
        let found = item.as_value().map_or("a table", kind);
        out.push((
            start(item),
            format!("{what} must be a list of strings, such as `[\"containers.list\"]`, not {found}"),
        ));
        return;
    };
    for value in array.iter() {
        match value.as_str() {
            None => out.push((start_of(value), format!("{what} must hold strings, not {}", kind(value)))),
            Some(pattern) if patterns && !pattern.starts_with('@') => {
                if let Err(message) = check_pattern(pattern, &BTreeMap::new()) {
                    out.push((start_of(value), message));
                }
            }
            Some(_) => {}
        }
    }
}
