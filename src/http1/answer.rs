//! The head of an answer to a client, written as the listeners' server writes it, in one pass
//! over the answer's fields: the status line in the request's version, the fields, then the
//! framing the body needs, which replaces any `Content-Length` or `Transfer-Encoding` the answer
//! carried (a length known in advance, else `chunked`, else, for an HTTP/1.0 client, until the
//! connection closes), the connection's fate, and a `Date` when there is none.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use http::header::HeaderValue;
use http::response::Parts;
use http::{Method, StatusCode, Version};

use super::{decimal, Fields, Framing, Named};

/// How an answer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub framing: Framing,
    /// Whether the connection may carry another request after this answer.
    pub keep_alive: bool,
}

/// Writes the head of `parts`, with `fields` (the fields of an answer relayed as it came) after
/// its own, an answer to a `method` request sent as `version`, to `out`. `exact`
/// is the body's length when known in advance; `keep_alive` whether the connection may go on
/// as far as the request and the server are concerned. The answer's own framing and connection
/// fields are left out where this head writes its own.
pub fn encode(
    parts: &Parts,
    fields: Option<&Fields>,
    method: &Method,
    version: Version,
    exact: Option<u64>,
    keep_alive: bool,
    out: &mut BytesMut,
) -> Written {
    let status = parts.status;
    let headers = &parts.headers;
    let closes = |fields: &mut dyn Iterator<Item = (Named, &[u8], &[u8])>| {
        super::lists_option(fields.map(|(named, _, value)| (named, value)), "close")
    };
    let mut keep_alive = keep_alive
        && !closes(&mut super::map_fields(headers))
        && !fields.is_some_and(|fields| closes(&mut fields.named()));
    // The fields of a HEAD's or a 304's answer describe the body a GET would have had: kept.
    let keeps_framing = *method == Method::HEAD || status == StatusCode::NOT_MODIFIED;
    let mut length = None;
    let framing = if keeps_framing || status.is_informational() || status == StatusCode::NO_CONTENT {
        Framing::Empty
    } else {
        match exact {
            Some(exact) => {
                length = Some(exact);
                if exact == 0 {
                    Framing::Empty
                } else {
                    Framing::Length(exact)
                }
            }
            None if version == Version::HTTP_11 => Framing::Chunked,
            None => {
                keep_alive = false;
                Framing::Close
            }
        }
    };
    let connection: Option<&[u8]> = match (status == StatusCode::SWITCHING_PROTOCOLS, keep_alive, version) {
        (true, _, _) => None,
        (false, false, _) => Some(b"connection: close\r\n"),
        (false, true, Version::HTTP_10) => Some(b"connection: keep-alive\r\n"),
        (false, true, _) => None,
    };
    out.reserve(96 + headers.len() * 48);
    out.extend_from_slice(if version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    let mut kept = |named: Named| {
        let skipped = match named {
            Named::ContentLength | Named::TransferEncoding => !keeps_framing,
            Named::Connection => connection.is_some(),
            _ => false,
        };
        dated |= !skipped && named == Named::Date;
        !skipped
    };
    // Most answers have fields of one kind only, as they came (the engine's, copied in runs) or
    // in a header map (sockgate's own).
    for (named, name, value) in super::map_fields(headers) {
        if kept(named) {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(fields) = fields {
        fields.write(out, kept);
    }
    if let Some(length) = length {
        out.extend_from_slice(b"content-length: ");
        decimal(length, out);
        out.extend_from_slice(b"\r\n");
    } else if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(connection) = connection {
        out.extend_from_slice(connection);
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(now().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
