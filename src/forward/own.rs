//! sockgate's own requests to the engine, not a client's: a `GET` (container discovery,
//! readiness, the engine's version) and a `POST` of JSON (a volume made for a tenant). They take
//! the same pooled connections as clients' requests; this module adds no retry and no timeout.

use bytes::Bytes;
use http::{Method, Response};

use super::client::{Outgoing, Upstream};
use super::ForwardError;
use crate::body::{self, Body};
use crate::http1::Fields;

impl Upstream {
    /// Sends sockgate's own `GET` to the engine (container discovery, readiness), not a client's.
    pub async fn get(&self, path_and_query: &str) -> Result<Response<Body>, ForwardError> {
        let uri = self.uri(path_and_query)?;
        self.send(Outgoing { method: Method::GET, uri, fields: Fields::default(), body: body::full(Bytes::new()) })
            .await
    }

    /// Sends sockgate's own `POST` with a JSON body (a volume it makes for a tenant).
    pub async fn post_json(&self, path_and_query: &str, json: String) -> Result<Response<Body>, ForwardError> {
        const JSON: &[u8] = b"Content-Type: application/json";
        let fields = Fields::new(Bytes::from_static(JSON), [(0, 12, 14, JSON.len())]);
        let uri = self.uri(path_and_query)?;
        // Framed by the body's length (see `super::wire::encode_head`).
        self.send(Outgoing { method: Method::POST, uri, fields, body: body::full(Bytes::from(json)) }).await
    }
}
