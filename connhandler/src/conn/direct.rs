//! Writing from the sending task, skipping the writer task: the fast row of the send path
//! (`send.rs`), for a reply the central task makes to a lone message while nothing else
//! waits (the central queue's hint, `central::reply_now`).
//!
//! Whoever holds the lock may write to the transport while `idle`; the writer takes the lock
//! to leave the idle state, so the two never interleave, and a message written here is never
//! overtaken: the writer has nothing buffered or queued while it is idle.
//!
//! | writer state | `idle` | `write` |
//! | --- | --- | --- |
//! | waiting for its queue, nothing buffered | true | the transport (none with a tap) |
//! | encoding or writing | false | the transport |
//! | ended | false | none (the last handle of the socket goes with the writer) |

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, Bytes, BytesMut};

use crate::{codec::FrameError, transport::TryWrite};

/// Encodes and frames one message for a connection (its framing, with the type erased).
pub(crate) type EncodeFn<S> = Box<dyn FnMut(&S, &mut BytesMut) -> Result<(), FrameError> + Send>;

/// A direct buffer larger than this is not kept after a write.
const KEEP_DIRECT_BUFFER: usize = 4096;

/// What a direct write did.
pub(super) enum Direct {
    /// The whole message went out.
    Written,
    /// Nothing went out (the writer is busy, something is queued, the transport took
    /// nothing, or encoding failed and the writer will report it): queue the message.
    NotWritten,
}

/// The direct-write state of one connection (see the module's table).
pub(crate) struct DirectWrite<S> {
    state: Mutex<State<S>>,
}

struct State<S> {
    /// Whether the writer task is idle, waiting for its queue.
    idle: bool,
    /// The transport; `None` when direct writes are off (a tap is set) or the writer ended.
    write: Option<Arc<dyn TryWrite>>,
    encode: EncodeFn<S>,
    buf: BytesMut,
}

impl<S> DirectWrite<S> {
    /// Direct writes through `write` (none: off), encoding with `encode`.
    pub(crate) fn new(write: Option<Arc<dyn TryWrite>>, encode: EncodeFn<S>) -> Self {
        DirectWrite {
            state: Mutex::new(State {
                idle: false,
                write,
                encode,
                buf: BytesMut::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer's side: enters or leaves the idle state. Leaving it waits for a direct
    /// write in progress to end.
    pub(crate) fn set_idle(&self, idle: bool) {
        self.lock().idle = idle;
    }

    /// The writer's side, as it ends: no direct writes from now on, and the transport's
    /// second handle goes.
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        state.idle = false;
        state.write = None;
    }

    /// Writes `msg` now if the writer is idle and `queue_empty` says nothing waits for it.
    /// When the transport takes part of the message, `queue_rest` is given the rest, under
    /// the lock (so the writer, which must take the lock to leave the idle state, finds the
    /// rest first in its queue), and the message counts as written.
    pub(super) fn write(
        &self,
        msg: &S,
        queue_empty: impl FnOnce() -> bool,
        queue_rest: impl FnOnce(Bytes),
    ) -> Direct {
        let mut guard = self.lock();
        let state = &mut *guard;
        if !state.idle || !queue_empty() {
            return Direct::NotWritten;
        }
        let Some(write) = state.write.as_deref() else {
            return Direct::NotWritten;
        };
        state.buf.clear();
        if (state.encode)(msg, &mut state.buf).is_err() {
            return Direct::NotWritten;
        }
        let written = match write.try_write(&state.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            // The writer meets the same error and reports it.
            Err(_) => return Direct::NotWritten,
        };
        if written == state.buf.len() {
            if state.buf.capacity() > KEEP_DIRECT_BUFFER {
                state.buf = BytesMut::new();
            }
            return Direct::Written;
        }
        if written == 0 {
            return Direct::NotWritten;
        }
        state.buf.advance(written);
        queue_rest(state.buf.split().freeze());
        Direct::Written
    }
}
