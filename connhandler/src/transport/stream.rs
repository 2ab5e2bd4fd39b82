//! What carries a connection's bytes: the seam between the connection tasks and the socket.
//!
//! The reader and the writer are generic over a [`Transport`]: a byte stream split into a
//! read half, which the reader owns, and a write half, which the writer owns and senders
//! borrow for a direct write (see `send.rs`). Plain TCP is one; TLS is another
//! (`transport/tls.rs`: a rustls session shared by the halves, a lock taken only to decrypt
//! or to encrypt and write; no direct writes, since a sender's write could leave records in
//! the session that only the writer writes out). WebSocket is not a transport but a framing
//! over either (`transport/ws/`): each WebSocket message is one frame, control frames are
//! answered through the connection's queue, and the close frame is the framing's last
//! words; everything else (hand-on, deadlines, budgets, close, queue, send path) is the same.

use std::{future::Future, io, net::SocketAddr, pin::Pin, task::Poll};

use bytes::BytesMut;
use tokio::{
    io::{AsyncRead, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
};
use tokio_util::io::poll_read_buf;

/// A connected byte stream, before it is split between the connection's tasks.
pub(crate) trait Transport: Send + 'static {
    /// The half the reader owns.
    type Read: ReadHalf;
    /// The half the writer owns and senders borrow.
    type Write: WriteHalf;
    /// Whether senders may write to the transport directly when the writer is idle (see
    /// `send.rs`): not when a write can leave bytes inside the transport that only the
    /// writer would write out (TLS records).
    const DIRECT_WRITES: bool = true;

    /// The local address of the connection.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Sets `TCP_NODELAY` where the transport has it.
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()>;

    /// Turns on TCP keepalive, probing after `idle` without traffic, where the transport
    /// has it.
    fn set_keepalive(&self, idle: std::time::Duration) -> io::Result<()>;

    /// Splits the stream between the reader and the writer.
    fn into_split(self) -> (Self::Read, Self::Write);
}

/// The reading half of a transport.
pub(crate) trait ReadHalf: AsyncRead + Send + Unpin + 'static {
    /// Waits until a read may find something.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;
}

/// Writing without waiting: what a direct write from a sending task needs (object safe, so
/// the connection's shared state need not name the transport).
pub(crate) trait TryWrite: Send + Sync + 'static {
    /// Writes what the transport takes now; `WouldBlock` when it takes nothing.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// The writing half of a transport.
pub(crate) trait WriteHalf: TryWrite {
    /// Waits until a write may take something.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Ends the stream in this direction (TCP: sends FIN; TLS: close_notify, then FIN).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Whether the transport holds bytes a write accepted but did not write out yet (TLS
    /// records); the writer writes them out ([`flush`](WriteHalf::flush)) before it idles.
    fn has_pending(&self) -> bool {
        false
    }

    /// Writes out what the transport holds.
    fn flush(&self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

impl Transport for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        TcpStream::set_nodelay(self, nodelay)
    }

    fn set_keepalive(&self, idle: std::time::Duration) -> io::Result<()> {
        set_tcp_keepalive(self, idle)
    }

    fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        TcpStream::into_split(self)
    }
}

impl ReadHalf for OwnedReadHalf {
    /// Polls the read direction's own waker slot, the one `poll_read` registered in when it
    /// found nothing, rather than `readable()`'s list of waiters (a lock and a list entry per
    /// wait, and a walk of the list per wake-up): the reader is this direction's only
    /// waiter.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let stream: &TcpStream = self.as_ref();
        std::future::poll_fn(move |cx| stream.poll_read_ready(cx))
    }
}

impl TryWrite for OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        OwnedWriteHalf::try_write(self, buf)
    }
}

impl WriteHalf for OwnedWriteHalf {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        OwnedWriteHalf::writable(self)
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        AsyncWriteExt::shutdown(self)
    }
}

/// Reads what is there now into `buf` (at most `limit` bytes); `None` when nothing is, the
/// task then registered for readiness.
///
/// Through `poll_read` rather than `try_read`: a read that does not fill the room it was
/// given tells tokio the socket is drained, so the next read waits for readiness instead of
/// making a system call only to learn there is nothing yet.
pub(crate) async fn read_now<R: ReadHalf>(
    read: &mut R,
    buf: &mut BytesMut,
    limit: Option<usize>,
) -> Option<io::Result<usize>> {
    use bytes::BufMut;
    std::future::poll_fn(|cx| {
        let read = Pin::new(&mut *read);
        let polled = match limit {
            None => poll_read_buf(read, cx, buf),
            Some(n) => poll_read_buf(read, cx, &mut (&mut *buf).limit(n)),
        };
        // `None`: nothing now, and the read registered this task to be woken when there is
        // (a future's `Pending` does); the caller waits for it.
        Poll::Ready(match polled {
            Poll::Ready(got) => Some(got),
            Poll::Pending => None,
        })
    })
    .await
}

/// Writes some of `buf` when the transport can take it; how many bytes (0 only for an empty
/// `buf`). A transport that takes nothing is an error (`WriteZero`).
pub(crate) async fn write_some<W: WriteHalf>(write: &W, buf: &mut BytesMut) -> io::Result<usize> {
    use bytes::Buf;
    if buf.is_empty() {
        return Ok(0);
    }
    loop {
        match write.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf.advance(n);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => write.writable().await?,
            Err(e) => return Err(e),
        }
    }
}

/// TCP keepalive on `stream`: probes after `idle` without traffic, then every `idle / 3`
/// (at least 1 s) where the system lets the interval be set.
pub(crate) fn set_tcp_keepalive(stream: &TcpStream, idle: std::time::Duration) -> io::Result<()> {
    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "windows",
        target_os = "freebsd"
    ))]
    let keepalive = keepalive.with_interval((idle / 3).max(std::time::Duration::from_secs(1)));
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}
