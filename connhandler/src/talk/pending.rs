//! The requests of one connection that wait for their replies, and the one timer that keeps
//! their time-outs.
//!
//! | entry | made | ends |
//! | --- | --- | --- |
//! | waiting | `register`, under the table's lock, together with queueing the request | its reply comes (its slot is filled), or the connection ends (the slot gets `Disconnected`) |
//! | abandoned (its slot wants nothing: the time-out filled it, or the `Reply` was dropped) | | by order: its reply comes and is dropped (the entry keeps its place, so later replies still pair with their own requests); by correlation: the same, or it is the oldest abandoned entry when the table is full and a new request needs room |
//!
//! A reply is found for a message as follows: a message with a correlation id answers the
//! waiting entry with that id whose pairing accepts it; a message without one answers the
//! oldest by-order entry if that entry's pairing accepts it. Every other message is not a
//! reply and goes to the central queue.
//!
//! Time-outs: one task per connection that made a request, with one timer armed at the
//! earliest deadline of the entries still wanted (no timer, no task per request). A new
//! entry whose deadline comes first (the first one, or a `Reply::timeout` shortened) wakes
//! it; a deadline that passed with its entry answered is found when the timer fires, and
//! the timer re-armed then.
//!
//! | timer | armed at | wakes on |
//! | --- | --- | --- |
//! | idle | none (nothing wanted) | a new entry |
//! | armed | the earliest deadline it saw | that instant (it fills the slots due with `TimedOut`), or an entry with an earlier deadline |
//! | stopped | | the connection's end (or the table dropped) |

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{
    sync::{watch, Notify},
    time::Instant,
};

use super::{
    request::{By, Pairing, RequestError},
    slot::Slot,
};

struct Entry<R> {
    answers: fn(&R) -> bool,
    key: Option<u64>,
    slot: Arc<Slot<R>>,
    /// When the request was queued, and how long its reply may take.
    asked: Instant,
    timeout: Duration,
}

impl<R> Entry<R> {
    fn deadline(&self) -> Instant {
        self.asked + self.timeout
    }
}

struct Table<R> {
    entries: VecDeque<Entry<R>>,
    ended: Option<String>,
    next_key: u64,
    /// The instant the timer sleeps until, if it sleeps until one.
    armed: Option<Instant>,
}

/// The table and the timer's wake-up, shared by the connection and its timer task.
pub(crate) struct Waiting<R> {
    table: Mutex<Table<R>>,
    clock: Notify,
}

impl<R> Waiting<R> {
    fn lock(&self) -> MutexGuard<'_, Table<R>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure the timer wakes by `due`.
    fn arm(&self, table: &mut Table<R>, due: Instant) {
        if table.armed.is_none_or(|at| due < at) {
            table.armed = Some(due);
            self.clock.notify_one();
        }
    }
}

/// A request's way to change its time-out after it was made (`Reply::timeout`): back to its
/// entry in the connection's table, or to the task that keeps its own time (the bus's).
pub(crate) enum Retime<R> {
    Table(Arc<Waiting<R>>),
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Own(watch::Sender<Duration>),
}

impl<R> Retime<R> {
    /// For a request that keeps its own time: the receiver says the time-out, and closes
    /// when the `Reply` is dropped (nobody waits any more).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn own(timeout: Duration) -> (Self, watch::Receiver<Duration>) {
        let (tx, rx) = watch::channel(timeout);
        (Retime::Own(tx), rx)
    }

    /// The request of `slot` now times out `timeout` after it was made.
    pub(crate) fn set(&self, slot: &Arc<Slot<R>>, timeout: Duration) {
        let waiting = match self {
            Retime::Table(waiting) => waiting,
            Retime::Own(tx) => {
                let _ = tx.send(timeout);
                return;
            }
        };
        let mut table = waiting.lock();
        let Some(entry) = table
            .entries
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.slot, slot))
        else {
            return;
        };
        entry.timeout = timeout;
        let due = entry.deadline();
        waiting.arm(&mut table, due);
    }
}

/// The requests of one connection waiting for replies (see the module's table).
pub(crate) struct Pending<R> {
    waiting: Arc<Waiting<R>>,
    max: usize,
    correlation: fn(&R) -> Option<u64>,
}

