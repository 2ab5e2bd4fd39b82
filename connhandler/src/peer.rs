//! Peer marker types and the handle of one connection.

use std::{
    collections::VecDeque,
    fmt,
    hash::{Hash, Hasher},
    net::SocketAddr,
    ops::{Deref, RangeInclusive},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Waker},
};

use bytes::{Buf, Bytes, BytesMut};
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::sync::CancellationToken;

use crate::{
    codec::FrameError,
    event::DisconnectReason,
    limits::QueuePolicy,
    message::{Decode, Encode},
    room::Room,
};

/// A kind of connection: the message type it receives, the one it sends, and a name.
///
/// The implementing type is also the per-connection data that every [`PeerHandle`] of this kind
/// carries (reached through `Deref`), built by the handler's `make_peer` hook when the
/// connection is made: a unit struct when there is none. Two kinds are told apart at compile
/// time: a `PeerHandle<LoginServer>` cannot be given a game client's message.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::Peer;
///
/// /// A game client; we remember which protocol version it said it speaks.
/// struct GameClient {
///     version: std::sync::atomic::AtomicU32,
/// }
///
/// impl Peer for GameClient {
///     type Recv = Bytes;
///     type Send = Bytes;
///     const NAME: &'static str = "game-client";
/// }
/// ```
pub trait Peer: Send + Sync + Sized + 'static {
    /// What this kind of connection receives.
    type Recv: Decode + Send + 'static;
    /// What this kind of connection sends.
    type Send: Encode + Send + 'static;
    /// A name for logs and spans; handlers use it unless given another.
    const NAME: &'static str;
}

/// A connection's id: unique for the life of the process, across all handlers.
///
/// # Examples
///
/// ```
/// # fn show<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
/// let id: connhandler::PeerId = peer.id();
/// println!("{id}"); // "#42"
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u64);

impl PeerId {
    pub(crate) fn next() -> PeerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PeerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn show<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// let n: u64 = peer.id().get();
    /// # }
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a connection's writer task takes from its queue.
pub(crate) enum Outgoing<S> {
    /// A message to encode.
    Message(S),
    /// Bytes already framed (a broadcast encoded once), shared by every peer it goes to.
    /// Behind an `Arc` to keep every slot of the per-peer queue small.
    Framed(Arc<Framed>),
}

/// A connection's outgoing queue: items in order behind a lock held only to push or to
/// take them all, and its bound (see [`Room`]), which senders check without the lock.
/// Nothing is allocated until the first item.
pub(crate) struct OutQueue<S> {
    state: Mutex<QueueState<S>>,
    /// Set (under the lock) once the writer stops taking items; read without it.
    closed: AtomicBool,
    room: Room,
}

struct QueueState<S> {
    items: VecDeque<Outgoing<S>>,
    /// The writer, waiting for an item.
    waiter: Option<Waker>,
}

/// Why an item was not queued.
pub(crate) enum NotQueued<S> {
    Full(Outgoing<S>),
    Closed(Outgoing<S>),
}

impl<S> OutQueue<S> {
    pub(crate) fn new(capacity: usize) -> Self {
        OutQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                waiter: None,
            }),
            closed: AtomicBool::new(false),
            room: Room::new(capacity),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends an item whose room was taken.
    fn send(&self, item: Outgoing<S>) -> Result<(), Outgoing<S>> {
        let mut state = self.lock();
        if self.is_closed() {
            drop(state);
            self.room.release(1);
            return Err(item);
        }
        state.items.push_back(item);
        let waiter = state.waiter.take();
        drop(state);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        Ok(())
    }

    /// Queues `item` if there is room.
    pub(crate) fn try_push(&self, item: Outgoing<S>) -> Result<(), NotQueued<S>> {
        if self.is_closed() {
            return Err(NotQueued::Closed(item));
        }
        if !self.room.try_take() {
            return Err(NotQueued::Full(item));
        }
        self.send(item).map_err(NotQueued::Closed)
    }

