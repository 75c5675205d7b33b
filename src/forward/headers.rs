//! Hop-by-hop headers (RFC 9110 section 7.6.1): which fields describe one connection rather than
//! the message, and the options a `Connection` field lists. Forwarding drops them both ways; it
//! never adds or rewrites any other header.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::ForwardError;
use crate::http1::{connection_options, Fields, Named, HOP_BY_HOP};

/// Removes the headers that describe one connection rather than the message (RFC 9110 section
/// 7.6.1): `Connection` and every field it names, plus the well-known hop-by-hop fields.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of a lookup per hop-by-hop name.
    // Any `Connection`-named option comes with a `Connection` field, which this pass notices.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> =
        connection_options(headers).filter_map(|token| HeaderName::from_bytes(token).ok()).collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// `fields` as a header map, without `Content-Length` and `Transfer-Encoding`: the body is framed
/// by its size where the request is written.
pub(super) fn header_map(fields: &Fields) -> Result<HeaderMap, ForwardError> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (named, name, value) in fields.named() {
        if matches!(named, Named::ContentLength | Named::TransferEncoding) {
            continue;
        }
        let invalid = || ForwardError::Request(format!("invalid header field `{}`", String::from_utf8_lossy(name)));
        let name = HeaderName::from_bytes(name).map_err(|_| invalid())?;
        let value = HeaderValue::from_bytes(value).map_err(|_| invalid())?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Whether `name` is one of [`HOP_BY_HOP`].
fn is_hop_by_hop(name: &HeaderName) -> bool {
    Named::of(name.as_str().as_bytes()).is_hop_by_hop()
}

#[cfg(test)]
mod tests {
    use http::header;

    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_headers_and_those_connection_names() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close, X-Secret-Hop"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-registry-auth", HeaderValue::from_static("e30="));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type", "x-registry-auth"]);
    }

    #[test]
    fn the_match_names_exactly_the_hop_by_hop_fields() {
        assert!(HOP_BY_HOP.iter().all(|name| is_hop_by_hop(&HeaderName::from_static(name))));
        for other in [header::HOST, header::CONTENT_LENGTH, header::CONTENT_TYPE, header::TRAILER.clone()] {
            assert_eq!(is_hop_by_hop(&other), HOP_BY_HOP.contains(&other.as_str()), "{other}");
        }
        let near: HeaderName = HeaderName::from_static("keep-alives");
        assert!(!is_hop_by_hop(&near));
    }

    #[test]
    fn strips_each_hop_by_hop_header_alone() -> Result<(), http::header::InvalidHeaderName> {
        for name in ["connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate"]
            .into_iter()
            .chain(["proxy-authorization", "keep-alive", "proxy-connection"])
        {
            // As a parser makes them, from the bytes on the wire in any case.
            for spelled in [name.to_owned(), name.to_uppercase()] {
                let mut headers = HeaderMap::new();
                headers.insert(HeaderName::from_bytes(spelled.as_bytes())?, HeaderValue::from_static("x"));
                headers.insert(header::HOST, HeaderValue::from_static("docker"));
                strip_hop_by_hop(&mut headers);
                let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
                assert_eq!(left, ["host"], "`{spelled}` was kept");
            }
        }
        Ok(())
    }
}
