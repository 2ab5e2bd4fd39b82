//! The state a connection's handles, reader and writer share: who the connection is, its
//! per-connection data, its outgoing queue, the direct-write state and its close. Fields are
//! private; each part is a room of its own (`queue.rs`, `send.rs`, `close.rs`) reached
//! through the methods here.

use std::{
    net::SocketAddr,
    ops::RangeInclusive,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
};

use super::{
    close::Closing,
    direct::DirectWrite,
    framer::Framer,
    queue::{Bounds, OutQueue},
};
use crate::{
    limits::QueuePolicy,
    peer::{Peer, PeerId},
    talk::{Pending, Talk, Version},
    tap::{Direction, Tap},
    transport::TransportInfo,
};

/// Who a connection is: what handles print and the tap reports.
pub(crate) struct Identity {
    pub(crate) id: PeerId,
    pub(crate) addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) handler: Arc<str>,
    pub(crate) handler_id: crate::peer::HandlerId,
    /// What the connection learned at its door (TLS, WebSocket, PROXY header).
    pub(crate) transport: TransportInfo,
}

/// The shared state of one connection.
pub(crate) struct Shared<P: Peer> {
    who: Identity,
    data: P,
    queue: OutQueue<P::Send>,
    direct: DirectWrite<P::Send>,
    closing: Closing,
    /// Message lengths the framing can carry: checked before anything is queued.
    sendable: RangeInclusive<usize>,
    policy: QueuePolicy,
    /// The handler's framing, shared by its connections, for broadcasts.
    framer: Arc<Framer<P::Send>>,
    /// The handler's conversation settings and the protocol's hooks.
    talk: Arc<Talk<P>>,
    /// Requests waiting for replies: made by the first request (most connections make
    /// none, and pay one pointer).
    pending: OnceLock<Box<Pending<P::Recv>>>,
    /// The runtime the connection runs on (its request timer's, if it makes requests).
    runtime: Option<tokio::runtime::Handle>,
    /// The version the peer's hello said, once accepted.
    version: OnceLock<Version>,
    /// Bytes of the read budget the connection's unfinished frame holds (its reader sets
    /// it; other readers short of budget look for the largest holder).
    unfinished: AtomicUsize,
}

/// How a connection sends: its queue's bounds and policy, and what the framing carries.
pub(crate) struct SendSettings {
    pub(crate) bounds: Bounds,
    pub(crate) policy: QueuePolicy,
    pub(crate) sendable: RangeInclusive<usize>,
}

impl<P: Peer> Shared<P> {
    pub(crate) fn new(
        who: Identity,
        data: P,
        send: SendSettings,
        direct: DirectWrite<P::Send>,
        closing: Closing,
        framer: Arc<Framer<P::Send>>,
        talk: Arc<Talk<P>>,
    ) -> Self {
        Shared {
            who,
            data,
            queue: OutQueue::new(send.bounds),
            direct,
            closing,
            sendable: send.sendable,
            policy: send.policy,
            framer,
            talk,
            pending: OnceLock::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            version: OnceLock::new(),
            unfinished: AtomicUsize::new(0),
        }
    }

    pub(crate) fn id(&self) -> PeerId {
        self.who.id
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.who.addr
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.who.local_addr
    }

    pub(crate) fn handler(&self) -> &str {
        &self.who.handler
    }

    pub(crate) fn handler_id(&self) -> crate::peer::HandlerId {
        self.who.handler_id
    }

    pub(crate) fn transport(&self) -> &TransportInfo {
        &self.who.transport
    }

    pub(crate) fn data(&self) -> &P {
        &self.data
    }

    /// The connection's close: its flag, token and reason.
    pub(crate) fn closing(&self) -> &Closing {
        &self.closing
    }

    /// The outgoing queue (the writer's side and the send path use it).
    pub(super) fn queue(&self) -> &OutQueue<P::Send> {
        &self.queue
    }

    /// The direct-write state (the writer's side and the send path use it).
    pub(super) fn direct(&self) -> &DirectWrite<P::Send> {
        &self.direct
    }

    pub(super) fn sendable(&self) -> &RangeInclusive<usize> {
        &self.sendable
    }

    pub(super) fn policy(&self) -> QueuePolicy {
        self.policy
    }

    /// The handler's framer: connections that share it share a broadcast's bytes.
    pub(crate) fn framer(&self) -> &Arc<Framer<P::Send>> {
        &self.framer
    }

    /// The handler's conversation settings and hooks.
    pub(crate) fn talk(&self) -> &Talk<P> {
        &self.talk
    }

    /// The requests waiting for replies, if any request was made.
    pub(crate) fn pending(&self) -> Option<&Pending<P::Recv>> {
        self.pending.get().map(|p| &**p)
    }

    /// The requests waiting for replies, made at the first request with the peer kind's
    /// way of reading a reply's correlation id.
    pub(crate) fn pending_or_new(
        &self,
        correlation: fn(&P::Recv) -> Option<u64>,
    ) -> &Pending<P::Recv> {
        self.pending.get_or_init(|| {
            Box::new(Pending::new(
                self.talk.max_pending,
                correlation,
                self.runtime.as_ref(),
            ))
        })
    }

    /// The version the peer's hello said, once accepted.
    pub(crate) fn peer_version(&self) -> Option<&Version> {
        self.version.get()
    }

    pub(crate) fn set_peer_version(&self, version: Version) {
        let _ = self.version.set(version);
    }

    /// Bytes of the read budget the connection's unfinished frame holds.
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Relaxed)
    }

    pub(crate) fn set_unfinished(&self, bytes: usize) {
        self.unfinished.store(bytes, Ordering::Relaxed);
    }

    /// How many more messages the outgoing queue takes now.
    pub(crate) fn queue_room(&self) -> usize {
        self.queue.room()
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    pub(crate) fn is_writable(&self) -> bool {
        self.queue.is_writable()
    }

    /// Queues bytes the framing owes the peer (a WebSocket pong), if the queue has room: a
    /// peer that pings and never reads gets no more than its queue holds.
    pub(super) fn queue_reply(&self, wire: bytes::Bytes) {
        let len = wire.len();
        let framed = Arc::new(super::queue::Framed { wire, body: None });
        let _ = self
            .queue
            .try_push(super::queue::Outgoing::Framed(framed), len);
    }

    /// Reports a message body to the tap.
    pub(super) fn tap(&self, tap: &Tap, direction: Direction, body: &[u8]) {
        tap.call(
            &self.who.handler,
            self.who.id,
            self.who.addr,
            direction,
            body,
        );
    }
}
