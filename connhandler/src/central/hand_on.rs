//! The reader's hand-on to the central queue: room taken ahead in the queue's bounds (events
//! and bytes, a [`Reserved`]), the messages of one read collected and handed on together.
//! Connections' readers and the bus's use it.
//!
//! | state | `room` (events / bytes) | `batch` | next |
//! | --- | --- | --- | --- |
//! | empty | 0 | empty | [`HandOn::offer`] takes up to `CREDIT` events and `BYTE_CREDIT` bytes (or the frame's length, if more) of room at once |
//! | collecting | room left | messages of this read | `offer` adds one per unit of room and its frame's bytes; a batch of `MAX_HANDED_AT_ONCE` is flushed at once |
//! | full | 0, none to take (either bound) | messages of this read | `offer` hands the event back; the reader flushes and waits ([`HandOn::room`]), still watching its socket |
//! | flushed | 0 (unused room given back) | empty (a spare vector) | after each read's messages, [`HandOn::flush`] |

use super::{CentralSender, Reserved, Ticket};

/// A reader hands on at most this many messages at once.
const MAX_HANDED_AT_ONCE: usize = 256;
/// Room taken in the central queue's bound at once.
const CREDIT: usize = 32;
/// Bytes taken in the central queue's byte bound at once.
const BYTE_CREDIT: usize = 64 * 1024;
/// Frames shorter than this are bounded by the event count alone (1024 events of them hold
/// under 1 MiB): small messages, the common case, cost no atomic operation on the byte
/// bound, on either side of the queue.
const UNCOUNTED_BELOW: usize = 1024;

/// The queue closed: the program dropped its `Central`.
pub(crate) struct QueueClosed;

/// Why [`HandOn::offer`] did not take an event.
pub(crate) enum Refused<E> {
    /// No room in the central queue now: the event is handed back.
    Full(E),
    /// The central queue closed.
    Closed,
}

/// What one connection's reader has for the central queue and has not handed on yet.
pub(crate) struct HandOn<E> {
    /// Room taken in the central queue and not spent yet (given back at each flush).
    room: Reserved<E>,
    /// Messages decoded and given room in the central queue, not yet handed on.
    batch: Vec<E>,
    /// The bytes of the messages in `batch`.
    batch_bytes: usize,
}

impl<E> HandOn<E> {
    pub(crate) fn new(central: CentralSender<E>) -> Self {
        HandOn {
            room: Reserved::new(central),
            batch: Vec::new(),
            batch_bytes: 0,
        }
    }

    /// Pushes an event that is never held back (`Connected`, `Disconnected`), keeping
    /// `ticket` until the central task takes it.
    pub(crate) fn push_unbounded(
        &self,
        event: E,
        ticket: Option<Ticket>,
    ) -> Result<(), QueueClosed> {
        self.room
            .central()
            .push_unbounded(event, ticket)
            .map_err(|_| QueueClosed)
    }

    /// Runs `reached` once the central task has taken everything handed on before it.
    pub(crate) fn push_marker(&self, reached: impl FnOnce() + Send + 'static) {
        self.room.central().push_marker(reached);
    }

    /// Adds `event` (decoded from `bytes` bytes) to the batch if the queue has room for it;
    /// hands it back if not.
    #[inline]
    pub(crate) fn offer(&mut self, event: E, bytes: usize) -> Result<(), Refused<E>> {
        let bytes = if bytes < UNCOUNTED_BELOW { 0 } else { bytes };
        if self.room.events() == 0 && self.room.try_events(CREDIT) == 0 {
            return Err(Refused::Full(event));
        }
        if self.room.bytes() < bytes && !self.take_bytes(bytes) {
            return Err(Refused::Full(event));
        }
        self.room.spend(bytes);
        self.push(event, bytes)
            .map_err(|QueueClosed| Refused::Closed)
    }

    /// Takes byte room for at least `bytes` more.
    fn take_bytes(&mut self, bytes: usize) -> bool {
        let want = bytes.max(BYTE_CREDIT);
        self.room.try_bytes(want) || (want > bytes && self.room.try_bytes(bytes))
    }

    /// The queue has no room: hands on what was collected, then waits until it has room
    /// for one more event of `bytes` bytes (taken then). `Ok(false)` when `stop` (the
    /// connection's close, say) came first.
    #[cold]
    pub(crate) async fn room(
        &mut self,
        bytes: usize,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<bool, QueueClosed> {
        self.flush()?;
        let room = tokio::select! {
            biased;
            room = self.room.wait(bytes) => room,
            _ = stop => return Ok(false),
        };
        if room {
            Ok(true)
        } else {
            Err(QueueClosed)
        }
    }

    fn push(&mut self, event: E, bytes: usize) -> Result<(), QueueClosed> {
        self.batch.push(event);
        self.batch_bytes += bytes;
        if self.batch.len() >= MAX_HANDED_AT_ONCE {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the collected messages to the central queue, and gives back unused room.
    pub(crate) fn flush(&mut self) -> Result<(), QueueClosed> {
        self.room.release();
        let bytes = std::mem::take(&mut self.batch_bytes);
        let central = self.room.central();
        if self.batch.len() <= 1 {
            // One message (a request awaiting its reply, typically): no batch to allocate.
            return match self.batch.pop() {
                Some(event) => central.push_one(event, bytes).map_err(|_| QueueClosed),
                None => Ok(()),
            };
        }
        let batch = std::mem::replace(&mut self.batch, central.batch_vec());
        central.push_batch(batch, bytes).map_err(|_| QueueClosed)
    }
}
