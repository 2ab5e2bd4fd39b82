//! Backpressure from a peer's own queue: a connection's reader stops handing on that peer's
//! messages while the peer has enough to answer already, so the kernel's flow control slows
//! it down, instead of its replies overflowing its queue and cutting it.
//!
//! What a peer has to answer is measured in bytes of memory (encoded lengths plus a slot per
//! item): its outgoing queue, and the messages the reader handed on to the central task that
//! the central task has not finished yet (in flight). The central task's progress is
//! confirmed by markers in the central queue (run when the central task reaches them, so
//! every reply to what came before is queued by then): no per-message cost on its side.
//!
//! | state | reader | next |
//! | --- | --- | --- |
//! | free | hands on each message; after a read, a marker when a lot is in flight unconfirmed | the queue and what is in flight reach the high mark (the high write watermark): busy, holding the message |
//! | busy | flushes, sends a marker for what it handed on, reads nothing (TCP slows the peer) but watches the socket | the queue drains and the markers confirm down to the low mark (the low watermark), or nothing is queued and nothing in flight: free, the held message handed on |
//! | busy, writer blocked | as busy | blocked for `write_timeout` with the queue above its mark: the queue policy (`Disconnect`: cut with `QueueFull`; `Fail`: stays busy) |
//!
//! One message is always let through when nothing is queued and nothing is in flight, so a
//! message longer than the marks is served, one at a time.
//!
//! On by default for incoming handlers, off for outgoing ones: only one side of a connection
//! may hold reading for what it has queued, or two connhandler programs that each queued
//! more for the other than the other's marks would each wait for the other to read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// The shared half: what the markers confirmed, and the reader's wake-up.
#[derive(Default)]
pub(crate) struct Pressure {
    /// Messages (and their memory) the central task finished, as the markers counted them.
    confirmed: AtomicU64,
    confirmed_mem: AtomicU64,
    /// Whether the reader waits for the pressure to ease.
    waiting: AtomicBool,
    eased: Notify,
}

impl Pressure {
    /// A marker was reached: the central task finished the first `count` messages handed on,
    /// of `mem` bytes.
    pub(crate) fn confirm(&self, count: u64, mem: u64) {
        self.confirmed_mem.store(mem, Ordering::Release);
        self.confirmed.store(count, Ordering::Release);
        self.ease();
    }

    /// Something drained: wakes the reader if it waits.
    #[inline]
    pub(crate) fn ease(&self) {
        if self.waiting.load(Ordering::Acquire) {
            self.eased.notify_one();
        }
    }

    /// The reader's side: from now on, easing wakes it.
    pub(crate) fn watch(&self, on: bool) {
        self.waiting.store(on, Ordering::SeqCst);
    }

    /// The reader's side: waits for the next easing after [`watch`](Self::watch)`(true)`
    /// (one that came between the two is not missed: it left a permit).
    pub(crate) async fn eased(&self) {
        self.eased.notified().await
    }
}

/// What the peer has to answer, as the reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Load {
    /// Items in the outgoing queue.
    pub(crate) queued: usize,
    /// Their memory (encoded bytes plus a slot each).
    pub(crate) queued_mem: usize,
    /// Messages handed on and not confirmed.
    pub(crate) flight: u64,
    pub(crate) flight_mem: u64,
}

impl Load {
    fn mem(&self) -> u64 {
        self.queued_mem as u64 + self.flight_mem
    }

    fn is_empty(&self) -> bool {
        self.queued == 0 && self.flight == 0
    }
}

/// The reader's half: what it handed on, and the marks.
#[derive(Debug)]
pub(crate) struct Flight {
    /// Messages handed on since the connection opened, and their memory.
    handed: u64,
    handed_mem: u64,
    /// What the last marker sent covers.
    marked: u64,
    /// Busy at or above this much memory; free again at or below `low`.
    high: u64,
    low: u64,
    /// The memory a queued item takes beside its encoded bytes.
    slot: u64,
    /// Memory that messages may still take before the load is looked at again: set from a
    /// full look once per read ([`refresh`](Self::refresh)), so that a message costs no atomic
    /// load. What the program pushes meanwhile is seen at the next look.
    room: u64,
}

impl Flight {
    /// Marks from the write watermarks (`(low, high)` bytes; `None`: backpressure off, never
    /// busy); `slot` bytes per item.
    pub(crate) fn new(watermarks: Option<(usize, usize)>, slot: usize) -> Self {
        let (low, high) = watermarks.map_or((u64::MAX, u64::MAX), |(low, high)| {
            (low as u64, high.max(1) as u64)
        });
        Flight {
            handed: 0,
            handed_mem: 0,
            marked: 0,
            high,
            low,
            slot: slot as u64,
            room: 0,
        }
    }

