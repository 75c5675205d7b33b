//! A client's request relayed to the engine: the request target as normalized, hop-by-hop
//! headers dropped both ways, and an upgrade asked of the engine only when the client asked for
//! one (a hijack, see [`super::tunnel`]). An engine that switches protocols unasked is refused.
//! It does not judge the request; that was done before it gets here.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};

use super::client::{Outgoing, Send, Upstream};
use super::headers::header_map;
use super::ForwardError;
use crate::body::Body;
use crate::http1::{Fields, OnUpgrade};
use crate::normalize::Target;

impl Upstream {
    /// One request for `target`, made ready to go: its future sends it and answers with the
    /// engine's answer. With `upgrade`, the request asks to hijack the connection, and a `101`
    /// from the engine turns both connections into one tunnel. The request's header fields are
    /// taken from `fields`.
    pub fn relay(
        &self,
        parts: &Parts,
        fields: &mut Fields,
        body: Body,
        target: &Target,
        upgrade: Option<OnUpgrade>,
    ) -> Result<Relay<'_>, ForwardError> {
        // Most targets are forwarded byte for byte as the client sent them: that target, already
        // parsed, is reused rather than spelt out and parsed again.
        let uri = match parts.uri.path_and_query() {
            Some(sent) if target.is_origin_form(sent.as_str()) && parts.uri.scheme().is_none() => parts.uri.clone(),
            _ => self.uri(&target.to_origin_form())?,
        };
        let method = parts.method.clone();
        let Some(client_side) = upgrade else {
            fields.strip_hop_by_hop();
            let outgoing = Outgoing { method, uri, fields: std::mem::take(fields), body };
            return Ok(Relay { upstream: self, relaying: Relaying::Send(self.send(outgoing)) });
        };
        // hyper's client writes a hijack's head: from a header map, framed by the body's size.
        let protocol = fields.get("upgrade").and_then(|value| HeaderValue::from_bytes(value).ok());
        fields.strip_hop_by_hop();
        let mut headers = header_map(fields)?;
        if let Some(protocol) = protocol {
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, protocol);
        }
        let mut outgoing = Request::new(body);
        *outgoing.method_mut() = method;
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;
        // Boxed: rare, and its state would otherwise make every request's future as large.
        let hijack = Box::pin(self.hijack(outgoing, client_side));
        Ok(Relay { upstream: self, relaying: Relaying::Hijack(hijack) })
    }
}

/// A request relayed to the engine, until the answer's head comes ([`Upstream::relay`]).
pub struct Relay<'a> {
    upstream: &'a Upstream,
    relaying: Relaying<'a>,
}

type Hijacking<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, ForwardError>> + std::marker::Send + 'a>>;

enum Relaying<'a> {
    Send(Send<'a>),
    Hijack(Hijacking<'a>),
}

impl Future for Relay<'_> {
    type Output = Result<Response<Body>, ForwardError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let send = match &mut this.relaying {
            Relaying::Send(send) => send,
            Relaying::Hijack(hijack) => return hijack.as_mut().poll(cx),
        };
        // Amended in place: an answer is a few hundred bytes, not taken apart and made again.
        let mut answered = ready!(Pin::new(send).poll(cx));
        if let Ok(response) = &mut answered {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                // The engine switched protocols on a request that did not ask to: refuse to pass that on.
                let refused = "engine switched protocols on a request that did not ask for it";
                return Poll::Ready(Err(this.upstream.unavailable(refused)));
            }
            if let Some(fields) = response.body_mut().fields_mut() {
                fields.strip_hop_by_hop();
            }
        }
        Poll::Ready(answered)
    }
}
