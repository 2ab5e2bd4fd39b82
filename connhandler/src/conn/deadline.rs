//! The reader's deadlines: the idle time-out (nothing arrived) and the frame time-out (part
//! of a frame arrived and the rest did not).
//!
//! | time-out | armed | reset | fires at |
//! | --- | --- | --- | --- |
//! | idle | when set, from the start | by every read that got bytes | last read + `idle_timeout` |
//! | frame | when bytes of an unfinished frame are buffered | when the buffer ends on a frame boundary | first seen unfinished + `frame_timeout` |

use std::time::Duration;

use tokio::time::Instant;

use crate::reason::Timeout;

/// When the reader gives up waiting, and why.
pub(crate) struct Deadlines {
    idle_timeout: Option<Duration>,
    frame_timeout: Option<Duration>,
    last_read: Instant,
    frame_started: Option<Instant>,
}

impl Deadlines {
    pub(crate) fn new(idle_timeout: Option<Duration>, frame_timeout: Option<Duration>) -> Self {
        Deadlines {
            idle_timeout,
            frame_timeout,
            last_read: Instant::now(),
            frame_started: None,
        }
    }

    /// Bytes arrived.
    #[inline]
    pub(crate) fn on_read(&mut self) {
        if self.idle_timeout.is_some() {
            self.last_read = Instant::now();
        }
    }

    /// Everything decodable was decoded; `boundary` tells whether the buffer ends on a
    /// frame boundary (nothing of an unfinished frame held).
    #[inline]
    pub(crate) fn after_decode(&mut self, boundary: impl FnOnce() -> bool) {
        if self.frame_timeout.is_none() {
            return;
        }
        if boundary() {
            self.frame_started = None;
        } else if self.frame_started.is_none() {
            self.frame_started = Some(Instant::now());
        }
    }

    /// The earliest deadline, if any is armed, with the time-out it stands for.
    pub(crate) fn next(&self) -> Option<(Instant, Timeout)> {
        let idle = self
            .idle_timeout
            .map(|t| (self.last_read + t, Timeout::Idle(t)));
        let frame = self
            .frame_timeout
            .zip(self.frame_started)
            .map(|(t, started)| (started + t, Timeout::Frame(t)));
        match (idle, frame) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}
