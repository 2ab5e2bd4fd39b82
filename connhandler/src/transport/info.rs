//! What a connection learned at its door: the TLS session's peer, the WebSocket upgrade's
//! request, the load balancer a PROXY header came through.

use std::net::SocketAddr;

/// What a connection learned before it was served: read it with
/// [`PeerHandle::transport`](crate::PeerHandle::transport).
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
/// let t = peer.transport();
/// if let Some(balancer) = t.proxied_by() {
///     println!("{} came through {balancer}", peer.addr());
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TransportInfo {
    pub(crate) proxied_by: Option<SocketAddr>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::tls::TlsInfo>,
    #[cfg(feature = "websocket")]
    pub(crate) ws: Option<super::ws::WsInfo>,
}

impl TransportInfo {
    /// The address the connection came from when a PROXY protocol header named the client
    /// (the load balancer's); `None` otherwise. The handle's `addr` is the client's.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(t: &connhandler::transport::TransportInfo) {
    /// let direct = t.proxied_by().is_none();
    /// # }
    /// ```
    pub fn proxied_by(&self) -> Option<SocketAddr> {
        self.proxied_by
    }

    /// The TLS session's peer, on a TLS connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(t: &connhandler::transport::TransportInfo) {
    /// let secure = t.tls().is_some();
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&super::tls::TlsInfo> {
        self.tls.as_ref()
    }

    /// The WebSocket upgrade's request, on a WebSocket connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(t: &connhandler::transport::TransportInfo) {
    /// if let Some(ws) = t.websocket() {
    ///     println!("{} from {:?}", ws.path(), ws.origin());
    /// }
    /// # }
    /// ```
    #[cfg(feature = "websocket")]
    pub fn websocket(&self) -> Option<&super::ws::WsInfo> {
        self.ws.as_ref()
    }
}