    /// The peer's load now: its queue (`queued` items, `queued_mem`) and what is in flight.
    #[inline]
    pub(crate) fn load(&self, pressure: &Pressure, queued: usize, queued_mem: usize) -> Load {
        let confirmed = pressure.confirmed.load(Ordering::Acquire);
        let confirmed_mem = pressure.confirmed_mem.load(Ordering::Acquire);
        Load {
            queued,
            queued_mem,
            flight: self.handed.saturating_sub(confirmed),
            flight_mem: self.handed_mem.saturating_sub(confirmed_mem),
        }
    }

    /// Whether a message of `bytes` must wait: the load with it would pass the high mark
    /// (one always goes when nothing is queued or in flight).
    #[inline]
    pub(crate) fn is_busy(&self, load: &Load, bytes: usize) -> bool {
        !load.is_empty() && (load.mem() + bytes as u64).saturating_add(self.slot) > self.high
    }

    /// Takes room for a message of `bytes` from what the last look left; false when there
    /// is not enough (then look again: [`load`](Self::load), [`is_busy`](Self::is_busy)).
    #[inline]
    pub(crate) fn take_room(&mut self, bytes: usize) -> bool {
        let cost = bytes as u64 + self.slot;
        if cost > self.room {
            return false;
        }
        self.room -= cost;
        true
    }

    /// Sets the room from a full look at the load (and takes `bytes` of it, for the message
    /// that looked, if any).
    #[inline]
    pub(crate) fn refresh(&mut self, load: &Load, bytes: Option<usize>) {
        self.room = self.high.saturating_sub(load.mem());
        if let Some(bytes) = bytes {
            self.room = self.room.saturating_sub(bytes as u64 + self.slot);
        }
    }

    /// Whether a busy reader may go on: down to the low mark, or nothing left at all.
    pub(crate) fn is_free(&self, load: &Load) -> bool {
        load.is_empty() || load.mem() <= self.low
    }

    /// A message of `bytes` was handed on.
    #[inline]
    pub(crate) fn handed(&mut self, bytes: usize) {
        self.handed += 1;
        self.handed_mem += bytes as u64 + self.slot;
    }

    /// The marker to send now, if one is due: always when `busy` (and something handed on
    /// is not covered yet), else once half the high mark is in flight unconfirmed. Returns
    /// what it covers: (messages, memory).
    #[inline]
    pub(crate) fn marker_due(&mut self, load: &Load, busy: bool) -> Option<(u64, u64)> {
        if self.marked == self.handed {
            return None;
        }
        if !busy && load.flight_mem < self.high / 2 {
            return None;
        }
        self.marked = self.handed;
        Some((self.handed, self.handed_mem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_is_busy_above_the_high_mark_and_free_at_the_low_one() {
        let pressure = Pressure::default();
        let mut flight = Flight::new(Some((100, 400)), 10);
        let load = flight.load(&pressure, 0, 0);
        assert!(
            !flight.is_busy(&load, 10_000),
            "one message always goes when nothing is queued or in flight"
        );
        for _ in 0..3 {
            flight.handed(90);
        }
        let load = flight.load(&pressure, 0, 0);
        assert_eq!(load.flight_mem, 300);
        assert!(!flight.is_busy(&load, 80), "300 + 80 + 10 is under 400");
        assert!(flight.is_busy(&load, 100));
        // The queue counts too.
        let load = flight.load(&pressure, 1, 100);
        assert!(flight.is_busy(&load, 0));
        assert!(!flight.is_free(&load));
        // A marker covers the three; once reached, they are no longer in flight.
        assert_eq!(flight.marker_due(&load, true), Some((3, 300)));
        assert_eq!(flight.marker_due(&load, true), None, "nothing new to cover");
        pressure.confirm(3, 300);
        let load = flight.load(&pressure, 1, 100);
        assert_eq!((load.flight, load.flight_mem), (0, 0));
        assert!(flight.is_free(&load));
    }

    #[test]
    fn a_marker_goes_unasked_only_once_half_the_mark_is_in_flight() {
        let pressure = Pressure::default();
        let mut flight = Flight::new(Some((100, 400)), 0);
        flight.handed(150);
        let load = flight.load(&pressure, 0, 0);
        assert_eq!(flight.marker_due(&load, false), None);
        flight.handed(60);
        let load = flight.load(&pressure, 0, 0);
        assert_eq!(flight.marker_due(&load, false), Some((2, 210)));
    }

    #[test]
    fn room_from_one_look_is_spent_without_looking_again() {
        let pressure = Pressure::default();
        let mut flight = Flight::new(Some((100, 400)), 10);
        assert!(!flight.take_room(1), "no look yet");
        let load = flight.load(&pressure, 1, 100);
        flight.refresh(&load, None);
        assert!(flight.take_room(90));
        assert!(flight.take_room(190));
        assert!(
            !flight.take_room(1),
            "100 + 100 + 200 reach the mark of 400"
        );
        // Off: never busy, any room.
        let mut off = Flight::new(None, 10);
        let load = off.load(&pressure, 1000, 1 << 30);
        assert!(!off.is_busy(&load, 1 << 20));
        off.refresh(&load, Some(1 << 20));
        assert!(off.take_room(1 << 20));
    }
}
