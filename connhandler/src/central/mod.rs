//! The central queue: one typed queue per program that every handler feeds.
//!
//! | file | holds |
//! | --- | --- |
//! | `mod.rs` | the queue: [`central`], [`CentralSender`] (posting), [`Central`] (receiving), the bounds they share |
//! | `reserve.rs` | `Reserved`: room taken ahead in the bounds, as a value that gives back what it does not use |
//! | `hand_on.rs` | `HandOn`: a reader's messages of one read, handed on together within its `Reserved` room (the connections' and the bus's) |
//! | `hint.rs` | the direct-write hint, scoped to the task that took a lone event |

use std::{
    collections::VecDeque,
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use crate::{budget::Budget, room::Room};

mod hand_on;
mod hint;
mod reserve;

pub(crate) use hand_on::{HandOn, QueueClosed, Refused};
use hint::hint_reply_now;
pub(crate) use hint::reply_now;
use reserve::Reserved;

/// The default bound of [`central`] queues: messages waiting for the program.
pub const DEFAULT_CENTRAL_CAPACITY: usize = 1024;

/// What travels through the channel: events one by one, or the messages one connection
/// decoded from one read, handed on together (one channel operation and at most one wake-up
/// of the central task for all of them).
enum Item<E> {
    /// `Connected`, `Disconnected`, `ConnectFailed`: never held back. The ticket (a
    /// connection slot of an incoming handler) is given back when the central task takes
    /// the event, so that the handler's `max_connections` bounds these events too.
    Unbounded(E, Option<Ticket>),
    /// Run, not handed to the program, when the central task reaches it: it then has taken
    /// everything queued before it (a half-closed connection waits for this).
    Marker(Box<dyn FnOnce() + Send>),
    /// A posted event, or a message that came alone from its read; counted in the bound,
    /// with its bytes.
    Bounded(E, Meta),
    /// Messages, in order, each counted in the bound; two or more (one comes as `Bounded`);
    /// their bytes in all.
    Batch(Vec<E>, Meta),
}

/// The bound, shared by both sides: room for bounded events not yet received, and the count
/// of every event not yet received (for `len`).
struct Bound {
    room: Room,
    queued: AtomicUsize,
    bytes: ByteRoom,
    /// Whether senders stamp what they queue (`Central::measure_wait`).
    measure: AtomicBool,
    /// What stamps count from.
    epoch: std::time::Instant,
}

/// What a bounded item carries beside its events, in the room a `usize` takes: its bytes
/// (as the byte bound counted them) and, while waits are measured, when it was queued
/// (microseconds since the queue's epoch, wrapping; 0: not stamped).
#[derive(Clone, Copy)]
struct Meta {
    bytes: u32,
    stamp: u32,
}

/// What a lifecycle event keeps until the central task takes it: an incoming handler's
/// connection slot.
pub(crate) type Ticket = tokio::sync::OwnedSemaphorePermit;

/// The default byte bound of [`central`] queues: the frames of the messages waiting.
pub const DEFAULT_CENTRAL_BYTES: usize = 64 << 20;

/// The byte bound of the messages queued: one message is always taken when none is queued,
/// so a message longer than the bound still goes through.
struct ByteRoom {
    bytes: Budget,
    /// Whether a reader waits for bytes to be freed (notified only then).
    waiting: AtomicBool,
    freed: Notify,
}

impl ByteRoom {
    fn try_take(&self, n: usize) -> bool {
        self.bytes.try_take(n, true)
    }

    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.bytes.release(n);
        if self.waiting.load(Ordering::Acquire) {
            self.waiting.store(false, Ordering::Release);
            self.freed.notify_waiters();
        }
    }

    async fn take(&self, n: usize, closed: impl Fn() -> bool) -> bool {
        loop {
            if closed() {
                return false;
            }
            if self.try_take(n) {
                return true;
            }
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            self.waiting.store(true, Ordering::Release);
            if closed() {
                return false;
            }
            if self.try_take(n) {
                return true;
            }
            freed.await;
        }
    }
}

/// Batch vectors the central task has emptied, for the readers to fill again: a batch is
/// allocated by a reader and emptied by the central task, so without this every batch would
/// be one allocation, freed on another thread (where glibc's allocator takes a lock that
/// the reader's next allocation contends for).
struct Spare<E> {
    vecs: Mutex<Vec<Vec<E>>>,
}

