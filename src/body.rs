//! The one body type that flows through the gateway in both directions: either bytes streamed from a
//! peer, or a small body sockgate produced itself (an error message). It never buffers a stream.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;

/// A request or response body: streamed from a peer, or produced by sockgate.
pub type Body = Either<Incoming, Full<Bytes>>;

/// A body sockgate produced itself.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Either::Right(Full::new(bytes.into()))
}

/// A body streamed from a peer, passed on frame by frame.
pub fn streamed(incoming: Incoming) -> Body {
    Either::Left(incoming)
}
