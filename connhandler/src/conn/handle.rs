//! The handle of one connection: what the program holds, thin over the shared state
//! (`shared.rs`) and the send path (`send.rs`).

use std::{
    fmt,
    hash::{Hash, Hasher},
    net::SocketAddr,
    ops::Deref,
    sync::Arc,
};

use super::{send::SendError, shared::Shared};
use crate::{
    peer::{Peer, PeerId},
    reason::DisconnectReason,
};

/// Access to a connection's shared state through a trait object: a handle holds no type
/// with visible interior mutability, so keying a map by handles does not trip clippy's
/// `mutable_key_type` in users' code (equality and hashing use the immutable id only).
pub(crate) trait SharedRef<P: Peer>: Send + Sync {
    fn get(&self) -> &Shared<P>;
}

impl<P: Peer> SharedRef<P> for Shared<P> {
    #[inline]
    fn get(&self) -> &Shared<P> {
        self
    }
}

/// The handle of one connection: cheap to clone, equal and hashed by the connection's
/// [`PeerId`], so a program can key maps by it.
///
/// It is a shared pointer to one connection, as an `Arc` is to its value, and derefs to the
/// per-connection data (`P`), so that `player.name` reads a field of the player (the Rust API
/// guidelines' C-DEREF allows `Deref` for smart pointers: this is one, and only this). The
/// handle's own methods (`send`, `addr`, `id`...) come first: when `P` has a method of the
/// same name, call it through [`data`](PeerHandle::data). Messages queued with [`send`](PeerHandle::send)
/// or [`try_send`](PeerHandle::try_send) go out in order over a bounded queue; those queued
/// before [`disconnect`](PeerHandle::disconnect) are written before the socket closes, and any
/// that could not be written are counted in the `Disconnected` event.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use connhandler::{Event, PeerHandle};
/// # struct Client;
/// # impl connhandler::Peer for Client {
/// #     type Recv = bytes::Bytes;
/// #     type Send = bytes::Bytes;
/// #     const NAME: &'static str = "client";
/// # }
///
/// async fn central_task(mut central: connhandler::Central<Event<Client>>) {
///     let mut scores: HashMap<PeerHandle<Client>, u32> = HashMap::new();
///     while let Some(event) = central.recv().await {
///         match event {
///             Event::Connected(peer) => {
///                 scores.insert(peer, 0);
///             }
///             Event::Message(peer, msg) => {
///                 *scores.get_mut(&peer).unwrap() += 1;
///                 let _ = peer.send(msg); // echo: never waits (see `send`)
///             }
///             Event::Disconnected(peer, _) => {
///                 scores.remove(&peer);
///             }
///             _ => {}
///         }
///     }
/// }
/// ```
pub struct PeerHandle<P: Peer> {
    shared: Arc<dyn SharedRef<P>>,
}

impl<P: Peer> Clone for PeerHandle<P> {
    fn clone(&self) -> Self {
        PeerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Peer> PartialEq for PeerHandle<P> {
    fn eq(&self, other: &Self) -> bool {
        self.s().id() == other.s().id()
    }
}

impl<P: Peer> Eq for PeerHandle<P> {}

impl<P: Peer> Hash for PeerHandle<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.s().id().hash(state)
    }
}

impl<P: Peer> fmt::Debug for PeerHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerHandle")
            .field("kind", &P::NAME)
            .field("handler", &self.s().handler())
            .field("id", &self.s().id())
            .field("addr", &self.s().addr())
            .finish()
    }
}

impl<P: Peer> fmt::Display for PeerHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", P::NAME, self.s().id(), self.s().addr())
    }
}

impl<P: Peer> Deref for PeerHandle<P> {
    type Target = P;

    fn deref(&self) -> &P {
        self.s().data()
    }
}

impl<P: Peer> PeerHandle<P> {
    pub(crate) fn new(shared: Arc<Shared<P>>) -> Self {
        PeerHandle { shared }
    }

    #[inline]
    pub(crate) fn s(&self) -> &Shared<P> {
        self.shared.get()
    }

    /// The connection's unique id.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(a: &connhandler::PeerHandle<P>) {
    /// assert_eq!(a.id(), a.clone().id());
    /// # }
    /// ```
    pub fn id(&self) -> PeerId {
        self.s().id()
    }