impl<R: Send + 'static> Pending<R> {
    /// A table of at most `max` requests, its timer task spawned on `runtime` (the current
    /// one if `None`; with neither, time-outs are kept by nobody and a warning says so).
    pub(crate) fn new(
        max: usize,
        correlation: fn(&R) -> Option<u64>,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Self {
        let waiting = Arc::new(Waiting {
            table: Mutex::new(Table {
                entries: VecDeque::new(),
                ended: None,
                next_key: 1,
                armed: None,
            }),
            clock: Notify::new(),
        });
        let timer = keep_time(waiting.clone());
        match runtime
            .cloned()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        {
            Some(rt) => drop(rt.spawn(timer)),
            None => tracing::warn!("requests made outside a Tokio runtime: no time-outs"),
        }
        Pending {
            waiting,
            max: max.max(1),
            correlation,
        }
    }
}

impl<R> Pending<R> {
    /// A way back to the table for a request's `Reply`.
    pub(crate) fn retime(&self) -> Retime<R> {
        Retime::Table(self.waiting.clone())
    }

    /// Registers a request and queues it (`queue`) under the table's lock, so that by-order
    /// pairing follows the order on the wire. A correlated request gets a fresh key,
    /// written into it by `set_key` (which returns the key as the field holds it). Its
    /// outcome goes to `slot`, within `timeout`.
    pub(crate) fn register<M>(
        &self,
        mut msg: M,
        pairing: Pairing<R>,
        mut set_key: impl FnMut(&mut M, u64) -> u64,
        queue: impl FnOnce(M) -> Result<(), RequestError>,
        slot: Arc<Slot<R>>,
        timeout: Duration,
    ) -> Result<(), RequestError> {
        let mut table = self.waiting.lock();
        if table.ended.is_some() {
            return Err(RequestError::Closed);
        }
        if table.entries.len() >= self.max && !table.evict_abandoned() {
            return Err(RequestError::TooMany(table.entries.len()));
        }
        let key = match pairing.by {
            By::Order => None,
            By::Correlation => Some(table.fresh_key(|id| set_key(&mut msg, id))),
        };
        queue(msg)?;
        self.push(&mut table, pairing.answers, key, slot, timeout);
        Ok(())
    }

    /// As [`register`](Self::register), for a request made around its correlation id:
    /// `make` builds it from a fresh id, `written` says the id as the field holds it, and
    /// `pairing` says how it is answered (`None`: not a request).
    pub(crate) fn register_with<M>(
        &self,
        make: impl FnOnce(u64) -> M,
        written: impl Fn(u64) -> u64,
        pairing: impl FnOnce(&M) -> Option<Pairing<R>>,
        queue: impl FnOnce(M) -> Result<(), RequestError>,
        slot: Arc<Slot<R>>,
        timeout: Duration,
    ) -> Result<(), RequestError> {
        let mut table = self.waiting.lock();
        if table.ended.is_some() {
            return Err(RequestError::Closed);
        }
        if table.entries.len() >= self.max && !table.evict_abandoned() {
            return Err(RequestError::TooMany(table.entries.len()));
        }
        let id = table.fresh_key(written);
        let msg = make(id);
        let Some(pairing) = pairing(&msg) else {
            return Err(RequestError::NotARequest);
        };
        let key = (pairing.by == By::Correlation).then_some(id);
        queue(msg)?;
        self.push(&mut table, pairing.answers, key, slot, timeout);
        Ok(())
    }

    fn push(
        &self,
        table: &mut Table<R>,
        answers: fn(&R) -> bool,
        key: Option<u64>,
        slot: Arc<Slot<R>>,
        timeout: Duration,
    ) {
        let entry = Entry {
            answers,
            key,
            slot,
            asked: Instant::now(),
            timeout,
        };
        let due = entry.deadline();
        table.entries.push_back(entry);
        self.waiting.arm(table, due);
    }

    /// Hands `msg` to the request it answers (`None`), or gives it back: not a reply.
    pub(crate) fn route(&self, msg: R) -> Option<R> {
        let mut table = self.waiting.lock();
        if table.entries.is_empty() {
            return Some(msg);
        }
        let at = match (self.correlation)(&msg) {
            Some(key) => table
                .entries
                .iter()
                .position(|e| e.key == Some(key) && (e.answers)(&msg)),
            None => table
                .entries
                .iter()
                .position(|e| e.key.is_none())
                .filter(|&i| (table.entries[i].answers)(&msg)),
        };
        let Some(at) = at else {
            return Some(msg);
        };
        let entry = table.entries.remove(at).expect("found above");
        drop(table);
        if !entry.slot.fill(Ok(msg)) {
            tracing::debug!("a reply came after its request was given up; dropped");
        }
        None
    }

