//! JSON bodies read, and refused, as Go's `encoding/json` reads them into dockerd's types.

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