    /// The remote address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// println!("from {}", peer.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.s().addr()
    }

    /// What the connection learned before it was served: its TLS peer, its WebSocket
    /// request, the load balancer it came through.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// if let Some(balancer) = peer.transport().proxied_by() {
    ///     println!("{} through {balancer}", peer.addr());
    /// }
    /// # }
    /// ```
    pub fn transport(&self) -> &crate::transport::TransportInfo {
        self.s().transport()
    }

    /// The TLS session's peer, on a TLS connection (feature `tls`): with mutual TLS, who
    /// the verified client certificate says the peer is.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// let launcher = peer.tls().is_some_and(|t| t.peer_names().iter().any(|n| n.ends_with(".launchers.internal")));
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.s().transport().tls()
    }

    /// The local address of the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// println!("on {}", peer.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.s().local_addr()
    }

    /// The name of the handler the connection belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// println!("handled by {}", peer.handler_name());
    /// # }
    /// ```
    pub fn handler_name(&self) -> &str {
        self.s().handler()
    }

    /// The id of the handler the connection belongs to: compare it with
    /// [`Incoming::id`](crate::Incoming::id) or [`Outgoing::id`](crate::Outgoing::id) to tell
    /// apart the connections of two handlers of one peer kind.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>, tcp: &connhandler::Incoming<P>) {
    /// let over_tcp = peer.handler_id() == tcp.id();
    /// # }
    /// ```
    pub fn handler_id(&self) -> crate::HandlerId {
        self.s().handler_id()
    }

    /// The per-connection data (also reached by `Deref`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// let data: &P = peer.data();
    /// # }
    /// ```
    pub fn data(&self) -> &P {
        self.s().data()
    }

    /// Queues `msg` for the peer, never waiting: call it from the central task.
    ///
    /// When the connection's outgoing queue is full (by count or by bytes: the peer does not
    /// read fast enough), the handler's [`QueuePolicy`](crate::QueuePolicy) applies at
    /// once: by default the peer is disconnected with
    /// [`DisconnectReason::QueueFull`](crate::DisconnectReason::QueueFull), so a peer that
    /// sends and never reads cannot make the central task, which serves everyone, wait.
    /// Tasks other than the central one that would rather wait for room use
    /// [`send_timeout`](PeerHandle::send_timeout).
    ///
    /// `Ok` means queued: it is written unless the connection fails first, in which case the
    /// `Disconnected` event counts it as unsent.
    ///
    /// A reply from the central task to a message that arrived on its own (not in a burst)
    /// may be written to the socket right away, without a trip through the connection's
    /// writer task, when nothing else is queued for the peer; the write does not block, and
    /// what the socket does not take goes to the writer, ahead of later messages.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the connection is closed or closing (or was just closed by
    /// the policy), [`SendError::Full`] when the queue is full under
    /// [`QueuePolicy::Fail`](crate::QueuePolicy::Fail), and [`SendError::Refused`] when the
    /// framing cannot carry the message (an empty one with TcpMessage framing, say); the
    /// connection stays up then. The message is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// if let Err(e) = peer.send(bytes::Bytes::from_static(b"welcome")) {
    ///     eprintln!("not sent: {e}");
    /// }
    /// # }
    /// ```
    pub fn send(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        self.s().send(msg)
    }

    /// Queues `msg` if the outgoing queue has room; hands it back with
    /// [`SendError::Full`] if not, whatever the handler's policy (the peer stays connected).
    ///
    /// # Errors
    ///
    /// As [`send`](PeerHandle::send), and [`SendError::Full`] when the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::SendError;
    /// # fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// match peer.try_send(bytes::Bytes::from_static(b"tick")) {
    ///     Ok(()) => {}
    ///     Err(SendError::Full(_)) => peer.disconnect_with("too slow"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    pub fn try_send(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        self.s().try_send(msg)
    }

    /// Queues `msg`, waiting up to `timeout` for room in the outgoing queue; then the
    /// handler's policy applies as in [`send`](PeerHandle::send). For tasks other than the
    /// central one (a task streaming a file to one peer, say): the central task serves
    /// every peer and must not wait on one.
    ///
    /// # Errors
    ///
    /// As [`send`](PeerHandle::send).
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// use std::time::Duration;
    /// // In a task of its own, never in the central loop.
    /// for chunk in [&b"part 1"[..], b"part 2"] {
    ///     if peer.send_timeout(bytes::Bytes::copy_from_slice(chunk), Duration::from_secs(5)).await.is_err() {
    ///         break;
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn send_timeout(
        &self,
        msg: P::Send,
        timeout: std::time::Duration,
    ) -> Result<(), SendError<P::Send>> {
        self.s().send_timeout(msg, timeout).await
    }

    /// Closes the connection once the messages queued before this call are written; the
    /// `Disconnected` event then says [`DisconnectReason::ClosedLocally`].
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// peer.send(bytes::Bytes::from_static(b"bye")).ok();
    /// peer.disconnect(); // "bye" is written first
    /// # }
    /// ```
    pub fn disconnect(&self) {
        self.s()
            .closing()
            .close_with(DisconnectReason::ClosedLocally { reason: None });
    }

    /// Like [`disconnect`](PeerHandle::disconnect), with a reason the `Disconnected` event
    /// carries.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// peer.disconnect_with("protocol version 3 is not supported");
    /// # }
    /// ```
    pub fn disconnect_with(&self, reason: impl Into<String>) {
        self.s()
            .closing()
            .close_with(DisconnectReason::ClosedLocally {
                reason: Some(reason.into()),
            });
    }

    /// Sends `last` and closes the connection: the peer's last words, so that it can tell its
    /// user why (a ban, a version too old, a full server). `last` is queued behind what is
    /// queued already, even when the queue is full (it is one message more at most: nothing
    /// is taken after it); then, as for [`disconnect_with`](PeerHandle::disconnect_with),
    /// everything queued is written (within `close_timeout`), the write side is shut down,
    /// and the connection lingers until the peer closes (within `close_timeout` again), so
    /// that a reset from unread input cannot destroy the message before the peer reads it.
    /// The `Disconnected` event says [`DisconnectReason::ClosedLocally`] with `reason`.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the connection is closed or closing already (nothing is
    /// sent), [`SendError::Refused`] when the framing cannot carry `last` (the connection
    /// stays up then).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// let _ = peer.close_with(bytes::Bytes::from_static(b"server full, try later"), "server full");
    /// # }
    /// ```
    pub fn close_with(
        &self,
        last: P::Send,
        reason: impl Into<String>,
    ) -> Result<(), SendError<P::Send>> {
        self.s().close_with(
            last,
            DisconnectReason::ClosedLocally {
                reason: Some(reason.into()),
            },
        )
    }

    /// Whether the connection is closed or closing: sends fail from then on.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// peer.disconnect();
    /// assert!(peer.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.s().closing().is_closing() || self.s().closing().is_cancelled()
    }

    /// Waits until the connection is closed or closing.
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// peer.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.s().closing().cancelled().await
    }

    /// How many more messages the outgoing queue takes now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// if peer.queue_room() == 0 { /* the peer is not keeping up */ }
    /// # }
    /// ```
    pub fn queue_room(&self) -> usize {
        self.s().queue_room()
    }

    /// The bytes queued for the peer and not yet taken by the connection's writer.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// println!("{} bytes waiting for {peer}", peer.queued_bytes());
    /// # }
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.s().queued_bytes()
    }

    /// Whether the peer keeps up: false once its queued bytes pass the high watermark, true
    /// again when they fall to the low one (the handler's `write_watermarks`; by default a
    /// half and a quarter of `queue_bytes`). A program that would rather pause than cut a
    /// slow peer stops sending it bulk data while this is false.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// if peer.is_writable() {
    ///     let _ = peer.send(bytes::Bytes::from_static(b"next map chunk"));
    /// }
    /// # }
    /// ```
    pub fn is_writable(&self) -> bool {
        self.s().is_writable()
    }

    /// The version the peer's hello said, once the handler's version handshake accepted
    /// it; `None` without a handshake.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// if let Some(v) = peer.peer_version() {
    ///     println!("{peer} speaks {v}");
    /// }
    /// # }
    /// ```
    pub fn peer_version(&self) -> Option<&crate::talk::Version> {
        self.s().peer_version()
    }

    /// How many requests wait for their replies on this connection (ones given up whose
    /// slot is kept in the by-order mode included).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(peer: connhandler::PeerHandle<P>) {
    /// println!("{} requests in flight to {peer}", peer.pending_requests());
    /// # }
    /// ```
    pub fn pending_requests(&self) -> usize {
        self.s().pending().map_or(0, |p| p.len())
    }
}