    /// Queues `item`, waiting for room; hands it back if the queue closes first.
    pub(crate) async fn push(&self, item: Outgoing<S>) -> Result<(), Outgoing<S>> {
        if !self.room.take(|| self.is_closed()).await {
            return Err(item);
        }
        self.send(item)
    }

    /// Queues `item` even when full (the rest of a partly written message, which cannot
    /// wait behind anything).
    pub(crate) fn force_push(&self, item: Outgoing<S>) -> Result<(), Outgoing<S>> {
        self.room.force_take();
        self.send(item)
    }

    /// Items queued and not yet encoded by the writer (those it took count until it
    /// releases them).
    pub(crate) fn len(&self) -> usize {
        self.room.used()
    }

    /// Gives back room for `n` items the writer took.
    pub(crate) fn release(&self, n: usize) {
        self.room.release(n);
    }

    /// The writer's side: the next item, from `taken` (the items it took last time) or, when
    /// that is empty, from all the items queued since, which it takes at once.
    pub(crate) fn try_pop(&self, taken: &mut VecDeque<Outgoing<S>>) -> Option<Outgoing<S>> {
        if let Some(item) = taken.pop_front() {
            return Some(item);
        }
        std::mem::swap(&mut self.lock().items, taken);
        taken.pop_front()
    }

    /// The writer's side: like [`try_pop`](Self::try_pop), or waits for an item; `None` once
    /// the queue is closed and empty.
    pub(crate) fn poll_pop(
        &self,
        taken: &mut VecDeque<Outgoing<S>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Outgoing<S>>> {
        if let Some(item) = taken.pop_front() {
            return Poll::Ready(Some(item));
        }
        let mut state = self.lock();
        std::mem::swap(&mut state.items, taken);
        if let Some(item) = taken.pop_front() {
            return Poll::Ready(Some(item));
        }
        if self.is_closed() {
            return Poll::Ready(None);
        }
        match &mut state.waiter {
            Some(w) if w.will_wake(cx.waker()) => {}
            waiter => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The writer's side: refuses items from now on and wakes senders waiting for room.
    /// Items queued before stay for [`try_pop`](Self::try_pop) or
    /// [`discard`](Self::discard).
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        self.closed.store(true, Ordering::Release);
        state.waiter = None;
        drop(state);
        self.room.wake_all();
    }

    /// The writer's side: drops every item not written, `taken` included; returns how many.
    pub(crate) fn discard(&self, taken: &mut VecDeque<Outgoing<S>>) -> usize {
        let queued = std::mem::take(&mut self.lock().items);
        let n = taken.len() + queued.len();
        taken.clear();
        n
    }

    /// How many more items it takes now.
    pub(crate) fn room(&self) -> usize {
        self.room.free()
    }
}

/// Encodes and frames one message for a connection (its framing, with the type erased).
pub(crate) type EncodeFn<S> = Box<dyn FnMut(&S, &mut BytesMut) -> Result<(), FrameError> + Send>;

/// Writing from the sending task, skipping the writer task: allowed while the writer is
/// idle (nothing buffered, nothing queued). Whoever holds the lock may write to the socket
/// then; the writer takes the lock to leave the idle state, so the two never interleave.
pub(crate) struct Direct<S> {
    /// Whether the writer task is idle, waiting for its queue.
    pub(crate) idle: bool,
    /// The socket; `None` when direct writes are off (a tap is set) or the writer ended.
    pub(crate) write: Option<Arc<OwnedWriteHalf>>,
    pub(crate) encode: EncodeFn<S>,
    pub(crate) buf: BytesMut,
}

/// A broadcast, framed once: the wire bytes, and the body for the tap if one is set.
pub(crate) struct Framed {
    pub(crate) wire: Bytes,
    pub(crate) body: Option<Bytes>,
}

/// The state a connection's handles, reader and writer share.
pub(crate) struct Shared<P: Peer> {
    pub(crate) id: PeerId,
    pub(crate) addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) handler: Arc<str>,
    pub(crate) data: P,
    pub(crate) queue: OutQueue<P::Send>,
    pub(crate) direct: Mutex<Direct<P::Send>>,
    /// Cancelled when the connection is to close, by either side; a child of the handler's.
    pub(crate) close: CancellationToken,
    /// Set when the connection is to close: what `send` checks (a load, where the token's
    /// own check takes a lock). Set by `close_with`, and by the connection's tasks when they
    /// see the handler's token cancelled.
    pub(crate) closing: AtomicBool,
    /// Why it closed: the first reason given wins.
    pub(crate) reason: Mutex<Option<DisconnectReason>>,
    pub(crate) sendable: RangeInclusive<usize>,
    pub(crate) policy: QueuePolicy,
}

impl<P: Peer> Shared<P> {
    /// Records why the connection closes (if no reason was recorded yet) and starts closing.
    pub(crate) fn close_with(&self, reason: DisconnectReason) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.mark_closing();
        self.close.cancel();
    }

