//! A connected socket before its door: tokio's TCP stream, or (feature `testing`) an end of
//! an in-memory connection. The accept loop, the door's steps (PROXY header, TLS, WebSocket)
//! and the connect take this one type; what passed the door runs as its own transport, so
//! the TCP data path is the same as before the in-memory network existed.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// A connected socket (see the module's docs).
pub(crate) enum Socket {
    Tcp(TcpStream),
    #[cfg(feature = "testing")]
    Mem(super::memory::MemStream),
}

impl Socket {
    /// The local address.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Socket::Tcp(s) => s.local_addr(),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Ok(s.local_addr()),
        }
    }

    /// Reads what is there now; `WouldBlock` when nothing is.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_read(buf),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => s.try_read(buf),
        }
    }

    /// Writes what the socket takes now; `WouldBlock` when it takes nothing.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_write(buf),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => s.try_write(buf),
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Socket::Tcp(s) => s.poll_read_ready(cx),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => s.poll_read_ready(cx),
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.readable().await,
            #[cfg(feature = "testing")]
            Socket::Mem(s) => s.readable().await,
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.writable().await,
            #[cfg(feature = "testing")]
            Socket::Mem(s) => s.writable().await,
        }
    }

    /// Ends the stream in this direction (a FIN) through a shared reference.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => {
                s.shutdown_write();
                Ok(())
            }
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nodelay(nodelay),
            #[cfg(feature = "testing")]
            Socket::Mem(_) => Ok(()),
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn set_keepalive(&self, idle: std::time::Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => super::stream::set_tcp_keepalive(s, idle),
            #[cfg(feature = "testing")]
            Socket::Mem(_) => Ok(()),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A listener: tokio's TCP one, or one of the in-memory network.
pub(crate) enum Listener {
    Tcp(tokio::net::TcpListener),
    #[cfg(feature = "testing")]
    Mem(super::memory::network::MemListener),
}

impl Listener {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            #[cfg(feature = "testing")]
            Listener::Mem(l) => Ok(l.local_addr()),
        }
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(Socket, SocketAddr)> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, a)| (Socket::Tcp(s), a)),
            #[cfg(feature = "testing")]
            Listener::Mem(l) => l.accept().await.map(|(s, a)| (Socket::Mem(s), a)),
        }
    }
}
