//! The reader's deadlines: the first-message time-out (a new connection said nothing), the
//! idle time-out (nothing arrived) and the frame time-out (part of a frame arrived and the
//! rest did not), behind one timer, which is armed for the conversation's deadlines too
//! (the handshake's and the heartbeat's, kept by `talk/conversation.rs`).
//!
//! | time-out | armed | reset | fires at |
//! | --- | --- | --- | --- |
//! | first message | when set, from the start | never; disarmed by the first bytes (a frame that then trickles in is the frame time-out's) | opened + `first_message_timeout` |
//! | idle | when set, from the start | by every read that got bytes | last read + `idle_timeout` |
//! | frame | when a read leaves part of a frame buffered that was not there before, or begins a new frame after whole ones | when the buffer ends on a frame boundary; a frame that completes starts the next one's clock | its first byte's read + `frame_timeout`, moved later by `1 / min_frame_rate` s for each byte that arrives, never past the last read + `frame_timeout`: a frame that keeps arriving at the minimum rate is never cut, one that slows below it is cut within `frame_timeout` however much came before; moved later too by the time the reader itself held reading (backpressure, a full central queue, a short read budget) |
//!
//! The timer is armed once at the earliest deadline and is not touched per message: a
//! deadline that moves later (the idle one, on each read) is found when the timer fires, and
//! the timer is re-armed then; only a deadline earlier than the armed one (a frame that
//! starts while the idle deadline is armed) resets it.
//!
//! | timer | `sleep` | on `wait` |
//! | --- | --- | --- |
//! | unset | none | created at the earliest deadline, if any |
//! | armed | at or before the earliest deadline | reset only if a deadline is earlier than it; the deadlines are gone through only when a frame's deadline moved or the conversation's is earlier, and the timer is polled only when the waiting task is not the one it already holds (outside the co-operative budget, so that a poll always registers) |
//! | fired | elapsed | the reader asks [`Deadlines::expired`]: a time-out, or re-armed at the next deadline |

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Poll, Waker},
    time::Duration,
};

use tokio::time::{Instant, Sleep};

use super::ConnSettings;
use crate::reason::Timeout;

/// The time-outs set for a connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimeoutSettings {
    pub(crate) first_message: Option<Duration>,
    pub(crate) idle: Option<Duration>,
    pub(crate) frame: Option<Duration>,
    /// Bytes per second an unfinished frame may take beyond `frame`.
    pub(crate) min_frame_rate: Option<u32>,
    /// The heartbeat: a ping after this much quiet, a cut after that much silence (kept by
    /// the conversation; here for the control-frame rate it needs).
    pub(crate) heartbeat: Option<(Duration, Duration)>,
}

/// When the reader gives up waiting, and why. Kept small: one per connection.
pub(crate) struct Deadlines {
    /// The handler's settings, shared by its connections.
    set: Arc<ConnSettings>,
    /// Whether any bytes arrived (the first-message deadline is gone).
    heard: bool,
    /// Whether a whole message arrived.
    spoke: bool,
    /// The last read that got bytes; until one does, when the connection opened.
    last_read: Instant,
    /// When the unfinished frame is due (see the table), and the bytes of it buffered.
    frame: Option<(Instant, usize)>,
    /// The timer, armed at its `deadline()`.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether a deadline may have come earlier than the armed timer since it was armed
    /// (a frame began, or its due moved): only then are the deadlines gone through again
    /// before a wait. The idle deadline only moves later, the first message's only goes.
    check: bool,
    /// The waker the armed timer was last polled with, while it waits: a wait with the same
    /// waker (the reader's task) does not poll the timer again, as it already holds it.
    polled_by: Option<Waker>,
}

impl Deadlines {
    pub(crate) fn new(set: Arc<ConnSettings>) -> Self {
        Deadlines {
            set,
            heard: false,
            spoke: false,
            last_read: Instant::now(),
            frame: None,
            sleep: None,
            check: true,
            polled_by: None,
        }
    }

    /// Bytes arrived.
    #[inline]
    pub(crate) fn on_read(&mut self) {
        self.heard = true;
        let set = &self.set.timeouts;
        if set.idle.is_some() || set.frame.is_some() {
            self.last_read = Instant::now();
        }
    }

    /// A whole message arrived.
    #[inline]
    pub(crate) fn on_message(&mut self) {
        self.spoke = true;
    }

    /// Whether a whole message arrived.
    pub(crate) fn spoke(&self) -> bool {
        self.spoke
    }

