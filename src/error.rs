//! The failures a request can meet on its way through the gateway, and the one function that turns
//! any of them into the HTTP response a client sees: `{"message": "sockgate: ..."}`, the shape the
//! docker CLI prints as `Error response from daemon: ...`. No other module builds error responses.

use http::{header, Response, StatusCode};

use crate::body::{self, Body};
use crate::classify::ClassifyError;
use crate::decide::{Decision, Outcome};
use crate::forward::ForwardError;
use crate::inspect::InspectError;
use crate::lookup::LookupError;
use crate::normalize::TargetError;

/// Why a request was not forwarded, or failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error("cannot judge the request: {0}")]
    Inspect(#[from] InspectError),
    #[error("request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    #[error("{}", .0.denial_message())]
    Denied(Box<Decision>),
    #[error(transparent)]
    Forward(ForwardError),
    #[error("cannot ask the engine what the request refers to: {0}")]
    Lookup(#[from] LookupError),
    /// An object the engine does not know, or, under ownership, one that is not the caller's:
    /// answered exactly as dockerd answers a missing object, so other tenants' names do not leak.
    #[error("{0}")]
    NotFound(crate::tenancy::NotFound),
    #[error(transparent)]
    Version(#[from] crate::versions::VersionError),
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::TenancyError),
    #[error("cannot judge the request: {0}")]
    TooManyReferences(String),
    /// The caller already has as many requests in flight as it may.
    #[error("too many requests in flight from `{caller}` (at most {limit}); retry when one has finished")]
    CallerBusy { caller: String, limit: usize },
}

impl From<crate::judge::JudgeError> for GatewayError {
    fn from(error: crate::judge::JudgeError) -> GatewayError {
        match error {
            crate::judge::JudgeError::Target(e) => GatewayError::Target(e),
            crate::judge::JudgeError::Classify(e) => GatewayError::Classify(e),
            crate::judge::JudgeError::Inspect(e) => GatewayError::Inspect(e),
            crate::judge::JudgeError::Version(e) => GatewayError::Version(e),
        }
    }
}

impl From<crate::resolve::ResolveError> for GatewayError {
    fn from(error: crate::resolve::ResolveError) -> GatewayError {
        match error {
            crate::resolve::ResolveError::Lookup(e) => GatewayError::Lookup(e),
            too_many @ crate::resolve::ResolveError::TooMany(_) => {
                GatewayError::TooManyReferences(too_many.to_string())
            }
        }
    }
}

impl From<ForwardError> for GatewayError {
    fn from(error: ForwardError) -> GatewayError {
        match error {
            // The client's body broke on its way through: the client's error, not the engine's.
            ForwardError::ClientBody(reason) => GatewayError::BodyRead(reason),
            other => GatewayError::Forward(other),
        }
    }
}

impl GatewayError {
    /// What this failure makes of the request, where the failure decides it: no operation
    /// matching is a denial, anything else unjudgeable a refusal. `None` for a denial by the
    /// policy or an engine that failed after the decision, whose outcome the decision gave.
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            GatewayError::Denied(_) | GatewayError::Forward(_) => None,
            GatewayError::Classify(_) => Some(Outcome::Deny),
            _ => Some(Outcome::Refuse),
        }
    }

    /// The status a client gets for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Target(_)
            | GatewayError::Inspect(_)
            | GatewayError::BodyRead(_)
            | GatewayError::Version(_)
            | GatewayError::TooManyReferences(_) => StatusCode::BAD_REQUEST,
            GatewayError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Classify(_) | GatewayError::Denied(_) => StatusCode::FORBIDDEN,
            GatewayError::Forward(_) | GatewayError::Lookup(_) => StatusCode::BAD_GATEWAY,
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Tenancy(_) => StatusCode::FORBIDDEN,
            GatewayError::CallerBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// Renders a failure as the JSON error response the docker CLI understands.
pub fn rescue(error: &GatewayError) -> Response<Body> {
    // A missing object is told as dockerd tells it; everything else is sockgate's own word.
    let message = match error {
        GatewayError::NotFound(missing) => missing.to_string(),
        _ => format!("sockgate: {error}"),
    };
    let mut response = json_message(error.status(), &message);
    if matches!(error, GatewayError::BodyTooLarge(_)) {
        // The rest of the body is not read, so the connection cannot carry another request.
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

fn json_message(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_json_message() {
        let error = GatewayError::Classify(ClassifyError::NoRoute { method: "GET".into(), path: "/x\"y".into() });
        let response = rescue(&error);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(value["message"], "sockgate: no docker api route matches `GET /x\"y`");
    }
}
