//! Reads a JSON body the way Go's `encoding/json` reads it into dockerd's types, or refuses it.
//!
//! Go matches object keys to struct fields case-insensitively (ASCII case plus Unicode simple
//! folding, so `ſ` is `s` and the Kelvin sign is `k`: `encoding/json/fold.go`), lets the last of
//! two matching keys win, and merges a repeated object into the same struct. Instead of emulating
//! that merge, sockgate refuses, anywhere in a body, two keys Go would read as one: equal under
//! Go's folding in objects that are structs, identical in objects that are maps. `\u` escapes are decoded before matching (serde_json
//! decodes them as Go does). Invalid UTF-8, lone surrogates, trailing data and nesting deeper than
//! serde_json's limit are refused too, where Go would substitute or ignore. This module knows no
//! Docker field names; [`super::container`] and friends walk the tree.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value with object members kept in order and keys as written (escapes decoded).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Why a body could not be read as dockerd would read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("request body is not valid JSON: {0}")]
    Syntax(String),
    #[error("request body has the key `{key}` twice in `{path}` (dockerd would read only one of them)")]
    DuplicateKey { path: String, key: String },
    #[error("request body field `{path}` should be {expected}")]
    Type { path: String, expected: &'static str },
}

/// Parses a complete body. An empty body reads as `null`, as a missing body does in dockerd.
pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Null);
    }
    let value: Json = serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    check_duplicates(&value, "", false)?;
    Ok(value)
}

