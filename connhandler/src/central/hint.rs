//! The direct-write hint: whether the central task took a lone event with nothing else
//! waiting, so that a reply to it may be written at once from the sending task (see
//! `conn/direct.rs`). Set by the receiving side (`Central::recv`, `try_recv`), read by the send
//! path; scoped to the task that took the event.

use std::cell::Cell;

thread_local! {
    /// Whether the event the central task on this thread took last came alone (not in a
    /// batch of several from one read) and nothing else waited in the queue: a reply to it
    /// may be written at once from the sending task. Replies to a batch are queued, so that
    /// the connection's writer sends them in one write rather than one each; replies while
    /// events wait are queued too, so that writers on other threads share the system calls.
    /// Only a hint: it decides speed, never order.
    ///
    /// Scoped to the task that took the event (its id; `None` inside: a thread that is not
    /// a Tokio task, a game loop's): another task that runs on this thread while the
    /// central task waits for something else does not see it. The central task's next
    /// `recv` sets it again.
    static REPLY_NOW: Cell<Option<Option<tokio::task::Id>>> = const { Cell::new(None) };
}

/// Sets the hint (see [`REPLY_NOW`]) for the task running now, or clears it.
#[inline]
pub(super) fn hint_reply_now(alone: bool) {
    REPLY_NOW.set(alone.then(tokio::task::try_id));
}

/// See [`REPLY_NOW`]: whether this task took a lone event last, with nothing else waiting.
#[inline]
pub(crate) fn reply_now() -> bool {
    REPLY_NOW
        .get()
        .is_some_and(|task| task == tokio::task::try_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::central;

    #[tokio::test(flavor = "current_thread")]
    async fn the_reply_hint_belongs_to_the_task_that_took_the_lone_event() {
        let (tx, mut central) = central::<u8>(8);
        tx.try_post(1).unwrap();
        assert_eq!(central.recv().await, Some(1));
        assert!(reply_now(), "a lone event, nothing else waiting");
        // Another task on this same thread, run while the central task waits.
        let other = tokio::spawn(async { reply_now() });
        assert!(!other.await.unwrap(), "another task does not see the hint");
        assert!(reply_now(), "the central task still does");
        // Two events waiting: the first is not taken alone.
        tx.try_post(2).unwrap();
        tx.try_post(3).unwrap();
        assert_eq!(central.recv().await, Some(2));
        assert!(!reply_now(), "events wait behind it");
        assert_eq!(central.recv().await, Some(3));
        assert!(reply_now());
    }

    #[test]
    fn the_reply_hint_works_on_a_plain_thread() {
        let (tx, mut central) = central::<u8>(8);
        tx.try_post(1).unwrap();
        assert_eq!(central.try_recv(), Ok(1));
        assert!(reply_now(), "a game loop's thread is its own central task");
        let other = std::thread::spawn(reply_now).join().unwrap();
        assert!(!other, "another thread does not see it");
    }
}
