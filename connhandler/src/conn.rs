//! The tasks of one connection: a reader, which also supervises the connection, and a writer.
//!
//! Lifecycle, whoever starts the close:
//!
//! | step | reader (supervisor) | writer |
//! | --- | --- | --- |
//! | open | pushes `Connected`, then reads | writes what is queued, in batches |
//! | close starts | the peer ends the stream or breaks the framing or a message (the reader records why), the program calls `disconnect`, the handler shuts down, or a write fails (the writer records why): the connection's token is cancelled | |
//! | closing | stops handing on messages, waits for the writer | stops taking new messages, writes those already queued (within `close_timeout`), sends FIN |
//! | linger | after a local close, reads and discards until the peer closes (within `close_timeout`), so unread input cannot reset the connection before the peer has read our last messages | |
//! | closed | leaves the handler's registry, pushes `Disconnected` with the reason and the count of queued messages not written | |

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    io,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{atomic::AtomicBool, Arc, Mutex},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::{
    io::AsyncWriteExt,
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
    sync::OwnedSemaphorePermit,
    task::JoinHandle,
    time::Instant,
};
use tokio_util::{
    io::poll_read_buf,
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::TaskTracker,
};
use tracing::Instrument;

use crate::{
    central::CentralSender,
    codec::Framing,
    event::{Disconnect, DisconnectReason, Event, Timeout},
    limits::{Limited, Limiter, PerIp, QueuePolicy, RateLimit},
    message::{Decode, Encode},
    peer::{Direct, OutQueue, Outgoing, Peer, PeerHandle, PeerId, Shared},
    tap::{Direction, Tap},
};

/// Room made for a read, unless the last messages ask for more (see `MAX_READ`).
const READ_CHUNK: usize = 8 * 1024;
/// Room made for the first read after a pause.
const FIRST_READ: usize = 1024;
/// Room made for one read at most.
const MAX_READ: usize = 256 * 1024;
/// Gather queued messages into one write up to this many bytes.
const MAX_BATCH: usize = 64 * 1024;
/// A reader hands on at most this many messages at once.
const MAX_HANDED_AT_ONCE: usize = 256;
/// An idle writer keeps a buffer at most this large.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;
/// An idle writer keeps room for at most this many queued items.
const KEEP_QUEUE_SLOTS: usize = 32;

/// Per-connection settings, shared by the incoming and outgoing handler builders.
#[derive(Clone)]
pub(crate) struct ConnSettings {
    pub(crate) queue_capacity: usize,
    pub(crate) close_timeout: Duration,
    pub(crate) nodelay: bool,
    pub(crate) tap: Option<Tap>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) frame_timeout: Option<Duration>,
    pub(crate) queue_policy: QueuePolicy,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl Default for ConnSettings {
    fn default() -> Self {
        ConnSettings {
            queue_capacity: 256,
            close_timeout: Duration::from_secs(5),
            nodelay: true,
            tap: None,
            idle_timeout: None,
            frame_timeout: None,
            queue_policy: QueuePolicy::Wait,
            rate_limit: None,
        }
    }
}

/// The connections of one handler, for broadcast, listing and shutdown.
pub(crate) struct Registry<P: Peer> {
    peers: Mutex<HashMap<PeerId, PeerHandle<P>>>,
}

impl<P: Peer> Registry<P> {
    pub(crate) fn new() -> Self {
        Registry {
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerHandle<P>>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Vec<PeerHandle<P>> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&PeerHandle<P>)) {
        for peer in self.lock().values() {
            f(peer);
        }
    }

    /// Closes every connection of the handler whose token is `token`: marks each connection
    /// closing (the flag readers and senders check without a lock), then cancels the token,
    /// holding the registry meanwhile. So a connection's flag is always set before its token
    /// is cancelled (what [`CloseWait`] relies on): one registered after this finds its token
    /// cancelled and marks itself before its tasks start (see `spawn`).
    pub(crate) fn close_all(&self, token: &CancellationToken) {
        let peers = self.lock();
        for peer in peers.values() {
            peer.s().mark_closing();
        }
        token.cancel();
    }
}