    /// Makes sends fail from now on.
    pub(crate) fn mark_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Whether the recorded reason satisfies `f`.
    pub(crate) fn reason_is(&self, f: impl Fn(&DisconnectReason) -> bool) -> bool {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(f)
    }

    pub(crate) fn take_reason(&self) -> Option<DisconnectReason> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

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
/// It derefs to the per-connection data (`P`). Messages queued with [`send`](PeerHandle::send)
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
///                 let _ = peer.send(msg).await; // echo
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
        self.s().id == other.s().id
    }
}

impl<P: Peer> Eq for PeerHandle<P> {}

impl<P: Peer> Hash for PeerHandle<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.s().id.hash(state)
    }
}

impl<P: Peer> fmt::Debug for PeerHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerHandle")
            .field("kind", &P::NAME)
            .field("handler", &&*self.s().handler)
            .field("id", &self.s().id)
            .field("addr", &self.s().addr)
            .finish()
    }
}

impl<P: Peer> fmt::Display for PeerHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", P::NAME, self.s().id, self.s().addr)
    }
}

impl<P: Peer> Deref for PeerHandle<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.s().data
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
        self.s().id
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
        self.s().addr
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
        self.s().local_addr
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
        &self.s().handler
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
        &self.s().data
    }

    /// Queues `msg`, waiting while the connection's outgoing queue is full (under the default
    /// [`QueuePolicy::Wait`]; see the handler's `queue_policy` for the others).
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
    /// [`SendError::Closed`] when the connection is closed or closing, and
    /// [`SendError::Refused`] when the framing cannot carry the message (an empty one with
    /// TcpMessage framing, say); the connection stays up then. The message is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// if let Err(e) = peer.send(bytes::Bytes::from_static(b"welcome")).await {
    ///     eprintln!("not sent: {e}");
    /// }
    /// # }
    /// ```
    pub async fn send(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        if self.s().policy != QueuePolicy::Wait {
            return self.try_send(msg);
        }
        let msg = self.check(msg)?;
        let Some(msg) = self.try_direct(msg) else {
            return Ok(());
        };
        self.s()
            .queue
            .push(Outgoing::Message(msg))
            .await
            .map_err(|o| SendError::Closed(unwrap_message(o)))
    }

    /// Queues `msg` if the outgoing queue has room, without waiting.
    ///
    /// # Errors
    ///
    /// As [`send`](PeerHandle::send), and [`SendError::Full`] when the queue is full (under
    /// [`QueuePolicy::Disconnect`] the peer is disconnected then, and the error is
    /// [`SendError::Closed`]).
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
        let msg = self.check(msg)?;
        let Some(msg) = self.try_direct(msg) else {
            return Ok(());
        };
        self.s()
            .queue
            .try_push(Outgoing::Message(msg))
            .map_err(|e| match e {
                NotQueued::Full(o) => self.on_full(unwrap_message(o)),
                NotQueued::Closed(o) => SendError::Closed(unwrap_message(o)),
            })
    }

    /// Writes `msg` to the socket from this task if the writer task is idle and the socket
    /// takes the whole message now: one task hop fewer for a reply. Hands the message back
    /// when it is to be queued instead. A partial write queues the rest of the bytes, ahead of
    /// anything else, for the writer.
    fn try_direct(&self, msg: P::Send) -> Option<P::Send> {
        if !crate::central::reply_now() {
            return Some(msg);
        }
        let s = self.s();
        let mut guard = s.direct.lock().unwrap_or_else(|p| p.into_inner());
        let d = &mut *guard;
        if !d.idle || s.queue.len() != 0 {
            return Some(msg);
        }
        let Some(write) = d.write.as_deref() else {
            return Some(msg);
        };
        d.buf.clear();
        if (d.encode)(&msg, &mut d.buf).is_err() {
            // The writer meets the same error and reports it.
            return Some(msg);
        }
        let written = match write.try_write(&d.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            // The writer meets the same error and reports it.
            Err(_) => return Some(msg),
        };
        if written == d.buf.len() {
            if d.buf.capacity() > 4096 {
                d.buf = BytesMut::new();
            }
            return None;
        }
        if written == 0 {
            return Some(msg);
        }
        // Part of it went out: the rest must go next. The queue is empty and open (the
        // writer closes it only after leaving the idle state, which needs this lock).
        d.buf.advance(written);
        let rest = d.buf.split().freeze();
        let rest = Outgoing::Framed(Arc::new(Framed {
            wire: rest,
            body: None,
        }));
        if s.queue.force_push(rest).is_err() {
            tracing::error!("the rest of a partly written message could not be queued");
            s.close_with(DisconnectReason::Io(std::io::ErrorKind::BrokenPipe.into()));
        }
        None
    }

    /// Applies the queue policy to a message that found the queue full.
    fn on_full(&self, msg: P::Send) -> SendError<P::Send> {
        if self.s().policy == QueuePolicy::Disconnect {
            self.s().close_with(DisconnectReason::QueueFull);
            SendError::Closed(msg)
        } else {
            SendError::Full(msg)
        }
    }

    /// Queues bytes already framed for this connection (a broadcast encoded once); applies
    /// the queue policy when the queue is full.
    pub(crate) fn try_send_framed(&self, framed: &Arc<Framed>) -> bool {
        if self.s().is_closing() {
            return false;
        }
        match self.s().queue.try_push(Outgoing::Framed(framed.clone())) {
            Ok(()) => true,
            Err(NotQueued::Full(_)) => {
                if self.s().policy == QueuePolicy::Disconnect {
                    self.s().close_with(DisconnectReason::QueueFull);
                }
                false
            }
            Err(NotQueued::Closed(_)) => false,
        }
    }

    fn check(&self, msg: P::Send) -> Result<P::Send, SendError<P::Send>> {
        if self.s().is_closing() {
            return Err(SendError::Closed(msg));
        }
        let len = msg.encoded_len();
        if !self.s().sendable.contains(&len) {
            let err = if len == 0 {
                FrameError::EmptyMessage
            } else {
                FrameError::MessageTooLong {
                    len,
                    max: *self.s().sendable.end(),
                }
            };
            return Err(SendError::Refused(msg, err));
        }
        if let Err(e) = msg.encodable() {
            return Err(SendError::Refused(msg, FrameError::LengthOverflow(e)));
        }
        Ok(msg)
    }

    /// Closes the connection once the messages queued before this call are written; the
    /// `Disconnected` event then says [`DisconnectReason::ClosedLocally`].
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f(peer: connhandler::PeerHandle<impl connhandler::Peer<Send = bytes::Bytes>>) {
    /// peer.send(bytes::Bytes::from_static(b"bye")).await.ok();
    /// peer.disconnect(); // "bye" is written first
    /// # }
    /// ```
    pub fn disconnect(&self) {
        self.s()
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
        self.s().close_with(DisconnectReason::ClosedLocally {
            reason: Some(reason.into()),
        });
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
        self.s().is_closing() || self.s().close.is_cancelled()
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
        self.s().close.cancelled().await
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
        self.s().queue.room()
    }
}

