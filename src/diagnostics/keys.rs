//! Finds every unknown key in a TOML document, each with its place and the closest known key, so
//! a file with several misspellings is reported whole rather than one error at a time. Used by
//! policy and configuration loading; it knows only the shape it is given.

use toml_edit::{ImDocument, Item, Table};

use super::unknown_key;

/// The keys a table may hold.
pub enum Shape {
    /// A value, not looked into.
    Value,
    /// A table with these keys.
    Table(&'static [(&'static str, Shape)]),
    /// An array of tables, each with these keys.
    Tables(&'static [(&'static str, Shape)]),
    /// A table whose keys are names of the user's choosing.
    Names,
}

/// `(byte offset, message)` for every key the shape does not know.
pub fn unknown(text: &str, shape: &'static [(&'static str, Shape)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    if let Ok(doc) = ImDocument::parse(text) {
        walk(doc.as_table(), shape, &mut out);
    }
    out.sort_by_key(|(offset, _)| *offset);
    out
}

fn walk(table: &Table, shape: &'static [(&'static str, Shape)], out: &mut Vec<(usize, String)>) {
    for (key, item) in table.iter() {
        match shape.iter().find(|(name, _)| *name == key) {
            Some((_, inner)) => descend(item, inner, out),
            None => {
                let offset = table.key(key).and_then(|k| k.span()).map_or(0, |s| s.start);
                let names: Vec<&str> = shape.iter().map(|(n, _)| *n).collect();
                let message = unknown_key(key, &names);
                out.push((offset, message));
            }
        }
    }
}

fn descend(item: &Item, shape: &'static Shape, out: &mut Vec<(usize, String)>) {
    match (shape, item) {
        (Shape::Table(keys), Item::Table(t)) => walk(t, keys, out),
        (Shape::Table(keys), Item::Value(toml_edit::Value::InlineTable(t))) => {
            let table = t.clone().into_table();
            walk(&table, keys, out);
        }
        (Shape::Tables(keys), Item::ArrayOfTables(tables)) => {
            for t in tables.iter() {
                walk(t, keys, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: &[(&str, Shape)] = &[
        ("version", Shape::Value),
        ("rule", Shape::Tables(&[("id", Shape::Value), ("allow", Shape::Value)])),
        ("groups", Shape::Names),
    ];

    #[test]
    fn reports_every_unknown_key_with_its_place() {
        let text = "version = 1\nverison = 2\n[groups]\nanything = []\n[[rule]]\nid = \"a\"\nalow = []\n[[rule]]\nidd = \"b\"\n";
        let found = unknown(text, SHAPE);
        let messages: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `verison`, did you mean `version`?",
                "unknown key `alow`, did you mean `allow`?",
                "unknown key `idd`, did you mean `id`?"
            ]
        );
        assert_eq!(found[0].0, 12);
    }
}