/// Everything a new connection needs from its handler.
pub(crate) struct ConnCtx<'a, P: Peer, F, E> {
    pub(crate) handler: &'a Arc<str>,
    pub(crate) settings: &'a Arc<ConnSettings>,
    pub(crate) framing: &'a F,
    pub(crate) parent: &'a CancellationToken,
    pub(crate) central: &'a CentralSender<E>,
    pub(crate) tracker: &'a TaskTracker,
    pub(crate) registry: &'a Arc<Registry<P>>,
    pub(crate) per_ip: Option<&'a PerIp>,
}

/// Calls the user's hook that builds the per-connection data, turning a panic into `None`.
pub(crate) fn make_peer<P>(
    hook: &(dyn Fn(SocketAddr) -> P + Send + Sync),
    addr: SocketAddr,
) -> Option<P> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| hook(addr))) {
        Ok(p) => Some(p),
        Err(_) => {
            tracing::error!(%addr, "the make_peer hook panicked; connection refused");
            None
        }
    }
}

/// Starts the reader and writer tasks of a new connection. The returned task ends once
/// `Disconnected` has been pushed, with the connection's final reason being local or not.
pub(crate) fn spawn<P, F, E>(
    ctx: ConnCtx<'_, P, F, E>,
    stream: TcpStream,
    addr: SocketAddr,
    data: P,
    slot: Option<OwnedSemaphorePermit>,
) -> (PeerHandle<P>, JoinHandle<bool>)
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    if let Err(e) = stream.set_nodelay(ctx.settings.nodelay) {
        tracing::debug!(%addr, "set_nodelay failed: {e}");
    }
    let local_addr = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut framing = ctx.framing.clone();
    framing.set_frame_status(<P::Recv as Decode>::frame_status);
    let sendable = framing.sendable_lengths();
    let queue = OutQueue::new(ctx.settings.queue_capacity);
    let (read, write) = stream.into_split();
    let write = Arc::new(write);
    let mut encoder = framing.clone();
    let direct = Direct {
        idle: false,
        // With a tap, everything goes through the writer, which reports it.
        write: ctx.settings.tap.is_none().then(|| write.clone()),
        encode: Box::new(move |msg: &P::Send, dst: &mut BytesMut| encoder.encode_message(msg, dst)),
        buf: BytesMut::new(),
    };
    let shared = Arc::new(Shared {
        id: PeerId::next(),
        addr,
        local_addr,
        handler: ctx.handler.clone(),
        data,
        queue,
        direct: Mutex::new(direct),
        close: ctx.parent.child_token(),
        closing: AtomicBool::new(false),
        reason: Mutex::new(None),
        sendable,
        policy: ctx.settings.queue_policy,
    });
    let handle = PeerHandle::new(shared.clone());
    ctx.registry.lock().insert(shared.id, handle.clone());
    if shared.close.is_cancelled() {
        // The handler closed before this connection was registered (`Registry::close_all`).
        shared.mark_closing();
    }

    let span = tracing::info_span!(
        "connection",
        handler = %ctx.handler,
        peer = %shared.id,
        addr = %addr,
    );
    let writer = Writer {
        shared: shared.clone(),
        taken: VecDeque::new(),
        write,
        framing: framing.clone(),
        settings: ctx.settings.clone(),
    };
    let writer = ctx.tracker.spawn(writer.run().instrument(span.clone()));
    let limiter = Limiter::new(ctx.settings.rate_limit.as_ref(), ctx.per_ip, addr.ip());
    let reader = Reader {
        shared,
        framing,
        limiter,
        central: ctx.central.clone(),
        settings: ctx.settings.clone(),
        registry: ctx.registry.clone(),
        batch: Vec::new(),
        credit: 0,
        _slot: slot,
    };
    let done = ctx.tracker.spawn(reader.run(read, writer).instrument(span));
    (handle, done)
}

struct Reader<P: Peer, F, E> {
    shared: Arc<Shared<P>>,
    framing: F,
    limiter: Limiter,
    central: CentralSender<E>,
    settings: Arc<ConnSettings>,
    registry: Arc<Registry<P>>,
    /// Messages decoded and given room in the central queue, not yet handed on.
    batch: Vec<E>,
    /// Room taken in the central queue and not used yet (given back at each flush).
    credit: usize,
    /// The handler's connection slot, held for the life of the connection.
    _slot: Option<OwnedSemaphorePermit>,
}

