//! Room in the central queue's bounds taken ahead, as a value: a reader takes room for many
//! events and bytes at once (one atomic operation rather than one per message), spends it
//! event by event, and gives back what it did not spend, at the latest when the value is
//! dropped (as tokio's `Permit` gives back its slot).
//!
//! | room | taken by | spent by | given back by |
//! | --- | --- | --- | --- |
//! | events | [`Reserved::try_events`] (up to n, now), [`Reserved::wait`] (one, waiting) | [`Reserved::spend`], one per event handed on | [`Reserved::release`], or dropping it |
//! | bytes | [`Reserved::try_bytes`] (now), [`Reserved::wait`] (waiting) | `spend`, the event's frame bytes | the same |
//!
//! Spent room belongs to the events handed on: the central task gives it back as it takes
//! them (`Central::open`).

use super::CentralSender;

/// Room taken ahead in one central queue's bounds (see the module's table).
pub(crate) struct Reserved<E> {
    central: CentralSender<E>,
    events: usize,
    bytes: usize,
}

impl<E> Reserved<E> {
    /// No room yet, in `central`'s bounds.
    pub(crate) fn new(central: CentralSender<E>) -> Self {
        Reserved {
            central,
            events: 0,
            bytes: 0,
        }
    }

    /// The queue this is room in.
    pub(crate) fn central(&self) -> &CentralSender<E> {
        &self.central
    }

    /// Room for events held now.
    pub(crate) fn events(&self) -> usize {
        self.events
    }

    /// Room for bytes held now.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes room for up to `n` more events if there is some now; how many it got.
    pub(crate) fn try_events(&mut self, n: usize) -> usize {
        let got = self.central.try_reserve_up_to(n);
        self.events += got;
        got
    }

    /// Takes room for `n` more bytes if they fit now.
    pub(crate) fn try_bytes(&mut self, n: usize) -> bool {
        let got = self.central.try_reserve_bytes(n);
        if got {
            self.bytes += n;
        }
        got
    }

    /// Waits for room for one event and `bytes` bytes; `false` once the queue is closed (with
    /// nothing taken).
    /// Dropped while waiting (its caller gave up), it keeps what it took so far, given back
    /// with the rest.
    pub(crate) async fn wait(&mut self, bytes: usize) -> bool {
        if !self.central.reserve().await {
            return false;
        }
        self.events += 1;
        if !self.central.reserve_bytes(bytes).await {
            self.release();
            return false;
        }
        self.bytes += bytes;
        true
    }

    /// Spends room on one event of `bytes` bytes handed on (the caller checked it holds it).
    pub(crate) fn spend(&mut self, bytes: usize) {
        debug_assert!(
            self.events >= 1 && self.bytes >= bytes,
            "spent room not held"
        );
        self.events -= 1;
        self.bytes -= bytes;
    }

    /// Gives back the room not spent.
    pub(crate) fn release(&mut self) {
        self.central.unreserve(std::mem::take(&mut self.events));
        self.central
            .unreserve_bytes(std::mem::take(&mut self.bytes));
    }
}

impl<E> Drop for Reserved<E> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::central_with_bytes;

    #[test]
    fn room_not_spent_comes_back_when_released_or_dropped() {
        let (tx, _central) = central_with_bytes::<u8>(4, 4096);
        let mut room = Reserved::new(tx.clone());
        assert_eq!(room.try_events(3), 3);
        assert!(room.try_bytes(3000));
        let mut other = Reserved::new(tx.clone());
        assert_eq!(other.try_events(3), 1, "one event of room left");
        assert!(!other.try_bytes(2000), "1096 bytes left");
        room.spend(1000);
        room.release();
        assert_eq!((room.events(), room.bytes()), (0, 0));
        drop(other);
        // 1 event and 1000 bytes spent (held by an event never handed on in this test).
        let mut again = Reserved::new(tx);
        assert_eq!(again.try_events(8), 3);
        assert!(again.try_bytes(3096));
        assert!(!again.try_bytes(1));
    }

    #[tokio::test]
    async fn waiting_for_room_ends_when_the_queue_closes() {
        let (tx, central) = central_with_bytes::<u8>(1, 4096);
        let mut full = Reserved::new(tx.clone());
        assert_eq!(full.try_events(1), 1);
        let mut waiting = Reserved::new(tx);
        drop(central);
        assert!(!waiting.wait(10).await);
        assert_eq!((waiting.events(), waiting.bytes()), (0, 0));
    }
}
