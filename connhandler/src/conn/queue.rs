//! A connection's outgoing queue: what senders put in and the writer takes out.
//!
//! Its bounds, as one rule (the reader's side of it, backpressure, is in `pressure.rs`):
//!
//! | queue | writer | an item |
//! | --- | --- | --- |
//! | within the soft bound (`queue_capacity` items, `queue_bytes` bytes; one item always when empty) | any | queued |
//! | beyond the soft bound, its memory (bytes plus a slot per item) within `queue_bytes` or, with the item, within the hard cap (`queue_hard_cap`) | draining: not blocked on the socket for `write_timeout` | queued |
//! | beyond the soft bound | blocked on the socket for `write_timeout` or more | refused (`Full`): the sender applies the queue policy |
//! | at the hard cap | any | refused (`Full`) |
//! | closed | | refused (`Closed`) |

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use tokio::time::Instant;

use super::pressure::Pressure;
use crate::room::Room;

/// What a connection's writer task takes from its queue.
pub(crate) enum Outgoing<S> {
    /// A message to encode.
    Message(S),
    /// Bytes already framed (a broadcast encoded once), shared by every peer it goes to.
    /// Behind an `Arc` to keep every slot of the per-peer queue small.
    Framed(Arc<Framed>),
}

/// A queue's bounds (see the table at the top).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// The soft bound: items, and bytes (encoded lengths).
    pub(crate) capacity: usize,
    pub(crate) bytes: usize,
    /// The hard cap, in bytes of memory (encoded lengths plus a slot per item).
    pub(crate) hard: usize,
    /// Writability's low and high watermarks, in queued bytes.
    pub(crate) watermarks: (usize, usize),
    /// How long the writer may be blocked on the socket before a queue beyond its soft
    /// bound refuses more; `None`: never (the hard cap only).
    pub(crate) write_timeout: Option<Duration>,
}

impl Bounds {
    /// Soft bound only, no hard cap beyond it, no write time-out (tests).
    #[cfg(test)]
    pub(crate) fn soft(capacity: usize, bytes: usize) -> Self {
        Bounds {
            capacity,
            bytes,
            hard: bytes,
            watermarks: (bytes / 4, bytes / 2),
            write_timeout: Some(Duration::ZERO),
        }
    }
}

/// A connection's outgoing queue: items in order behind a lock held only to push or to
/// take them all, and its bounds (see [`Room`]), which senders check without the lock.
/// Nothing is allocated until the first item.
pub(crate) struct OutQueue<S> {
    state: Mutex<QueueState<S>>,
    /// Set (under the lock) once the writer stops taking items; read without it.
    closed: AtomicBool,
    room: Room,
    /// Bytes queued (encoded lengths), bounded by `max_bytes`: one item is always taken
    /// when nothing is queued, so a message longer than the bound can still go out.
    bytes: AtomicUsize,
    max_bytes: usize,
    /// The hard cap, in bytes of memory.
    hard: usize,
    /// Below the low watermark again after crossing the high one (see `is_writable`).
    writable: AtomicBool,
    watermarks: (usize, usize),
    write_timeout: Option<Duration>,
    /// Since when the writer has been blocked on the socket (milliseconds since `epoch`,
    /// plus one); 0 while it is not.
    blocked_since: AtomicU64,
    epoch: Instant,
    /// The reader's backpressure: what the central task confirmed, and its wake-up.
    pressure: Pressure,
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
    /// The memory a queued item takes beside its encoded bytes.
    pub(crate) const SLOT: usize = size_of::<Outgoing<S>>();

