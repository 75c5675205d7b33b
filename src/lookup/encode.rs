//! Writes text the engine reads back exactly as meant: percent-encoded path segments and query
//! values, and a query with one parameter replaced. It never decodes and never judges the text.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (section 2.3). Go's `url.PathUnescape` and
/// `url.QueryUnescape`, which gorilla/mux and dockerd's form parsing use, read each `%XX` back
/// to its byte, so this survives both a path segment and a query value; `+` is escaped because
/// a query reads a bare one as a space.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Encodes everything but unreserved characters, for a path segment or a query value.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, ESCAPED).to_string()
}

/// The query `raw` with every `key` parameter replaced by one `key=value`, the value encoded and
/// placed last; the other parameters stay as the client sent them.
pub fn with_param(raw: Option<&str>, key: &str, value: &str) -> String {
    let mut out: Vec<String> = raw
        .unwrap_or("")
        .split('&')
        .filter(|part| !part.is_empty() && part.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    out.push(format!("{key}={}", percent_encode(value)));
    out.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_for_a_path_or_a_query() {
        assert_eq!(percent_encode("web-1.a_b"), "web-1.a_b");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(percent_encode(r#"{"type":["a b"]}"#), "%7B%22type%22%3A%5B%22a%20b%22%5D%7D");
    }

    /// Strings whose bytes Go's unescaping would read as something else if they were left as they
    /// are: a `+` (a space in a query), `%`, `&`, `=`, `?`, `#`, `/`, and bytes beyond ASCII, which
    /// are escaped byte by byte in upper-case hex as Go's `url.QueryEscape` writes them.
    #[test]
    fn pins_what_go_reads_back() {
        assert_eq!(percent_encode("a+b"), "a%2Bb");
        assert_eq!(percent_encode("100%"), "100%25");
        assert_eq!(percent_encode("k=v&x?y#z/w"), "k%3Dv%26x%3Fy%23z%2Fw");
        assert_eq!(percent_encode("café"), "caf%C3%A9");
        assert_eq!(percent_encode("~tilde*star'quote"), "~tilde%2Astar%27quote");
        assert_eq!(percent_encode("line\nbreak\ttab\0"), "line%0Abreak%09tab%00");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn replaces_one_parameter_and_keeps_the_rest() {
        assert_eq!(with_param(None, "filters", "{}"), "filters=%7B%7D");
        assert_eq!(with_param(Some("all=1&filters=x&&filters=y&size"), "filters", "a b"), "all=1&size&filters=a%20b");
        assert_eq!(with_param(Some("filtersx=1"), "filters", ""), "filtersx=1&filters=");
    }
}
