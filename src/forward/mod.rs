//! Sends allowed requests to the real engine and streams the answers back.
//!
//! Connections to the engine are kept alive and pooled (`pool`), and each is driven by the task
//! serving the client it is lent to, so a request and its answer never hop between threads. Bodies
//! stream frame by frame in both directions and are never buffered whole (`body`); a body is
//! framed by its own size, whatever framing fields came with it (`wire`). Hop-by-hop
//! headers are dropped both ways (`headers`). A hijacked connection becomes a raw tunnel only
//! after the engine answered `101` (`tunnel`). Nothing here has a timeout: `logs -f`, `events`
//! and tunnels last as long as both ends want. It does not judge requests.

mod body;
mod client;
mod connector;
mod headers;
mod own;
mod pool;
mod relay;
mod tunnel;
mod wire;

pub use body::EngineBody;
pub use client::Upstream;
pub use connector::Stream;
pub use headers::strip_hop_by_hop;
pub use relay::Relay;

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("docker engine at `{addr}` is unavailable: {reason}")]
    Unavailable { addr: String, reason: String },
    #[error("cannot build the upstream request: {0}")]
    Request(String),
    /// The client's request body failed while it was forwarded: the client's error (see
    /// [`crate::body::BodyError`]). The engine got a request cut short, as when a client goes away
    /// mid-upload.
    #[error("cannot read the request body: {0}")]
    ClientBody(String),
}

/// An error and its causes, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}