/// Writes a tree back as JSON, members in their order, for stages that rewrite a body they were
/// allowed to send: strings are escaped by serde_json, numbers keep serde_json's reading.
pub fn to_bytes(value: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write(value: &Json, out: &mut Vec<u8>) {
    let text = |s: &str, out: &mut Vec<u8>| out.extend(serde_json::to_string(s).unwrap_or_default().into_bytes());
    match value {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::Number(n) => out.extend(n.to_string().into_bytes()),
        Json::String(s) => text(s, out),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                text(key, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

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

/// A view of one JSON object that dockerd decodes into a Go struct.
#[derive(Debug, Clone)]
pub struct Struct<'a> {
    members: &'a [(String, Json)],
    path: String,
}

impl<'a> Struct<'a> {
    /// Views `value` as a struct at `path`: `null` is an empty struct, another non-object is an
    /// error, and keys Go would take for the same field are refused.
    pub fn new(value: &'a Json, path: &str) -> Result<Struct<'a>, JsonError> {
        let members: &[(String, Json)] = match value {
            Json::Object(members) => members,
            Json::Null => &[],
            _ => return Err(JsonError::Type { path: display_path(path), expected: "an object" }),
        };
        let mut folded: Vec<String> = members.iter().map(|(k, _)| fold_key(k)).collect();
        folded.sort_unstable();
        if let Some(pair) = folded.windows(2).find(|w| w[0] == w[1]) {
            return Err(JsonError::DuplicateKey { path: display_path(path), key: pair[0].clone() });
        }
        Ok(Struct { members, path: path.to_string() })
    }

    /// The member Go would decode into the field `name`, if present and not `null`.
    pub fn get(&self, name: &str) -> Option<&'a Json> {
        let want = fold_key(name);
        self.members.iter().find(|(k, _)| fold_key(k) == want).map(|(_, v)| v).filter(|v| !matches!(v, Json::Null))
    }

    /// The member `name` as a bool (`null` or absent is false).
    pub fn bool(&self, name: &str) -> Result<bool, JsonError> {
        match self.get(name) {
            None => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(self.type_error(name, "true or false")),
        }
    }

    /// The member `name` as a string (`null` or absent is empty).
    pub fn string(&self, name: &str) -> Result<&'a str, JsonError> {
        match self.get(name) {
            None => Ok(""),
            Some(Json::String(s)) => Ok(s),
            Some(_) => Err(self.type_error(name, "a string")),
        }
    }

    /// The member `name` as a list of strings (Go `[]string`).
    pub fn strings(&self, name: &str) -> Result<Vec<&'a str>, JsonError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Json::String(s) => Ok(s.as_str()),
                    _ => Err(self.type_error(name, "a list of strings")),
                })
                .collect(),
            Some(_) => Err(self.type_error(name, "a list of strings")),
        }
    }

    /// The member `name` as dockerd's `strslice.StrSlice`: a list of strings, or one string.
    pub fn str_slice(&self, name: &str) -> Result<Vec<&'a str>, JsonError> {
        match self.get(name) {
            Some(Json::String(s)) => Ok(vec![s.as_str()]),
            _ => self.strings(name),
        }
    }

    /// The member `name` as a list (Go slice of structs); each item is returned with its path.
    pub fn list(&self, name: &str) -> Result<Vec<(String, &'a Json)>, JsonError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => {
                Ok(items.iter().enumerate().map(|(i, item)| (format!("{}[{i}]", self.child(name)), item)).collect())
            }
            Some(_) => Err(self.type_error(name, "a list")),
        }
    }

    /// The member `name` as a Go `map[string]T`: keys compared exactly, so only identical keys are
    /// duplicates (Go would keep the last).
    pub fn map(&self, name: &str) -> Result<Vec<(&'a str, &'a Json)>, JsonError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Object(members)) => {
                let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(JsonError::DuplicateKey { path: self.child(name), key: pair[0].to_string() });
                }
                Ok(members.iter().map(|(k, v)| (k.as_str(), v)).collect())
            }
            Some(_) => Err(self.type_error(name, "an object")),
        }
    }

    /// Whether the member `name` is present with a non-null value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The display path of a member, as `HostConfig.Privileged`.
    pub fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn type_error(&self, name: &str, expected: &'static str) -> JsonError {
        JsonError::Type { path: self.child(name), expected }
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the body".to_string()
    } else {
        path.to_string()
    }
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
fn check_duplicates(value: &Json, path: &str, is_map: bool) -> Result<(), JsonError> {
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

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Json {
        parse(text.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn keys_match_case_insensitively_with_unicode_folding() {
        let value = obj(r#"{"hostconfig": {"PRIVILEGED": true}}"#);
        let top = Struct::new(&value, "").unwrap_or_else(|e| unreachable!("{e}"));
        let host = top.get("HostConfig").map(|v| Struct::new(v, "HostConfig"));
        assert!(matches!(host.map(|h| h.and_then(|h| h.bool("Privileged"))), Some(Ok(true))));
        // `\u017f` is LATIN SMALL LETTER LONG S: Go's folding reads `Hoſtconfig` as `HostConfig`.
        let value = obj("{\"Ho\\u017ftConfig\": {\"Privileged\": true}}");
        let top = Struct::new(&value, "").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(top.has("HostConfig"));
        // Escaped ASCII is just ASCII.
        let value = obj(r#"{"\u0050rivileged": true}"#);
        let top = Struct::new(&value, "").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(top.bool("Privileged"), Ok(true));
        // The Kelvin sign folds to k.
        assert_eq!(fold_key("\u{212A}ey"), fold_key("key"));
    }

    #[test]
    fn duplicate_struct_keys_are_refused_under_go_folding() {
        for text in [r#"{"Privileged": false, "privileged": true}"#, "{\"Binds\": [], \"Bind\\u017f\": [\"/:/h\"]}"] {
            assert!(matches!(parse(text.as_bytes()), Err(JsonError::DuplicateKey { .. })), "{text}");
        }
        // Refused anywhere, even in objects sockgate does not read.
        for text in [
            r#"{"Privileged": false, "Privileged": true}"#,
            r#"{"HostConfig": {"RestartPolicy": {"Name": "no", "name": "always"}}}"#,
            r#"{"HostConfig": {"Mounts": [{"BindOptions": {"Propagation": "a", "propagation": "b"}}]}}"#,
        ] {
            assert!(matches!(parse(text.as_bytes()), Err(JsonError::DuplicateKey { .. })), "{text}");
        }
    }

    #[test]
    fn maps_compare_keys_exactly() {
        assert!(parse(br#"{"Labels": {"a": "1", "A": "2"}, "HostConfig": {"Tmpfs": {"/a": "", "/A": ""}}}"#).is_ok());
        let value = obj(r#"{"Labels": {"a": "1", "A": "2"}}"#);
        let top = Struct::new(&value, "").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(top.map("Labels").map(|m| m.len()), Ok(2));
        assert!(matches!(parse(br#"{"Labels": {"a": "1", "a": "2"}}"#), Err(JsonError::DuplicateKey { .. })));
    }

    #[test]
    fn str_slice_accepts_a_string_or_a_list() {
        let value = obj(r#"{"CapAdd": "SYS_ADMIN", "CapDrop": ["A", "B"]}"#);
        let top = Struct::new(&value, "").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(top.str_slice("CapAdd"), Ok(vec!["SYS_ADMIN"]));
        assert_eq!(top.str_slice("CapDrop"), Ok(vec!["A", "B"]));
    }

    #[test]
    fn what_go_would_read_differently_is_refused() {
        for bad in [
            &b"{\"Image\": \"x\"} {\"Privileged\": true}"[..], // Go's Decoder ignores the second value
            b"{\"Image\": \"\xff\"}",                          // Go substitutes U+FFFD
            br#"{"Image": "\ud800"}"#,                         // lone surrogate
            br#"{"Image": "x",}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(deep.as_bytes()).is_err());
        assert_eq!(parse(b"  "), Ok(Json::Null));
    }

    #[test]
    fn wrong_types_are_errors() {
        let value = obj(r#"{"Privileged": 1, "Binds": "/:/x"}"#);
        let top = Struct::new(&value, "HostConfig").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(top.bool("Privileged"), Err(JsonError::Type { .. })));
        assert!(matches!(top.strings("Binds"), Err(JsonError::Type { .. })));
        assert_eq!(top.bool("Missing"), Ok(false));
    }
}