/// Spare batch vectors kept at most: enough for the readers of a busy moment.
const MAX_SPARE: usize = 64;
/// A batch vector with more room than this (in bytes) is not kept: readers start with room
/// for 16 events, and a larger vector came from a burst. Bounds what the spares hold to
/// 256 KiB.
const MAX_SPARE_BYTES: usize = 4096;

impl<E> Spare<E> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<E>>> {
        self.vecs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates the central queue: the sending side, handed to every handler and kept by the
/// program to post events of its own, and the receiving side, consumed by the program's
/// central task.
///
/// `capacity` (at least 1) bounds the messages and posted events waiting in the queue: when it
/// is reached, connections stop reading (so TCP pushes back on their peers) and
/// [`post`](CentralSender::post) waits. Each connection hands on the messages of one read
/// together, and the central task takes such a batch (at most 256 messages) off the bound as
/// it starts on it, so at most one batch is held beyond `capacity`. The messages' bytes (their
/// frames) are bounded too: by [`DEFAULT_CENTRAL_BYTES`] here, by your choice with
/// [`central_with_bytes`]. `Connected` and `Disconnected` events are never held back, so a
/// program that shuts handlers down from its central task cannot deadlock on a full queue;
/// an incoming handler's `max_connections` bounds them instead (a closed connection keeps its
/// slot until the central task takes its `Disconnected`): in all, at most `capacity` + 256 +
/// 2 x `max_connections` events per incoming handler wait.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// enum Ev {
///     Tick(u32),
/// }
///
/// let (tx, mut central) = connhandler::central::<Ev>(64);
/// tx.post(Ev::Tick(1)).await.unwrap();
/// drop(tx);
/// while let Some(Ev::Tick(n)) = central.recv().await {
///     assert_eq!(n, 1);
/// }
/// # }
/// ```
pub fn central<E>(capacity: usize) -> (CentralSender<E>, Central<E>) {
    central_with_bytes(capacity, DEFAULT_CENTRAL_BYTES)
}

/// Like [`central`], with a bound on the bytes of the messages waiting too (the frames they
/// were decoded from; [`DEFAULT_CENTRAL_BYTES`] for [`central`]): 1024 waiting messages of
/// 8 MiB would be 8 GiB. When either bound is reached, connections stop reading. One
/// message is always let through when none waits, however long. Frames shorter than 1 KiB
/// are bounded by `capacity` alone (1024 of them hold under 1 MiB), so that small messages
/// pay nothing for the byte bound.
///
/// # Examples
///
/// ```
/// // 4096 events, 16 MiB of messages at most.
/// let (tx, central) = connhandler::central_with_bytes::<String>(4096, 16 << 20);
/// ```
pub fn central_with_bytes<E>(capacity: usize, max_bytes: usize) -> (CentralSender<E>, Central<E>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let bound = Arc::new(Bound {
        room: Room::new(capacity),
        queued: AtomicUsize::new(0),
        bytes: ByteRoom {
            bytes: Budget::of(max_bytes.max(1)),
            waiting: AtomicBool::new(false),
            freed: Notify::new(),
        },
        measure: AtomicBool::new(false),
        epoch: std::time::Instant::now(),
    });
    let spare = Arc::new(Spare {
        vecs: Mutex::new(Vec::new()),
    });
    (
        CentralSender {
            tx,
            bound: bound.clone(),
            spare: spare.clone(),
        },
        Central {
            rx,
            bound,
            batch: VecDeque::new(),
            spare,
            waits: WaitStats::default(),
        },
    )
}

/// The sending side of the central queue: cheap to clone.
///
/// # Examples
///
/// ```
/// let (tx, central) = connhandler::central::<String>(8);
/// tx.try_post("hello".to_owned()).unwrap();
/// ```
pub struct CentralSender<E> {
    tx: mpsc::UnboundedSender<Item<E>>,
    bound: Arc<Bound>,
    spare: Arc<Spare<E>>,
}

impl<E> Clone for CentralSender<E> {
    fn clone(&self) -> Self {
        CentralSender {
            tx: self.tx.clone(),
            bound: self.bound.clone(),
            spare: self.spare.clone(),
        }
    }
}

impl<E> fmt::Debug for CentralSender<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CentralSender")
            .field("closed", &self.tx.is_closed())
            .field("free", &self.bound.room.free())
            .finish()
    }
}

