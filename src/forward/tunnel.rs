//! Hijacked connections (`attach`, `exec start`, BuildKit `/session` and `/grpc`): the request
//! goes out on a new engine connection that is never pooled, and only after the engine answered
//! `101` do both connections become one raw tunnel. The tunnel keeps half-closes, so stdin EOF
//! reaches the container while its output keeps flowing. It has no timeout and reads nothing of
//! what passes.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::client::Upstream;
use super::headers::strip_hop_by_hop;
use super::{error_chain, ForwardError};
use crate::body::{self, Body};
use crate::http1::OnUpgrade;

impl Upstream {
    /// Sends `outgoing`, a request that asks to hijack the connection, on a connection of its
    /// own; a `101` from the engine joins `client_side` and the engine's connection in a tunnel.
    pub(super) async fn hijack(
        &self,
        mut outgoing: Request<Body>,
        client_side: OnUpgrade,
    ) -> Result<Response<Body>, ForwardError> {
        // A hijacked connection is new and never pooled: its own task drives it until the tunnel
        // takes it over.
        self.set_host(&mut outgoing);
        let stream = self.open().await?;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Body>(TokioIo::new(stream))
            .await
            .map_err(|e| self.unavailable(&error_chain(&e)))?;
        self.tunnels().spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("engine connection ended: {e}");
            }
        });
        let mut response = sender.send_request(outgoing).await.map_err(|e| self.failed(&e))?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (mut parts, incoming) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Ok(Response::from_parts(parts, body::streamed(incoming)));
        }
        let engine_side = hyper::upgrade::on(&mut response);
        let (parts, _) = response.into_parts();
        let mut headers = parts.headers;
        let protocol = headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut headers);
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Some(protocol) = protocol {
            headers.insert(header::UPGRADE, protocol);
        }
        self.tunnels().spawn(tunnel(client_side, engine_side));
        let mut switching = Response::new(body::full(bytes::Bytes::new()));
        *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *switching.headers_mut() = headers;
        Ok(switching)
    }
}

/// Copies bytes both ways between the client's and the engine's hijacked connections until both
/// directions are done. An EOF on one side is passed on as a write shutdown on the other.
async fn tunnel(client_side: OnUpgrade, engine_side: hyper::upgrade::OnUpgrade) {
    let (client, engine) = tokio::join!(client_side.upgraded(), engine_side);
    let (client, engine) = match (client, engine) {
        (Ok(client), Ok(engine)) => (client, engine),
        (Err(e), _) => {
            tracing::warn!("hijacked connection failed before the tunnel opened: {e}");
            return;
        }
        (_, Err(e)) => {
            tracing::warn!("hijacked connection failed before the tunnel opened: {e}");
            return;
        }
    };
    let mut client = client;
    let mut engine = TokioIo::new(engine);
    match tokio::io::copy_bidirectional(&mut client, &mut engine).await {
        Ok((up, down)) => tracing::debug!(bytes_to_engine = up, bytes_to_client = down, "tunnel closed"),
        Err(e) => tracing::debug!("tunnel ended: {e}"),
    }
}
