//! The in-memory transport (feature `testing`): connections between the hosts of a
//! [`Network`](crate::testing::net::Network), with no sockets and no ports, under the same
//! seam as TCP (`stream.rs`), so the same reader, writer, framing, budgets, deadlines and
//! door steps run over it.
//!
//! | room | owns |
//! | --- | --- |
//! | `pipe.rs` | one direction of a connection: a bounded buffer of chunks, each delivered when due (latency, jitter, bandwidth) and when the link is up; reset and end of stream |
//! | `network.rs` | hosts, listeners and their backlogs, the links' conditions and partitions, connecting, the connections made (for faults) |
//! | this file | [`MemStream`]: the two pipes of one end as a byte stream (tokio's `AsyncRead`/`AsyncWrite`, and the seam's halves) |
//!
//! Every wait is on tokio's timers and wakers, so the network runs under tokio's paused
//! clock: a test of a 30 s time-out takes no real time.

pub(crate) mod network;
pub(crate) mod pipe;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use self::pipe::Pipe;
use super::{ReadHalf, Transport, TryWrite, WriteHalf};

/// The reading end of a pipe: dropped, the peer's writes fail.
struct ReadEnd(Arc<Pipe>);

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.0.reader_gone();
    }
}

/// The writing end of a pipe: dropped, the peer reads the end of the stream.
struct WriteEnd(Arc<Pipe>);

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// One end of an in-memory connection.
pub(crate) struct MemStream {
    read: ReadEnd,
    write: WriteEnd,
    local: SocketAddr,
}

impl MemStream {
    fn new(read: Arc<Pipe>, write: Arc<Pipe>, local: SocketAddr) -> Self {
        MemStream {
            read: ReadEnd(read),
            write: WriteEnd(write),
            local,
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.0.try_read(buf, None)
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write.0.try_write(buf)
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.read.0.poll_read_ready(cx).map(Ok)
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.read.0.poll_read_ready(cx)).await;
        Ok(())
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.write.0.poll_write_ready(cx)).await;
        Ok(())
    }

    /// Ends this direction (a FIN).
    pub(crate) fn shutdown_write(&self) {
        self.write.0.finish();
    }
}

fn poll_read_pipe(
    pipe: &Pipe,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    match pipe.try_read(buf.initialize_unfilled(), Some(cx)) {
        Ok(n) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        Err(e) => Poll::Ready(Err(e)),
    }
}

fn poll_write_pipe(pipe: &Pipe, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    loop {
        match pipe.try_write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if pipe.poll_write_ready(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            other => return Poll::Ready(other),
        }
    }
}

impl AsyncRead for MemStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_pipe(&self.read.0, cx, buf)
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write_pipe(&self.write.0, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.0.finish();
        Poll::Ready(Ok(()))
    }
}

/// The reader's half of an in-memory connection.
pub(crate) struct MemRead(ReadEnd);

/// The writer's half of an in-memory connection.
pub(crate) struct MemWrite(WriteEnd);

impl Transport for MemStream {
    type Read = MemRead;
    type Write = MemWrite;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn set_nodelay(&self, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn set_keepalive(&self, _: std::time::Duration) -> io::Result<()> {
        Ok(())
    }

    fn into_split(self) -> (MemRead, MemWrite) {
        (MemRead(self.read), MemWrite(self.write))
    }
}

impl AsyncRead for MemRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_pipe(&self.0 .0, cx, buf)
    }
}

impl ReadHalf for MemRead {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let pipe = self.0 .0.clone();
        async move {
            std::future::poll_fn(|cx| pipe.poll_read_ready(cx)).await;
            Ok(())
        }
    }
}

impl TryWrite for MemWrite {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0 .0.try_write(buf)
    }
}

impl WriteHalf for MemWrite {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let pipe = self.0 .0.clone();
        async move {
            std::future::poll_fn(|cx| pipe.poll_write_ready(cx)).await;
            Ok(())
        }
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        self.0 .0.finish();
        std::future::ready(Ok(()))
    }
}
