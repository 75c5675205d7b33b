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

mod fields;
mod keys;
#[cfg(test)]
mod tests;

pub use fields::Struct;
use keys::check_duplicates;
pub use keys::fold_key;

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
