//! The requests of one connection that wait for their replies.
//!
//! | entry | made | ends |
//! | --- | --- | --- |
//! | waiting | `register`, under the table's lock, together with queueing the request | its reply comes (handed to the waiter), or the connection ends (the waiter gets `Disconnected`) |
//! | abandoned (the waiter timed out or dropped its future) | | by order: its reply comes and is dropped (the slot is kept, so later replies still pair with their own requests); by correlation: the same, or it is the oldest abandoned entry when the table is full and a new request needs room |
//!
//! A reply is found for a message as follows: a message with a correlation id answers the
//! waiting entry with that id whose pairing accepts it; a message without one answers the
//! oldest by-order entry if that entry's pairing accepts it. Every other message is not a
//! reply and goes to the central queue.

use std::{collections::VecDeque, sync::Mutex};

use super::request::{By, Pairing, ReplySender, RequestError};

struct Entry<R> {
    answers: fn(&R) -> bool,
    /// The correlation id (by correlation), or `None` (by order).
    key: Option<u64>,
    tx: ReplySender<R>,
}

struct Table<R> {
    entries: VecDeque<Entry<R>>,
    /// Set when the connection ended: the reason, as text; no request is taken after.
    ended: Option<String>,
    next_key: u64,
}

/// The requests of one connection waiting for replies.
pub(crate) struct Pending<R> {
    table: Mutex<Table<R>>,
    max: usize,
    correlation: fn(&R) -> Option<u64>,
}

impl<R> Pending<R> {
    pub(crate) fn new(max: usize, correlation: fn(&R) -> Option<u64>) -> Self {
        Pending {
            table: Mutex::new(Table {
                entries: VecDeque::new(),
                ended: None,
                next_key: 1,
            }),
            max: max.max(1),
            correlation,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<R>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a request and queues it with `queue` while holding the table, so that
    /// requests are registered in the order they are queued. `set_key` writes the
    /// correlation id into a request paired by correlation and returns it as written.
    pub(crate) fn register<M>(
        &self,
        mut msg: M,
        pairing: Pairing<R>,
        mut set_key: impl FnMut(&mut M, u64) -> u64,
        queue: impl FnOnce(M) -> Result<(), RequestError>,
        tx: ReplySender<R>,
    ) -> Result<(), RequestError> {
        let mut table = self.lock();
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
        table.entries.push_back(Entry {
            answers: pairing.answers,
            key,
            tx,
        });
        Ok(())
    }

    /// As [`register`](Self::register), for a request built around its correlation id:
    /// a fresh id (as `written` cuts it to the field's width) is chosen first and `make`
    /// builds the message with it, under the table's lock; `pairing` says what the message
    /// built expects.
    pub(crate) fn register_with<M>(
        &self,
        make: impl FnOnce(u64) -> M,
        written: impl Fn(u64) -> u64,
        pairing: impl FnOnce(&M) -> Option<Pairing<R>>,
        queue: impl FnOnce(M) -> Result<(), RequestError>,
        tx: ReplySender<R>,
    ) -> Result<(), RequestError> {
        let mut table = self.lock();
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
        table.entries.push_back(Entry {
            answers: pairing.answers,
            key,
            tx,
        });
        Ok(())
    }

    /// Hands `msg` to the request it answers, if one waits for it; gives it back if it
    /// answers none.
    pub(crate) fn route(&self, msg: R) -> Option<R> {
        let mut table = self.lock();
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
        if entry.tx.send(Ok(msg)).is_err() {
            tracing::debug!("a reply came after its request was given up; dropped");
        }
        None
    }

    /// The connection ended: every waiting request fails with `why`, and none is taken
    /// after.
    pub(crate) fn end(&self, why: &str) {
        let entries = {
            let mut table = self.lock();
            table.ended = Some(why.to_owned());
            std::mem::take(&mut table.entries)
        };
        for entry in entries {
            let _ = entry
                .tx
                .send(Err(RequestError::Disconnected(why.to_owned())));
        }
    }

    /// How many requests wait (abandoned ones included).
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
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
            .position(|e| e.key.is_some() && e.tx.is_closed())
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
    use tokio::sync::oneshot;

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

    type Rx = oneshot::Receiver<Result<Msg, RequestError>>;

    fn ask(p: &Pending<Msg>, pairing: Pairing<Msg>) -> (Result<(), RequestError>, Rx, u64) {
        let (tx, rx) = oneshot::channel();
        let mut written = 0;
        let r = p.register(
            (),
            pairing,
            |_, id| {
                written = id;
                id
            },
            |()| Ok(()),
            tx,
        );
        (r, rx, written)
    }

    #[test]
    fn an_abandoned_by_order_slot_takes_its_late_reply() {
        let p = Pending::new(8, correlation);
        let (_, first, _) = ask(&p, BY_ORDER);
        let (_, mut second, _) = ask(&p, BY_ORDER);
        drop(first); // timed out
        assert_eq!(p.route(Msg::Other), Some(Msg::Other), "not a reply");
        assert_eq!(
            p.route(Msg::Reply(1)),
            None,
            "the first slot takes its late reply"
        );
        assert_eq!(p.route(Msg::Reply(2)), None);
        assert_eq!(second.try_recv().unwrap(), Ok(Msg::Reply(2)));
        assert_eq!(p.route(Msg::Reply(3)), Some(Msg::Reply(3)), "nobody waits");
    }

    #[test]
    fn correlated_replies_pair_out_of_order_and_the_bound_holds() {
        let p = Pending::new(2, correlation);
        let (_, mut a, ka) = ask(&p, BY_KEY);
        let (_, mut b, kb) = ask(&p, BY_KEY);
        assert_ne!(ka, kb);
        let (full, _, _) = ask(&p, BY_KEY);
        assert_eq!(full, Err(RequestError::TooMany(2)));
        assert_eq!(p.route(Msg::Keyed(kb)), None);
        assert_eq!(b.try_recv().unwrap(), Ok(Msg::Keyed(kb)));
        assert_eq!(p.route(Msg::Keyed(999)), Some(Msg::Keyed(999)));
        // An abandoned correlated entry makes room when the table is full.
        let (_, c, _) = ask(&p, BY_KEY);
        drop(c);
        let (ok, _, _) = ask(&p, BY_KEY);
        assert_eq!(ok, Ok(()));
        p.end("closed by the peer");
        assert_eq!(
            a.try_recv().unwrap(),
            Err(RequestError::Disconnected("closed by the peer".into()))
        );
        assert_eq!(ask(&p, BY_ORDER).0, Err(RequestError::Closed));
    }

    #[test]
    fn a_request_that_is_not_queued_is_not_registered() {
        let p = Pending::new(4, correlation);
        let (tx, _rx) = oneshot::channel();
        let r = p.register((), BY_ORDER, |_, id| id, |()| Err(RequestError::Full), tx);
        assert_eq!(r, Err(RequestError::Full));
        assert_eq!(p.len(), 0);
    }
}
