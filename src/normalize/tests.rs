//! Request targets normalized as Go's `net/http` and gorilla/mux read them for dockerd.

use super::*;

fn norm(s: &str) -> Result<Target, TargetError> {
    target(&s.parse::<http::Uri>().map_err(|_| TargetError::NotOriginForm(s.into()))?)
}

fn path_of(s: &str) -> String {
    match norm(s) {
        Ok(t) => t.path,
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn plain_paths_pass_through() {
    let t = norm("/v1.41/containers/json?all=1").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(t.version.as_deref(), Some("1.41"));
    assert_eq!(t.path, "/containers/json");
    assert_eq!(t.query.as_deref(), Some("all=1"));
    assert_eq!(t.to_origin_form(), "/v1.41/containers/json?all=1");
    assert_eq!(path_of("/_ping"), "/_ping");
    assert_eq!(
        path_of("/images/registry.example.com:5000/app:1.2/json"),
        "/images/registry.example.com:5000/app:1.2/json"
    );
    assert_eq!(path_of("/images/alpine@sha256:abc/json"), "/images/alpine@sha256:abc/json");
}

#[test]
fn the_escaped_set_is_every_byte_but_the_plain_ones() {
    for b in 0..=u8::MAX {
        let escaped = utf8_percent_encode(std::str::from_utf8(&[b]).unwrap_or("\u{80}"), NOT_PLAIN).to_string();
        if b.is_ascii() {
            assert_eq!(escaped.len() == 1, is_plain(b), "{b:#x}");
        }
    }
    assert_eq!(utf8_percent_encode("a b%é", NOT_PLAIN).to_string(), "a%20b%25%C3%A9");
}

#[test]
fn percent_escapes_decode_like_go() {
    // An encoded slash is a slash to dockerd's router (it matches on the decoded path).
    assert_eq!(path_of("/containers/abc%2Fjson"), "/containers/abc/json");
    assert_eq!(path_of("/%63ontainers/json"), "/containers/json");
    assert_eq!(path_of("/containers/a%2bb/json"), "/containers/a+b/json");
    assert!(matches!(norm("/containers/%zz/json"), Err(TargetError::BadEscape(_))));
    assert!(matches!(norm("/containers/%2/json"), Err(TargetError::BadEscape(_))));
    // Double encoding decodes once, as in Go: to a `%` that is part of the name.
    assert_eq!(path_of("/containers/%252e%252e/json"), "/containers/%2e%2e/json");
}

#[test]
fn unclean_paths_are_refused() {
    for p in [
        "//containers/json",
        "/containers//json",
        "/containers/./json",
        "/containers/x/../json",
        "/containers/x/..",
        "/containers/%2e%2e/create",
        "/containers/x%2F..%2F..%2Fcreate",
        "/v1.41//containers/json",
        "//",
        "/%2F",
    ] {
        assert!(matches!(norm(p), Err(TargetError::Unclean(_))), "{p}: {:?}", norm(p));
    }
    // One trailing slash is clean to gorilla/mux (`GET /networks/` is a route of its own).
    assert_eq!(path_of("/networks/"), "/networks/");
}

#[test]
fn any_other_byte_is_part_of_a_name_and_is_forwarded_escaped() {
    // (target, the path dockerd routes, the target sent to it)
    for (target, path, forwarded) in [
        ("/v1.41/networks/test%2001", "/networks/test 01", "/v1.41/networks/test%2001"),
        ("/containers/a%25/json", "/containers/a%/json", "/containers/a%25/json"),
        ("/containers/%252F/json", "/containers/%2F/json", "/containers/%252F/json"),
        ("/containers/a%3Fb/json", "/containers/a?b/json", "/containers/a%3Fb/json"),
        ("/containers/a%23b/json", "/containers/a#b/json", "/containers/a%23b/json"),
        ("/containers/%C3%A9/json", "/containers/\u{e9}/json", "/containers/%C3%A9/json"),
        ("/containers/\u{e9}/json", "/containers/\u{e9}/json", "/containers/%C3%A9/json"),
        (
            "/containers/a%5Cb%7B%22%7D%5B%5D%5E%60%7C%3C%3E/json",
            "/containers/a\\b{\"}[]^`|<>/json",
            "/containers/a%5Cb%7B%22%7D%5B%5D%5E%60%7C%3C%3E/json",
        ),
        ("/containers/a\\b{}/json", "/containers/a\\b{}/json", "/containers/a%5Cb%7B%7D/json"),
    ] {
        let t = norm(target).unwrap_or_else(|e| unreachable!("{target}: {e}"));
        assert_eq!(t.path, path, "{target}");
        assert_eq!(t.to_origin_form(), forwarded, "{target}");
        assert!(t.is_origin_form(forwarded), "{target}");
        assert_eq!(t.is_origin_form(target), target == forwarded, "{target}");
        assert_eq!(norm(forwarded).as_ref(), Ok(&t), "{target}: the forwarded target reads the same");
    }
}

#[test]
fn a_target_is_its_origin_form_only_byte_for_byte() {
    let t = norm("/v1.41/containers/json?all=1").unwrap_or_else(|e| unreachable!("{e}"));
    assert!(t.is_origin_form("/v1.41/containers/json?all=1"));
    for other in [
        "",
        "/v1.41/containers/json",
        "/v1.41/containers/json?all=10",
        "/v1.41/containers/json?all=",
        "/containers/json?all=1",
        "/v1.4/containers/json?all=1",
        "/v1.41/containers/jso?all=1",
        "/v1.41/containers/json/?all=1",
    ] {
        assert!(!t.is_origin_form(other), "{other}");
    }
    let bare = norm("/_ping").unwrap_or_else(|e| unreachable!("{e}"));
    assert!(bare.is_origin_form("/_ping"));
    assert!(!bare.is_origin_form("/_ping?"));
}

#[test]
fn control_characters_and_bytes_that_are_not_utf8_are_refused() {
    for p in
        ["/containers/a%00/json", "/containers/a%0Ab/json", "/containers/a%0d/json", "/containers/%7F/json", "/a%1F"]
    {
        assert!(matches!(norm(p), Err(TargetError::Control(_))), "{p}");
    }
    for p in ["/containers/%FF/json", "/containers/%C3/json", "/containers/%C3%28/json", "/%ED%A0%80"] {
        assert!(matches!(norm(p), Err(TargetError::NotUtf8(_))), "{p}");
    }
}

#[test]
fn version_prefixes() {
    assert_eq!(norm("/v1/_ping").map(|t| t.version), Ok(Some("1".into())));
    assert_eq!(norm("/v1.24.1/_ping").map(|t| t.version), Ok(Some("1.24.1".into())));
    for p in ["/v./_ping", "/v1..41/_ping", "/v1./_ping", "/v.1/_ping"] {
        assert!(matches!(norm(p), Err(TargetError::BadVersion(_))), "{p}");
    }
    // Not a version prefix at all: routed (and classified) as a plain path.
    assert_eq!(path_of("/volumes"), "/volumes");
    assert_eq!(path_of("/vx/_ping"), "/vx/_ping");
    assert_eq!(path_of("/V1.41/_ping"), "/V1.41/_ping");
    assert_eq!(path_of("/v1.41"), "/v1.41");
}

#[test]
fn absolute_and_asterisk_forms_are_refused() {
    assert!(matches!(norm("http://docker/containers/json"), Err(TargetError::NotOriginForm(_))));
    assert!(matches!(norm("*"), Err(TargetError::NotOriginForm(_))));
}
