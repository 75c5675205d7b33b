//! Notices a client that went away while its connection is busy, without reading from it.
//!
//! A client may shut down its sending side once its request is out (`nc -N`, `socat` with a pipe)
//! and still read the answer; dockerd answers it (Go's `net/http` server takes the EOF as a hint to
//! cancel the request's context, not as the end of the connection). So connections are served
//! with half-closes allowed, and an EOF while a request is answered no longer ends the connection.
//! A client that closed both directions must still not hold a quiet `logs -f` or `events` stream,
//! and the engine connection behind it, until the stream's next write fails. A hang-up (`EPOLLHUP`:
//! a unix peer closed its socket, a TCP peer reset the connection) is what a half-close never
//! raises, and this module waits for one on a second handle on the connection's socket. A TCP
//! peer's close and half-close are the same FIN, so there the next write tells. It never reads
//! or writes the connection.

use std::io;
use std::os::fd::AsFd;

use tokio::io::{Interest, Ready};
use tokio::net::{TcpStream, UnixStream};

/// A watch on one client connection: a second handle on its socket, never read or written.
pub struct HangUp(Option<Watched>);

enum Watched {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl HangUp {
    /// Watches a unix socket; call it on the runtime that serves the connection. A socket that
    /// cannot be watched (out of descriptors) is served all the same, unwatched.
    pub fn unix(stream: &UnixStream) -> HangUp {
        let copy = stream.as_fd().try_clone_to_owned().map(std::os::unix::net::UnixStream::from);
        HangUp(copy.and_then(UnixStream::from_std).ok().map(Watched::Unix))
    }

    /// Watches a TCP socket, as [`HangUp::unix`] does.
    pub fn tcp(stream: &TcpStream) -> HangUp {
        let copy = stream.as_fd().try_clone_to_owned().map(std::net::TcpStream::from);
        HangUp(copy.and_then(TcpStream::from_std).ok().map(Watched::Tcp))
    }

    /// Resolves once the peer hung up; never when nothing is watched.
    pub async fn wait(&self) {
        let Some(watched) = &self.0 else { return std::future::pending().await };
        // Write interest: a hang-up is reported whatever the interest, and the writes of an
        // answer, rather than the reads of a request body, are what the other edges follow.
        loop {
            match watched.ready().await {
                Ok(ready) if ready.is_write_closed() => return,
                // Forget this edge (an operation that would block clears it) and wait for the next.
                Ok(_) => watched.clear(),
                Err(_) => return std::future::pending().await,
            }
        }
    }
}

impl Watched {
    async fn ready(&self) -> io::Result<Ready> {
        match self {
            Watched::Unix(s) => s.ready(Interest::WRITABLE).await,
            Watched::Tcp(s) => s.ready(Interest::WRITABLE).await,
        }
    }

    fn clear(&self) {
        let would_block = || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock));
        let _ = match self {
            Watched::Unix(s) => s.try_io(Interest::WRITABLE, would_block),
            Watched::Tcp(s) => s.try_io(Interest::WRITABLE, would_block),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    #[tokio::test]
    async fn a_half_close_is_not_a_hang_up_and_a_close_is() -> std::io::Result<()> {
        let (mut client, mut server) = UnixStream::pair()?;
        let watch = HangUp::unix(&server);
        client.write_all(b"GET /_ping HTTP/1.1\r\n\r\n").await?;
        client.shutdown().await?;
        let mut request = Vec::new();
        server.read_to_end(&mut request).await?;
        let early = tokio::time::timeout(Duration::from_millis(100), watch.wait()).await;
        assert!(early.is_err(), "a half-close was taken for a hang-up");
        // The client still reads the answer, then leaves.
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await?;
        let mut answer = [0u8; 19];
        client.read_exact(&mut answer).await?;
        drop(client);
        let seen = tokio::time::timeout(Duration::from_secs(5), watch.wait()).await;
        assert!(seen.is_ok(), "a closed client was not noticed");
        Ok(())
    }
}
