//! The door: the steps a new connection takes before it is served, within the handler's
//! `handshake_timeout`, in a task of its own (never in the accept loop).
//!
//! | step | listening | connecting |
//! | --- | --- | --- |
//! | 1. PROXY header (opt-in) | from a trusted balancer: read exactly, the client's address replaces the socket's, then the per-address caps apply to it (the balancer is not capped); from elsewhere: refused at once, or (`proxy_serve_direct`) served without a header, capped at the door | |
//! | 2. TLS (`tls`) | the server handshake | the client handshake; a bad certificate is a `ConnectError` that says which |
//! | 3. WebSocket (`websocket`) | the upgrade request, answered 101 or refused (400/403/404/426) | the upgrade request; its 101 checked |
//! | 4. served | `Connected`, the connection's tasks start | the same |
//!
//! A connection that fails a step, or runs out of time, is closed without an event
//! (counted in `IncomingStats::failed_handshakes`); an outgoing one is a connect failure.

use std::{io, net::SocketAddr, time::Duration};

use tokio::net::TcpStream;

use crate::{
    conn::Opened,
    transport::{proxy, Socket},
};

/// The default `handshake_timeout` of an incoming handler.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that passed its door: plain TCP, plain in memory, or TLS (over either).
pub(crate) enum Passed {
    Tcp(TcpStream),
    #[cfg(feature = "testing")]
    Mem(crate::transport::memory::MemStream),
    #[cfg(feature = "tls")]
    Tls(crate::transport::tls::TlsStream),
}

impl Passed {
    /// A socket served as it is (no TLS).
    pub(crate) fn plain(socket: Socket) -> Passed {
        match socket {
            Socket::Tcp(s) => Passed::Tcp(s),
            #[cfg(feature = "testing")]
            Socket::Mem(s) => Passed::Mem(s),
        }
    }
}

/// An incoming handler's door.
#[derive(Clone, Debug)]
pub(crate) struct InDoor {
    pub(crate) proxy: bool,
    /// The balancers whose PROXY headers are believed; `None`: loopback and the private
    /// networks.
    pub(crate) trusted: Option<Vec<crate::IpNet>>,
    /// Whether a connection from elsewhere is served without a header (else refused).
    pub(crate) serve_direct: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsServer>,
    #[cfg(feature = "websocket")]
    pub(crate) ws: Option<crate::ws::WebSocket>,
    pub(crate) timeout: Duration,
}

impl Default for InDoor {
    fn default() -> Self {
        InDoor {
            proxy: false,
            trusted: None,
            serve_direct: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "websocket")]
            ws: None,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl InDoor {
    /// Whether there is no step to take: the connection is served as it is accepted.
    pub(crate) fn is_open(&self) -> bool {
        #[allow(unused_mut)]
        let mut open = !self.proxy;
        #[cfg(feature = "tls")]
        {
            open &= self.tls.is_none();
        }
        #[cfg(feature = "websocket")]
        {
            open &= self.ws.is_none();
        }
        open
    }

    /// Whether `ip` is a trusted load balancer's.
    pub(crate) fn trusts(&self, ip: std::net::IpAddr) -> bool {
        match &self.trusted {
            Some(nets) => nets.iter().any(|n| n.contains(ip)),
            None => {
                static PRIVATE: std::sync::OnceLock<Vec<crate::IpNet>> = std::sync::OnceLock::new();
                let private = PRIVATE.get_or_init(crate::IpNet::private);
                private.iter().any(|n| n.contains(ip))
            }
        }
    }

    /// Step 1: the client's address (from the PROXY header, when the connection comes
    /// from a trusted balancer: `proxied`) and the balancer's.
    pub(crate) async fn client_addr(
        &self,
        tcp: &mut Socket,
        addr: SocketAddr,
        proxied: bool,
    ) -> io::Result<(SocketAddr, Option<SocketAddr>)> {
        if !proxied {
            return Ok((addr, None));
        }
        Ok(match proxy::read_header(tcp).await? {
            Some(client) => (client, Some(addr)),
            None => (addr, None),
        })
    }

    /// Steps 2 and 3.
    #[allow(unused_mut)]
    pub(crate) async fn handshake(
        &self,
        mut tcp: Socket,
        mut opened: Opened,
    ) -> io::Result<(Passed, Opened)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut stream = crate::transport::tls::accept(tcp, tls).await?;
            #[cfg(feature = "websocket")]
            if let Some(ws) = &self.ws {
                opened.info.ws = Some(crate::transport::ws::accept(&mut stream, ws).await?);
            }
            let (stream, info) = crate::transport::tls::TlsStream::server(stream);
            opened.info.tls = Some(info);
            return Ok((Passed::Tls(stream), opened));
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = &self.ws {
            opened.info.ws = Some(crate::transport::ws::accept(&mut tcp, ws).await?);
        }
        Ok((Passed::plain(tcp), opened))
    }
}

/// An outgoing handler's door.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutDoor {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsClient>,
    #[cfg(feature = "websocket")]
    pub(crate) ws: Option<crate::ws::WebSocket>,
}

/// Why an outgoing connection did not pass its door.
#[derive(Debug)]
pub(crate) enum DoorError {
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls(io::Error),
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    WebSocket(io::Error),
}

impl OutDoor {
    /// Steps 2 and 3 of a connection to `host`.
    #[allow(unused_mut, unused_variables)]
    pub(crate) async fn handshake(
        &self,
        mut tcp: Socket,
        host: &str,
    ) -> Result<(Passed, Opened), DoorError> {
        let mut opened = Opened::default();
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut stream = crate::transport::tls::connect(tcp, tls, host)
                .await
                .map_err(DoorError::Tls)?;
            #[cfg(feature = "websocket")]
            if let Some(ws) = &self.ws {
                let (info, initial) = crate::transport::ws::connect(&mut stream, ws, host)
                    .await
                    .map_err(DoorError::WebSocket)?;
                opened.info.ws = Some(info);
                opened.initial = initial;
            }
            let (stream, info) = crate::transport::tls::TlsStream::client(stream);
            opened.info.tls = Some(info);
            return Ok((Passed::Tls(stream), opened));
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = &self.ws {
            let (info, initial) = crate::transport::ws::connect(&mut tcp, ws, host)
                .await
                .map_err(DoorError::WebSocket)?;
            opened.info.ws = Some(info);
            opened.initial = initial;
        }
        Ok((Passed::plain(tcp), opened))
    }
}
