//! The head of an answer to a client, written as the listeners' server writes it: the status
//! line in the request's version, the answer's fields, then the framing the body needs, which
//! replaces any `Content-Length` or `Transfer-Encoding` the answer carried (a length known in
//! advance, else `chunked`, else, for an HTTP/1.0 client, until the connection closes), the
//! connection's fate, and a `Date` when there is none.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use http::header::{self, HeaderValue};
use http::response::Parts;
use http::{Method, StatusCode, Version};

use super::{connection_options, Framing};

/// How an answer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub framing: Framing,
    /// Whether the connection may carry another request after this answer.
    pub keep_alive: bool,
}

/// Writes the head of `parts`, an answer to a `method` request sent as `version`, to `out`. `exact`
/// is the body's length when known in advance; `keep_alive` whether the connection may go on
/// as far as the request and the server are concerned.
pub fn encode(
    parts: &mut Parts,
    method: &Method,
    version: Version,
    exact: Option<u64>,
    keep_alive: bool,
    out: &mut BytesMut,
) -> Written {
    let status = parts.status;
    let headers = &mut parts.headers;
    let mut keep_alive = keep_alive && !connection_options(headers).any(|o| o.eq_ignore_ascii_case("close"));
    let framing = if *method == Method::HEAD || status == StatusCode::NOT_MODIFIED {
        // The fields describe the body a GET would have had: kept as they are.
        Framing::Empty
    } else if status.is_informational() || status == StatusCode::NO_CONTENT {
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        Framing::Empty
    } else {
        headers.remove(header::TRANSFER_ENCODING);
        match exact {
            Some(length) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
                if length == 0 {
                    Framing::Empty
                } else {
                    Framing::Length(length)
                }
            }
            None if version == Version::HTTP_11 => {
                headers.remove(header::CONTENT_LENGTH);
                headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
                Framing::Chunked
            }
            None => {
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
                Framing::Close
            }
        }
    };
    if status != StatusCode::SWITCHING_PROTOCOLS {
        if !keep_alive {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        } else if version == Version::HTTP_10 {
            headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        }
    }
    if !headers.contains_key(header::DATE) {
        headers.insert(header::DATE, now());
    }
    out.reserve(64 + headers.len() * 48);
    out.extend_from_slice(if version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    super::write_fields(headers, out);
    Written { framing, keep_alive: keep_alive && status != StatusCode::SWITCHING_PROTOCOLS }
}

thread_local! {
    /// The `Date` value of the second it was made for, made once a second per thread.
    static DATE: Cell<(u64, Option<HeaderValue>)> = const { Cell::new((0, None)) };
}

/// The current time as an HTTP date (RFC 9110 section 5.6.7).
fn now() -> HeaderValue {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (made, value) = DATE.take();
    let value = match value {
        Some(value) if made == secs => value,
        _ => http_date(secs),
    };
    DATE.set((secs, Some(value.clone())));
    value
}

fn http_date(secs: u64) -> HeaderValue {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default();
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}
