//! A client's request head, read as the listeners' server reads it: the request line and header
//! fields by `httparse` (the tokenizer hyper uses), then what the head says of its body and of the
//! connection. A head that could be read two ways is refused. Where Go's `net/http` server, and
//! so dockerd, refuses it too, with Go's status: lengths that differ (400), a coding other than
//! one `chunked` (501), an expectation other than `100-continue` (417), a head over
//! [`MAX_HEAD_BYTES`] (431), another HTTP version (505). Two heads Go reads one way of its own
//! choosing are refused here (400) rather than guessed at: both `Content-Length` and
//! `Transfer-Encoding` (Go lets the coding win) and `Transfer-Encoding` on HTTP/1.0 (Go ignores
//! it, so the body's bytes would be read as the next request).

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::request::Parts;
use http::{Method, StatusCode, Uri, Version};

use super::fields::Located;
use super::{lists_option, Ambiguous, Declared, Fields, Framing, Incoming};

/// The largest request head (request line and headers) accepted, as Go's `DefaultMaxHeaderBytes`.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// The most header fields a request head may have, as hyper allows.
const MAX_HEADERS: usize = 100;

/// A request head as read.
#[derive(Debug)]
pub struct Head {
    /// Method, target and version; its header map is empty: the fields are in `fields`.
    pub parts: Parts,
    /// The header fields as they came, validated by the tokenizer: names are tokens, and values
    /// hold no control character but a tab (what `http::HeaderValue` accepts too).
    pub fields: Fields,
    pub framing: Framing,
    /// Whether the client lets the connection carry another request after this one.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    pub expects_continue: bool,
    /// Whether the client asks to switch protocols (`Connection: Upgrade` and an `Upgrade` field).
    pub upgrade: bool,
}

/// A request as the server hands it on: method, target and version (with an empty header map,
/// and the [`super::OnUpgrade`] in its extensions when the head asked to switch protocols), the
/// header fields as they came, and the body.
pub struct Request {
    pub parts: Parts,
    pub fields: Fields,
    pub body: Incoming,
}

/// Why a request head is refused: the status it is answered with, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    pub status: StatusCode,
    pub reason: String,
}

fn refused(status: StatusCode, reason: impl Into<String>) -> Refused {
    Refused { status, reason: reason.into() }
}

fn bad(reason: impl Into<String>) -> Refused {
    refused(StatusCode::BAD_REQUEST, reason)
}

/// Reads a request head from the front of `buf`, which it then no longer holds. `None`: the head
/// is not all in yet (and is not too large so far).
pub fn parse(buf: &mut BytesMut) -> Result<Option<Head>, Refused> {
    let mut fields = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let (length, method, target, version, located) = {
        let mut request = httparse::Request::new(&mut []);
        let status =
            match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut fields) {
                Ok(status) => status,
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header fields"))
                }
                Err(httparse::Error::Version) if names_a_version(buf) => {
                    return Err(refused(
                        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                        "only HTTP/1.0 and HTTP/1.1 are served",
                    ))
                }
                Err(e) => return Err(bad(format!("malformed request head: {e}"))),
            };
        let httparse::Status::Complete(length) = status else {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(too_large());
            }
            return Ok(None);
        };
        let start = buf.as_ptr() as usize;
        let located = Located::new(buf.as_ptr(), request.headers);
        let method = Method::from_bytes(request.method.unwrap_or_default().as_bytes())
            .map_err(|_| bad("malformed request method"))?;
        let path = request.path.unwrap_or_default();
        let target = path.as_ptr() as usize - start;
        (length, method, target..target + path.len(), request.version.unwrap_or(1), located)
    };
    if length > MAX_HEAD_BYTES {
        return Err(too_large());
    }
    let head = buf.split_to(length).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target)).map_err(|e| bad(format!("malformed request target: {e}")))?;
    let fields = Fields::located(head, located);
    let version = if version == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    let framing = framing(version, &fields)?;
    let connection = || fields.named().map(|(named, _, value)| (named, value));
    let keep_alive = match version {
        Version::HTTP_11 => !lists_option(connection(), "close"),
        _ => lists_option(connection(), "keep-alive"),
    };
    let expects_continue = match fields.get("expect") {
        None => false,
        Some(expect) if expect.eq_ignore_ascii_case(b"100-continue") => version == Version::HTTP_11,
        Some(_) => return Err(refused(StatusCode::EXPECTATION_FAILED, "unsupported Expect header")),
    };
    let upgrade = fields.get("upgrade").is_some() && lists_option(connection(), "upgrade");
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    Ok(Some(Head { parts, fields, framing, keep_alive, expects_continue, upgrade }))
}

/// Whether the request line's version (all after its second space, as Go reads it) is a
/// well-formed one (`HTTP/2.0`) that is not served, rather than malformed.
fn names_a_version(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.splitn(3, |&b| b == b' ').nth(2) {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

fn too_large() -> Refused {
    refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "the request head is larger than 1 MiB")
}

/// How a request's body is delimited (RFC 9112 section 6.3), refusing what is ambiguous. A
/// request with neither field has no body.
fn framing(version: Version, fields: &Fields) -> Result<Framing, Refused> {
    match super::declared(version, fields.named().map(|(named, _, value)| (named, value))) {
        Ok(Declared::Chunked) => Ok(Framing::Chunked),
        Ok(Declared::Length(0) | Declared::Neither) => Ok(Framing::Empty),
        Ok(Declared::Length(length)) => Ok(Framing::Length(length)),
        Err(ambiguous) => {
            let status = match ambiguous {
                Ambiguous::Coding => StatusCode::NOT_IMPLEMENTED,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(refused(status, format!("a request with {}", ambiguous.reason())))
        }
    }
}
