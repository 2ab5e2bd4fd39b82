//! The bound of a queue whose items travel without one (tokio's unbounded channel for the
//! central queue, a `VecDeque` behind a lock for each connection's outgoing queue), kept in
//! one atomic count: taking and giving back room takes no lock, and a sender waits on a
//! notification only while the queue is full.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

pub(crate) struct Room {
    capacity: usize,
    used: AtomicUsize,
    freed: Notify,
}

impl Room {
    /// Room for `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Room {
            capacity: capacity.max(1),
            used: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Items holding room now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Room left now.
    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.used())
    }

    pub(crate) fn try_take(&self) -> bool {
        self.try_take_up_to(1) == 1
    }

    /// Takes room for up to `n` items; how many it got (0 when full).
    pub(crate) fn try_take_up_to(&self, n: usize) -> usize {
        let mut cur = self.used.load(Ordering::Acquire);
        while cur < self.capacity {
            let take = n.min(self.capacity - cur);
            match self.used.compare_exchange_weak(
                cur,
                cur + take,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(now) => cur = now,
            }
        }
        0
    }

    /// Takes room for one item even when full.
    pub(crate) fn force_take(&self) {
        self.used.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits for room for one item and takes it; `false` once `closed` says the queue is
    /// closed (after which `wake_all` must be called).
    pub(crate) async fn take(&self, closed: impl Fn() -> bool) -> bool {
        loop {
            if closed() {
                return false;
            }
            if self.try_take() {
                return true;
            }
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            // Room made, or the queue closed, between the attempt and `enable` is not
            // missed.
            if closed() {
                return false;
            }
            if self.try_take() {
                return true;
            }
            freed.await;
        }
    }

    /// Gives back room for `n` items.
    pub(crate) fn release(&self, n: usize) {
        let before = self.used.fetch_sub(n, Ordering::AcqRel);
        if before >= self.capacity {
            self.freed.notify_waiters();
        }
    }

    /// A wake-up at the next release of room (or [`wake_all`](Self::wake_all)); enable it
    /// before checking, so that one between the check and the wait is not missed.
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    /// Wakes every waiting sender (the queue closed).
    pub(crate) fn wake_all(&self) {
        self.freed.notify_waiters();
    }
}
