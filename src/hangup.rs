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
//!
//! The second handle is made dormant, unknown to the runtime, and is [armed](HangUp::watch) only
//! while the connection is busy with a long request: registered with the runtime, it is woken by
//! every event on the socket, one more wake-up per request than a quick request needs.

use std::io;
use std::os::fd::AsFd;

use tokio::io::{Interest, Ready};
use tokio::net::{TcpStream, UnixStream};

/// A watch on one client connection: a second handle on its socket, never read or written.
pub struct HangUp(State);

enum State {
    /// No second handle (out of descriptors): the connection is served all the same, unwatched.
    None,
    /// A second handle the runtime does not watch.
    Dormant(Handle),
    /// A second handle the runtime watches, on the runtime that serves the connection.
    Armed(Watched),
}

enum Handle {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

enum Watched {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl HangUp {
    /// A dormant watch on a unix socket.
    pub fn unix(stream: &impl AsFd) -> HangUp {
        let copy = stream.as_fd().try_clone_to_owned().map(std::os::unix::net::UnixStream::from);
        HangUp(copy.map_or(State::None, |copy| State::Dormant(Handle::Unix(copy))))
    }

    /// A dormant watch on a TCP socket, as [`HangUp::unix`].
    pub fn tcp(stream: &impl AsFd) -> HangUp {
        let copy = stream.as_fd().try_clone_to_owned().map(std::net::TcpStream::from);
        HangUp(copy.map_or(State::None, |copy| State::Dormant(Handle::Tcp(copy))))
    }

    /// Arms the watch (`true`) or lets it go dormant; call it on the runtime that serves the
    /// connection. A hang-up that came while it was dormant is seen as soon as it is armed. A
    /// handle the runtime refuses stays unwatched.
    pub fn watch(&mut self, armed: bool) {
        self.0 = match (std::mem::replace(&mut self.0, State::None), armed) {
            (State::Dormant(Handle::Unix(s)), true) => {
                UnixStream::from_std(s).map_or(State::None, |s| State::Armed(Watched::Unix(s)))
            }
            (State::Dormant(Handle::Tcp(s)), true) => {
                TcpStream::from_std(s).map_or(State::None, |s| State::Armed(Watched::Tcp(s)))
            }
            (State::Armed(Watched::Unix(s)), false) => {
                s.into_std().map_or(State::None, |s| State::Dormant(Handle::Unix(s)))
            }
            (State::Armed(Watched::Tcp(s)), false) => {
                s.into_std().map_or(State::None, |s| State::Dormant(Handle::Tcp(s)))
            }
            (state, _) => state,
        };
    }

    /// Resolves once the peer hung up; never while the watch is dormant.
    pub async fn wait(&self) {
        let State::Armed(watched) = &self.0 else { return std::future::pending().await };
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
        let mut watch = HangUp::unix(&server);
        watch.watch(true);
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

    #[tokio::test]
    async fn a_dormant_watch_sees_nothing_and_sees_an_earlier_hang_up_once_armed() -> std::io::Result<()> {
        let (client, server) = UnixStream::pair()?;
        let mut watch = HangUp::unix(&server);
        // Armed, then dormant again: as a connection whose long request ended.
        watch.watch(true);
        watch.watch(false);
        drop(client);
        let dormant = tokio::time::timeout(Duration::from_millis(100), watch.wait()).await;
        assert!(dormant.is_err(), "a dormant watch saw a hang-up");
        watch.watch(true);
        let seen = tokio::time::timeout(Duration::from_secs(5), watch.wait()).await;
        assert!(seen.is_ok(), "a hang-up from before the watch was armed was not noticed");
        Ok(())
    }
}