    /// A queue with `bounds`; writability flips off above `watermarks.1` bytes and on again
    /// at or below `watermarks.0`.
    pub(crate) fn new(bounds: Bounds) -> Self {
        OutQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                waiter: None,
            }),
            closed: AtomicBool::new(false),
            room: Room::new(bounds.capacity),
            bytes: AtomicUsize::new(0),
            max_bytes: bounds.bytes.max(1),
            hard: bounds.hard.max(bounds.bytes),
            writable: AtomicBool::new(true),
            watermarks: bounds.watermarks,
            write_timeout: bounds.write_timeout,
            blocked_since: AtomicU64::new(0),
            epoch: Instant::now(),
            pressure: Pressure::default(),
        }
    }

    /// Takes `n` bytes of the soft byte bound; false (nothing taken) when they do not fit
    /// and something is queued already.
    fn take_bytes(&self, n: usize) -> bool {
        let before = self.bytes.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.max_bytes {
            self.bytes.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        self.check_watermark(before + n);
        true
    }

    fn check_watermark(&self, now: usize) {
        if now > self.watermarks.1 {
            self.writable.store(false, Ordering::Release);
        }
    }

    /// Gives back `n` bytes taken by items the writer has taken.
    pub(crate) fn release_bytes(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.bytes.fetch_sub(n, Ordering::AcqRel);
        if before.saturating_sub(n) <= self.watermarks.0 {
            self.writable.store(true, Ordering::Release);
        }
        if before > self.max_bytes / 2 {
            // A sender waiting for room (`push_until`) may fit now.
            self.room.wake_all();
        }
        self.pressure.ease();
    }

    /// Bytes queued and not yet taken by the writer.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// The memory the queue holds: its bytes and a slot per item.
    pub(crate) fn memory(&self) -> usize {
        self.bytes() + self.len() * Self::SLOT
    }

    /// Items queued and the memory they hold (as [`memory`](Self::memory)).
    #[inline]
    pub(crate) fn load(&self) -> (usize, usize) {
        let len = self.len();
        (len, self.bytes() + len * Self::SLOT)
    }

    /// The write time-out.
    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Whether the queued bytes are below the high watermark (with hysteresis: once above
    /// it, not until they fall to the low one).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// The reader's backpressure state, shared with the markers.
    pub(crate) fn pressure(&self) -> &Pressure {
        &self.pressure
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends an item whose room was taken.
    fn send(&self, item: Outgoing<S>, bytes: usize) -> Result<(), Outgoing<S>> {
        let mut state = self.lock();
        if self.is_closed() {
            drop(state);
            self.room.release(1);
            self.release_bytes(bytes);
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

    /// Queues `item` of `bytes` bytes by the rule in the table at the top.
    pub(crate) fn try_push(&self, item: Outgoing<S>, bytes: usize) -> Result<(), NotQueued<S>> {
        if self.is_closed() {
            return Err(NotQueued::Closed(item));
        }
        if self.room.try_take() {
            if self.take_bytes(bytes) {
                return self.send(item, bytes).map_err(NotQueued::Closed);
            }
            self.room.release(1);
        }
        if !self.takes_beyond(bytes) {
            return Err(NotQueued::Full(item));
        }
        self.room.force_take();
        let before = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.check_watermark(before + bytes);
        self.send(item, bytes).map_err(NotQueued::Closed)
    }

    /// Whether a queue beyond its soft bound takes `bytes` more: while the writer drains,
    /// up to the hard cap.
    #[cold]
    fn takes_beyond(&self, bytes: usize) -> bool {
        if self.is_stalled() {
            return false;
        }
        let mem = self.memory();
        mem <= self.max_bytes || mem + bytes + Self::SLOT <= self.hard
    }

    /// Whether the writer has been blocked on the socket for `write_timeout` or longer.
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled_until().is_some_and(|at| at <= Instant::now())
    }

    /// When the writer, blocked now, will have been blocked for `write_timeout`; `None`
    /// when it is not blocked or there is no write time-out.
    pub(crate) fn stalled_until(&self) -> Option<Instant> {
        let timeout = self.write_timeout?;
        match self.blocked_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(self.epoch + Duration::from_millis(since - 1) + timeout),
        }
    }

    /// The writer's side: the socket takes nothing now.
    pub(crate) fn writer_blocked(&self) {
        if self.blocked_since.load(Ordering::Relaxed) == 0 {
            let ms = self.epoch.elapsed().as_millis() as u64;
            self.blocked_since.store(ms + 1, Ordering::Release);
        }
    }

    /// The writer's side: the socket took bytes (or the writer stopped waiting for it).
    #[inline]
    pub(crate) fn writer_unblocked(&self) {
        if self.blocked_since.load(Ordering::Relaxed) != 0 {
            self.blocked_since.store(0, Ordering::Release);
        }
    }

    /// Queues `item`, waiting for room until `deadline`; hands it back as `Full` when the
    /// deadline passes first, as `Closed` when the queue closes.
    pub(crate) async fn push_until(
        &self,
        mut item: Outgoing<S>,
        bytes: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), NotQueued<S>> {
        loop {
            // Listening before trying: room made between the two is not missed.
            let freed = self.room.freed();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.try_push(item, bytes) {
                Err(NotQueued::Full(back)) => item = back,
                done => return done,
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(NotQueued::Full(item));
            }
        }
    }

    /// Queues `item` past both bounds (the rest of a partly written message, which cannot
    /// wait behind anything).
    pub(crate) fn force_push(&self, item: Outgoing<S>, bytes: usize) -> Result<(), Outgoing<S>> {
        self.room.force_take();
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.send(item, bytes)
    }

    /// Items queued and not yet encoded by the writer (those it took count until it
    /// releases them).
    pub(crate) fn len(&self) -> usize {
        self.room.used()
    }

    /// Gives back room for `n` items of `bytes` bytes in all that the writer took.
    pub(crate) fn release(&self, n: usize, bytes: usize) {
        self.room.release(n);
        self.release_bytes(bytes);
        if bytes == 0 {
            self.pressure.ease();
        }
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
        self.pressure.ease();
    }

    /// The writer's side: drops every item not written, `taken` included; returns how many.
    pub(crate) fn discard(&self, taken: &mut VecDeque<Outgoing<S>>) -> usize {
        let queued = std::mem::take(&mut self.lock().items);
        let n = taken.len() + queued.len();
        taken.clear();
        self.release_bytes(self.bytes());
        n
    }

    /// How many more items it takes now within its soft bound.
    pub(crate) fn room(&self) -> usize {
        self.room.free()
    }
}

/// A broadcast, framed once: the wire bytes, and the body for the tap if one is set.
pub(crate) struct Framed {
    pub(crate) wire: Bytes,
    pub(crate) body: Option<Bytes>,
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::atomic::{AtomicUsize, Ordering},
        sync::Arc,
        task::{Context, Poll, Wake, Waker},
    };

    use super::{Bounds, NotQueued, OutQueue, Outgoing};

    /// A queue with only its soft bound: its writer is blocked, with a write time-out of 0.
    fn blocked(capacity: usize, bytes: usize) -> OutQueue<u32> {
        let queue = OutQueue::new(Bounds::soft(capacity, bytes));
        queue.writer_blocked();
        queue
    }

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
        let queue = blocked(3, 1 << 20);
        let mut taken = VecDeque::new();
        for v in 0..3 {
            assert!(queue.try_push(Outgoing::Message(v), 1).is_ok());
        }
        assert!(matches!(
            queue.try_push(Outgoing::Message(9), 1),
            Err(NotQueued::Full(_))
        ));
        // The writer takes all three at once; room comes back only when it says so.
        assert_eq!(value(queue.try_pop(&mut taken)), Some(0));
        assert_eq!(taken.len(), 2);
        assert_eq!(queue.len(), 3);
        queue.release(1, 1);
        assert!(queue.try_push(Outgoing::Message(3), 1).is_ok());
        let rest: Vec<_> = std::iter::from_fn(|| value(queue.try_pop(&mut taken))).collect();
        assert_eq!(rest, [1, 2, 3]);
    }

    #[test]
    fn a_waiting_writer_is_woken_and_a_closed_queue_refuses() {
        let queue = blocked(8, 1 << 20);
        let mut taken = VecDeque::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(queue.poll_pop(&mut taken, &mut cx).is_pending());
        assert!(queue.try_push(Outgoing::Message(1), 1).is_ok());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(queue.try_push(Outgoing::Message(2), 1).is_ok());
        assert!(queue.try_push(Outgoing::Message(3), 1).is_ok());
        assert!(matches!(
            queue.poll_pop(&mut taken, &mut cx),
            Poll::Ready(Some(Outgoing::Message(1)))
        ));
        // Closed: new items are refused, those queued before stay to be counted.
        queue.close();
        assert!(matches!(
            queue.try_push(Outgoing::Message(4), 1),
            Err(NotQueued::Closed(_))
        ));
        assert!(queue.force_push(Outgoing::Message(5), 1).is_err());
        assert_eq!(queue.discard(&mut taken), 2);
        assert!(matches!(
            queue.poll_pop(&mut taken, &mut cx),
            Poll::Ready(None)
        ));
    }

    #[test]
    fn bytes_are_bounded_and_writability_has_hysteresis() {
        // 100 bytes at most; not writable above 60, writable again at 20 or less.
        let queue = OutQueue::new(Bounds {
            watermarks: (20, 60),
            ..Bounds::soft(100, 100)
        });
        queue.writer_blocked();
        let mut taken = VecDeque::new();
        assert!(queue.try_push(Outgoing::Message(1), 50).is_ok());
        assert!(queue.is_writable());
        assert!(queue.try_push(Outgoing::Message(2), 40).is_ok());
        assert!(!queue.is_writable(), "90 bytes is above the high watermark");
        assert!(matches!(
            queue.try_push(Outgoing::Message(3), 20),
            Err(NotQueued::Full(_))
        ));
        assert_eq!(queue.bytes(), 90, "a refused item takes nothing");
        assert_eq!(value(queue.try_pop(&mut taken)), Some(1));
        queue.release(1, 50);
        assert!(!queue.is_writable(), "40 bytes is above the low watermark");
        assert_eq!(value(queue.try_pop(&mut taken)), Some(2));
        queue.release(1, 40);
        assert!(queue.is_writable());
        // One item longer than the whole bound still goes when nothing is queued.
        assert!(queue.try_push(Outgoing::Message(4), 500).is_ok());
        assert!(matches!(
            queue.try_push(Outgoing::Message(5), 1),
            Err(NotQueued::Full(_))
        ));
    }

    #[test]
    fn a_draining_queue_takes_more_than_its_soft_bound_up_to_the_hard_cap() {
        let slot = OutQueue::<u32>::SLOT;
        let queue = OutQueue::new(Bounds {
            capacity: 2,
            bytes: 100,
            hard: 1000,
            watermarks: (25, 50),
            write_timeout: Some(std::time::Duration::from_secs(3600)),
        });
        // Beyond two items and 100 bytes, while the writer is not blocked: queued.
        for v in 0..3 {
            assert!(queue.try_push(Outgoing::Message(v), 40).is_ok());
        }
        assert_eq!(queue.len(), 3);
        assert!(!queue.is_writable());
        // Up to the hard cap in memory (bytes and a slot each), no further.
        let mut n = 3;
        while queue.try_push(Outgoing::Message(n), 40).is_ok() {
            n += 1;
        }
        assert!(queue.memory() <= 1000 && queue.memory() + 40 + slot > 1000);
        assert_eq!(queue.bytes(), 40 * n as usize);
        // Blocked, but not for the write time-out yet: the cap is still the rule.
        queue.writer_blocked();
        assert!(!queue.is_stalled());
        assert!(matches!(
            queue.try_push(Outgoing::Message(99), 40),
            Err(NotQueued::Full(_))
        ));
        let mut taken = VecDeque::new();
        assert_eq!(value(queue.try_pop(&mut taken)), Some(0));
        queue.release(n as usize, 40 * n as usize);
        assert!(queue.try_push(Outgoing::Message(100), 40).is_ok());
    }

    #[test]
    fn a_queue_whose_writer_is_blocked_for_the_write_timeout_refuses_beyond_its_soft_bound() {
        let queue = OutQueue::new(Bounds {
            capacity: 2,
            bytes: 100,
            hard: 1 << 20,
            watermarks: (25, 50),
            write_timeout: Some(std::time::Duration::ZERO),
        });
        queue.writer_blocked();
        assert!(queue.is_stalled());
        assert!(queue.try_push(Outgoing::Message(1), 10).is_ok());
        assert!(queue.try_push(Outgoing::Message(2), 10).is_ok());
        assert!(matches!(
            queue.try_push(Outgoing::Message(3), 10),
            Err(NotQueued::Full(_))
        ));
        // The socket took bytes: draining again.
        queue.writer_unblocked();
        assert!(!queue.is_stalled());
        assert!(queue.try_push(Outgoing::Message(3), 10).is_ok());
    }
}