fn unwrap_message<S>(o: Outgoing<S>) -> S {
    match o {
        Outgoing::Message(m) => m,
        // Only messages go through `send` and `try_send`.
        Outgoing::Framed(_) => unreachable!("a framed item where a message was sent"),
    }
}

/// Why a message was not queued; the message is handed back.
///
/// # Examples
///
/// ```
/// use connhandler::SendError;
///
/// let err: SendError<&str> = SendError::Full("hi");
/// assert_eq!(err.to_string(), "the peer's outgoing queue is full");
/// assert_eq!(err.into_inner(), "hi");
/// ```
#[non_exhaustive]
pub enum SendError<T> {
    /// The outgoing queue is full (only from `try_send`).
    Full(T),
    /// The connection is closed or closing.
    Closed(T),
    /// The framing cannot carry this message; the connection stays up.
    Refused(T, FrameError),
}

impl<T> SendError<T> {
    /// The message that was not queued.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::SendError::Closed(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Full(t) | SendError::Closed(t) | SendError::Refused(t, _) => t,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("Full(..)"),
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Refused(_, e) => write!(f, "Refused(.., {e:?})"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("the peer's outgoing queue is full"),
            SendError::Closed(_) => f.write_str("the connection is closed"),
            SendError::Refused(_, e) => write!(f, "message refused by the framing: {e}"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Refused(_, e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::atomic::{AtomicUsize, Ordering},
        sync::Arc,
        task::{Context, Poll, Wake, Waker},
    };

    use super::{NotQueued, OutQueue, Outgoing};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn value(item: Option<Outgoing<u32>>) -> Option<u32> {
        match item {
            Some(Outgoing::Message(v)) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn items_come_out_in_order_and_the_bound_holds() {
        let queue = OutQueue::new(3);
        let mut taken = VecDeque::new();
        for v in 0..3 {
            assert!(queue.try_push(Outgoing::Message(v)).is_ok());
        }
        assert!(matches!(
            queue.try_push(Outgoing::Message(9)),
            Err(NotQueued::Full(_))
        ));
        // The writer takes all three at once; room comes back only when it says so.
        assert_eq!(value(queue.try_pop(&mut taken)), Some(0));
        assert_eq!(taken.len(), 2);
        assert_eq!(queue.len(), 3);
        queue.release(1);
        assert!(queue.try_push(Outgoing::Message(3)).is_ok());
        let rest: Vec<_> = std::iter::from_fn(|| value(queue.try_pop(&mut taken))).collect();
        assert_eq!(rest, [1, 2, 3]);
    }

    #[test]
    fn a_waiting_writer_is_woken_and_a_closed_queue_refuses() {
        let queue = OutQueue::new(8);
        let mut taken = VecDeque::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(queue.poll_pop(&mut taken, &mut cx).is_pending());
        assert!(queue.try_push(Outgoing::Message(1)).is_ok());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(queue.try_push(Outgoing::Message(2)).is_ok());
        assert!(queue.try_push(Outgoing::Message(3)).is_ok());
        assert!(matches!(
            queue.poll_pop(&mut taken, &mut cx),
            Poll::Ready(Some(Outgoing::Message(1)))
        ));
        // Closed: new items are refused, those queued before stay to be counted.
        queue.close();
        assert!(matches!(
            queue.try_push(Outgoing::Message(4)),
            Err(NotQueued::Closed(_))
        ));
        assert!(queue.force_push(Outgoing::Message(5)).is_err());
        assert_eq!(queue.discard(&mut taken), 2);
        assert!(matches!(
            queue.poll_pop(&mut taken, &mut cx),
            Poll::Ready(None)
        ));
    }
}
