//! HTTP/1.1 as the engine's client speaks it, without I/O (RFC 9112): a request head written out
//! with the framing its body needs, an answer's head read, and an answer's body unframed
//! (`Content-Length`, `chunked`, or until the engine closes).
//!
//! It is stricter than a general-purpose client: an answer whose framing is ambiguous (both
//! `Content-Length` and `Transfer-Encoding`, lengths that differ, a coding other than `chunked`, a
//! malformed chunk) is an error, and the connection it came on is never used again, so that no
//! byte of one answer can be read as part of the next. It judges nothing.

use std::io;
use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderValue};
use http::response::Parts;
use http::{Method, Response, StatusCode, Version};
use smallvec::SmallVec;

pub(super) use crate::http1::{chunk_line, content_length, invalid, Framing, CHUNK_END, LAST_CHUNK};
use crate::http1::{Declared, Fields};

/// The largest answer head read: 1 MiB, as the largest request head a listener accepts.
const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// The most header fields an answer head may have.
const MAX_HEADERS: usize = 100;

/// What is known of a request body's size before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodySize {
    /// No body at all.
    Empty,
    Exact(u64),
    Unknown,
}

/// Writes the head of a request for `target` (origin form) to `out` and says how its body is
/// framed. The framing follows the `Content-Length` the request carries, which must agree with
/// `size`; a body of unknown length goes chunked, except on `GET`, `HEAD` and `CONNECT`, which are
/// sent without one. Any `Transfer-Encoding` given is replaced by the one this framing needs.
pub(super) fn encode_head(
    method: &Method,
    target: &str,
    headers: &mut HeaderMap,
    size: BodySize,
    out: &mut BytesMut,
) -> io::Result<Framing> {
    headers.remove(header::TRANSFER_ENCODING);
    let declared = if headers.contains_key(header::CONTENT_LENGTH) {
        Some(content_length(headers).ok_or_else(|| invalid("the request's Content-Length is invalid"))?)
    } else {
        None
    };
    let framing = match (size, declared) {
        (BodySize::Empty, None | Some(0)) => Framing::Empty,
        (BodySize::Empty, Some(declared)) => {
            return Err(invalid(format!("the request has no body, its Content-Length says {declared}")))
        }
        (BodySize::Exact(length), Some(declared)) if length != declared => {
            return Err(invalid(format!("the request body has {length} bytes, its Content-Length says {declared}")))
        }
        (_, Some(declared)) => Framing::Length(declared),
        (BodySize::Exact(length), None) => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            Framing::Length(length)
        }
        (BodySize::Unknown, None) if matches!(*method, Method::GET | Method::HEAD | Method::CONNECT) => Framing::Empty,
        (BodySize::Unknown, None) => {
            headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            Framing::Chunked
        }
    };
    out.reserve(32 + target.len() + headers.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

/// An answer's head as read.
pub(super) struct Head {
    /// Status and version; its header map is empty.
    pub(super) parts: Parts,
    /// The answer's header fields as they came.
    pub(super) fields: Fields,
    pub(super) framing: Framing,
    /// Whether the connection may carry another request once this answer is read.
    pub(super) keep_alive: bool,
}

/// Reads an answer's head to a request made with `method` from the front of `buf`, skipping
/// interim (`1xx`) answers other than `101`. `None`: the head is not all in yet.
pub(super) fn parse_head(buf: &mut BytesMut, method: &Method) -> io::Result<Option<Head>> {
    loop {
        let mut fields = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        // Where each field's name and value are in the head: (name start, name end, value start,
        // value end). Answers rarely have more than a dozen fields.
        let mut at: SmallVec<[(usize, usize, usize, usize); 16]> = SmallVec::new();
        let (length, code, version) = {
            let mut response = httparse::Response::new(&mut []);
            let status = httparse::ParserConfig::default()
                .parse_response_with_uninit_headers(&mut response, buf, &mut fields)
                .map_err(|e| invalid(format!("invalid answer head: {e}")))?;
            let httparse::Status::Complete(length) = status else {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(invalid("the answer's head is too large"));
                }
                return Ok(None);
            };
            let start = buf.as_ptr() as usize;
            for field in response.headers.iter() {
                let name = field.name.as_ptr() as usize - start;
                let value = field.value.as_ptr() as usize - start;
                at.push((name, name + field.name.len(), value, value + field.value.len()));
            }
            (length, response.code.unwrap_or(0), response.version.unwrap_or(0))
        };
        if length > MAX_HEAD_BYTES {
            return Err(invalid("the answer's head is too large"));
        }
        let head = buf.split_to(length).freeze();
        let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("invalid status {code}")))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            continue;
        }
        let fields = Fields::new(head, at);
        let version = if version == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
        let framing = framing(status, method, version, &fields)?;
        let keep_alive = version == Version::HTTP_11
            && status != StatusCode::SWITCHING_PROTOCOLS
            && framing != Framing::Close
            && !crate::http1::lists_option(fields.named().map(|(named, _, value)| (named, value)), "close");
        let (mut parts, ()) = Response::new(()).into_parts();
        parts.status = status;
        parts.version = version;
        return Ok(Some(Head { parts, fields, framing, keep_alive }));
    }
}

/// How an answer's body is delimited (RFC 9112 section 6.3), refusing what is ambiguous.
fn framing(status: StatusCode, method: &Method, version: Version, fields: &Fields) -> io::Result<Framing> {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if *method == Method::HEAD {
        return Ok(Framing::Empty);
    }
    match crate::http1::declared(version, fields.named().map(|(named, _, value)| (named, value))) {
        Ok(Declared::Chunked) => Ok(Framing::Chunked),
        Ok(Declared::Length(0)) => Ok(Framing::Empty),
        Ok(Declared::Length(length)) => Ok(Framing::Length(length)),
        Ok(Declared::Neither) => Ok(Framing::Close),
        Err(ambiguous) => Err(invalid(format!("an answer with {}", ambiguous.reason()))),
    }
}

#[cfg(test)]
mod tests;
