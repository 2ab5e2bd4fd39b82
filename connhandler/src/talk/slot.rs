//! Where one request's outcome goes: shared by the connection's table of waiting requests
//! (which fills it: a reply, a time-out, the connection's end) and the request's
//! [`Reply`](super::Reply) (which awaits it, posts it, or drops it).
//!
//! | state | made by | next |
//! | --- | --- | --- |
//! | waiting (a waker, once polled) | the request | done (an outcome came), posted (`Reply::post`), over (the `Reply` dropped) |
//! | posted (a delivery of the program's) | `Reply::post` while waiting | over: the outcome is delivered the moment it comes, by whoever fills the slot |
//! | done (the outcome, not yet taken) | an outcome while waiting | over: the `Reply` takes it (or `post` delivers it at once) |
//! | over | the outcome taken or delivered, or nobody waits | an outcome that comes now is dropped (`fill` says so) |
//!
//! A slot is filled once: the first outcome wins (a reply that comes after the time-out is
//! dropped; the table keeps the entry's place, see `pending.rs`).

use std::{
    sync::{Arc, Mutex, MutexGuard},
    task::{Poll, Waker},
};

use super::request::RequestError;

/// The program's delivery of a posted outcome (it queues the program's event).
pub(crate) type Deliver<R> = Box<dyn FnOnce(Result<R, RequestError>) + Send>;

enum State<R> {
    Waiting(Option<Waker>),
    Posted(Deliver<R>),
    Done(Result<R, RequestError>),
    Over,
}

/// One request's outcome, once it comes.
pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Self {
        Slot {
            state: Mutex::new(State::Waiting(None)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the slot its outcome: wakes the waiting `Reply`, or delivers a posted one here
    /// (outside the lock). `false` when nobody waits any more (the outcome is dropped).
    pub(crate) fn fill(&self, outcome: Result<R, RequestError>) -> bool {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Over) {
            State::Waiting(waker) => {
                *state = State::Done(outcome);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
                true
            }
            State::Posted(deliver) => {
                drop(state);
                deliver(outcome);
                true
            }
            done @ State::Done(_) => {
                *state = done;
                false
            }
            State::Over => false,
        }
    }

    /// Whether an outcome is still wanted (waiting or posted, none come yet).
    pub(crate) fn is_wanted(&self) -> bool {
        matches!(*self.lock(), State::Waiting(_) | State::Posted(_))
    }

    /// The `Reply`'s poll: the outcome if it came, else the waker kept.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<Result<R, RequestError>> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Over) {
            State::Done(outcome) => Poll::Ready(outcome),
            State::Waiting(mut kept) => {
                match &mut kept {
                    Some(w) if w.will_wake(waker) => {}
                    _ => kept = Some(waker.clone()),
                }
                *state = State::Waiting(kept);
                Poll::Pending
            }
            // A `Reply` polled after it took its outcome, or after posting (which consumes
            // it): neither can happen through the public API.
            other => {
                *state = other;
                Poll::Ready(Err(RequestError::Closed))
            }
        }
    }

    /// `Reply::post`: the outcome is delivered when it comes, or now if it came.
    pub(crate) fn post(&self, deliver: Deliver<R>) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Over) {
            State::Done(outcome) => {
                drop(state);
                deliver(outcome);
            }
            State::Waiting(_) => *state = State::Posted(deliver),
            other => {
                *state = other;
                drop(state);
                deliver(Err(RequestError::Closed));
            }
        }
    }

    /// The `Reply` is dropped unawaited: nobody waits any more.
    pub(crate) fn give_up(&self) {
        let mut state = self.lock();
        if let State::Waiting(_) | State::Done(_) = *state {
            *state = State::Over;
        }
    }
}

/// The side that fills a slot from a task of its own (a bus request's): dropped unfilled (the
/// task ended early, or the runtime went away), it fills the slot with `Disconnected`, so no
/// `Reply` waits for ever.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) struct Filler<R>(Option<Arc<Slot<R>>>);

#[cfg_attr(not(feature = "nats"), allow(dead_code))]
impl<R> Filler<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> Self {
        Filler(Some(slot))
    }

    /// Fills the slot (see [`Slot::fill`]).
    pub(crate) fn fill(mut self, outcome: Result<R, RequestError>) {
        if let Some(slot) = self.0.take() {
            slot.fill(outcome);
        }
    }
}

impl<R> Drop for Filler<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.fill(Err(RequestError::Disconnected(
                "the request's task ended".into(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn the_first_outcome_wins_and_a_late_one_is_dropped() {
        let slot = Slot::<u32>::new();
        assert!(slot.poll(&noop()).is_pending());
        assert!(slot.fill(Err(RequestError::TimedOut(std::time::Duration::ZERO))));
        assert!(!slot.fill(Ok(7)), "the reply after the time-out is dropped");
        assert!(!slot.is_wanted());
        assert!(matches!(
            slot.poll(&noop()),
            Poll::Ready(Err(RequestError::TimedOut(_)))
        ));
    }

    #[test]
    fn a_posted_outcome_is_delivered_when_it_comes_or_at_once() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let deliver = |got: &Arc<Mutex<Vec<Result<u32, RequestError>>>>| -> Deliver<u32> {
            let got = got.clone();
            Box::new(move |r| got.lock().unwrap().push(r))
        };
        let later = Slot::new();
        later.post(deliver(&got));
        assert!(later.is_wanted());
        assert!(got.lock().unwrap().is_empty());
        assert!(later.fill(Ok(1)));
        let early = Slot::new();
        assert!(early.fill(Ok(2)));
        early.post(deliver(&got));
        assert_eq!(*got.lock().unwrap(), [Ok(1), Ok(2)]);
    }

    #[test]
    fn a_filler_dropped_unfilled_says_its_task_ended() {
        let slot = Arc::new(Slot::<u32>::new());
        drop(Filler::new(slot.clone()));
        assert!(matches!(
            slot.poll(&noop()),
            Poll::Ready(Err(RequestError::Disconnected(_)))
        ));
    }

    #[test]
    fn a_dropped_reply_wants_nothing() {
        let slot = Slot::<u32>::new();
        slot.give_up();
        assert!(!slot.is_wanted());
        assert!(!slot.fill(Ok(1)));
    }
}