    /// The connection ended: every waiting request fails with `why`, later ones are
    /// refused, and the timer stops.
    pub(crate) fn end(&self, why: &str) {
        let entries = {
            let mut table = self.waiting.lock();
            table.ended = Some(why.to_owned());
            std::mem::take(&mut table.entries)
        };
        self.waiting.clock.notify_one();
        for entry in entries {
            entry
                .slot
                .fill(Err(RequestError::Disconnected(why.to_owned())));
        }
    }

    /// How many entries the table holds (abandoned ones too).
    pub(crate) fn len(&self) -> usize {
        self.waiting.lock().entries.len()
    }
}

impl<R> Drop for Pending<R> {
    /// A table that was never ended (its connection's tasks did not run to their end): its
    /// requests fail, and its timer task stops.
    fn drop(&mut self) {
        if self.waiting.lock().ended.is_none() {
            self.end("the connection ended");
        }
    }
}

/// The timer task of one connection's requests (see the module's table): fills the slots
/// of entries past their deadline with `TimedOut`, then sleeps until the next deadline or
/// a wake-up, until the table ends.
async fn keep_time<R>(waiting: Arc<Waiting<R>>) {
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut table = waiting.lock();
            if table.ended.is_some() {
                return;
            }
            let mut next: Option<Instant> = None;
            for entry in &table.entries {
                if !entry.slot.is_wanted() {
                    continue;
                }
                let at = entry.deadline();
                if at <= now {
                    due.push((entry.slot.clone(), entry.timeout));
                } else if next.is_none_or(|n| at < n) {
                    next = Some(at);
                }
            }
            table.armed = next;
            next
        };
        for (slot, timeout) in due {
            slot.fill(Err(RequestError::TimedOut(timeout)));
        }
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = waiting.clock.notified() => {}
                }
            }
            None => waiting.clock.notified().await,
        }
    }
}

impl<R> Table<R> {
    /// A correlation id no waiting request has, written into `msg` (ids as a narrow field
    /// holds them repeat; those still waiting, at most `max`, are skipped).
    fn fresh_key(&mut self, mut written: impl FnMut(u64) -> u64) -> u64 {
        let mut key = 0;
        for _ in 0..=self.entries.len() {
            let id = self.next_key;
            self.next_key = id.wrapping_add(1);
            key = written(id);
            if !self.entries.iter().any(|e| e.key == Some(key)) {
                break;
            }
        }
        key
    }