/// Why [`Central::try_recv`] returned no event.
///
/// # Examples
///
/// ```
/// use connhandler::TryRecvError;
/// assert_eq!(TryRecvError::Empty.to_string(), "no event is queued now");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued now; events may still come.
    Empty,
    /// Every sender is gone and the queue is empty: no event will come.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no event is queued now",
            TryRecvError::Closed => "the central queue is closed",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// Why an event was not posted; the event is handed back. Shaped as
/// [`SendError`](crate::SendError) is.
///
/// # Examples
///
/// ```
/// use connhandler::PostError;
/// let (tx, central) = connhandler::central::<u8>(1);
/// drop(central);
/// let err = tx.try_post(7).unwrap_err();
/// assert!(matches!(err, PostError::Closed(7)));
/// assert_eq!(format!("{err:?}"), "Closed(..): the central queue is closed");
/// assert_eq!(err.into_inner(), 7);
/// ```
#[derive(PartialEq, Eq)]
pub enum PostError<E> {
    /// The queue is full (only from [`try_post`](CentralSender::try_post)).
    Full(E),
    /// The program dropped its [`Central`]: no event will be taken.
    Closed(E),
}

impl<E> PostError<E> {
    /// The event that was not posted.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<&str>(1);
    /// drop(central);
    /// assert_eq!(tx.try_post("x").unwrap_err().into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> E {
        match self {
            PostError::Full(e) | PostError::Closed(e) => e,
        }
    }

    /// Whether the queue was full (only from [`try_post`](CentralSender::try_post)); otherwise
    /// it is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _central) = connhandler::central::<u8>(1);
    /// tx.try_post(1).unwrap();
    /// assert!(tx.try_post(2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PostError::Full(_))
    }
}

/// Says what happened (the event itself is left out: it need not be `Debug`).
impl<E> fmt::Debug for PostError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Full(_) => f.write_str("Full(..): ")?,
            PostError::Closed(_) => f.write_str("Closed(..): ")?,
        }
        fmt::Display::fmt(self, f)
    }
}

impl<E> fmt::Display for PostError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PostError::Full(_) => "the central queue is full",
            PostError::Closed(_) => "the central queue is closed",
        })
    }
}

impl<E> std::error::Error for PostError<E> {}

impl<E> CentralSender<E> {
    /// Posts an event of the program's own (a timer, a command), waiting while the queue is
    /// full. Do not await this from the central task itself on a full queue: only the central
    /// task makes room.
    ///
    /// # Errors
    ///
    /// A [`PostError`] holding the event when the receiving side is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut central) = connhandler::central::<u32>(4);
    /// tx.post(5).await.unwrap();
    /// assert_eq!(central.recv().await, Some(5));
    /// # }
    /// ```
    pub async fn post(&self, event: E) -> Result<(), PostError<E>> {
        if !self.reserve().await {
            return Err(PostError::Closed(event));
        }
        self.send(Item::Bounded(event, self.meta(0)), 1)
            .map_err(|item| match item {
                Item::Bounded(event, _) => PostError::Closed(event),
                // `send` hands back what it was given.
                _ => unreachable!("a posted event came back as another item"),
            })
    }

    /// Posts an event if the queue has room.
    ///
    /// # Errors
    ///
    /// A [`PostError`] holding the event when the queue is full or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u32>(4);
    /// tx.try_post(5).unwrap();
    /// assert_eq!(central.try_recv(), Ok(5));
    /// ```
    pub fn try_post(&self, event: E) -> Result<(), PostError<E>> {
        if self.tx.is_closed() {
            return Err(PostError::Closed(event));
        }
        if !self.bound.room.try_take() {
            return Err(PostError::Full(event));
        }
        self.send(Item::Bounded(event, self.meta(0)), 1)
            .map_err(|item| match item {
                Item::Bounded(event, _) => PostError::Closed(event),
                _ => unreachable!("a posted event came back as another item"),
            })
    }

    /// Whether the receiving side is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<u8>(1);
    /// assert!(!tx.is_closed());
    /// drop(central);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Takes room for up to `n` bounded events if there is some now; how many it got.
    fn try_reserve_up_to(&self, n: usize) -> usize {
        self.bound.room.try_take_up_to(n)
    }

    /// Gives back room taken and not used.
    fn unreserve(&self, n: usize) {
        if n > 0 {
            self.bound.room.release(n);
        }
    }

