//! The reader task: reads, cuts frames, decodes messages and hands them on to the central
//! queue; it also supervises the connection (see the lifecycle table in `mod.rs`).
//!
//! One turn of the read loop, as steps:
//!
//! | step | what | parts |
//! | --- | --- | --- |
//! | 1. closing? | an atomic flag, checked once per turn; after `WORK_PER_WAKE` bytes read since the last, a yield to other tasks | `Closing` |
//! | 2. decode | every whole frame buffered: tap, rate limit, decode, offer to the hand-on; a full central queue waits for room, and a peer with enough to answer already waits for its queue to drain (backpressure, `pressure.rs`), both still watching the socket | `Framing`, `HandOn`, `Flight` |
//! | 3. hand on | the messages of this read go to the central queue together, then a marker if much is in flight | `HandOn::flush` |
//! | 4. deadlines, budget | the frame time-out follows the unfinished frame; its bytes are held in the handler's read budget, and when that (or the address's share) is short, reading waits for room, the largest holder cut when the wait runs out | `Deadlines`, `Hold` |
//! | 5. read | room made by the sizing policy, then what is there now | `ReadBuf` |
//! | 6. wait | nothing there: wait for input, a deadline, a pending end of frame, or the close; woken by input alone, the next turn goes from 1 to 5 (steps 2 to 4 would find what they left) | `Reader::wait` |
//!
//! A read of 0 bytes is the end of the stream (the peer's FIN): what the framing still holds
//! is decoded and handed on; then, with `half_close` (the default), the connection stays open
//! for the replies until the central task has taken every message before the FIN (at most
//! `close_timeout`), and ends with `ClosedByPeer`.
//!
//! While it waits for room in the central queue, the reader still watches its socket
//! (reading into its buffer, up to `WATCH_LIMIT` bytes): a reset ends the connection at once,
//! and so does a FIN without `half_close`; with it, a FIN allows `close_timeout` more.

