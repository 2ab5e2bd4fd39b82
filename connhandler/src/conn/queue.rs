//! A connection's outgoing queue: what senders put in and the writer takes out.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Waker},
};

use bytes::Bytes;

use crate::room::Room;

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
    /// Bytes queued (encoded lengths), bounded by `max_bytes`: one item is always taken
    /// when nothing is queued, so a message longer than the bound can still go out.
    bytes: AtomicUsize,
    max_bytes: usize,
    /// Below the low watermark again after crossing the high one (see `is_writable`).
    writable: AtomicBool,
    watermarks: (usize, usize),
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
    /// A queue of `capacity` items and `max_bytes` bytes; writability flips off above
    /// `watermarks.1` bytes and on again at or below `watermarks.0`.
    pub(crate) fn new(capacity: usize, max_bytes: usize, watermarks: (usize, usize)) -> Self {
        OutQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                waiter: None,
            }),
            closed: AtomicBool::new(false),
            room: Room::new(capacity),
            bytes: AtomicUsize::new(0),
            max_bytes: max_bytes.max(1),
            writable: AtomicBool::new(true),
            watermarks,
        }
    }

    /// Takes `n` bytes of the byte bound; false (nothing taken) when they do not fit and
    /// something is queued already.
    fn take_bytes(&self, n: usize) -> bool {
        let before = self.bytes.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.max_bytes {
            self.bytes.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        if before + n > self.watermarks.1 {
            self.writable.store(false, Ordering::Release);
        }
        true
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
            // A sender waiting for room (`push`) may fit now.
            self.room.wake_all();
        }
    }

    /// Bytes queued and not yet taken by the writer.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Whether the queued bytes are below the high watermark (with hysteresis: once above
    /// it, not until they fall to the low one).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
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

    /// Queues `item` of `bytes` bytes if both bounds have room.
    pub(crate) fn try_push(&self, item: Outgoing<S>, bytes: usize) -> Result<(), NotQueued<S>> {
        if self.is_closed() {
            return Err(NotQueued::Closed(item));
        }
        if !self.room.try_take() {
            return Err(NotQueued::Full(item));
        }
        if !self.take_bytes(bytes) {
            self.room.release(1);
            return Err(NotQueued::Full(item));
        }
        self.send(item, bytes).map_err(NotQueued::Closed)
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
            match self.try_push(item, bytes) {
                Err(NotQueued::Full(back)) => item = back,
                done => return done,
            }
            let wait = self.room.take(|| self.is_closed());
            match tokio::time::timeout_at(deadline, wait).await {
                // A slot came free: give it back and try both bounds again.
                Ok(true) => self.room.release(1),
                Ok(false) => return Err(NotQueued::Closed(item)),
                Err(_) => return Err(NotQueued::Full(item)),
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
        self.release_bytes(self.bytes());
        n
    }

    /// How many more items it takes now.
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
        let queue = OutQueue::new(3, 1 << 20, (1 << 19, 1 << 20));
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
        let queue = OutQueue::new(8, 1 << 20, (1 << 19, 1 << 20));
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
        let queue = OutQueue::new(100, 100, (20, 60));
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
}
