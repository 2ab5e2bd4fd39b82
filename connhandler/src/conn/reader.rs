//! The reader task: reads, cuts frames, decodes messages and hands them on to the central
//! queue; it also supervises the connection (see the lifecycle table in `mod.rs`).
//!
//! One turn of the read loop, as steps:
//!
//! | step | what | parts |
//! | --- | --- | --- |
//! | 1. closing? | an atomic flag, checked once per turn | `Closing` |
//! | 2. decode | every whole frame buffered: tap, rate limit, decode, offer to the hand-on; a full queue waits for room | `Framing`, `HandOn` |
//! | 3. hand on | the messages of this read go to the central queue together | `HandOn::flush` |
//! | 4. deadlines | the frame time-out is armed or reset | `Deadlines` |
//! | 5. read | room made by the sizing policy, then what is there now | `ReadBuf` |
//! | 6. wait | nothing there: wait for input, a deadline, a pending end of frame, or the close | `Reader::wait` |
//!
//! A read of 0 bytes is the end of the stream: what the framing still holds is decoded, then
//! the connection ends with `ClosedByPeer`.

use std::{io, sync::Arc};

use bytes::Bytes;
use tokio::{sync::OwnedSemaphorePermit, task::JoinHandle};

use super::{
    close::{linger, CloseWait},
    deadline::Deadlines,
    event::Event,
    hand_on::{HandOn, QueueClosed, Refused},
    handle::PeerHandle,
    read_buf::ReadBuf,
    registry::Registry,
    shared::Shared,
    transport::ReadHalf,
    ConnSettings,
};
use crate::{
    codec::Framing,
    limits::{Limited, Limiter},
    message::Decode,
    peer::Peer,
    reason::{Disconnect, DisconnectReason},
    tap::Direction,
};

/// Why the read loop stops: a reason, or `None` when the connection was closed from our
/// side (the reason, if any, is recorded already).
type Stop = Option<DisconnectReason>;

impl From<QueueClosed> for Stop {
    fn from(_: QueueClosed) -> Stop {
        Some(DisconnectReason::Shutdown)
    }
}

/// What holds up decoding: the connection is to stop, or the central queue has no room for
/// a decoded message yet.
enum Held<E> {
    Stop(Stop),
    Full(E),
}

pub(super) struct Reader<P: Peer, F, E> {
    pub(super) shared: Arc<Shared<P>>,
    pub(super) framing: F,
    pub(super) limiter: Limiter,
    pub(super) hand: HandOn<E>,
    pub(super) settings: Arc<ConnSettings>,
    pub(super) registry: Arc<Registry<P>>,
    pub(super) buf: ReadBuf,
    pub(super) deadlines: Deadlines,
    /// The handler's connection slot, held for the life of the connection.
    pub(super) _slot: Option<OwnedSemaphorePermit>,
}

