//! sockgate's own requests to the engine, not a client's: a `GET` (container discovery,
//! readiness, the engine's version) and a `POST` of JSON (a volume made for a tenant). They take
//! the same pooled connections as clients' requests; this module adds no retry and no timeout.

use http::header::{self, HeaderValue};
use http::{Request, Response};

use super::client::Upstream;
use super::ForwardError;
use crate::body::{self, Body};

impl Upstream {
    /// Sends sockgate's own `GET` to the engine (container discovery, readiness), not a client's.
    pub async fn get(&self, path_and_query: &str) -> Result<Response<Body>, ForwardError> {
        let mut request = Request::new(body::full(bytes::Bytes::new()));
        *request.uri_mut() = self.uri(path_and_query)?;
        self.send(request).await
    }

    /// Sends sockgate's own `POST` with a JSON body (a volume it makes for a tenant).
    pub async fn post_json(&self, path_and_query: &str, json: String) -> Result<Response<Body>, ForwardError> {
        let length = json.len();
        let mut request = Request::new(body::full(bytes::Bytes::from(json)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri(path_and_query)?;
        let headers = request.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        self.send(request).await
    }
}
