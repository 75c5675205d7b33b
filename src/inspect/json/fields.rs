//! A view of one JSON object as dockerd decodes it into a Go struct: fields found by Go's
//! case-insensitive matching, typed as the struct types them. It parses nothing and knows no
//! Docker field names.

use super::{fold_key, Json, JsonError};

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

pub(super) fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the body".to_string()
    } else {
        path.to_string()
    }
}
