//! HTTP/1.1 without I/O (RFC 9112), as both of sockgate's sides speak it: how a message's body
//! is framed and unframed, shared by the engine's client (`crate::forward`) and the listeners'
//! server (`crate::serve`), and the server's side of a message head: a client's request head read
//! ([`request`]) and the answer's head written ([`answer`]). Its client's and server's bodies
//! travel as [`Incoming`]; a connection handed over on `101` travels as [`Upgraded`].
//!
//! It is stricter than a general-purpose implementation: ambiguous framing (both
//! `Content-Length` and `Transfer-Encoding`, lengths that differ, a coding other than `chunked`, a
//! malformed chunk) is an error, never a guess, so that no byte of one message can be read as
//! part of the next. It judges nothing.

pub mod answer;
mod fields;
mod incoming;
pub mod request;
mod upgrade;

use std::io;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};

pub use fields::{Fields, Located};
pub use incoming::{Feed, Incoming, IncomingError};
pub use request::Request;
pub use upgrade::{OnUpgrade, Pending, Upgraded};

/// What a message's `Transfer-Encoding` and `Content-Length` fields say of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    Chunked,
    Length(u64),
    /// Neither field.
    Neither,
}

/// Why a message's framing fields cannot be read one way only (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguous {
    /// `Transfer-Encoding` in an HTTP/1.0 message.
    TransferEncodingOnHttp10,
    /// Both `Transfer-Encoding` and `Content-Length`.
    Both,
    /// A coding other than a single `chunked`.
    Coding,
    /// A `Content-Length` that is not one decimal number.
    Length,
}

impl Ambiguous {
    /// What the message has, to follow "a request with" or "an answer with".
    pub fn reason(self) -> &'static str {
        match self {
            Ambiguous::TransferEncodingOnHttp10 => "Transfer-Encoding on HTTP/1.0",
            Ambiguous::Both => "both Transfer-Encoding and Content-Length",
            Ambiguous::Coding => "a Transfer-Encoding other than chunked",
            Ambiguous::Length => "an invalid Content-Length",
        }
    }
}

/// What the framing fields of a message sent as `version` declare, refusing what is ambiguous.
/// `fields` are its header fields' names, told apart, and values, read in one pass.
pub fn declared<'a>(
    version: http::Version,
    fields: impl Iterator<Item = (Named, &'a [u8])>,
) -> Result<Declared, Ambiguous> {
    let (mut codings, mut chunked) = (0, false);
    let (mut has_length, mut length, mut bad_length) = (false, None, false);
    for (named, value) in fields {
        match named {
            Named::TransferEncoding => {
                codings += 1;
                chunked = value.trim_ascii().eq_ignore_ascii_case(b"chunked");
            }
            Named::ContentLength => {
                has_length = true;
                match lengths(std::iter::once(value)) {
                    Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => bad_length = true,
                }
            }
            _ => {}
        }
    }
    if codings > 0 {
        if version != http::Version::HTTP_11 {
            return Err(Ambiguous::TransferEncodingOnHttp10);
        }
        if has_length {
            return Err(Ambiguous::Both);
        }
        return if codings == 1 && chunked { Ok(Declared::Chunked) } else { Err(Ambiguous::Coding) };
    }
    match length {
        _ if bad_length => Err(Ambiguous::Length),
        Some(length) => Ok(Declared::Length(length)),
        None => Ok(Declared::Neither),
    }
}

/// The fields a head's framing and connection depend on, and its `Host`, told apart by a name in
/// any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Connection,
    ContentLength,
    Date,
    /// `Host`, which a request to the engine must carry (see `crate::forward`).
    Host,
    TransferEncoding,
    /// Another of the well-known hop-by-hop fields ([`HOP_BY_HOP`]).
    HopByHop,
    Other,
}

/// The well-known hop-by-hop fields (RFC 9110 section 7.6.1), as header names are written.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "keep-alive",
    "proxy-connection",
];

