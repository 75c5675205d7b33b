//! Turns a request target into the path dockerd would route, or refuses it.
//!
//! dockerd routes on the percent-decoded path (`req.URL.Path`, gorilla/mux without `UseEncodedPath`)
//! and answers a path that `path.Clean` would change with a redirect instead of a handler
//! (gorilla/mux `Router.ServeHTTP`, `cleanPath`). This module decodes exactly as Go's
//! `url.PathUnescape` does and then refuses only what dockerd could read two ways: absolute-form
//! and `*` targets, bad escapes, unclean paths, control characters, bytes that are not UTF-8, and
//! version prefixes other than `v` and dotted digits. Any other byte is part of a name (docker-py
//! names a network `test 01`). The path it forwards spells every byte a URL parser could take for
//! syntax (space, `%`, `?`, `#`, non-ASCII, ...) as a `%XX` escape, so the engine decodes it to
//! the very string sockgate classified. It does not look at the query.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// A request target that dockerd will route exactly as sockgate classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The API version from a `/vX.Y` prefix, if any.
    pub version: Option<String>,
    /// The decoded, clean path without the version prefix: what the route table is matched on.
    pub path: String,
    /// The raw query string, passed on untouched.
    pub query: Option<String>,
}

impl Target {
    /// The origin-form request target to send to the engine: Go's `url.ParseRequestURI` decodes
    /// its path back to exactly the version prefix and [`Target::path`].
    pub fn to_origin_form(&self) -> String {
        let mut out = String::with_capacity(self.path.len() + 16);
        for piece in self.origin_form() {
            out.push_str(piece);
        }
        out
    }

    /// Whether `sent` is [`Target::to_origin_form`] already, byte for byte, as most request
    /// targets are: told without spelling the origin form out.
    pub fn is_origin_form(&self, sent: &str) -> bool {
        let mut rest = sent;
        for piece in self.origin_form() {
            match rest.strip_prefix(piece) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The origin form in pieces: the version prefix, the path with what must be escaped
    /// escaped, and the query.
    fn origin_form(&self) -> impl Iterator<Item = &str> {
        let version = self.version.as_deref().map(|version| ["/v", version]).into_iter().flatten();
        let query = self.query.as_deref().map(|query| ["?", query]).into_iter().flatten();
        version.chain(utf8_percent_encode(&self.path, NOT_PLAIN)).chain(query)
    }
}

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("request target `{0}` is not in origin form (`/path?query`)")]
    NotOriginForm(String),
    #[error("request path `{0}` has an invalid percent-escape")]
    BadEscape(String),
    #[error("request path `{0}` holds a control character, which dockerd reads two ways")]
    Control(String),
    #[error("request path `{0}` does not decode to UTF-8, which dockerd reads two ways")]
    NotUtf8(String),
    #[error("request path `{0}` is not clean (`//`, `.` or `..` segments)")]
    Unclean(String),
    #[error("request path `{0}` has an unsupported API version prefix")]
    BadVersion(String),
}

/// Normalizes the target of one request.
pub fn target(uri: &http::Uri) -> Result<Target, TargetError> {
    // Absolute-form (`GET http://host/path`) and authority-form targets are for proxies; dockerd's
    // clients never send them, and Go would route the embedded path while the Host header differs.
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(TargetError::NotOriginForm(uri.to_string()));
    }
    let raw = uri.path();
    if !raw.starts_with('/') {
        return Err(TargetError::NotOriginForm(raw.to_string()));
    }
    let decoded = percent_decode(raw)?;
    if decoded.bytes().any(is_control) {
        return Err(TargetError::Control(raw.to_string()));
    }
    if !is_clean(&decoded) {
        return Err(TargetError::Unclean(raw.to_string()));
    }
    let (version, path) = split_version(&decoded).map_err(|()| TargetError::BadVersion(raw.to_string()))?;
    Ok(Target { version: version.map(str::to_string), path: path.to_string(), query: uri.query().map(str::to_string) })
}

/// Decodes `%XX` escapes as Go's `url.PathUnescape` does: every escape is decoded (including `%2F`),
/// `+` stays `+`, and a `%` not followed by two hex digits is an error.
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, TargetError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    // `percent_decode_str` keeps a malformed escape as it is; Go's `PathUnescape` refuses it.
    let bytes = raw.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(TargetError::BadEscape(raw.to_string()));
    }
    let out: Vec<u8> = percent_decode_str(raw).collect();
    // Go keeps any bytes in `req.URL.Path`, but gorilla/mux matches its route patterns as text,
    // each byte of an invalid sequence read as U+FFFD, while the handler gets the bytes: two
    // readings of one name. sockgate, which judges text, refuses them (no Docker name holds one).
    String::from_utf8(out).map(Cow::Owned).map_err(|_| TargetError::NotUtf8(raw.to_string()))
}

/// The plain bytes spelt out, the reference the escaped set is tested against.
#[cfg(test)]
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'/'
                | b':'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// Bytes that mean the same to every URL parser when they stand unescaped in a path: unreserved and
/// sub-delims (RFC 3986 section 2), `:`, `@` and `/`. Everything Docker names (containers, images with
/// tags and digests, volumes, exec ids) is spelt with these, so they are forwarded as they are; any
/// other byte is forwarded as a `%XX` escape, which Go's `url.PathUnescape` turns back into it.
/// This is the set of all other bytes (non-ASCII bytes are always escaped).
const NOT_PLAIN: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// C0 controls and DEL, refused wherever they come from. Raw, Go's `url.ParseRequestURI` refuses
/// them ("invalid control character in URL"), and so does the HTTP parser in front of sockgate, so
/// a decoded one only ever comes from an escape no Docker name needs. And dockerd reads them two
/// ways: a `{name:.*}` route does not match `\n` (Go's `.`) where `{id}` (`[^/]+`) does, and a
/// name holding NUL is kept by lookups in memory but refused by every system call it reaches.
fn is_control(b: u8) -> bool {
    b.is_ascii_control()
}

/// True when Go's `path.Clean` would leave the path as it is, allowing one trailing slash as
/// gorilla/mux `cleanPath` does.
fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    let body = body.strip_suffix('/').unwrap_or(body);
    !body.is_empty() && body.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Splits a `/v{version:[0-9.]+}` prefix off the path as dockerd's router does, but accepts only
/// dotted digits (`1.41`), not the other strings that pattern would let through (`..`, `1.`).
fn split_version(path: &str) -> Result<(Option<&str>, &str), ()> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (version, tail) = rest.split_at(end);
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Not a version prefix as the router sees it (`/volumes`, `/vfoo`): an ordinary path.
        return Ok((None, path));
    }
    if tail.is_empty() {
        // `/v1.41` alone matches no route in dockerd; leave it whole so it classifies as nothing.
        return Ok((None, path));
    }
    let well_formed = version.split('.').all(|part| !part.is_empty());
    if well_formed {
        Ok((Some(version), tail))
    } else {
        Err(())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_origin_form())
    }
}

#[cfg(test)]
mod tests;
