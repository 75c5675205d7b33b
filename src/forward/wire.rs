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

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::response::Parts;
use http::{Method, Response, StatusCode, Version};
use smallvec::SmallVec;

/// The largest answer head read: 1 MiB, as the largest request head a listener accepts.
const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// The most header fields an answer head may have.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (size and extensions) read.
const MAX_CHUNK_LINE: usize = 4096;
/// The most bytes of trailer fields after a chunked body; they are read and dropped.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// What is known of a request body's size before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodySize {
    /// No body at all.
    Empty,
    Exact(u64),
    Unknown,
}

/// How a message's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    Length(u64),
    Chunked,
    /// Everything until the sender closes (answers only).
    Close,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
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

/// The line that opens a chunk of `length` bytes.
pub(super) fn chunk_line(length: usize) -> Bytes {
    Bytes::from(format!("{length:x}\r\n"))
}

/// What ends a chunk's data.
pub(super) const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk, with no trailer fields.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The `Content-Length` of a message: every field and every comma-separated value in them must
/// be the same decimal number; `None` when one is not.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    length
}

/// An answer's head as read.
pub(super) struct Head {
    pub(super) parts: Parts,
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
        let mut headers = HeaderMap::with_capacity(at.len());
        for &(name_start, name_end, value_start, value_end) in &at {
            let name = field_name(&head[name_start..name_end])?;
            let value = HeaderValue::from_maybe_shared(head.slice(value_start..value_end))
                .map_err(|_| invalid("invalid header value in the answer"))?;
            headers.append(name, value);
        }
        let version = if version == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
        let framing = framing(status, method, version, &headers)?;
        let keep_alive = version == Version::HTTP_11
            && status != StatusCode::SWITCHING_PROTOCOLS
            && framing != Framing::Close
            && !super::connection_options(&headers).any(|option| option.eq_ignore_ascii_case("close"));
        let (mut parts, ()) = Response::new(()).into_parts();
        parts.status = status;
        parts.version = version;
        parts.headers = headers;
        return Ok(Some(Head { parts, framing, keep_alive }));
    }
}

/// Names the engine sends that are not standard ones, made once rather than for every answer.
static ENGINE_NAMES: [HeaderName; 5] = [
    HeaderName::from_static("api-version"),
    HeaderName::from_static("docker-experimental"),
    HeaderName::from_static("ostype"),
    HeaderName::from_static("builder-version"),
    HeaderName::from_static("docker-container-path-stat"),
];

fn field_name(bytes: &[u8]) -> io::Result<HeaderName> {
    for known in &ENGINE_NAMES {
        if known.as_str().len() == bytes.len() && known.as_str().as_bytes().eq_ignore_ascii_case(bytes) {
            return Ok(known.clone());
        }
    }
    HeaderName::from_bytes(bytes).map_err(|_| invalid("invalid header name in the answer"))
}

/// How an answer's body is delimited (RFC 9112 section 6.3), refusing what is ambiguous.
fn framing(status: StatusCode, method: &Method, version: Version, headers: &HeaderMap) -> io::Result<Framing> {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if *method == Method::HEAD {
        return Ok(Framing::Empty);
    }
    let has_length = headers.contains_key(header::CONTENT_LENGTH);
    if headers.contains_key(header::TRANSFER_ENCODING) {
        if version != Version::HTTP_11 {
            return Err(invalid("an HTTP/1.0 answer with Transfer-Encoding"));
        }
        if has_length {
            return Err(invalid("an answer with both Transfer-Encoding and Content-Length"));
        }
        let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
        return match (codings.next(), codings.next()) {
            (Some(coding), None) if coding.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") => {
                Ok(Framing::Chunked)
            }
            _ => Err(invalid("an answer with a Transfer-Encoding other than chunked")),
        };
    }
    if has_length {
        return match content_length(headers) {
            Some(0) => Ok(Framing::Empty),
            Some(length) => Ok(Framing::Length(length)),
            None => Err(invalid("an answer with an invalid Content-Length")),
        };
    }
    Ok(Framing::Close)
}

/// What a [`Decoder`] made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    Data(Bytes),
    /// The body is complete.
    End,
    /// More bytes are needed.
    More,
}

/// Unframes an answer's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoder {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// At a chunk-size line.
    Size,
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// At the line end after a chunk's data.
    DataEnd,
    /// After the last chunk, in its trailer fields, this many bytes of them read.
    Trailers(usize),
}

