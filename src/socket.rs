//! Client and engine connections, registered with the runtime for reading only.
//!
//! tokio registers a socket for both directions at once, edge-triggered. A unix socket reports
//! room to write each time its peer reads from it (TCP does only once a full buffer drains), so
//! a socket registered for writing raises an event on sockgate's side every time the engine reads
//! a request or a client reads an answer: an event the worker must take from the kernel and look
//! at, and a wake-up of its thread when it was asleep waiting for the answer or the next request,
//! for nothing. nginx registers its connections the same way.
//!
//! A [`Socket`] is registered for reading only. A write is tried at once; only one that would
//! block (a full socket buffer: a long stream to a slow reader) registers a second handle on the
//! socket for writing, which the connection then keeps, so a socket that once filled up is
//! waited on as tokio would.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use socket2::SockRef;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A unix socket connection.
pub type UnixSocket = Socket<std::os::unix::net::UnixStream>;
/// A TCP connection.
pub type TcpSocket = Socket<std::net::TcpStream>;

/// A descriptor owned by its holder for as long as it lives: the same open descriptor, never
/// replaced nor closed under it, as the runtime requires of what it watches. Sealed: only the
/// standard library's owning types listed in `sealed` are.
pub trait Owned: sealed::Sealed + AsFd + AsRawFd {}

impl<T: sealed::Sealed + AsFd + AsRawFd> Owned for T {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::os::unix::net::UnixStream {}
    impl Sealed for std::net::TcpStream {}
    impl Sealed for std::os::fd::OwnedFd {}
}

/// Registers `fd` with the runtime of the calling task for `interest`.
fn register<T: Owned>(fd: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: an `Owned` type keeps its one open descriptor until it is dropped, which the
    // `AsyncFd` does before letting go of it.
    #[allow(unsafe_code)]
    let registered = unsafe { AsyncFd::register_with_interest(fd, interest) };
    registered.map_err(|e| e.into_parts().1)
}

/// A connected stream socket, read and written without blocking.
pub struct Socket<S: AsRawFd> {
    /// The socket, registered for reading.
    read: AsyncFd<S>,
    /// A second handle on it, registered for writing once a write would have blocked.
    write: Option<AsyncFd<OwnedFd>>,
}

impl<S: Owned> Socket<S> {
    /// Registers `stream`, which must be in non-blocking mode (as tokio's `into_std` leaves it),
    /// with the runtime of the calling task, for reading.
    pub fn new(stream: S) -> io::Result<Socket<S>> {
        Ok(Socket { read: register(stream, Interest::READABLE)?, write: None })
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        self.read.get_ref()
    }

    /// Resolves once the socket has bytes to read, has ended or has failed; reads nothing.
    pub async fn readable(&self) -> io::Result<()> {
        self.read.readable().await.map(drop)
    }

    /// Ready once the socket has bytes to read, has ended or has failed; reads nothing.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.read.poll_read_ready(cx).map_ok(drop)
    }

    /// Sends with `send`, trying at once until a send would block, and waiting for room after.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        send: impl Fn(SockRef<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let writer = match self.write {
            Some(ref writer) => writer,
            None => {
                match send(SockRef::from(self.read.get_ref())) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    sent => return Poll::Ready(sent),
                }
                let copy = self.read.get_ref().as_fd().try_clone_to_owned()?;
                self.write.insert(register(copy, Interest::WRITABLE)?)
            }
        };
        loop {
            let mut guard = ready!(writer.poll_write_ready(cx))?;
            if let Ok(sent) = guard.try_io(|copy| send(SockRef::from(copy.get_ref()))) {
                return Poll::Ready(sent);
            }
        }
    }
}

/// Receives what `socket` has into the unfilled part of `buf`; how many bytes came.
fn receive(socket: SockRef<'_>, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
    // SAFETY: `recv` only writes bytes into the slice, never de-initializes any.
    #[allow(unsafe_code)]
    let unfilled: &mut [MaybeUninit<u8>] = unsafe { buf.unfilled_mut() };
    let n = socket.recv(unfilled)?;
    // SAFETY: `recv` initialized the first `n` bytes of the unfilled part.
    #[allow(unsafe_code)]
    unsafe {
        buf.assume_init(n);
    }
    buf.advance(n);
    Ok(n)
}