impl<P: Peer> PeerHandle<P>
where
    P::Send: crate::talk::Request<P::Recv>,
    P::Recv: crate::talk::Correlated,
{
    /// Sends a request and returns the future of its reply.
    ///
    /// The request is registered and queued before this returns (atomically: requests are
    /// registered in the order they go on the wire), through the send path of
    /// [`send`](PeerHandle::send), so it never waits. The reply (a message its
    /// [`Pairing`](crate::talk::Pairing) accepts, declared with `#[wire(reply = ...)]`) goes
    /// to the returned [`Reply`](crate::talk::Reply), not to the central queue; every other
    /// message still does, in order.
    ///
    /// - **By order** (no correlation field): the peer answers in the order it got the
    ///   requests, as the reference's protocols do. A request that timed out keeps its place
    ///   until its reply comes, which is then dropped: later replies still pair with their
    ///   own requests.
    /// - **By correlation** (the request has a field marked `#[wire(correlation)]`): the
    ///   field is set to an id no other waiting request has, and the reply that carries it
    ///   back answers it, in any order.
    ///
    /// At most the handler's `max_pending` requests (default 64) wait at once per
    /// connection; the reply waits at most its `request_timeout` (default 30 s). When the
    /// connection ends, every waiting request fails with the reason.
    ///
    /// Await the reply in a task of its own, or [`post`](crate::talk::Reply::post) it to
    /// the central queue: the central task must not wait on one peer.
    ///
    /// # Errors
    ///
    /// The future resolves to a [`RequestError`](crate::talk::RequestError): the time-out,
    /// the connection's end, or why the request was not sent (closed, queue full, too many
    /// waiting, not a request, refused by the framing).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{PeerHandle, Peer, Message};
    /// #[derive(Message, Debug)]
    /// enum Answer {
    ///     #[wire(id = 0x81)]
    ///     Score(u32),
    /// }
    /// #[derive(Message)]
    /// enum Ask {
    ///     #[wire(id = 0x01, reply = Answer::Score)]
    ///     GetScore(String),
    /// }
    /// # struct Server; impl Peer for Server { type Recv = Answer; type Send = Ask; const NAME: &'static str = "s"; }
    /// # async fn f(server: PeerHandle<Server>) {
    /// match server.request(Ask::GetScore("ann".into())).await {
    ///     Ok(Answer::Score(points)) => println!("ann has {points}"),
    ///     Err(e) => eprintln!("no score: {e}"),
    /// }
    /// # }
    /// ```
    pub fn request(&self, msg: P::Send) -> crate::talk::Reply<P::Recv> {
        self.s().request(msg)
    }

    /// Sends a request paired by correlation, built around its correlation id: `make` is
    /// given the id (as the field's type) and returns the request, so the request is
    /// written once, without a placeholder for the field that [`request`](Self::request)
    /// would overwrite. Otherwise as `request`. `make` runs while the connection's table of
    /// waiting requests is held: keep it a constructor.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{PeerHandle, Peer, Message};
    /// #[derive(Message, Debug)]
    /// enum Answer {
    ///     #[wire(id = 0x81)]
    ///     Found { #[wire(correlation)] req: u32, score: u32 },
    /// }
    /// #[derive(Message)]
    /// enum Ask {
    ///     #[wire(id = 0x01, reply = Answer::Found)]
    ///     Find { #[wire(correlation)] req: u32, name: String },
    /// }
    /// # struct Server; impl Peer for Server { type Recv = Answer; type Send = Ask; const NAME: &'static str = "s"; }
    /// # async fn f(server: PeerHandle<Server>) {
    /// let reply = server.request_with(|req| Ask::Find { req, name: "ann".into() });
    /// if let Ok(Answer::Found { score, .. }) = reply.await {
    ///     println!("ann has {score}");
    /// }
    /// # }
    /// ```
    pub fn request_with<T: crate::talk::CorrelationField>(
        &self,
        make: impl FnOnce(T) -> P::Send,
    ) -> crate::talk::Reply<P::Recv> {
        self.s().request_with(make)
    }
}