    /// Waits for room for one bounded event; `false` once the queue is closed.
    async fn reserve(&self) -> bool {
        self.bound.room.take(|| self.tx.is_closed()).await
    }

    /// Takes `n` bytes of the byte bound if they fit now.
    fn try_reserve_bytes(&self, n: usize) -> bool {
        self.bound.bytes.try_take(n)
    }

    /// Gives back bytes taken and not used.
    fn unreserve_bytes(&self, n: usize) {
        self.bound.bytes.release(n);
    }

    /// Waits for `n` bytes of the byte bound; `false` once the queue is closed.
    async fn reserve_bytes(&self, n: usize) -> bool {
        self.bound.bytes.take(n, || self.tx.is_closed()).await
    }

    /// Queues an event that is never held back (`Connected`, `Disconnected`...), with the
    /// ticket it keeps until the central task takes it.
    pub(crate) fn push_unbounded(&self, event: E, ticket: Option<Ticket>) -> Result<(), E> {
        self.send(Item::Unbounded(event, ticket), 1)
            .map_err(|item| match item {
                Item::Unbounded(event, _) => event,
                _ => unreachable!("an unbounded event came back as another item"),
            })
    }

    /// Queues `reached`, to be run (not handed to the program) once the central task has
    /// taken everything queued before it. Dropped unrun when the queue is closed.
    pub(crate) fn push_marker(&self, reached: impl FnOnce() + Send + 'static) {
        let _ = self.tx.send(Item::Marker(Box::new(reached)));
    }

    /// Hands on one message whose room (and `bytes`) was taken (no batch allocated for it).
    fn push_one(&self, event: E, bytes: usize) -> Result<(), ()> {
        let meta = self.meta(bytes);
        self.send(Item::Bounded(event, meta), 1).map_err(|_| {
            self.bound.room.release(1);
            self.bound.bytes.release(meta.bytes as usize);
        })
    }

    /// An empty vector for the next batch: one the central task emptied, if there is one.
    fn batch_vec(&self) -> Vec<E> {
        self.spare
            .lock()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(16))
    }

    /// Queues messages for which room was reserved, one each, in order.
    fn push_batch(&self, batch: Vec<E>, bytes: usize) -> Result<(), ()> {
        let n = batch.len();
        if n == 0 {
            return Ok(());
        }
        let meta = self.meta(bytes);
        self.send(Item::Batch(batch, meta), n).map_err(|_| {
            self.bound.room.release(n);
            self.bound.bytes.release(meta.bytes as usize);
        })
    }

    /// An item's meta: its `bytes` (what does not fit a `u32` is given back at once, so the
    /// central task gives back exactly what the item says), stamped while waits are
    /// measured.
    #[inline]
    fn meta(&self, bytes: usize) -> Meta {
        let counted = bytes.min(u32::MAX as usize);
        if counted < bytes {
            self.bound.bytes.release(bytes - counted);
        }
        let stamp = if self.bound.measure.load(Ordering::Relaxed) {
            (self.bound.epoch.elapsed().as_micros() as u32) | 1
        } else {
            0
        };
        Meta {
            bytes: counted as u32,
            stamp,
        }
    }

    fn send(&self, item: Item<E>, events: usize) -> Result<(), Item<E>> {
        self.bound.queued.fetch_add(events, Ordering::Relaxed);
        self.tx.send(item).map_err(|e| {
            self.bound.queued.fetch_sub(events, Ordering::Relaxed);
            e.0
        })
    }
}

/// The receiving side of the central queue, consumed by the program's central task.
///
/// Events of one connection arrive in order: `Connected` first, then its messages as they were
/// received, then `Disconnected`, exactly once. Events of different connections interleave.
///
/// Async programs call [`recv`](Central::recv); game loops call [`try_recv`](Central::try_recv)
/// or [`drain`](Central::drain) once per frame, which never wait.
///
/// # Examples
///
/// ```
/// let (tx, mut central) = connhandler::central::<u32>(8);
/// for n in 0..3 {
///     tx.try_post(n).unwrap();
/// }
/// let this_frame: Vec<u32> = central.drain().collect();
/// assert_eq!(this_frame, [0, 1, 2]);
/// ```
pub struct Central<E> {
    rx: mpsc::UnboundedReceiver<Item<E>>,
    bound: Arc<Bound>,
    /// The rest of the batch being handed out.
    batch: VecDeque<E>,
    spare: Arc<Spare<E>>,
    /// How long events waited, while measured.
    waits: WaitStats,
}