impl<S: Owned + Unpin> AsyncRead for Socket<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.read.poll_read_ready(cx))?;
            let room = buf.remaining();
            match guard.try_io(|socket| receive(SockRef::from(socket.get_ref()), buf)) {
                Ok(Ok(n)) => {
                    // Edge-triggered: fewer bytes than there was room for means the socket was
                    // drained, so the next read waits for the next edge rather than making a
                    // call that would block (tokio does the same). An end or an error stays
                    // ready.
                    if 0 < n && n < room {
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Would block: readiness cleared, wait for the next edge.
                Err(_) => {}
            }
        }
    }
}

impl<S: Owned + Unpin> AsyncWrite for Socket<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, |socket| socket.send(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, |socket| socket.send_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(SockRef::from(self.read.get_ref()).shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair() -> io::Result<(UnixSocket, UnixStream)> {
        let (ours, theirs) = UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        Ok((Socket::new(ours)?, theirs))
    }

    #[tokio::test]
    async fn reads_and_writes_both_ways_and_sees_the_end() -> Result<(), Box<dyn Error>> {
        let (mut ours, theirs) = pair()?;
        let peer = std::thread::spawn(move || -> io::Result<Vec<u8>> {
            let mut theirs = theirs;
            io::Write::write_all(&mut theirs, b"request")?;
            theirs.shutdown(Shutdown::Write)?;
            let mut got = Vec::new();
            io::Read::read_to_end(&mut theirs, &mut got)?;
            Ok(got)
        });
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await?;
        assert_eq!(got, b"request");
        ours.write_all(b"answer").await?;
        ours.shutdown().await?;
        assert_eq!(peer.join().map_err(|_| "the peer panicked")??, b"answer");
        Ok(())
    }

    #[tokio::test]
    async fn a_write_that_would_block_waits_for_room_and_completes() -> Result<(), Box<dyn Error>> {
        let (mut ours, theirs) = pair()?;
        // Far more than the socket buffers hold: the writes must wait for the reader.
        let sent: Vec<u8> = (0..8 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let reader = std::thread::spawn(move || -> io::Result<Vec<u8>> {
            let mut theirs = theirs;
            std::thread::sleep(Duration::from_millis(50));
            let mut got = Vec::new();
            io::Read::read_to_end(&mut theirs, &mut got)?;
            Ok(got)
        });
        tokio::time::timeout(Duration::from_secs(10), ours.write_all(&sent)).await??;
        assert!(ours.write.is_some(), "a full buffer registers the socket for writing");
        ours.shutdown().await?;
        let got = reader.join().map_err(|_| "the reader panicked")??;
        assert!(got == sent, "all {} bytes arrive in order", sent.len());
        Ok(())
    }

    #[tokio::test]
    async fn writes_that_fit_never_register_for_writing() -> Result<(), Box<dyn Error>> {
        let (mut ours, theirs) = pair()?;
        const REQUEST: &[u8] = b"GET /_ping HTTP/1.1\r\n\r\n";
        for _ in 0..100 {
            ours.write_all(REQUEST).await?;
            let mut got = [0u8; REQUEST.len()];
            io::Read::read_exact(&mut &theirs, &mut got)?;
            assert_eq!(got, REQUEST);
        }
        assert!(ours.write.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn a_peer_that_closes_is_an_error_on_write_not_a_signal() -> Result<(), Box<dyn Error>> {
        let (mut ours, theirs) = pair()?;
        drop(theirs);
        let written = ours.write_all(b"anyone there?").await;
        assert_eq!(written.map_err(|e| e.kind()), Err(io::ErrorKind::BrokenPipe));
        Ok(())
    }

    #[tokio::test]
    async fn readable_resolves_on_bytes_without_reading_them() -> Result<(), Box<dyn Error>> {
        let (mut ours, theirs) = pair()?;
        io::Write::write_all(&mut &theirs, b"x")?;
        tokio::time::timeout(Duration::from_secs(5), ours.readable()).await??;
        let mut one = [0u8; 1];
        ours.read_exact(&mut one).await?;
        assert_eq!(&one, b"x");
        Ok(())
    }
}