    /// Everything decodable was decoded. `completed` tells whether a frame ended in this
    /// turn; `unfinished` the bytes of an unfinished frame buffered (`None`: the buffer ends
    /// on a frame boundary).
    #[inline]
    pub(crate) fn after_decode(
        &mut self,
        completed: bool,
        unfinished: impl FnOnce() -> Option<usize>,
    ) {
        let Some(timeout) = self.set.timeouts.frame else {
            return;
        };
        let before = self.frame;
        self.frame = match (unfinished(), self.frame) {
            (None, _) => None,
            // Still the same frame: its clock runs from its own first byte, moved later by
            // the bytes that arrived since, within `timeout` of the last read.
            (Some(held), Some((due, before))) if !completed => {
                let grown = held.saturating_sub(before);
                let due = match self.set.timeouts.min_frame_rate {
                    Some(rate) if grown > 0 => {
                        let credit = Duration::from_secs_f64(grown as f64 / f64::from(rate.max(1)));
                        (due + credit).min(self.last_read + timeout)
                    }
                    _ => due,
                };
                Some((due, held.max(before)))
            }
            // A new frame: it began in the last read.
            (Some(held), _) => Some((self.last_read + timeout, held)),
        };
        if self.frame.map(|(due, _)| due) != before.map(|(due, _)| due) {
            self.check = true;
        }
    }

    /// The reader held reading for `held` (backpressure, a full central queue, a short read
    /// budget): the unfinished frame is not blamed for it.
    pub(crate) fn held_up(&mut self, held: Duration) {
        if let Some((due, _)) = &mut self.frame {
            *due += held;
        }
    }

    /// The earliest deadline, if any is armed, with the time-out due then.
    pub(crate) fn next(&self) -> Option<(Instant, Timeout)> {
        self.deadlines().min_by_key(|(at, _)| *at)
    }

    /// Every armed deadline.
    fn deadlines(&self) -> impl Iterator<Item = (Instant, Timeout)> {
        let set = &self.set.timeouts;
        // Until bytes arrive, `last_read` is when the connection opened.
        let first = (!self.heard)
            .then_some(set.first_message)
            .flatten()
            .map(|t| (self.last_read + t, Timeout::FirstMessage(t)));
        let idle = set.idle.map(|t| (self.last_read + t, Timeout::Idle(t)));
        let frame = set
            .frame
            .zip(self.frame)
            .map(|(t, (due, _))| (due, Timeout::Frame(t)));
        [first, idle, frame].into_iter().flatten()
    }

