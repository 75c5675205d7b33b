//! Reads a query string as Go's `url.ParseQuery` does, for the parameters sockgate judges.
//!
//! Go splits on `&`, refuses `;` (Go 1.17 and later), decodes `+` as a space and `%XX` escapes,
//! and `FormValue` returns the first of repeated keys. sockgate refuses what Go would fail on and
//! refuses repeated keys it judges, so no reading order can differ. Keys are case-sensitive.

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query has an invalid percent-escape: `{0}`")]
    BadEscape(String),
    #[error("query contains `;`, which dockerd refuses")]
    Semicolon,
    #[error("query parameter `{0}` is given more than once")]
    Repeated(String),
}

/// A decoded query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string.
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for part in raw.split('&') {
            if part.contains(';') {
                return Err(QueryError::Semicolon);
            }
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((unescape(key)?, unescape(value)?));
        }
        Ok(Query { pairs })
    }

    /// The value of `key` as dockerd's `r.FormValue` returns it; a repeated key is refused.
    pub fn get(&self, key: &str) -> Result<Option<&str>, QueryError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(QueryError::Repeated(key.to_string()));
        }
        Ok(first)
    }

    /// Every value of `key`, in order (for list parameters such as build tags `t`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

/// Go's `url.QueryUnescape`.
fn unescape(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
                match byte {
                    Some(b) => out.push(b),
                    None => return Err(QueryError::BadEscape(s.to_string())),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::BadEscape(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let q = Query::parse("networkmode=ho%73t&t=a+b&flag&empty=").unwrap_or_default();
        assert_eq!(q.get("networkmode"), Ok(Some("host")));
        assert_eq!(q.get("t"), Ok(Some("a b")));
        assert_eq!(q.get("flag"), Ok(Some("")));
        assert_eq!(q.get("NetworkMode"), Ok(None));
    }

    #[test]
    fn refuses_what_go_reads_differently() {
        assert_eq!(Query::parse("a=1;networkmode=host").err(), Some(QueryError::Semicolon));
        assert!(matches!(Query::parse("networkmode=%zzhost"), Err(QueryError::BadEscape(_))));
        assert!(matches!(Query::parse("networkmode=%+1"), Err(QueryError::BadEscape(_))));
        let q = Query::parse("networkmode=bridge&networkmode=host").unwrap_or_default();
        assert_eq!(q.get("networkmode"), Err(QueryError::Repeated("networkmode".into())));
        assert_eq!(q.all("networkmode"), ["bridge", "host"]);
    }
}