impl Named {
    pub fn of(name: &[u8]) -> Named {
        // The length first: most names are told apart by it alone.
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        match name.len() {
            4 if is(b"date") => Named::Date,
            4 if is(b"host") => Named::Host,
            10 if is(b"connection") => Named::Connection,
            10 if is(b"keep-alive") => Named::HopByHop,
            14 if is(b"content-length") => Named::ContentLength,
            17 if is(b"transfer-encoding") => Named::TransferEncoding,
            2 if is(b"te") => Named::HopByHop,
            7 if is(b"trailer") || is(b"upgrade") => Named::HopByHop,
            16 if is(b"proxy-connection") => Named::HopByHop,
            18 if is(b"proxy-authenticate") => Named::HopByHop,
            19 if is(b"proxy-authorization") => Named::HopByHop,
            _ => Named::Other,
        }
    }

    /// Whether a field so named describes one connection rather than the message.
    pub fn is_hop_by_hop(self) -> bool {
        matches!(self, Named::Connection | Named::TransferEncoding | Named::HopByHop)
    }
}

/// A header map's fields as [`declared`] and [`answer::encode`] read them.
pub fn map_fields(headers: &HeaderMap) -> impl Iterator<Item = (Named, &[u8], &[u8])> {
    headers.iter().map(|(name, value)| {
        let name = name.as_str().as_bytes();
        (Named::of(name), name, value.as_bytes())
    })
}

/// Whether the `Connection` fields among `fields` (names told apart, and values) list `option`.
pub fn lists_option<'a>(fields: impl Iterator<Item = (Named, &'a [u8])>, option: &str) -> bool {
    options(fields.filter(|(named, _)| *named == Named::Connection).map(|(_, value)| value))
        .any(|listed| listed.eq_ignore_ascii_case(option.as_bytes()))
}

/// The options the `Connection` header fields list, trimmed.
pub fn connection_options(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    options(headers.get_all(header::CONNECTION).iter().map(HeaderValue::as_bytes))
}

/// Writes `n` in decimal.
pub fn decimal(mut n: u64, out: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The options `values` (of `Connection` fields) list, trimmed.
pub fn options<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values.flat_map(|value| value.split(|&b| b == b',')).map(<[u8]>::trim_ascii)
}

/// The longest chunk-size line (size and extensions) read.
const MAX_CHUNK_LINE: usize = 4096;
/// The most bytes of trailer fields after a chunked body; they are read and dropped.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// How a message's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    Length(u64),
    Chunked,
    /// Everything until the sender closes (answers only).
    Close,
}

pub fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// The line that opens a chunk of `length` bytes.
pub fn chunk_line(length: usize) -> Bytes {
    Bytes::from(format!("{length:x}\r\n"))
}

/// What ends a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk, with no trailer fields.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The one length `values` (of `Content-Length` fields) all say; `None` when they do not.
fn lengths<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<u64> {
    let mut length = None;
    for value in values {
        for part in value.split(|&b| b == b',') {
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

/// What a [`Decoder`] made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// The body is complete.
    End,
    /// More bytes are needed.
    More,
}

/// Unframes a message's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
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
    pub fn new(framing: Framing) -> Decoder {
        match framing {
            Framing::Empty => Decoder::Done,
            Framing::Length(length) => Decoder::Length(length),
            Framing::Chunked => Decoder::Chunked(Chunk::Size),
            Framing::Close => Decoder::Close,
        }
    }

    pub fn is_done(&self) -> bool {
        *self == Decoder::Done
    }

    /// Takes what it can of the body from the front of `buf`: data as soon as there is any.
    pub fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Decoded> {
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

    /// The peer closed the connection: the end of a body read until close, else an error.
    pub fn eof(&mut self) -> io::Result<Decoded> {
        match self {
            Decoder::Close | Decoder::Done => {
                *self = Decoder::Done;
                Ok(Decoded::End)
            }
            _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed mid-body")),
        }
    }

    /// How many bytes of the body are known to be left, if that is known.
    pub fn exact_left(&self) -> Option<u64> {
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