    /// Room for one more: drops the oldest abandoned entry paired by correlation (its
    /// late reply, if it comes, then goes to the central queue); by-order entries keep
    /// their place.
    fn evict_abandoned(&mut self) -> bool {
        match self
            .entries
            .iter()
            .position(|e| e.key.is_some() && !e.slot.is_wanted())
        {
            Some(at) => {
                self.entries.remove(at);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Msg {
        Reply(u32),
        Keyed(u64),
        Other,
    }

    fn correlation(m: &Msg) -> Option<u64> {
        match m {
            Msg::Keyed(k) => Some(*k),
            _ => None,
        }
    }

    const BY_ORDER: Pairing<Msg> = Pairing {
        answers: |m| matches!(m, Msg::Reply(_)),
        by: By::Order,
    };
    const BY_KEY: Pairing<Msg> = Pairing {
        answers: |m| matches!(m, Msg::Keyed(_)),
        by: By::Correlation,
    };

    const LONG: Duration = Duration::from_secs(30);

    fn ask(
        p: &Pending<Msg>,
        pairing: Pairing<Msg>,
    ) -> (Result<(), RequestError>, Arc<Slot<Msg>>, u64) {
        ask_within(p, pairing, LONG)
    }

    fn ask_within(
        p: &Pending<Msg>,
        pairing: Pairing<Msg>,
        timeout: Duration,
    ) -> (Result<(), RequestError>, Arc<Slot<Msg>>, u64) {
        let slot = Arc::new(Slot::new());
        let mut written = 0;
        let r = p.register(
            (),
            pairing,
            |_, id| {
                written = id;
                id
            },
            |()| Ok(()),
            slot.clone(),
            timeout,
        );
        (r, slot, written)
    }

    /// The slot's outcome, if it has one.
    fn outcome(slot: &Slot<Msg>) -> Option<Result<Msg, RequestError>> {
        match slot.poll(std::task::Waker::noop()) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn an_abandoned_by_order_slot_takes_its_late_reply() {
        let p = Pending::new(8, correlation, None);
        let (_, first, _) = ask(&p, BY_ORDER);
        let (_, second, _) = ask(&p, BY_ORDER);
        first.give_up(); // its Reply dropped
        assert_eq!(p.route(Msg::Other), Some(Msg::Other), "not a reply");
        assert_eq!(
            p.route(Msg::Reply(1)),
            None,
            "the first slot takes its late reply"
        );
        assert_eq!(p.route(Msg::Reply(2)), None);
        assert_eq!(outcome(&second), Some(Ok(Msg::Reply(2))));
        assert_eq!(p.route(Msg::Reply(3)), Some(Msg::Reply(3)), "nobody waits");
    }

    #[tokio::test]
    async fn correlated_replies_pair_out_of_order_and_the_bound_holds() {
        let p = Pending::new(2, correlation, None);
        let (_, a, ka) = ask(&p, BY_KEY);
        let (_, b, kb) = ask(&p, BY_KEY);
        assert_ne!(ka, kb);
        let (full, _, _) = ask(&p, BY_KEY);
        assert_eq!(full, Err(RequestError::TooMany(2)));
        assert_eq!(p.route(Msg::Keyed(kb)), None);
        assert_eq!(outcome(&b), Some(Ok(Msg::Keyed(kb))));
        assert_eq!(p.route(Msg::Keyed(999)), Some(Msg::Keyed(999)));
        // An abandoned correlated entry makes room when the table is full.
        let (_, c, _) = ask(&p, BY_KEY);
        c.give_up();
        let (ok, _, _) = ask(&p, BY_KEY);
        assert_eq!(ok, Ok(()));
        p.end("closed by the peer");
        assert_eq!(
            outcome(&a),
            Some(Err(RequestError::Disconnected("closed by the peer".into())))
        );
        assert_eq!(ask(&p, BY_ORDER).0, Err(RequestError::Closed));
    }

    #[tokio::test]
    async fn a_request_that_is_not_queued_is_not_registered() {
        let p = Pending::new(4, correlation, None);
        let slot = Arc::new(Slot::new());
        let r = p.register(
            (),
            BY_ORDER,
            |_, id| id,
            |()| Err(RequestError::Full),
            slot,
            LONG,
        );
        assert_eq!(r, Err(RequestError::Full));
        assert_eq!(p.len(), 0);
    }

    /// Lets the timer task run until it sleeps again.
    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_timer_keeps_every_deadline_and_a_shortened_one_wakes_it() {
        let p = Pending::new(8, correlation, None);
        let (_, slow, _) = ask_within(&p, BY_ORDER, Duration::from_secs(10));
        let (_, answered, _) = ask_within(&p, BY_ORDER, Duration::from_secs(20));
        let (_, keyed, _) = ask_within(&p, BY_KEY, Duration::from_secs(30));
        settle().await;
        tokio::time::advance(Duration::from_secs(9)).await;
        settle().await;
        assert_eq!(outcome(&slow), None, "not due yet");
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(
            outcome(&slow),
            Some(Err(RequestError::TimedOut(Duration::from_secs(10))))
        );
        // The timed-out entry keeps its place: the first reply is its, and dropped.
        assert_eq!(p.route(Msg::Reply(1)), None);
        assert_eq!(p.route(Msg::Reply(2)), None);
        assert_eq!(outcome(&answered), Some(Ok(Msg::Reply(2))));
        // A time-out shortened below the armed instant wakes the timer.
        p.retime().set(&keyed, Duration::from_secs(12));
        settle().await;
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(
            outcome(&keyed),
            Some(Err(RequestError::TimedOut(Duration::from_secs(12))))
        );
        assert_eq!(
            outcome(&answered),
            Some(Err(RequestError::Closed)),
            "an outcome is taken once"
        );
    }

    fn alive_tasks() -> usize {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_task_ends_with_the_table() {
        let p = Pending::new(8, correlation, None);
        let (_, slot, _) = ask(&p, BY_ORDER);
        settle().await;
        assert_eq!(alive_tasks(), 1, "the timer task");
        p.end("gone");
        settle().await;
        assert_eq!(alive_tasks(), 0);
        assert_eq!(
            outcome(&slot),
            Some(Err(RequestError::Disconnected("gone".into())))
        );
        let dropped = Pending::<Msg>::new(8, correlation, None);
        let (_, waiting, _) = ask(&dropped, BY_ORDER);
        settle().await;
        assert_eq!(alive_tasks(), 1);
        drop(dropped);
        settle().await;
        assert_eq!(alive_tasks(), 0);
        assert_eq!(
            outcome(&waiting),
            Some(Err(RequestError::Disconnected(
                "the connection ended".into()
            )))
        );
    }
}
