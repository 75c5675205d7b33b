//! Bodies shared by the stub and the load generator: a stream that repeats one chunk up to a byte
//! count, and a reader that counts bytes. It never holds a whole stream in memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

/// Size of one streamed frame; dockerd copies archives with 32 KiB buffers, the CLI reads them
/// in bigger ones, so 64 KiB sits in the range a real `docker export`/`docker cp` sees.
pub const CHUNK: usize = 64 * 1024;

/// A chunk that looks like tar content rather than zeros, so nothing can take a shortcut on it.
pub fn chunk() -> Bytes {
    let pattern = b"bench/file.txt\0ustar\x0000sockgate streams this byte for byte\n";
    Bytes::from(pattern.iter().copied().cycle().take(CHUNK).collect::<Vec<u8>>())
}

/// Sends `total` bytes as frames sliced from one shared chunk. It reports no exact size, so
/// hyper sends it chunked, as dockerd does for `export` and the CLI does for `docker cp`.
pub struct Repeat {
    chunk: Bytes,
    remaining: u64,
}

impl Repeat {
    pub fn new(chunk: Bytes, total: u64) -> Self {
        Self { chunk, remaining: total }
    }
}

impl Body for Repeat {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.chunk.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }
}

/// Reads a body to its end and returns how many data bytes it carried, without keeping them.
pub async fn count<B>(mut body: B) -> Result<u64, B::Error>
where
    B: Body + Unpin,
{
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            total += bytes::Buf::remaining(&data) as u64;
        }
    }
    Ok(total)
}