/// How long events waited in the central queue, from when a connection handed them on (or
/// the program posted them) until the central task took them: a gauge for a metrics exporter
/// ([`Central::measure_wait`], [`Central::take_wait_stats`]). `Connected` and `Disconnected`
/// are not counted.
///
/// # Examples
///
/// ```
/// let (tx, mut central) = connhandler::central::<u8>(8);
/// central.measure_wait(true);
/// tx.try_post(1).unwrap();
/// central.try_recv().unwrap();
/// let waits = central.take_wait_stats();
/// assert_eq!(waits.events, 1);
/// assert!(waits.mean().is_some());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitStats {
    /// Events measured.
    pub events: u64,
    /// Their waits added up.
    pub total: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl WaitStats {
    /// The mean wait, if any event was measured.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::WaitStats::default().mean(), None);
    /// ```
    pub fn mean(&self) -> Option<Duration> {
        (self.events > 0).then(|| self.total / self.events.min(u32::MAX as u64) as u32)
    }

    fn add(&mut self, wait: Duration, events: usize) {
        self.events += events as u64;
        self.total += wait * events.min(u32::MAX as usize) as u32;
        self.max = self.max.max(wait);
    }
}

impl<E> fmt::Debug for Central<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Central")
            .field("queued", &self.len())
            .finish()
    }
}

impl<E> Drop for Central<E> {
    fn drop(&mut self) {
        // Senders waiting for room must see that the queue is closed.
        self.rx.close();
        self.bound.room.wake_all();
        self.bound.bytes.freed.notify_waiters();
    }
}

impl<E> Central<E> {
    /// Waits for the next event; `None` once every sender (handlers and the program's own
    /// [`CentralSender`]s) is gone and the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut central) = connhandler::central::<u8>(1);
    /// drop(tx);
    /// assert_eq!(central.recv().await, None);
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<E> {
        if let Some(event) = self.next_in_batch() {
            return Some(event);
        }
        loop {
            let item = self.rx.recv().await?;
            if let Some(event) = self.open(item) {
                return Some(event);
            }
        }
    }