/// What handing one frame on came to.
enum Handed {
    Ok,
    Stop(Option<DisconnectReason>),
}

/// What handing one frame on came to without waiting.
enum Now<E> {
    Done(Handed),
    /// Decoded, but the central queue has no room for it yet.
    Full(E),
}

impl<P, F, E> Reader<P, F, E>
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    async fn run(mut self, mut read: OwnedReadHalf, writer: JoinHandle<usize>) -> bool {
        let handle = PeerHandle::new(self.shared.clone());
        tracing::debug!("connected");
        let ended = if self
            .central
            .push_unbounded(Event::Connected(handle.clone()).into())
            .is_err()
        {
            Some(DisconnectReason::Shutdown)
        } else {
            self.read_loop(&mut read, &handle).await
        };
        // Messages decoded before the end go before `Disconnected`.
        let _ = self.flush();
        match ended {
            Some(reason) => self.shared.close_with(reason),
            None => self.shared.mark_closing(),
        }
        let unsent = writer.await.unwrap_or_else(|e| {
            tracing::error!("writer task failed: {e}");
            0
        });
        let local = self
            .shared
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(DisconnectReason::is_local);
        if local {
            linger(&mut read, self.settings.close_timeout).await;
        }
        drop(read);
        self.registry.lock().remove(&self.shared.id);
        let reason = self
            .shared
            .take_reason()
            .unwrap_or(DisconnectReason::Shutdown);
        let local = reason.is_local();
        tracing::debug!(%reason, unsent, "disconnected");
        let _ = self
            .central
            .push_unbounded(Event::Disconnected(handle, Disconnect { reason, unsent }).into());
        !local
    }

    /// Reads and hands on messages until the connection is to close; returns why, or `None`
    /// when it was closed from our side.
    async fn read_loop(
        &mut self,
        read: &mut OwnedReadHalf,
        handle: &PeerHandle<P>,
    ) -> Option<DisconnectReason> {
        let mut buf = BytesMut::new();
        let idle_timeout = self.settings.idle_timeout;
        let frame_timeout = self.settings.frame_timeout;
        let mut last_read = Instant::now();
        let mut frame_started: Option<Instant> = None;
        // Room made for each read: a few of the last messages, so that long messages are read
        // (and handed on) a few at a time; small ones in reads of READ_CHUNK.
        let mut read_size = READ_CHUNK;
        // Whether the last read found nothing, and which buffer is the small one of the first
        // read after a pause.
        let mut paused = false;
        let mut small = SmallBuffer::NONE;
        // Whether the last read filled the room it had: then more is likely waiting.
        let mut filled = false;
        let shared = self.shared.clone();
        let token = shared.close.clone().cancelled_owned();
        tokio::pin!(token);
        let mut closed = CloseWait::new(&shared, token);
        loop {
            // Checked once per read: an atomic flag, set before the token is cancelled.
            if self.shared.is_closing() {
                return None;
            }
            let mut longest = 0;
            loop {
                match self.framing.decode_frame(&mut buf) {
                    Ok(Some(frame)) => {
                        longest = longest.max(frame.len());
                        // `hand_on`, written out: the common case builds no future.
                        let handed = match self.hand_on_now(frame, handle) {
                            Now::Done(handed) => handed,
                            Now::Full(event) => self.wait_for_room(event).await,
                        };
                        if let Handed::Stop(reason) = handed {
                            return reason;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Some(DisconnectReason::from_frame_error(e)),
                }
            }
            if longest > 0 {
                read_size = (longest * 4).clamp(READ_CHUNK, MAX_READ);
            }
            // Everything decoded from what was read goes to the central task in one go.
            if self.flush().is_err() {
                return Some(DisconnectReason::Shutdown);
            }
            if frame_timeout.is_some() {
                if buf.is_empty() && !self.framing.is_mid_frame() {
                    frame_started = None;
                } else if frame_started.is_none() {
                    frame_started = Some(Instant::now());
                }
            }
            if paused && buf.is_empty() && small.is(&buf) {
                // The first read after a pause, into the small buffer kept through it: used
                // again in place once the messages read into it are gone.
                if !buf.try_reclaim(FIRST_READ) {
                    buf = BytesMut::with_capacity(FIRST_READ);
                    small = SmallBuffer::of(&buf);
                }
            } else if buf.capacity() == 0 {
                // The first read after a pause: most often one small message (a request),
                // which a small buffer holds (and the allocator serves fastest).
                buf.reserve(FIRST_READ);
                small = SmallBuffer::of(&buf);
            } else if buf.capacity() == buf.len()
                || (filled && buf.capacity() - buf.len() < read_size / 4)
            {
                // More is coming than the room left holds. (After a read that left room, the
                // next most often finds nothing: no need to make room for it.)
                buf.reserve(read_size);
            }
            paused = false;
            // Reads stop where the framing asks, so that it need not move what it has read.
            let limit = self.framing.read_limit(&buf);
            let room = limit.unwrap_or(usize::MAX).min(buf.capacity() - buf.len());
            let got = read_now(read, &mut buf, limit).await;
            filled = matches!(got, Ok(n) if n >= room);
            match got {
                Ok(0) => loop {
                    match self.framing.decode_frame_eof(&mut buf) {
                        Ok(Some(frame)) => {
                            if let Handed::Stop(reason) = self.hand_on(frame, handle).await {
                                return reason;
                            }
                        }
                        Ok(None) => return Some(DisconnectReason::ClosedByPeer),
                        Err(e) => return Some(DisconnectReason::from_frame_error(e)),
                    }
                },
                Ok(n) => {
                    if idle_timeout.is_some() {
                        last_read = Instant::now();
                    }
                    if self.limiter.is_active() {
                        if let Err(per_ip) = self.limiter.take(Limited::Bytes, n as u64) {
                            return Some(DisconnectReason::RateLimited {
                                what: Limited::Bytes,
                                per_ip,
                            });
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    paused = true;
                    if buf.is_empty() && !(small.is(&buf) && buf.capacity() < FIRST_READ) {
                        // Idle: hold no buffer while waiting, except the small one that
                        // messages were read into. Those messages are most often still on
                        // their way through the central task; if this handle went, the
                        // last of them would free the buffer on another thread (where the
                        // allocator takes a lock that this thread's next allocation
                        // contends for), and the next read would allocate again. Kept, it
                        // is used again in place: at most FIRST_READ held by a quiet
                        // connection.
                        buf = BytesMut::new();
                    }
                    // A message whose end only a pause can tell (see `Framing::end_pending`).
                    let pending = self.framing.pending_end_after();
                    let pause = async {
                        match pending {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => std::future::pending().await,
                        }
                    };
                    // The earliest time-out, if any is set.
                    let idle = idle_timeout.map(|t| (last_read + t, Timeout::Idle(t)));
                    let frame = frame_timeout
                        .zip(frame_started)
                        .map(|(t, started)| (started + t, Timeout::Frame(t)));
                    let deadline = match (idle, frame) {
                        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                        (a, b) => a.or(b),
                    };
                    let timer = async {
                        match deadline {
                            Some((at, _)) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        _ = &mut closed => return None,
                        _ = timer => {
                            if let Some((_, which)) = deadline {
                                return Some(DisconnectReason::TimedOut(which));
                            }
                        }
                        ready = read.readable() => {
                            if let Err(e) = ready {
                                return Some(DisconnectReason::Io(e));
                            }
                        }
                        _ = pause => {
                            if let Some(frame) = self.framing.end_pending(&mut buf) {
                                if let Handed::Stop(reason) = self.hand_on(frame, handle).await {
                                    return reason;
                                }
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(DisconnectReason::Io(e)),
            }
        }
    }

    /// Decodes a frame and adds its message to the batch for the central queue; waits only
    /// when the queue is full. The common case does not await at all, so it builds no
    /// future: `hand_on_now` is a plain function.
    async fn hand_on(&mut self, frame: Bytes, handle: &PeerHandle<P>) -> Handed {
        match self.hand_on_now(frame, handle) {
            Now::Done(handed) => handed,
            Now::Full(event) => self.wait_for_room(event).await,
        }
    }

    fn hand_on_now(&mut self, frame: Bytes, handle: &PeerHandle<P>) -> Now<E> {
        if let Some(tap) = &self.settings.tap {
            tap.call(&self.shared, Direction::In, &frame);
        }
        if self.limiter.is_active() {
            if let Err(per_ip) = self.limiter.take(Limited::Messages, 1) {
                return Now::Done(Handed::Stop(Some(DisconnectReason::RateLimited {
                    what: Limited::Messages,
                    per_ip,
                })));
            }
        }
        let msg = match <P::Recv as Decode>::decode(frame) {
            Ok(msg) => msg,
            Err(e) => return Now::Done(Handed::Stop(Some(DisconnectReason::Decode(e)))),
        };
        let event = Event::Message(handle.clone(), msg).into();
        if self.credit == 0 {
            self.credit = self.central.try_reserve_up_to(32);
        }
        if self.credit == 0 {
            return Now::Full(event);
        }
        self.credit -= 1;
        Now::Done(self.push(event))
    }

    /// The queue is full: hands on what was collected, then waits for room (reading pauses
    /// meanwhile, so TCP pushes back on the peer).
    #[cold]
    async fn wait_for_room(&mut self, event: E) -> Handed {
        if self.flush().is_err() {
            return Handed::Stop(Some(DisconnectReason::Shutdown));
        }
        let room = tokio::select! {
            biased;
            room = self.central.reserve() => room,
            _ = self.shared.close.cancelled() => return Handed::Stop(None),
        };
        if !room {
            return Handed::Stop(Some(DisconnectReason::Shutdown));
        }
        self.push(event)
    }

    fn push(&mut self, event: E) -> Handed {
        self.batch.push(event);
        if self.batch.len() >= MAX_HANDED_AT_ONCE && self.flush().is_err() {
            return Handed::Stop(Some(DisconnectReason::Shutdown));
        }
        Handed::Ok
    }

    /// Hands the collected messages to the central queue, and gives back unused room.
    fn flush(&mut self) -> Result<(), ()> {
        self.central.unreserve(std::mem::take(&mut self.credit));
        if self.batch.len() <= 1 {
            // One message (a request awaiting its reply, typically): no batch to allocate.
            return match self.batch.pop() {
                Some(event) => self.central.push_one(event),
                None => Ok(()),
            };
        }
        let batch = std::mem::replace(&mut self.batch, self.central.batch_vec());
        self.central.push_batch(batch)
    }
}

/// Writes some of `buf` when the socket can take it; how many bytes (0 only for an empty
/// `buf`). A socket that takes nothing is an error (`WriteZero`).
async fn write_some(write: &OwnedWriteHalf, buf: &mut BytesMut) -> io::Result<usize> {
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

/// After a close from our side: reads and discards until the peer closes, at most `limit`.
async fn linger(read: &mut OwnedReadHalf, limit: Duration) {
    let discard = async {
        let mut sink = [0u8; 1024];
        loop {
            match tokio::io::AsyncReadExt::read(read, &mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(limit, discard).await;
}

/// Reads what is there now into `buf` (at most `limit` bytes), or fails with `WouldBlock`.
///
/// Through `poll_read` rather than `try_read`: a read that does not fill the room it was
/// given tells tokio the socket is drained, so the next read waits for readiness instead of
/// making a system call only to learn there is nothing yet.
async fn read_now(
    read: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    limit: Option<usize>,
) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let read = Pin::new(&mut *read);
        let polled = match limit {
            None => poll_read_buf(read, cx, buf),
            Some(n) => poll_read_buf(read, cx, &mut (&mut *buf).limit(n)),
        };
        // Pending registered this task for readiness; the caller waits for it.
        Poll::Ready(match polled {
            Poll::Ready(got) => got,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        })
    })
    .await
}

/// What the reader and writer wait on, beside their work, to learn that the connection is
/// to close: the connection's token, polled only when it must be. The token registers the
/// task's waker once (polling it again takes the token's lock, which the connection's other
/// task takes too); after that it is polled again only for another waker. Woken, the task
/// finds the closing flag set: the flag is always set before the token is cancelled
/// (`Shared::close_with`, `Registry::close_all`).
struct CloseWait<'a, P: Peer> {
    shared: &'a Shared<P>,
    /// One future for the connection's life: making one per wait registers and unregisters
    /// a waiter each time.
    token: Pin<&'a mut WaitForCancellationFutureOwned>,
    registered: Option<Waker>,
}

impl<'a, P: Peer> CloseWait<'a, P> {
    fn new(shared: &'a Shared<P>, token: Pin<&'a mut WaitForCancellationFutureOwned>) -> Self {
        CloseWait {
            shared,
            token,
            registered: None,
        }
    }
}

/// Completes once the connection is to close (and again if polled after).
impl<P: Peer> Future for CloseWait<'_, P> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.is_closing() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        if self.token.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        self.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Which buffer the reader allocated with `FIRST_READ` bytes: known by where its allocation
/// ends, which taking bytes from its front does not move; reallocating does.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SmallBuffer(usize);

impl SmallBuffer {
    const NONE: SmallBuffer = SmallBuffer(0);

    fn of(buf: &BytesMut) -> SmallBuffer {
        SmallBuffer(buf.as_ptr() as usize + buf.capacity())
    }

    /// Whether `buf` still lives in the small allocation (and nothing else).
    fn is(self, buf: &BytesMut) -> bool {
        buf.capacity() != 0 && self == SmallBuffer::of(buf)
    }
}

struct Writer<P: Peer, F> {
    shared: Arc<Shared<P>>,
    /// Items taken from the queue at once and not encoded yet (still counted in its bound).
    taken: VecDeque<Outgoing<P::Send>>,
    write: Arc<OwnedWriteHalf>,
    framing: F,
    settings: Arc<ConnSettings>,
}

impl<P: Peer, F: Framing> Writer<P, F> {
    /// Writes queued messages until the connection closes; returns how many queued messages
    /// were not written.
    async fn run(mut self) -> usize {
        let mut buf = BytesMut::new();
        // Messages in `buf`, not yet wholly written.
        let mut in_buf = 0usize;
        let shared = self.shared.clone();
        let token = shared.close.clone().cancelled_owned();
        tokio::pin!(token);
        let mut closed = CloseWait::new(&shared, token);
        let failed = loop {
            if buf.is_empty() {
                if buf.capacity() > KEEP_WRITE_BUFFER {
                    buf = BytesMut::new();
                }
                if self.taken.is_empty() && self.taken.capacity() > KEEP_QUEUE_SLOTS {
                    // The queue and the writer swap these two deques: shrinking this one
                    // bounds both, so a burst long past is not held by an idle connection.
                    self.taken = VecDeque::new();
                }
                // Idle: senders may write directly until something is queued.
                self.set_idle(true);
                let (queue, taken) = (&self.shared.queue, &mut self.taken);
                let item = tokio::select! {
                    biased;
                    item = std::future::poll_fn(|cx| queue.poll_pop(taken, cx)) => item,
                    _ = &mut closed => break None,
                };
                self.set_idle(false);
                let Some(item) = item else { break None };
                self.shared.queue.release(1);
                if let Err(reason) = self.encode(item, &mut buf) {
                    break Some(reason);
                }
                in_buf = 1;
                if let Err(reason) = self.gather(&mut buf, &mut in_buf) {
                    break Some(reason);
                }
            }
            tokio::select! {
                biased;
                written = write_some(&self.write, &mut buf) => match written {
                    Ok(_) => {
                        if buf.is_empty() {
                            in_buf = 0;
                        }
                    }
                    Err(e) => break Some(DisconnectReason::Io(e)),
                },
                _ = &mut closed => break None,
            }
        };
        // No direct writes from now on, and the socket's second handle goes (dropping the last
        // handle closes the socket).
        {
            let mut direct = self.shared.direct.lock().unwrap_or_else(|p| p.into_inner());
            direct.idle = false;
            direct.write = None;
        }
        self.shared.mark_closing();
        self.shared.queue.close();
        if let Some(reason) = failed {
            self.shared.close_with(reason);
            return in_buf + self.discard_queue();
        }
        if self
            .shared
            .reason_is(|r| matches!(r, DisconnectReason::QueueFull))
        {
            // The peer does not read: flushing to it would only wait out close_timeout.
            return in_buf + self.discard_queue();
        }
        self.finish(buf, in_buf).await
    }

    /// Closing: writes what is buffered and queued, then sends FIN, all within
    /// `close_timeout`.
    async fn finish(mut self, mut buf: BytesMut, mut in_buf: usize) -> usize {
        let deadline = Instant::now() + self.settings.close_timeout;
        loop {
            if let Err(reason) = self.gather(&mut buf, &mut in_buf) {
                self.shared.close_with(reason);
                return in_buf + self.discard_queue();
            }
            if buf.is_empty() {
                break;
            }
            let write_all = async {
                while !buf.is_empty() {
                    write_some(&self.write, &mut buf).await?;
                }
                Ok::<(), io::Error>(())
            };
            match tokio::time::timeout_at(deadline, write_all).await {
                Ok(Ok(())) => in_buf = 0,
                Ok(Err(e)) => {
                    self.shared.close_with(DisconnectReason::Io(e));
                    return in_buf + self.discard_queue();
                }
                Err(_) => {
                    let unsent = in_buf + self.discard_queue();
                    tracing::warn!(
                        unsent,
                        "close_timeout passed before the queued messages were written"
                    );
                    return unsent;
                }
            }
        }
        if let Ok(mut write) = Arc::try_unwrap(self.write) {
            let _ = tokio::time::timeout_at(deadline, write.shutdown()).await;
        }
        0
    }

    /// Enters or leaves the idle state, in which senders may write directly. Leaving it
    /// waits for a direct write in progress to end.
    fn set_idle(&self, idle: bool) {
        self.shared
            .direct
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .idle = idle;
    }

    /// Adds queued messages to `buf` without waiting, up to one batch.
    fn gather(&mut self, buf: &mut BytesMut, in_buf: &mut usize) -> Result<(), DisconnectReason> {
        let mut taken = 0;
        let mut result = Ok(());
        while buf.len() < MAX_BATCH {
            let Some(item) = self.shared.queue.try_pop(&mut self.taken) else {
                break;
            };
            taken += 1;
            if let Err(reason) = self.encode(item, buf) {
                result = Err(reason);
                break;
            }
            *in_buf += 1;
        }
        if taken > 0 {
            self.shared.queue.release(taken);
        }
        result
    }

    fn encode(
        &mut self,
        item: Outgoing<P::Send>,
        buf: &mut BytesMut,
    ) -> Result<(), DisconnectReason> {
        match item {
            Outgoing::Message(msg) => {
                if let Some(tap) = &self.settings.tap {
                    let mut body = BytesMut::with_capacity(msg.encoded_len());
                    msg.encode(&mut body);
                    tap.call(&self.shared, Direction::Out, &body);
                }
                self.framing
                    .encode_message(&msg, buf)
                    .map_err(DisconnectReason::Encode)
            }
            Outgoing::Framed(framed) => {
                if let (Some(tap), Some(body)) = (&self.settings.tap, &framed.body) {
                    tap.call(&self.shared, Direction::Out, body);
                }
                buf.extend_from_slice(&framed.wire);
                Ok(())
            }
        }
    }

    /// Drops what is still queued, counting it.
    fn discard_queue(&mut self) -> usize {
        self.shared.queue.discard(&mut self.taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reader relies on to keep its small buffer through a pause: the buffer is
    /// still known after messages are split off its front, is used again in place once they
    /// are gone, and is not while one is held.
    #[test]
    fn the_small_read_buffer_is_known_and_reclaimed_in_place() {
        let mut buf = BytesMut::with_capacity(FIRST_READ);
        let small = SmallBuffer::of(&buf);
        buf.extend_from_slice(&[7; 40]);
        let frame = buf.split_to(40).freeze();
        assert!(buf.is_empty() && small.is(&buf));
        assert!(
            buf.capacity() < FIRST_READ,
            "a kept buffer is one that was read into"
        );

        // A message still held: not reclaimed, nothing allocated.
        assert!(!buf.try_reclaim(FIRST_READ));
        assert!(small.is(&buf));
        drop(frame);
        // Gone: the same allocation, whole again.
        let start = buf.as_ptr();
        assert!(buf.try_reclaim(FIRST_READ));
        assert!(small.is(&buf));
        assert_eq!(buf.capacity(), FIRST_READ);
        assert_ne!(
            start,
            buf.as_ptr(),
            "reclaimed from the front of the allocation"
        );

        // Grown: another allocation, no longer the small one.
        buf.reserve(READ_CHUNK);
        assert!(!small.is(&buf));
        assert!(!SmallBuffer::NONE.is(&BytesMut::new()));
    }
}
