//! The admin listener: `/metrics` (Prometheus text format), `/health` (the process serves) and
//! `/ready` (the engine answers `/_ping`). It never proxies to the engine and takes no policy; bind
//! it where only operators and monitoring reach it. `sockgate healthcheck` asks it ([`check()`]).

mod check;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::{self, Body};
use crate::forward::Upstream;
use crate::listen::{Accepted, Listener};
use crate::record::Recorder;

pub use check::check;

/// What the admin endpoints report on.
#[derive(Clone)]
pub struct Admin {
    pub recorder: Arc<Recorder>,
    pub upstream: Upstream,
    pub connections: TaskTracker,
    pub tunnels: TaskTracker,
}

/// Serves the admin endpoints until `stop`.
pub async fn serve(listener: Listener, admin: Admin, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.answer(request).await) }
            });
            let builder = http1::Builder::new();
            let _ = match stream {
                Accepted::Unix(s) => builder.serve_connection(TokioIo::new(s), service).await,
                Accepted::Tcp(s) => builder.serve_connection(TokioIo::new(s), service).await,
            };
        });
    }
    listener.cleanup();
}

impl Admin {
    async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n".into());
        }
        match request.uri().path() {
            "/metrics" => {
                let metrics = &self.recorder.metrics;
                metrics.connections.set(i64::try_from(self.connections.len()).unwrap_or(i64::MAX));
                metrics.tunnels.set(i64::try_from(self.tunnels.len()).unwrap_or(i64::MAX));
                reply(StatusCode::OK, "text/plain; version=0.0.4", metrics.render())
            }
            "/health" => reply(StatusCode::OK, "application/json", "{\"status\":\"ok\"}\n".into()),
            "/ready" => {
                // The answer is read whole so that its engine connection goes back to the pool.
                let ping = tokio::time::timeout(Duration::from_secs(2), async {
                    let response = self.upstream.get("/_ping").await?;
                    let status = response.status();
                    let _ = http_body_util::BodyExt::collect(http_body_util::Limited::new(response.into_body(), 4096))
                        .await;
                    Ok::<_, crate::forward::ForwardError>(status)
                })
                .await;
                match ping {
                    Ok(Ok(status)) if status.is_success() => {
                        reply(StatusCode::OK, "application/json", "{\"status\":\"ready\"}\n".into())
                    }
                    Ok(Ok(status)) => reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "application/json",
                        not_ready(&format!("engine answered {status}")),
                    ),
                    Ok(Err(e)) => reply(StatusCode::SERVICE_UNAVAILABLE, "application/json", not_ready(&e.to_string())),
                    Err(_) => reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "application/json",
                        not_ready("engine did not answer within 2 s"),
                    ),
                }
            }
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found: /metrics, /health, /ready\n".into()),
        }
    }
}

fn not_ready(reason: &str) -> String {
    format!("{}\n", serde_json::json!({ "status": "unavailable", "reason": reason }))
}

fn reply(status: StatusCode, content_type: &'static str, text: String) -> Response<Body> {
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}