    /// The next event if one is queued, without waiting: a game loop's call, once per
    /// frame or in a loop until [`TryRecvError::Empty`].
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when nothing is queued now; [`TryRecvError::Closed`] once
    /// every sender is gone and the queue is empty (no event will ever come).
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::TryRecvError;
    /// let (tx, mut central) = connhandler::central::<u8>(1);
    /// assert_eq!(central.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_post(5).unwrap();
    /// drop(tx);
    /// assert_eq!(central.try_recv(), Ok(5));
    /// assert_eq!(central.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<E, TryRecvError> {
        if let Some(event) = self.next_in_batch() {
            return Ok(event);
        }
        loop {
            let item = self.rx.try_recv().map_err(|e| match e {
                mpsc::error::TryRecvError::Empty => TryRecvError::Empty,
                mpsc::error::TryRecvError::Disconnected => TryRecvError::Closed,
            })?;
            if let Some(event) = self.open(item) {
                return Ok(event);
            }
        }
    }

    fn next_in_batch(&mut self) -> Option<E> {
        let event = self.batch.pop_front()?;
        hint_reply_now(false);
        if self.batch.is_empty() {
            self.recycle();
        }
        Some(event)
    }

    /// Hands the emptied batch's vector back for a reader to fill again.
    fn recycle(&mut self) {
        let bytes = self.batch.capacity().saturating_mul(size_of::<E>());
        // Empty: no element moves, the allocation is kept.
        let vec = Vec::from(std::mem::take(&mut self.batch));
        if bytes == 0 || bytes > MAX_SPARE_BYTES {
            return;
        }
        let mut spare = self.spare.lock();
        if spare.len() < MAX_SPARE {
            spare.push(vec);
        }
    }

    /// Whether nothing else waits in the queue. Only then is a reply written from the
    /// central task (see `hint.rs`): the system call adds to the central task's work,
    /// which is better left to the connection's writer (on another thread) while events
    /// queue up.
    fn idle(&self) -> bool {
        self.bound.queued.load(Ordering::Relaxed) == 0
    }

    fn taken(&self, n: usize) {
        self.bound.queued.fetch_sub(n, Ordering::Relaxed);
    }

    /// The event an item holds (none for a marker, which is run).
    fn open(&mut self, item: Item<E>) -> Option<E> {
        Some(match item {
            Item::Unbounded(event, ticket) => {
                drop(ticket);
                self.taken(1);
                hint_reply_now(self.idle());
                event
            }
            Item::Marker(reached) => {
                reached();
                return None;
            }
            Item::Bounded(event, meta) => {
                self.taken(1);
                self.bound.room.release(1);
                self.bound.bytes.release(meta.bytes as usize);
                self.waited(meta, 1);
                hint_reply_now(self.idle());
                event
            }
            Item::Batch(events, meta) => {
                // The whole batch is counted off at once: the central task holds it now, and
                // a batch is at most a few hundred messages beyond the bound.
                self.taken(events.len());
                self.bound.room.release(events.len());
                self.bound.bytes.release(meta.bytes as usize);
                self.waited(meta, events.len());
                self.batch = VecDeque::from(events);
                // Batches are never empty. Replies to a batch are queued (`next_in_batch`
                // clears the hint), so the writer sends them in one write.
                self.next_in_batch()
                    .unwrap_or_else(|| unreachable!("an empty batch was queued"))
            }
        })
    }

    /// Records how long a stamped item waited.
    #[inline]
    fn waited(&mut self, meta: Meta, events: usize) {
        if meta.stamp != 0 {
            let now = (self.bound.epoch.elapsed().as_micros() as u32) | 1;
            let wait = Duration::from_micros(u64::from(now.wrapping_sub(meta.stamp)));
            self.waits.add(wait, events);
        }
    }

    /// Starts (or stops) measuring how long events wait in the queue, for
    /// [`take_wait_stats`](Central::take_wait_stats). Off by default: while on, each batch
    /// handed on and each event posted reads the clock once on each side.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut central) = connhandler::central::<u8>(8);
    /// central.measure_wait(true);
    /// ```
    pub fn measure_wait(&mut self, on: bool) {
        self.bound.measure.store(on, Ordering::Relaxed);
    }

    /// How long the events taken since the last call waited, and starts anew (an exporter
    /// calls it once per scrape).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut central) = connhandler::central::<u8>(8);
    /// assert_eq!(central.take_wait_stats().events, 0);
    /// ```
    pub fn take_wait_stats(&mut self) -> WaitStats {
        std::mem::take(&mut self.waits)
    }

    /// The events queued now, without waiting: at most as many as were queued when it was
    /// called, so a frame's work stays bounded while handlers keep producing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u8>(8);
    /// tx.try_post(1).unwrap();
    /// assert_eq!(central.drain().count(), 1);
    /// assert_eq!(central.drain().count(), 0);
    /// ```
    pub fn drain(&mut self) -> Drain<'_, E> {
        let left = self.len();
        Drain {
            central: self,
            left,
        }
    }

    /// Blocks the current thread until the next event, for programs with no async runtime of
    /// their own (see [`blocking::Runtime`](crate::blocking::Runtime)); `None` once closed.
    ///
    /// # Panics
    ///
    /// When called from async code (inside a tokio runtime), as tokio's blocking calls do.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u8>(1);
    /// tx.try_post(3).unwrap();
    /// assert_eq!(central.blocking_recv(), Some(3));
    /// ```
    pub fn blocking_recv(&mut self) -> Option<E> {
        if let Some(event) = self.next_in_batch() {
            return Some(event);
        }
        loop {
            let item = self.rx.blocking_recv()?;
            if let Some(event) = self.open(item) {
                return Some(event);
            }
        }
    }

    /// The bytes of the messages waiting, as the byte bound counts them (frames of 1 KiB or
    /// more): a gauge for a metrics exporter, beside [`len`](Central::len).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, central) = connhandler::central::<u8>(4);
    /// assert_eq!(central.queued_bytes(), 0);
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.bound.bytes.bytes.used()
    }

    /// The number of events waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<u8>(4);
    /// tx.try_post(1).unwrap();
    /// assert_eq!(central.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.bound.queued.load(Ordering::Relaxed) + self.batch.len()
    }

    /// Whether no event is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, central) = connhandler::central::<u8>(4);
    /// assert!(central.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The events [`Central::drain`] takes: see there.
#[derive(Debug)]
pub struct Drain<'a, E> {
    central: &'a mut Central<E>,
    left: usize,
}

impl<E> Iterator for Drain<'_, E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.central.try_recv().ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