impl Decoder {
    pub(super) fn new(framing: Framing) -> Decoder {
        match framing {
            Framing::Empty => Decoder::Done,
            Framing::Length(length) => Decoder::Length(length),
            Framing::Chunked => Decoder::Chunked(Chunk::Size),
            Framing::Close => Decoder::Close,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        *self == Decoder::Done
    }

    /// Takes what it can of the body from the front of `buf`: data as soon as there is any.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Decoded> {
        loop {
            match *self {
                Decoder::Done => return Ok(Decoded::End),
                Decoder::Length(0) => *self = Decoder::Done,
                Decoder::Length(left) => {
                    let Some(data) = take(buf, left) else { return Ok(Decoded::More) };
                    *self = Decoder::Length(left - data.len() as u64);
                    if *self == Decoder::Length(0) {
                        *self = Decoder::Done;
                    }
                    return Ok(Decoded::Data(data));
                }
                Decoder::Close => {
                    let Some(data) = take(buf, u64::MAX) else { return Ok(Decoded::More) };
                    return Ok(Decoded::Data(data));
                }
                Decoder::Chunked(chunk) => match chunk {
                    Chunk::Size => {
                        let Some(line) = line(buf, MAX_CHUNK_LINE)? else { return Ok(Decoded::More) };
                        let size = chunk_size(&line)?;
                        *self = Decoder::Chunked(if size == 0 { Chunk::Trailers(0) } else { Chunk::Data(size) });
                    }
                    Chunk::Data(left) => {
                        let Some(data) = take(buf, left) else { return Ok(Decoded::More) };
                        let left = left - data.len() as u64;
                        *self = Decoder::Chunked(if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) });
                        return Ok(Decoded::Data(data));
                    }
                    Chunk::DataEnd => {
                        if buf.len() < CHUNK_END.len() {
                            return Ok(Decoded::More);
                        }
                        if &buf[..CHUNK_END.len()] != CHUNK_END {
                            return Err(invalid("a chunk's data does not end with CRLF"));
                        }
                        let _ = buf.split_to(CHUNK_END.len());
                        *self = Decoder::Chunked(Chunk::Size);
                    }
                    Chunk::Trailers(read) => {
                        let Some(line) = line(buf, MAX_TRAILER_BYTES.saturating_sub(read))? else {
                            return Ok(Decoded::More);
                        };
                        if line.is_empty() {
                            *self = Decoder::Done;
                        } else {
                            *self = Decoder::Chunked(Chunk::Trailers(read + line.len() + 2));
                        }
                    }
                },
            }
        }
    }

    /// The engine closed the connection: the end of a body read until close, else an error.
    pub(super) fn eof(&mut self) -> io::Result<Decoded> {
        match self {
            Decoder::Close | Decoder::Done => {
                *self = Decoder::Done;
                Ok(Decoded::End)
            }
            _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the engine closed the connection mid-answer")),
        }
    }

    /// How many bytes of the body are known to be left, if that is known.
    pub(super) fn exact_left(&self) -> Option<u64> {
        match self {
            Decoder::Length(left) => Some(*left),
            Decoder::Done => Some(0),
            _ => None,
        }
    }
}

/// Up to `max` bytes from the front of `buf`; `None` when it is empty.
fn take(buf: &mut BytesMut, max: u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let length = usize::try_from(max).map_or(buf.len(), |max| max.min(buf.len()));
    Some(buf.split_to(length).freeze())
}

/// A line ended by CRLF from the front of `buf`, without its end; `None` when it is not all in.
/// A line longer than `max`, or with a CR or LF of its own, is an error.
fn line(buf: &mut BytesMut, max: usize) -> io::Result<Option<BytesMut>> {
    let Some(end) = buf.iter().take(max.saturating_add(2)).position(|&b| b == b'\n') else {
        if buf.len() >= max.saturating_add(2) {
            return Err(invalid("a line in the chunked body is too long"));
        }
        return Ok(None);
    };
    if end == 0 || buf[end - 1] != b'\r' || buf[..end - 1].contains(&b'\r') {
        return Err(invalid("a line in the chunked body does not end with CRLF"));
    }
    let mut line = buf.split_to(end + 1);
    line.truncate(end - 1);
    Ok(Some(line))
}

/// A chunk's size from its line: hex digits, then optional whitespace and extensions, which are
/// ignored.
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(invalid("invalid chunk size"));
    }
    let rest = &line[digits..];
    let rest = &rest[rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count()..];
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(invalid("invalid chunk size"));
    }
    let mut size = 0u64;
    for &digit in &line[..digits] {
        let value = (digit as char).to_digit(16).unwrap_or(0);
        size = size << 4 | u64::from(value);
    }
    Ok(size)
}

#[cfg(test)]
mod tests;
