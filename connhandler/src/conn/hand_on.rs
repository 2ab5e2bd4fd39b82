//! The reader's hand-on to the central queue: room taken ahead in the queue's bound, the
//! messages of one read collected and handed on together.
//!
//! | state | `credit` | `batch` | next |
//! | --- | --- | --- | --- |
//! | empty | 0 | empty | [`HandOn::offer`] takes up to `CREDIT` room at once |
//! | collecting | room left | messages of this read | `offer` adds one per unit of room; a batch of `MAX_HANDED_AT_ONCE` is flushed at once |
//! | full | 0, none to take | messages of this read | `offer` hands the event back; the reader flushes and waits ([`HandOn::wait_for_room`]): reading pauses, TCP pushes back on the peer |
//! | flushed | 0 (unused room given back) | empty (a spare vector) | after each read's messages, [`HandOn::flush`] |

use super::close::Closing;
use crate::central::CentralSender;

/// A reader hands on at most this many messages at once.
const MAX_HANDED_AT_ONCE: usize = 256;
/// Room taken in the central queue's bound at once.
const CREDIT: usize = 32;

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
    /// Room taken in the central queue and not used yet (given back at each flush).
    credit: usize,
}

impl<E> HandOn<E> {
    pub(crate) fn new(central: CentralSender<E>) -> Self {
        HandOn {
            central,
            batch: Vec::new(),
            credit: 0,
        }
    }

    /// Pushes an event that is never held back (`Connected`, `Disconnected`).
    pub(crate) fn push_unbounded(&self, event: E) -> Result<(), QueueClosed> {
        self.central.push_unbounded(event).map_err(|_| QueueClosed)
    }

    /// Adds `event` to the batch if the queue has room for it; hands it back if not.
    #[inline]
    pub(crate) fn offer(&mut self, event: E) -> Result<(), Refused<E>> {
        if self.credit == 0 {
            self.credit = self.central.try_reserve_up_to(CREDIT);
        }
        if self.credit == 0 {
            return Err(Refused::Full(event));
        }
        self.credit -= 1;
        self.push(event).map_err(|QueueClosed| Refused::Closed)
    }

    /// The queue is full: hands on what was collected, then waits for room (reading pauses
    /// meanwhile, so TCP pushes back on the peer). `Ok(false)` when the connection closed
    /// meanwhile.
    #[cold]
    pub(crate) async fn wait_for_room(
        &mut self,
        event: E,
        closing: &Closing,
    ) -> Result<bool, QueueClosed> {
        self.flush()?;
        let room = tokio::select! {
            biased;
            room = self.central.reserve() => room,
            _ = closing.cancelled() => return Ok(false),
        };
        if !room {
            return Err(QueueClosed);
        }
        self.push(event)?;
        Ok(true)
    }

    fn push(&mut self, event: E) -> Result<(), QueueClosed> {
        self.batch.push(event);
        if self.batch.len() >= MAX_HANDED_AT_ONCE {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the collected messages to the central queue, and gives back unused room.
    pub(crate) fn flush(&mut self) -> Result<(), QueueClosed> {
        self.central.unreserve(std::mem::take(&mut self.credit));
        if self.batch.len() <= 1 {
            // One message (a request awaiting its reply, typically): no batch to allocate.
            return match self.batch.pop() {
                Some(event) => self.central.push_one(event).map_err(|_| QueueClosed),
                None => Ok(()),
            };
        }
        let batch = std::mem::replace(&mut self.batch, self.central.batch_vec());
        self.central.push_batch(batch).map_err(|_| QueueClosed)
    }
}
