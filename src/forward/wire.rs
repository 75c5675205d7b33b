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
use http::response::Parts;
use http::{Method, Response, StatusCode, Version};

pub(super) use crate::http1::{chunk_line, invalid, Framing, CHUNK_END, LAST_CHUNK};
use crate::http1::{decimal, Declared, Fields, Located, Named};

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

/// Writes the head of a request for `target` (origin form) with `fields` to `out` and says how
/// its body is framed. The framing follows the body's `size` alone: `Content-Length` for a known
/// size, `chunked` for an unknown one, except on `GET`, `HEAD` and `CONNECT`, which are sent
/// without a body then. Any `Content-Length` or `Transfer-Encoding` among `fields` is replaced by
/// the one this framing needs, so the head can never announce other bytes than those sent. A
/// request without a `Host` gets `host`.
pub(super) fn encode_head(
    method: &Method,
    target: &str,
    fields: &Fields,
    host: &[u8],
    size: BodySize,
    out: &mut BytesMut,
) -> Framing {
    let mut declared = false;
    let mut has_host = false;
    out.reserve(64 + target.len() + fields.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (named, name, value) in fields.named() {
        match named {
            Named::ContentLength => declared = true,
            Named::TransferEncoding => {}
            named => {
                has_host |= named == Named::Host;
                put_field(out, name, value);
            }
        }
    }
    if !has_host {
        put_field(out, b"Host", host);
    }
    let framing = match size {
        BodySize::Empty => {
            // The client said its body was empty: say so too.
            if declared {
                out.extend_from_slice(b"Content-Length: 0\r\n");
            }
            Framing::Empty
        }
        BodySize::Exact(length) => {
            out.extend_from_slice(b"Content-Length: ");
            decimal(length, out);
            out.extend_from_slice(b"\r\n");
            Framing::Length(length)
        }
        BodySize::Unknown if matches!(*method, Method::GET | Method::HEAD | Method::CONNECT) => Framing::Empty,
        BodySize::Unknown => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            Framing::Chunked
        }
    };
    out.extend_from_slice(b"\r\n");
    framing
}

fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
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
        let (length, code, version, located) = {
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
            let located = Located::new(buf.as_ptr(), response.headers);
            (length, response.code.unwrap_or(0), response.version.unwrap_or(0), located)
        };
        if length > MAX_HEAD_BYTES {
            return Err(invalid("the answer's head is too large"));
        }
        let head = buf.split_to(length).freeze();
        let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("invalid status {code}")))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            continue;
        }
        let fields = Fields::located(head, located);
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