use std::{io, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{sync::OwnedSemaphorePermit, task::JoinHandle, time::Instant};

use super::{
    close::{linger, CloseWait},
    deadline::Deadlines,
    event::Event,
    handle::PeerHandle,
    pressure::Flight,
    read_buf::ReadBuf,
    registry::Registry,
    shared::Shared,
    ConnSettings,
};
use crate::{
    addr::ip_key,
    budget::{Hold, Short},
    central::{HandOn, QueueClosed, Refused},
    codec::{Carried, Framing},
    limits::{Limited, Limiter, QueuePolicy},
    message::Decode,
    peer::Peer,
    reason::{Disconnect, DisconnectReason, Farewell},
    talk::{Conversation, Due, Step},
    tap::{Direction, Tap},
    transport::ReadHalf,
};

/// Why the read loop stops: a reason, or `None` when the connection was closed from our
/// side (the reason, if any, is recorded already).
type Stop = Option<DisconnectReason>;

impl From<QueueClosed> for Stop {
    fn from(_: QueueClosed) -> Stop {
        Some(DisconnectReason::Shutdown)
    }
}

/// What holds up decoding: the connection is to stop, the central queue has no room for a
/// decoded message yet, or the peer has enough to answer already.
enum Held<E> {
    Stop(Stop),
    /// The event, and the bytes of its frame.
    Full(E, usize),
    /// The event, and the bytes of its frame: held until the peer's load eases.
    Busy(E, usize),
}

pub(super) struct Reader<P: Peer, F, E> {
    pub(super) shared: Arc<Shared<P>>,
    pub(super) framing: Carried<F>,
    pub(super) limiter: Limiter,
    pub(super) hand: HandOn<E>,
    pub(super) settings: Arc<ConnSettings>,
    pub(super) registry: Arc<Registry<P>>,
    pub(super) buf: ReadBuf,
    pub(super) deadlines: Deadlines,
    /// This connection's part of the handler's budget for unfinished frames.
    pub(super) budget: Hold,
    /// What it handed on, for backpressure.
    pub(super) flight: Flight,
    /// Whether a frame was decoded since the last deadline step.
    pub(super) decoded: bool,
    /// Bytes read (and so decoded) since the reader last let other tasks run.
    pub(super) work: usize,
    /// The handler's connection slot, held for the life of the connection and then until
    /// the central task takes its `Disconnected`.
    pub(super) slot: Option<OwnedSemaphorePermit>,
    /// The conversation (`talk/conversation.rs`): whether the peer's hello came, and what
    /// each message it sends is (`Connected` is pushed at once, or, with a version
    /// handshake, once the peer's hello is accepted).
    pub(super) conversation: Conversation,
    /// Whether the connection closes after last words of ours (a rejection) that a reset
    /// must not destroy: the close lingers.
    pub(super) last_words: bool,
}

/// A frame before it is decoded: the tap sees it, and the message rate limit counts it.
#[inline(always)]
fn admit<P: Peer, E>(
    tap: &Option<Tap>,
    shared: &Shared<P>,
    limiter: &mut Limiter,
    frame: &[u8],
) -> Result<(), Held<E>> {
    if let Some(tap) = tap {
        shared.tap(tap, Direction::In, frame);
    }
    match limiter.take(Limited::Messages, 1) {
        Ok(()) => Ok(()),
        Err(per_ip) => Err(Held::Stop(Some(DisconnectReason::RateLimited {
            what: Limited::Messages,
            per_ip,
        }))),
    }
}

/// Bytes a reader reads and decodes before it lets other tasks run: a connection that
/// always has input holds a runtime worker for this much work at a time (and one read more),
/// not for as long as its peer keeps sending.
const WORK_PER_WAKE: usize = 256 * 1024;

/// How long a connection waits for room in the read budget before the largest holder is
/// closed.
const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// Bytes of an unfinished frame a connection holds outside the handler's read budget.
const FREE_UNFINISHED: usize = 16 * 1024;
/// Bytes a reader waiting for room in the central queue holds at most while it watches its
/// socket (reading ahead to see a reset or a FIN): the per-connection allowance outside the
/// read budget, so that many waiting readers hold no more than the budget's accounting
/// allows.
const WATCH_LIMIT: usize = FREE_UNFINISHED;

/// A reader held up (by the central queue or by backpressure) watches its socket: a reset
/// ends the connection at once, and so does a FIN unless `half_close` allows
/// `close_timeout` from it.
struct Watch {
    /// Whether it still watches (it stops once `WATCH_LIMIT` bytes are read ahead, or after
    /// a FIN).
    watching: bool,
    /// When a FIN's grace ends.
    fin_deadline: Option<Instant>,
}

impl Watch {
    fn new() -> Self {
        Watch {
            watching: true,
            fin_deadline: None,
        }
    }

    /// Waits until the socket is readable (`Ok`: read ahead) or the connection is to end.
    async fn woke<R: ReadHalf>(&self, read: &mut R) -> Result<(), Stop> {
        let fin = async {
            match self.fin_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ready = read.readable(), if self.watching => ready.map_err(|e| Some(DisconnectReason::Io(e))),
            _ = fin => Err(Some(DisconnectReason::ClosedByPeer)),
        }
    }
}

/// What woke a reader that waited for input.
enum Woke {
    Closed,
    Timer,
    Readable(io::Result<()>),
    Pause,
}

/// How a wait for readiness ended, when the connection goes on.
#[derive(PartialEq)]
enum Waited {
    /// The socket is readable, and nothing else happened.
    Readable,
    /// A deadline was handled, or a pending frame ended: decode before reading.
    Other,
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
        let ended = if self.conversation.greeted() && self.connected(&handle).is_err() {
            Some(DisconnectReason::Shutdown)
        } else {
            self.read_loop(&mut read, &handle).await
        };
        // Messages decoded before the end go before `Disconnected`.
        let _ = self.hand.flush();
        let closing = self.shared.closing();
        // Cut for a limit: the peer kind's last words go first, and the close lingers so
        // that a reset from its unread input cannot destroy them.
        let mut last_words = self.last_words;
        match ended {
            Some(reason) => {
                if reason.is_limit() {
                    if let Some(msg) = P::farewell(&Farewell::Cut(&reason)) {
                        last_words = self.shared.queue_last(msg).is_ok();
                    }
                }
                closing.close_with(reason)
            }
            None => closing.mark(),
        }
        let unsent = writer.await.unwrap_or_else(|e| {
            tracing::error!("writer task failed: {e}");
            0
        });
        if closing.is_local() || last_words {
            linger(&mut read, self.settings.close_timeout).await;
        }
        drop(read);
        self.registry.remove(self.shared.id());
        let reason = closing.take_reason().unwrap_or(DisconnectReason::Shutdown);
        if let Some(pending) = self.shared.pending() {
            pending.end(&reason.to_string());
        }
        // Reconnecting would meet the same versions (or protocols) again.
        let local = reason.is_local()
            || matches!(
                reason,
                DisconnectReason::VersionMismatch { .. }
                    | DisconnectReason::ProtocolMismatch { .. }
            );
        tracing::debug!(%reason, unsent, "disconnected");
        let event = Event::Disconnected(handle, Box::new(Disconnect { reason, unsent }));
        let _ = self.hand.push_unbounded(event.into(), self.slot.take());
        !local
    }

    /// Pushes `Connected`.
    fn connected(&mut self, handle: &PeerHandle<P>) -> Result<(), QueueClosed> {
        tracing::debug!("connected");
        self.hand
            .push_unbounded(Event::Connected(handle.clone()).into(), None)
    }

    /// Reads and hands on messages until the connection is to close (the steps in the
    /// module's table); returns why.
    async fn read_loop<R: ReadHalf>(&mut self, read: &mut R, handle: &PeerHandle<P>) -> Stop {
        let shared = self.shared.clone();
        let token = shared.closing().cancelled_owned();
        tokio::pin!(token);
        let mut closed = CloseWait::new(shared.closing(), token);
        // Whether anything may have come since the last decode: not after a wait that
        // ended in readiness alone (the buffer, the batch and the deadlines are as that
        // decode left them).
        let mut fresh = true;
        loop {
            // 1. Checked once per read: an atomic flag, set before the token is cancelled.
            if shared.closing().is_closing() {
                return None;
            }
            // A bounded amount of work per wake-up: past it, other tasks run first.
            if self.work >= WORK_PER_WAKE {
                self.work = 0;
                tokio::task::yield_now().await;
            }
            if std::mem::replace(&mut fresh, true) {
                // 2. Decode.
                if let Err(stop) = self.decode_buffered(handle, read).await {
                    return stop;
                }
                // 3. Everything decoded from what was read goes to the central task in
                // one go.
                if let Err(closed) = self.hand.flush() {
                    return closed.into();
                }
                self.mark(false);
                // 4. Deadlines and the read budget.
                if let Err(need) = self.after_decode() {
                    if let Err(stop) = Box::pin(self.wait_for_budget(need)).await {
                        return stop;
                    }
                }
            } else {
                // What is in flight may have been taken meanwhile: the next read's
                // messages spend what this look leaves.
                self.mark(false);
            }
            // 5. Read.
            self.buf.make_room();
            let limit = (self.framing.chunked()).and_then(|c| c.read_limit(self.buf.bytes()));
            match self.buf.read(read, limit).await {
                // Boxed, as the cold paths below are: the read loop's future (one per
                // connection) stays the size of its hot path.
                Ok(0) => return Box::pin(self.at_end(handle, read)).await,
                Ok(n) => {
                    self.work += n;
                    self.heard();
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
                    match self.wait(read, handle, &mut closed).await {
                        Ok(woke) => fresh = woke != Waited::Readable,
                        Err(stop) => return stop,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(DisconnectReason::Io(e)),
            }
        }
    }

    /// Step 2: decodes and hands on every whole frame buffered, waiting only when the
    /// central queue is full.
    async fn decode_buffered<R: ReadHalf>(
        &mut self,
        handle: &PeerHandle<P>,
        read: &mut R,
    ) -> Result<(), Stop> {
        loop {
            match self.decode_now(handle) {
                Ok(()) => return Ok(()),
                Err(Held::Stop(stop)) => return Err(stop),
                Err(Held::Full(event, bytes)) => {
                    Box::pin(self.wait_for_room(event, bytes, read)).await?
                }
                Err(Held::Busy(event, bytes)) => {
                    Box::pin(self.wait_for_peer(event, bytes, read)).await?
                }
            }
        }
    }

    /// Decodes buffered frames until none is whole (`Ok`) or something holds decoding up.
    /// The common case does not await at all, so it builds no future: a plain function.
    fn decode_now(&mut self, handle: &PeerHandle<P>) -> Result<(), Held<E>> {
        let mut longest = 0;
        let decoded = loop {
            match self.next_message() {
                Ok(Some((msg, bytes))) => {
                    longest = longest.max(bytes);
                    if let Err(held) = self.take_message(msg, bytes, handle) {
                        break Err(held);
                    }
                }
                Ok(None) => break Ok(()),
                Err(held) => break Err(held),
            }
        };
        if let Some(reply) = self.framing.take_reply() {
            self.shared.queue_reply(reply);
        }
        let controls = self.framing.take_controls();
        if controls > 0 {
            self.controls(controls, false)?;
        }
        if longest > 0 {
            self.buf.saw_longest(longest);
            self.deadlines.on_message();
            self.decoded = true;
        }
        decoded
    }

    /// The next whole frame's message and its length, `None` when no frame is whole. A
    /// message type that decodes in place ([`Decode::IN_PLACE`]) is read from the frame
    /// where it lies in the read buffer; any other gets the frame cut out as `Bytes`.
    #[inline]
    fn next_message(&mut self) -> Result<Option<(P::Recv, usize)>, Held<E>> {
        let (tap, shared, limiter) = (&self.settings.tap, &*self.shared, &mut self.limiter);
        let found = if <P::Recv as Decode>::IN_PLACE {
            self.framing.read_frame(self.buf.bytes(), |frame| {
                admit(tap, shared, limiter, frame)?;
                Ok((<P::Recv as Decode>::decode_slice(frame), frame.len()))
            })
        } else {
            self.framing.decode_frame(self.buf.bytes()).map(|found| {
                found.map(|frame| {
                    admit(tap, shared, limiter, &frame)?;
                    let bytes = frame.len();
                    Ok((<P::Recv as Decode>::decode(frame), bytes))
                })
            })
        };
        match found {
            Ok(Some(Ok((Ok(msg), bytes)))) => Ok(Some((msg, bytes))),
            Ok(Some(Ok((Err(e), _)))) => Err(Held::Stop(Some(DisconnectReason::Decode(e)))),
            Ok(Some(Err(held))) => Err(held),
            Ok(None) => Ok(None),
            Err(e) => Err(Held::Stop(Some(DisconnectReason::from_frame_error(e)))),
        }
    }

    /// One frame cut out (at the end of the stream, after a pause): the tap, the message
    /// rate limit, decoding, then an offer to the hand-on.
    fn take_frame(&mut self, frame: Bytes, handle: &PeerHandle<P>) -> Result<(), Held<E>> {
        admit(&self.settings.tap, &self.shared, &mut self.limiter, &frame)?;
        let bytes = frame.len();
        let msg = match <P::Recv as Decode>::decode(frame) {
            Ok(msg) => msg,
            Err(e) => return Err(Held::Stop(Some(DisconnectReason::Decode(e)))),
        };
        self.take_message(msg, bytes, handle)
    }

    /// One decoded message of `bytes` bytes: the conversation features, the pending
    /// requests, then an offer to the hand-on.
    #[inline]
    fn take_message(
        &mut self,
        mut msg: P::Recv,
        bytes: usize,
        handle: &PeerHandle<P>,
    ) -> Result<(), Held<E>> {
        if self.shared.talk().watches_messages() {
            match self.talk_in(msg, handle)? {
                Some(m) => msg = m,
                None => return Ok(()),
            }
        }
        if let Some(pending) = self.shared.pending() {
            match pending.route(msg) {
                Some(m) => msg = m,
                None => return Ok(()),
            }
        }
        let event = Event::Message(handle.clone(), msg).into();
        if !self.flight.take_room(bytes) {
            let queue = self.shared.queue();
            let (queued, queued_mem) = queue.load();
            let load = self.flight.load(queue.pressure(), queued, queued_mem);
            if self.flight.is_busy(&load, bytes) {
                return Err(Held::Busy(event, bytes));
            }
            self.flight.refresh(&load, Some(bytes));
        }
        self.offer(event, bytes)
    }

    /// Offers a message's event to the hand-on, counting it in flight if taken.
    #[inline]
    fn offer(&mut self, event: E, bytes: usize) -> Result<(), Held<E>> {
        match self.hand.offer(event, bytes) {
            Ok(()) => {
                self.flight.handed(bytes);
                Ok(())
            }
            Err(Refused::Full(event)) => Err(Held::Full(event, bytes)),
            Err(Refused::Closed) => Err(Held::Stop(QueueClosed.into())),
        }
    }

    /// Sends a marker through the central queue if one is due (see `pressure.rs`): when
    /// `busy`, or once much is in flight unconfirmed. Call it after a flush, so that the
    /// marker follows the messages it covers.
    #[inline]
    fn mark(&mut self, busy: bool) {
        let queue = self.shared.queue();
        let (queued, queued_mem) = queue.load();
        let load = self.flight.load(queue.pressure(), queued, queued_mem);
        if let Some((count, mem)) = self.flight.marker_due(&load, busy) {
            let shared = self.shared.clone();
            self.hand
                .push_marker(move || shared.queue().pressure().confirm(count, mem));
        }
        // The next read's messages spend what this look leaves.
        self.flight.refresh(&load, None);
    }

    /// A message seen by the conversation features before it goes on: the peer's hello
    /// (with a version handshake), a rejection, pings and pongs (with a heartbeat). `None`
    /// when the message was taken here. Not inlined: the decode step of connections with
    /// none of these stays as small as it was.
    #[inline(never)]
    fn talk_in(
        &mut self,
        msg: P::Recv,
        handle: &PeerHandle<P>,
    ) -> Result<Option<P::Recv>, Held<E>> {
        let shared = self.shared.clone();
        match self.conversation.receive(shared.talk(), msg) {
            Step::Deliver(msg) => Ok(Some(msg)),
            Step::Beat { reply, deliver } => {
                // Counted as a message already, on its way in.
                self.controls(1, true)?;
                if let Some(pong) = reply {
                    // A peer that pings and never reads gets what its queue holds, no more.
                    let _ = shared.try_send(pong);
                }
                Ok(deliver)
            }
            Step::Greeted(version) => {
                shared.set_peer_version(version);
                match self.connected(handle) {
                    Ok(()) => Ok(None),
                    Err(closed) => Err(Held::Stop(closed.into())),
                }
            }
            Step::Refuse { reason, last_words } => {
                match last_words {
                    Some(no) => self.last_words = shared.close_with(no, reason).is_ok(),
                    None => shared.closing().close_with(reason),
                }
                Err(Held::Stop(None))
            }
            Step::Stop(reason) => Err(Held::Stop(Some(reason))),
        }
    }

    /// `n` control frames arrived (see `Limiter::take_controls`): over a limit, the
    /// connection is cut.
    #[cold]
    fn controls(&mut self, n: u32, counted: bool) -> Result<(), Held<E>> {
        self.limiter
            .take_controls(u64::from(n), counted)
            .map_err(|(what, per_ip)| {
                Held::Stop(Some(DisconnectReason::RateLimited { what, per_ip }))
            })
    }

    /// Bytes arrived: the deadlines that count from the last read move (the connection's,
    /// and the heartbeat's if the conversation has one).
    #[inline]
    fn heard(&mut self) {
        self.deadlines.on_read();
        if self.conversation.listens() {
            self.conversation.heard(Instant::now());
        }
    }

    /// The heartbeat's ping is due: the protocol's ping, or the framing's own (WebSocket).
    fn ping(&mut self) {
        if let Some(frame) = self.framing.ping_frame() {
            self.shared.queue_reply(frame);
        } else if let Some(ping) = Conversation::ping(self.shared.talk()) {
            let _ = self.shared.try_send(ping);
        }
    }

    /// One frame found outside the decode step (at the end of the stream, or after a pause
    /// told a frame's end): handed on like the others, waiting for room if need be.
    async fn hand_on<R: ReadHalf>(
        &mut self,
        frame: Bytes,
        handle: &PeerHandle<P>,
        read: &mut R,
    ) -> Result<(), Stop> {
        self.deadlines.on_message();
        match self.take_frame(frame, handle) {
            Ok(()) => Ok(()),
            Err(Held::Full(event, bytes)) => Box::pin(self.wait_for_room(event, bytes, read)).await,
            Err(Held::Busy(event, bytes)) => Box::pin(self.wait_for_peer(event, bytes, read)).await,
            Err(Held::Stop(stop)) => Err(stop),
        }
    }

    /// The central queue is full: flushes, then waits for room (reading pauses meanwhile,
    /// so TCP pushes back on the peer), still watching the socket: a reset ends the
    /// connection at once, and so does a FIN unless `half_close` gives it `close_timeout`.
    #[cold]
    async fn wait_for_room<R: ReadHalf>(
        &mut self,
        mut event: E,
        bytes: usize,
        read: &mut R,
    ) -> Result<(), Stop> {
        let mut watch = Watch::new();
        loop {
            let woke = {
                let closing = self.shared.closing();
                tokio::select! {
                    biased;
                    room = self.hand.room(bytes, closing.cancelled()) => Some(room),
                    woke = watch.woke(read) => { woke?; None }
                }
            };
            match woke {
                Some(Ok(true)) => match self.offer(event, bytes) {
                    Ok(()) => return Ok(()),
                    Err(Held::Full(back, _)) => event = back,
                    Err(_) => return Err(QueueClosed.into()),
                },
                Some(Ok(false)) => return Err(None),
                Some(Err(closed)) => return Err(closed.into()),
                None => self.read_ahead(&mut watch, read).await?,
            }
        }
    }

    /// The peer has enough to answer already (see `pressure.rs`): flushes, sends a marker
    /// for what is in flight, then holds `event` until the peer's queue drains and the
    /// central task catches up, reading nothing but watching the socket as
    /// [`wait_for_room`](Self::wait_for_room) does. A writer blocked on the socket for the
    /// write time-out meanwhile gets the queue policy: under `Disconnect`, the peer is cut
    /// with `QueueFull`.
    #[cold]
    async fn wait_for_peer<R: ReadHalf>(
        &mut self,
        event: E,
        bytes: usize,
        read: &mut R,
    ) -> Result<(), Stop> {
        self.hand.flush()?;
        let shared = self.shared.clone();
        let (queue, closing) = (shared.queue(), shared.closing());
        let cut_when_stalled = shared.policy() == QueuePolicy::Disconnect;
        let mut watch = Watch::new();
        queue.pressure().watch(true);
        let held = loop {
            self.mark(true);
            let (queued, queued_mem) = queue.load();
            let load = self.flight.load(queue.pressure(), queued, queued_mem);
            if self.flight.is_free(&load) {
                // The held message takes its room from this look.
                self.flight.refresh(&load, Some(bytes));
                break Ok(());
            }
            if cut_when_stalled && queue.is_stalled() {
                break Err(Some(DisconnectReason::QueueFull));
            }
            // Looked at again when the writer may have been blocked for the time-out.
            let check = queue
                .stalled_until()
                .or_else(|| queue.write_timeout().map(|t| Instant::now() + t))
                .filter(|_| cut_when_stalled);
            let stall = async {
                match check {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let read_ahead = tokio::select! {
                biased;
                _ = closing.cancelled() => break Err(None),
                _ = queue.pressure().eased() => false,
                _ = stall => false,
                woke = watch.woke(read) => match woke {
                    Ok(()) => true,
                    Err(stop) => break Err(stop),
                },
            };
            if read_ahead {
                if let Err(stop) = self.read_ahead(&mut watch, read).await {
                    break Err(stop);
                }
            }
        };
        queue.pressure().watch(false);
        held?;
        match self.offer(event, bytes) {
            Ok(()) => Ok(()),
            Err(Held::Full(event, bytes)) => Box::pin(self.wait_for_room(event, bytes, read)).await,
            Err(_) => Err(QueueClosed.into()),
        }
    }

    /// Reading is held up and the socket is readable: reads ahead, within a bound, to see a
    /// reset or a FIN.
    async fn read_ahead<R: ReadHalf>(
        &mut self,
        watch: &mut Watch,
        read: &mut R,
    ) -> Result<(), Stop> {
        let room = WATCH_LIMIT.saturating_sub(self.buf.bytes().len());
        if room == 0 {
            watch.watching = false;
            return Ok(());
        }
        // A little room at a time (enough to see a reset or a FIN), not what the sizing
        // policy makes for a few long messages.
        let room = room.min(4096);
        self.buf.bytes().reserve(room);
        match self.buf.read(read, Some(room)).await {
            Ok(0) if self.settings.half_close => {
                watch.watching = false;
                watch.fin_deadline = Some(Instant::now() + self.settings.close_timeout);
            }
            Ok(0) => return Err(Some(DisconnectReason::ClosedByPeer)),
            Ok(_) => self.heard(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(Some(DisconnectReason::Io(e))),
        }
        Ok(())
    }

    /// Step 4: the frame time-out follows the unfinished frame, whose bytes beyond
    /// `FREE_UNFINISHED` are held in the handler's read budget; when the budget (or the
    /// address's share) is short, what it needs.
    #[inline]
    fn after_decode(&mut self) -> Result<(), usize> {
        let unfinished = if self.buf.is_empty() && !self.framing.is_mid_frame() {
            None
        } else {
            Some(self.buf.len())
        };
        let completed = std::mem::take(&mut self.decoded);
        self.deadlines.after_decode(completed, || unfinished);
        let need = unfinished.unwrap_or(0).saturating_sub(FREE_UNFINISHED);
        if need != self.budget.held() {
            self.budget.set(need).map_err(|_| need)?;
            self.shared.set_unfinished(need);
        }
        Ok(())
    }

    /// The read budget is short of `need` bytes for this connection's unfinished frame:
    /// it stops reading and waits for room. When the wait runs out, the connection holding
    /// the most (of all the handler's, or of this address's when its share is what is
    /// short) is closed with `OverBudget`, and the wait starts again; this one is closed
    /// instead when none holds more than it does.
    #[cold]
    async fn wait_for_budget(&mut self, need: usize) -> Result<(), Stop> {
        let Some(budget) = self.budget.budget().cloned() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let began = Instant::now();
        let mut deadline = began + BUDGET_WAIT;
        let waited = loop {
            let freed = budget.freed();
            tokio::pin!(freed);
            freed.as_mut().enable();
            budget.wait();
            let short = match self.budget.set(need) {
                Ok(()) => break Ok(()),
                Err(short) => short,
            };
            tokio::select! {
                biased;
                _ = shared.closing().cancelled() => break Err(None),
                _ = freed => continue,
                _ = tokio::time::sleep_until(deadline) => {}
            }
            match self.largest_holder(short) {
                Some((victim, held)) if held > self.budget.held() => {
                    tracing::debug!(
                        victim = %victim.id(),
                        held,
                        need,
                        "read budget short: the largest holder is closed"
                    );
                    victim
                        .s()
                        .closing()
                        .close_with(DisconnectReason::OverBudget {
                            held: held + FREE_UNFINISHED,
                        });
                    deadline = Instant::now() + BUDGET_WAIT;
                }
                _ => {
                    break Err(Some(DisconnectReason::OverBudget {
                        held: need + FREE_UNFINISHED,
                    }))
                }
            }
        };
        self.deadlines.held_up(began.elapsed());
        self.shared.set_unfinished(self.budget.held());
        waited
    }

    /// The other open connection of the handler holding the most of the read budget (of
    /// this connection's address, when `short` says its share is what is short).
    fn largest_holder(&self, short: Short) -> Option<(PeerHandle<P>, usize)> {
        let (me, key) = (self.shared.id(), self.budget.key());
        let mut largest: Option<(PeerHandle<P>, usize)> = None;
        self.registry.for_each(|peer| {
            let s = peer.s();
            let held = s.unfinished();
            if peer.id() == me
                || s.closing().is_closing()
                || (short == Short::Address && ip_key(peer.addr().ip()) != key)
                || largest.as_ref().is_some_and(|(_, most)| *most >= held)
            {
                return;
            }
            largest = Some((peer.clone(), held));
        });
        largest
    }

    /// The end of the stream: what the framing still holds is decoded and handed on. With
    /// `half_close`, the connection then stays open for replies until the central task has
    /// taken everything handed on before (at most `close_timeout`).
    async fn at_end<R: ReadHalf>(&mut self, handle: &PeerHandle<P>, read: &mut R) -> Stop {
        loop {
            match self.framing.decode_frame_eof(self.buf.bytes()) {
                Ok(Some(frame)) => {
                    if let Err(stop) = self.hand_on(frame, handle, read).await {
                        return stop;
                    }
                }
                Ok(None) => break,
                Err(e) => return Some(DisconnectReason::from_frame_error(e)),
            }
        }
        if self.settings.half_close && self.decoded_any() {
            if let Err(closed) = self.hand.flush() {
                return closed.into();
            }
            self.until_taken(self.settings.close_timeout).await;
        }
        Some(DisconnectReason::ClosedByPeer)
    }

    /// Whether this connection handed on any message (only then can replies be due).
    fn decoded_any(&self) -> bool {
        self.deadlines.spoke()
    }

    /// Waits until the central task has taken everything handed on so far, at most
    /// `limit`, or until the connection closes.
    async fn until_taken(&mut self, limit: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.hand.push_marker(move || {
            let _ = tx.send(());
        });
        let closing = self.shared.closing();
        tokio::select! {
            _ = rx => {}
            _ = tokio::time::sleep(limit) => {}
            _ = closing.cancelled() => {}
        }
    }

    /// Step 6: nothing to read now. Waits for input, the earliest deadline, the end of a
    /// frame that only a pause can tell (see `Chunked::end_pending`), or the close.
    async fn wait<R: ReadHalf>(
        &mut self,
        read: &mut R,
        handle: &PeerHandle<P>,
        closed: &mut CloseWait<'_>,
    ) -> Result<Waited, Stop> {
        let pending = self.framing.chunked().and_then(|c| c.pending_end_after());
        // The read that sent us here registered this task for readiness: the first poll of
        // `readable` would only register it again (and readiness that comes meanwhile wakes
        // the task, which polls it again).
        let mut registered = self.buf.take_registered();
        let ready = read.readable();
        let readable = async move {
            std::future::poll_fn(|_| match std::mem::take(&mut registered) {
                true => std::task::Poll::Pending,
                false => std::task::Poll::Ready(()),
            })
            .await;
            ready.await
        };
        let woke = {
            let pause = async {
                match pending {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = closed => Woke::Closed,
                _ = self.deadlines.timer(self.conversation.next_deadline()) => Woke::Timer,
                ready = readable => Woke::Readable(ready),
                _ = pause => Woke::Pause,
            }
        };
        match woke {
            Woke::Closed => Err(None),
            Woke::Timer => {
                if let Some(which) = self.deadlines.expired() {
                    return Err(Some(DisconnectReason::TimedOut(which)));
                }
                match self.conversation.on_time(Instant::now()) {
                    Some(Due::Cut(which)) => Err(Some(DisconnectReason::TimedOut(which))),
                    Some(Due::Ping) => {
                        self.ping();
                        Ok(Waited::Other)
                    }
                    None => Ok(Waited::Other),
                }
            }
            Woke::Readable(ready) => ready
                .map(|()| Waited::Readable)
                .map_err(|e| Some(DisconnectReason::Io(e))),
            Woke::Pause => {
                match (self.framing.chunked()).and_then(|c| c.end_pending(self.buf.bytes())) {
                    Some(frame) => self.hand_on(frame, handle, read).await,
                    None => Ok(()),
                }
                .map(|()| Waited::Other)
            }
        }
    }
}
