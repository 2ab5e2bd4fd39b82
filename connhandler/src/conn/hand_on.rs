//! The reader's hand-on to the central queue: room taken ahead in the queue's bounds (events
//! and bytes), the messages of one read collected and handed on together.
//!
//! | state | `credit` / `byte_credit` | `batch` | next |
//! | --- | --- | --- | --- |
//! | empty | 0 | empty | [`HandOn::offer`] takes up to `CREDIT` events and `BYTE_CREDIT` bytes (or the frame's length, if more) of room at once |
//! | collecting | room left | messages of this read | `offer` adds one per unit of room and its frame's bytes; a batch of `MAX_HANDED_AT_ONCE` is flushed at once |
//! | full | 0, none to take (either bound) | messages of this read | `offer` hands the event back; the reader flushes and waits ([`HandOn::room`]), still watching its socket |
//! | flushed | 0 (unused room given back) | empty (a spare vector) | after each read's messages, [`HandOn::flush`] |

use crate::central::{CentralSender, Ticket};

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
    central: CentralSender<E>,
    /// Messages decoded and given room in the central queue, not yet handed on.
    batch: Vec<E>,
    /// The bytes of the messages in `batch`.
    batch_bytes: usize,
    /// Room taken in the central queue and not used yet (given back at each flush).
    credit: usize,
    byte_credit: usize,
}

impl<E> HandOn<E> {
    pub(crate) fn new(central: CentralSender<E>) -> Self {
        HandOn {
            central,
            batch: Vec::new(),
            batch_bytes: 0,
            credit: 0,
            byte_credit: 0,
        }
    }

    /// Pushes an event that is never held back (`Connected`, `Disconnected`), keeping
    /// `ticket` until the central task takes it.
    pub(crate) fn push_unbounded(
        &self,
        event: E,
        ticket: Option<Ticket>,
    ) -> Result<(), QueueClosed> {
        self.central
            .push_unbounded(event, ticket)
            .map_err(|_| QueueClosed)
    }

    /// Runs `reached` once the central task has taken everything handed on before it.
    pub(crate) fn push_marker(&self, reached: impl FnOnce() + Send + 'static) {
        self.central.push_marker(reached);
    }

    /// Adds `event` (decoded from `bytes` bytes) to the batch if the queue has room for it;
    /// hands it back if not.
    #[inline]
    pub(crate) fn offer(&mut self, event: E, bytes: usize) -> Result<(), Refused<E>> {
        let bytes = if bytes < UNCOUNTED_BELOW { 0 } else { bytes };
        if self.credit == 0 {
            self.credit = self.central.try_reserve_up_to(CREDIT);
            if self.credit == 0 {
                return Err(Refused::Full(event));
            }
        }
        if self.byte_credit < bytes && !self.take_bytes(bytes) {
            return Err(Refused::Full(event));
        }
        self.credit -= 1;
        self.byte_credit -= bytes;
        self.push(event, bytes)
            .map_err(|QueueClosed| Refused::Closed)
    }

    /// Takes byte room for at least `bytes` more.
    fn take_bytes(&mut self, bytes: usize) -> bool {
        let want = bytes.max(BYTE_CREDIT);
        if self.central.try_reserve_bytes(want) {
            self.byte_credit += want;
            return true;
        }
        if want > bytes && self.central.try_reserve_bytes(bytes) {
            self.byte_credit += bytes;
            return true;
        }
        false
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
        let central = &self.central;
        let room = async {
            if !central.reserve().await {
                return false;
            }
            if !central.reserve_bytes(bytes).await {
                central.unreserve(1);
                return false;
            }
            true
        };
        let room = tokio::select! {
            biased;
            room = room => room,
            _ = stop => return Ok(false),
        };
        if !room {
            return Err(QueueClosed);
        }
        self.credit = 1;
        self.byte_credit = bytes;
        Ok(true)
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
        self.central.unreserve(std::mem::take(&mut self.credit));
        self.central
            .unreserve_bytes(std::mem::take(&mut self.byte_credit));
        let bytes = std::mem::take(&mut self.batch_bytes);
        if self.batch.len() <= 1 {
            // One message (a request awaiting its reply, typically): no batch to allocate.
            return match self.batch.pop() {
                Some(event) => self.central.push_one(event, bytes).map_err(|_| QueueClosed),
                None => Ok(()),
            };
        }
        let batch = std::mem::replace(&mut self.batch, self.central.batch_vec());
        self.central
            .push_batch(batch, bytes)
            .map_err(|_| QueueClosed)
    }
}
