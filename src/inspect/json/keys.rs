//! Keys as Go's `encoding/json` matches them, and the refusal of any two keys Go would read as
//! one. It neither parses nor walks fields for inspection.

use super::fields::display_path;
use super::{Json, JsonError};

/// The key as Go compares it to a struct field name: ASCII letters upper-cased, and every other
/// character replaced by the smallest member of its simple case-folding orbit (`foldName`). Only
/// two non-ASCII characters fold into ASCII letters; other non-ASCII characters are lower-cased,
/// which is enough to catch duplicates among keys that can never name a dockerd field.
pub fn fold_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            '\u{017F}' => 'S',      // LATIN SMALL LETTER LONG S folds with s and S
            '\u{212A}' => 'K',      // KELVIN SIGN folds with k and K
            c if c.is_ascii() => c, // includes A-Z
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// Fields of dockerd's types that are Go maps (`map[string]T`): their keys are data, compared
/// exactly, where every other object is a struct whose keys Go folds (`Labels`, `Sysctls`, `Tmpfs`,
/// `ExposedPorts`, `Volumes`, `PortBindings`, `LogConfig.Config`, `DriverOpts`, `Options`,
/// `EndpointsConfig`, `StorageOpt`, `Annotations`), already folded.
const MAP_FIELDS: &[&str] = &[
    "LABELS",
    "SYSCTLS",
    "TMPFS",
    "STORAGEOPT",
    "EXPOSEDPORTS",
    "VOLUMES",
    "PORTBINDINGS",
    "CONFIG",
    "DRIVEROPTS",
    "OPTIONS",
    "ENDPOINTSCONFIG",
    "ANNOTATIONS",
];

/// Refuses, anywhere in the document, keys Go would read as one: in a map object identical keys
/// (Go keeps the last), in every other object keys equal under Go's folding (Go merges them into
/// one field). Values of a map and items of a list are structs.
pub(super) fn check_duplicates(value: &Json, path: &str, is_map: bool) -> Result<(), JsonError> {
    match value {
        Json::Object(members) => {
            let mut keys: Vec<(String, &str)> =
                members.iter().map(|(k, _)| (if is_map { k.clone() } else { fold_key(k) }, k.as_str())).collect();
            keys.sort_unstable();
            if let Some(pair) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(JsonError::DuplicateKey { path: display_path(path), key: pair[1].1.to_string() });
            }
            for (key, member) in members {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let child_is_map = !is_map && MAP_FIELDS.contains(&fold_key(key).as_str());
                check_duplicates(member, &child, child_is_map)?;
            }
            Ok(())
        }
        Json::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| check_duplicates(item, &format!("{path}[{i}]"), false))
        }
        _ => Ok(()),
    }
}