impl<P, F, E> Reader<P, F, E>
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    /// Runs the connection from `Connected` to `Disconnected`; returns whether the close
    /// was not ours (worth reconnecting for an outgoing handler).
    pub(super) async fn run<R: ReadHalf>(mut self, mut read: R, writer: JoinHandle<usize>) -> bool {
        let handle = PeerHandle::new(self.shared.clone());
        tracing::debug!("connected");
        let ended = if self
            .hand
            .push_unbounded(Event::Connected(handle.clone()).into())
            .is_err()
        {
            Some(DisconnectReason::Shutdown)
        } else {
            self.read_loop(&mut read, &handle).await
        };
        // Messages decoded before the end go before `Disconnected`.
        let _ = self.hand.flush();
        let closing = self.shared.closing();
        match ended {
            Some(reason) => closing.close_with(reason),
            None => closing.mark(),
        }
        let unsent = writer.await.unwrap_or_else(|e| {
            tracing::error!("writer task failed: {e}");
            0
        });
        if closing.is_local() {
            linger(&mut read, self.settings.close_timeout).await;
        }
        drop(read);
        self.registry.remove(self.shared.id());
        let reason = closing.take_reason().unwrap_or(DisconnectReason::Shutdown);
        let local = reason.is_local();
        tracing::debug!(%reason, unsent, "disconnected");
        let _ = self
            .hand
            .push_unbounded(Event::Disconnected(handle, Disconnect { reason, unsent }).into());
        !local
    }

    /// Reads and hands on messages until the connection is to close (the steps in the
    /// module's table); returns why.
    async fn read_loop<R: ReadHalf>(&mut self, read: &mut R, handle: &PeerHandle<P>) -> Stop {
        let shared = self.shared.clone();
        let token = shared.closing().cancelled_owned();
        tokio::pin!(token);
        let mut closed = CloseWait::new(shared.closing(), token);
        loop {
            // 1. Checked once per read: an atomic flag, set before the token is cancelled.
            if shared.closing().is_closing() {
                return None;
            }
            // 2. Decode.
            if let Err(stop) = self.decode_buffered(handle).await {
                return stop;
            }
            // 3. Everything decoded from what was read goes to the central task in one go.
            if let Err(closed) = self.hand.flush() {
                return closed.into();
            }
            // 4. Deadlines.
            let (buf, framing) = (&self.buf, &self.framing);
            self.deadlines
                .after_decode(|| buf.is_empty() && !framing.is_mid_frame());
            // 5. Read.
            self.buf.make_room();
            let limit = self.framing.read_limit(self.buf.bytes());
            match self.buf.read(read, limit).await {
                Ok(0) => return self.at_end(handle).await,
                Ok(n) => {
                    self.deadlines.on_read();
                    if let Err(per_ip) = self.limiter.take(Limited::Bytes, n as u64) {
                        return Some(DisconnectReason::RateLimited {
                            what: Limited::Bytes,
                            per_ip,
                        });
                    }
                }
                // 6. Wait.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.buf.pause();
                    if let Err(stop) = self.wait(read, handle, &mut closed).await {
                        return stop;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(DisconnectReason::Io(e)),
            }
        }
    }

    /// Step 2: decodes and hands on every whole frame buffered, waiting only when the
    /// central queue is full.
    async fn decode_buffered(&mut self, handle: &PeerHandle<P>) -> Result<(), Stop> {
        loop {
            match self.decode_now(handle) {
                Ok(()) => return Ok(()),
                Err(Held::Stop(stop)) => return Err(stop),
                Err(Held::Full(event)) => self.wait_for_room(event).await?,
            }
        }
    }

    /// Decodes buffered frames until none is whole (`Ok`) or something holds decoding up.
    /// The common case does not await at all, so it builds no future: a plain function.
    fn decode_now(&mut self, handle: &PeerHandle<P>) -> Result<(), Held<E>> {
        let mut longest = 0;
        let decoded = loop {
            match self.framing.decode_frame(self.buf.bytes()) {
                Ok(Some(frame)) => {
                    longest = longest.max(frame.len());
                    if let Err(held) = self.take_frame(frame, handle) {
                        break Err(held);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(Held::Stop(Some(DisconnectReason::from_frame_error(e)))),
            }
        };
        self.buf.saw_longest(longest);
        decoded
    }

    /// One frame: the tap, the message rate limit, decoding, then an offer to the hand-on.
    #[inline]
    fn take_frame(&mut self, frame: Bytes, handle: &PeerHandle<P>) -> Result<(), Held<E>> {
        if let Some(tap) = &self.settings.tap {
            self.shared.tap(tap, Direction::In, &frame);
        }
        if let Err(per_ip) = self.limiter.take(Limited::Messages, 1) {
            return Err(Held::Stop(Some(DisconnectReason::RateLimited {
                what: Limited::Messages,
                per_ip,
            })));
        }
        let msg = match <P::Recv as Decode>::decode(frame) {
            Ok(msg) => msg,
            Err(e) => return Err(Held::Stop(Some(DisconnectReason::Decode(e)))),
        };
        self.hand
            .offer(Event::Message(handle.clone(), msg).into())
            .map_err(|refused| match refused {
                Refused::Full(event) => Held::Full(event),
                Refused::Closed => Held::Stop(QueueClosed.into()),
            })
    }

    /// One frame found outside the decode step (at the end of the stream, or after a pause
    /// told a frame's end): handed on like the others, waiting for room if need be.
    async fn hand_on(&mut self, frame: Bytes, handle: &PeerHandle<P>) -> Result<(), Stop> {
        match self.take_frame(frame, handle) {
            Ok(()) => Ok(()),
            Err(Held::Full(event)) => self.wait_for_room(event).await,
            Err(Held::Stop(stop)) => Err(stop),
        }
    }

    /// The central queue is full: flush, then wait for room (reading pauses meanwhile, so
    /// TCP pushes back on the peer).
    #[cold]
    async fn wait_for_room(&mut self, event: E) -> Result<(), Stop> {
        match self.hand.wait_for_room(event, self.shared.closing()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(None),
            Err(closed) => Err(closed.into()),
        }
    }

    /// The end of the stream: what the framing still holds is decoded and handed on.
    async fn at_end(&mut self, handle: &PeerHandle<P>) -> Stop {
        loop {
            match self.framing.decode_frame_eof(self.buf.bytes()) {
                Ok(Some(frame)) => {
                    if let Err(stop) = self.hand_on(frame, handle).await {
                        return stop;
                    }
                }
                Ok(None) => return Some(DisconnectReason::ClosedByPeer),
                Err(e) => return Some(DisconnectReason::from_frame_error(e)),
            }
        }
    }

    /// Step 6: nothing to read now. Waits for input, the earliest deadline, the end of a
    /// frame that only a pause can tell (see `Framing::end_pending`), or the close.
    async fn wait<R: ReadHalf>(
        &mut self,
        read: &mut R,
        handle: &PeerHandle<P>,
        closed: &mut CloseWait<'_>,
    ) -> Result<(), Stop> {
        let pending = self.framing.pending_end_after();
        let pause = async {
            match pending {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        let deadline = self.deadlines.next();
        let timer = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = closed => Err(None),
            _ = timer => match deadline {
                Some((_, which)) => Err(Some(DisconnectReason::TimedOut(which))),
                None => Ok(()),
            },
            ready = read.readable() => ready.map_err(|e| Some(DisconnectReason::Io(e))),
            _ = pause => match self.framing.end_pending(self.buf.bytes()) {
                Some(frame) => self.hand_on(frame, handle).await,
                None => Ok(()),
            },
        }
    }
}