    /// Waits for the timer, arming it first at the earliest deadline, or at `also` (the
    /// conversation's) if that comes first (never, when none is set). When it returns, ask
    /// [`expired`](Self::expired), then the conversation.
    pub(crate) async fn timer(&mut self, also: Option<Instant>) {
        let unchanged = !self.check
            && match &self.sleep {
                // Armed and waiting: still at or before every deadline, unless the
                // conversation's came earlier.
                Some(sleep) => !sleep.is_elapsed() && also.is_none_or(|at| at >= sleep.deadline()),
                None => also.is_none(),
            };
        if !unchanged {
            self.check = false;
            self.polled_by = None;
            let ours = self.next().map(|(at, _)| at);
            let Some(at) = [ours, also].into_iter().flatten().min() else {
                return std::future::pending().await;
            };
            match &mut self.sleep {
                Some(sleep) => {
                    if at < sleep.deadline() || sleep.is_elapsed() {
                        sleep.as_mut().reset(at);
                    }
                }
                none => {
                    *none = Some(Box::pin(tokio::time::sleep_until(at)));
                }
            }
        }
        let Some(sleep) = &mut self.sleep else {
            return std::future::pending().await;
        };
        let polled_by = &mut self.polled_by;
        std::future::poll_fn(|cx| {
            // Polled before with this waker and not moved since: the timer wakes it when it
            // fires (a future wakes the waker of its last poll), and `is_elapsed` says so.
            if !sleep.is_elapsed() && polled_by.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                return Poll::Pending;
            }
            // Outside the task's co-operative budget: a `Pending` for lack of budget would
            // not register the timer, and the next wait would not poll it again.
            let polled = Pin::new(&mut tokio::task::unconstrained(sleep.as_mut())).poll(cx);
            *polled_by = polled.is_pending().then(|| cx.waker().clone());
            polled
        })
        .await
    }

    /// After the timer fired: the time-out due, if one is (else the deadline moved later,
    /// or the conversation's was due, and the next wait re-arms the timer).
    pub(crate) fn expired(&self) -> Option<Timeout> {
        let now = Instant::now();
        self.deadlines()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(timeouts: TimeoutSettings) -> Deadlines {
        Deadlines::new(Arc::new(ConnSettings {
            timeouts,
            ..Default::default()
        }))
    }

    fn frame_only(secs: u64) -> Deadlines {
        with(TimeoutSettings {
            frame: Some(Duration::from_secs(secs)),
            ..Default::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn each_frame_is_timed_from_its_own_first_byte() {
        let mut d = frame_only(2);
        // A read ends 10 bytes into a frame.
        d.on_read();
        d.after_decode(false, || Some(10));
        let first = d.next().unwrap().0;
        tokio::time::advance(Duration::from_secs(1)).await;
        // The next read ends that frame and 10 bytes into the next one.
        d.on_read();
        d.after_decode(true, || Some(10));
        let second = d.next().unwrap().0;
        assert_eq!(
            second - first,
            Duration::from_secs(1),
            "the new frame's clock starts anew"
        );
        // More of the same frame: its clock keeps running.
        tokio::time::advance(Duration::from_secs(1)).await;
        d.on_read();
        d.after_decode(false, || Some(20));
        assert_eq!(d.next().unwrap().0, second);
        // A boundary: no frame deadline.
        d.after_decode(true, || None);
        assert!(d.next().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_must_keep_arriving_at_the_minimum_rate() {
        let mut d = with(TimeoutSettings {
            frame: Some(Duration::from_secs(2)),
            min_frame_rate: Some(1000),
            ..Default::default()
        });
        d.on_read();
        let start = Instant::now();
        d.after_decode(false, || Some(5000));
        // However much came at once, the frame is due `frame_timeout` after the last read.
        assert_eq!(d.next().unwrap().0 - start, Duration::from_secs(2));
        // Arriving at the rate (1000 bytes a second): never due.
        let mut held = 5000;
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            d.on_read();
            held += 1000;
            d.after_decode(false, || Some(held));
            assert!(d.expired().is_none(), "cut while arriving at the rate");
        }
        // Trickling below it (a byte a second) after 15 kB: cut within the time-out, not
        // after the 15 s that 15 kB at the minimum rate would take.
        let slowed = Instant::now();
        let cut = loop {
            tokio::time::advance(Duration::from_secs(1)).await;
            d.on_read();
            held += 1;
            d.after_decode(false, || Some(held));
            if let Some(due) = d.expired() {
                assert_eq!(due, Timeout::Frame(Duration::from_secs(2)));
                break Instant::now() - slowed;
            }
            assert!(
                Instant::now() - slowed < Duration::from_secs(60),
                "never cut"
            );
        };
        assert!(cut <= Duration::from_secs(3), "cut after {cut:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_held_reading_is_not_the_frames() {
        let mut d = frame_only(2);
        d.on_read();
        let start = Instant::now();
        d.after_decode(false, || Some(10));
        d.held_up(Duration::from_secs(5));
        assert_eq!(d.next().unwrap().0 - start, Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_message_deadline_goes_with_the_first_bytes() {
        let mut d = with(TimeoutSettings {
            first_message: Some(Duration::from_secs(30)),
            idle: Some(Duration::from_secs(300)),
            ..Default::default()
        });
        assert!(matches!(d.next(), Some((_, Timeout::FirstMessage(_)))));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(matches!(d.expired(), Some(Timeout::FirstMessage(_))));
        d.on_read();
        assert!(matches!(d.next(), Some((_, Timeout::Idle(_)))));
        assert!(d.expired().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_waited_on_again_and_again_fires_when_due() {
        let mut d = with(TimeoutSettings {
            idle: Some(Duration::from_secs(10)),
            frame: Some(Duration::from_secs(2)),
            ..Default::default()
        });
        let started = Instant::now();
        // Each wait is a new future on the same timer (the reader's select), most of them
        // skipping the poll of the timer, which already holds the task's waker.
        for _ in 0..5 {
            assert!(tokio::time::timeout(Duration::from_secs(1), d.timer(None))
                .await
                .is_err());
        }
        // A frame begins: its deadline (2 s from now) is earlier than the armed one.
        d.on_read();
        d.after_decode(false, || Some(3));
        d.timer(None).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(7));
        assert!(matches!(d.expired(), Some(Timeout::Frame(_))));
    }

    /// The first poll of a newly armed timer comes when the task has spent its co-operative
    /// budget (a busy reader): the timer is registered all the same, and fires.
    #[tokio::test(start_paused = true)]
    async fn a_timer_first_polled_without_budget_still_fires() {
        let mut d = with(TimeoutSettings {
            idle: Some(Duration::from_secs(10)),
            ..Default::default()
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..1000 {
            tx.send(()).unwrap();
        }
        let started = Instant::now();
        let timer = d.timer(None);
        tokio::pin!(timer);
        let waited = std::future::poll_fn(|cx| {
            // Spends the budget (tokio's channel counts each message against it).
            while let Poll::Ready(Some(())) = rx.poll_recv(cx) {}
            timer.as_mut().poll(cx)
        });
        tokio::time::timeout(Duration::from_secs(60), waited)
            .await
            .expect("the timer never fired");
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_is_re_armed_when_it_fires_early() {
        let mut d = with(TimeoutSettings {
            idle: Some(Duration::from_secs(10)),
            ..Default::default()
        });
        let started = Instant::now();
        // Armed at the idle deadline as it is now: 10 s.
        assert!(tokio::time::timeout(Duration::from_secs(1), d.timer(None))
            .await
            .is_err());
        tokio::time::advance(Duration::from_secs(4)).await;
        // A read moves the deadline to 15 s; the timer is not touched.
        d.on_read();
        d.timer(None).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
        assert!(d.expired().is_none(), "fired early: no time-out yet");
        // Re-armed when it fired.
        d.timer(None).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(15));
        assert!(matches!(d.expired(), Some(Timeout::Idle(_))));
    }
}
