//! The writer task: takes what the send path queued, encodes and frames it, and writes it
//! in batches; at the close it writes what is still queued (within `close_timeout`) and ends
//! the stream.
//!
//! | state | buffer | direct writes (see `send.rs`) | next |
//! | --- | --- | --- | --- |
//! | idle | empty | allowed | an item is queued: leaves idle, encodes it and whatever else is queued, up to `MAX_BATCH`; while requests wait for replies, a lone item yields once first, so that tasks woken with its sender (waiters of replies read together) share its write |
//! | writing | bytes not yet written | not allowed | writes when the transport takes them; empty again: idle |
//! | closing | what is left | stopped | `finish`: the rest of the queue, within `close_timeout`, then FIN; a failed write or a peer that does not read (`QueueFull`) discards instead |
//! | ended | | stopped | returns how many queued messages were not written |

use std::{collections::VecDeque, io, sync::Arc};

use bytes::BytesMut;
use tokio::time::Instant;

use super::{
    close::CloseWait,
    queue::{OutQueue, Outgoing},
    shared::Shared,
    ConnSettings,
};
use crate::{
    codec::{Carried, Framing},
    message::Encode,
    peer::Peer,
    reason::DisconnectReason,
    tap::Direction,
    transport::{write_some, WriteHalf},
};

/// Gather queued messages into one write up to this many bytes.
const MAX_BATCH: usize = 64 * 1024;
/// An idle writer keeps a buffer at most this large.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;
/// An idle writer keeps room for at most this many queued items.
const KEEP_QUEUE_SLOTS: usize = 32;

pub(super) struct Writer<P: Peer, F, W> {
    pub(super) shared: Arc<Shared<P>>,
    /// Items taken from the queue at once and not encoded yet (still counted in its bound).
    pub(super) taken: VecDeque<Outgoing<P::Send>>,
    pub(super) write: Arc<W>,
    pub(super) framing: Carried<F>,
    pub(super) settings: Arc<ConnSettings>,
}

impl<P: Peer, F: Framing, W: WriteHalf> Writer<P, F, W> {
    /// Writes queued messages until the connection closes; returns how many queued messages
    /// were not written.
    pub(super) async fn run(mut self) -> usize {
        let mut buf = BytesMut::new();
        // Messages in `buf`, not yet wholly written.
        let mut in_buf = 0usize;
        let shared = self.shared.clone();
        let token = shared.closing().cancelled_owned();
        tokio::pin!(token);
        let mut closed = CloseWait::new(shared.closing(), token);
        let failed = loop {
            if buf.is_empty() {
                if self.write.has_pending() {
                    // Bytes the transport accepted and holds (TLS records): out before idling.
                    // Blocked meanwhile, as far as the write time-out is concerned.
                    self.shared.queue().writer_blocked();
                    tokio::select! {
                        biased;
                        flushed = self.write.flush() => if let Err(e) = flushed {
                            break Some(DisconnectReason::Io(e));
                        },
                        _ = &mut closed => break None,
                    }
                    self.shared.queue().writer_unblocked();
                }
                if buf.capacity() > KEEP_WRITE_BUFFER {
                    buf = BytesMut::new();
                }
                if self.taken.is_empty() && self.taken.capacity() > KEEP_QUEUE_SLOTS {
                    // The queue and the writer swap these two deques: shrinking this one
                    // bounds both, so a burst long past is not held by an idle connection.
                    self.taken = VecDeque::new();
                }
                // Idle: senders may write directly until something is queued.
                self.shared.direct().set_idle(true);
                let (queue, taken) = (self.shared.queue(), &mut self.taken);
                let item = tokio::select! {
                    biased;
                    item = std::future::poll_fn(|cx| queue.poll_pop(taken, cx)) => item,
                    _ = &mut closed => break None,
                };
                self.shared.direct().set_idle(false);
                let Some(item) = item else { break None };
                self.shared.queue().release(1, item_bytes(&item));
                if let Err(reason) = self.encode(item, &mut buf) {
                    break Some(reason);
                }
                in_buf = 1;
                if let Err(reason) = self.gather(&mut buf, &mut in_buf) {
                    break Some(reason);
                }
                if in_buf == 1 && self.shared.pending().is_some_and(|p| p.len() > 0) {
                    // A lone message while requests wait for replies: the tasks woken with
                    // its sender (waiters of replies read together) may send theirs before
                    // this one is written, so they share one write. Connections without
                    // requests never pay for this.
                    tokio::task::yield_now().await;
                    if let Err(reason) = self.gather(&mut buf, &mut in_buf) {
                        break Some(reason);
                    }
                }
            }
            tokio::select! {
                biased;
                written = write_tracked(&*self.write, self.shared.queue(), &mut buf) => match written {
                    Ok(_) => {
                        if buf.is_empty() {
                            in_buf = 0;
                        }
                    }
                    Err(e) => break Some(DisconnectReason::Io(e)),
                },
                _ = &mut closed => break None,
            }
        };
        // No direct writes from now on, and the socket's second handle goes (dropping the last
        // handle closes the socket).
        self.shared.direct().stop();
        self.shared.closing().mark();
        self.shared.queue().close();
        if let Some(reason) = failed {
            self.shared.closing().close_with(reason);
            return in_buf + self.discard_queue();
        }
        if self
            .shared
            .closing()
            .reason_is(|r| matches!(r, DisconnectReason::QueueFull))
        {
            // The peer does not read: flushing to it would only wait out close_timeout.
            return in_buf + self.discard_queue();
        }
        self.finish(buf, in_buf).await
    }

    /// Closing: writes what is buffered and queued, then sends FIN, all within
    /// `close_timeout`.
    async fn finish(mut self, mut buf: BytesMut, mut in_buf: usize) -> usize {
        let deadline = Instant::now() + self.settings.close_timeout;
        let mut said_goodbye = false;
        loop {
            if let Err(reason) = self.gather(&mut buf, &mut in_buf) {
                self.shared.closing().close_with(reason);
                return in_buf + self.discard_queue();
            }
            if buf.is_empty() && !said_goodbye {
                // The framing's closing words (a WebSocket close frame), after every
                // queued message.
                said_goodbye = true;
                let (code, why) = self.shared.closing().close_code();
                self.framing.encode_close(code, &why, &mut buf);
            }
            if buf.is_empty() {
                break;
            }
            let write_all = async {
                while !buf.is_empty() {
                    write_some(&*self.write, &mut buf).await?;
                }
                Ok::<(), io::Error>(())
            };
            match tokio::time::timeout_at(deadline, write_all).await {
                Ok(Ok(())) => in_buf = 0,
                Ok(Err(e)) => {
                    self.shared.closing().close_with(DisconnectReason::Io(e));
                    return in_buf + self.discard_queue();
                }
                Err(_) => {
                    let unsent = in_buf + self.discard_queue();
                    tracing::warn!(
                        unsent,
                        "close_timeout passed before the queued messages were written"
                    );
                    return unsent;
                }
            }
        }
        if let Ok(mut write) = Arc::try_unwrap(self.write) {
            let _ = tokio::time::timeout_at(deadline, write.shutdown()).await;
        }
        0
    }

    /// Adds queued messages to `buf` without waiting, up to one batch.
    fn gather(&mut self, buf: &mut BytesMut, in_buf: &mut usize) -> Result<(), DisconnectReason> {
        let (mut taken, mut bytes) = (0, 0);
        let mut result = Ok(());
        while buf.len() < MAX_BATCH {
            let Some(item) = self.shared.queue().try_pop(&mut self.taken) else {
                break;
            };
            taken += 1;
            bytes += item_bytes(&item);
            if let Err(reason) = self.encode(item, buf) {
                result = Err(reason);
                break;
            }
            *in_buf += 1;
        }
        if taken > 0 {
            self.shared.queue().release(taken, bytes);
        }
        result
    }

    fn encode(
        &mut self,
        item: Outgoing<P::Send>,
        buf: &mut BytesMut,
    ) -> Result<(), DisconnectReason> {
        match item {
            Outgoing::Message(msg) => {
                if let Some(tap) = &self.settings.tap {
                    let mut body = BytesMut::with_capacity(msg.encoded_len());
                    msg.encode(&mut body);
                    self.shared.tap(tap, Direction::Out, &body);
                }
                self.framing
                    .encode_message(&msg, buf)
                    .map_err(DisconnectReason::Encode)
            }
            Outgoing::Framed(framed) => {
                if let (Some(tap), Some(body)) = (&self.settings.tap, &framed.body) {
                    self.shared.tap(tap, Direction::Out, body);
                }
                buf.extend_from_slice(&framed.wire);
                Ok(())
            }
        }
    }

    /// Drops what is still queued, counting it.
    fn discard_queue(&mut self) -> usize {
        self.shared.queue().discard(&mut self.taken)
    }
}

/// Writes some of `buf` when the transport takes it (as `write_some`), telling the queue
/// while the transport takes nothing (for its write time-out).
async fn write_tracked<W: WriteHalf, S>(
    write: &W,
    queue: &OutQueue<S>,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    use bytes::Buf;
    loop {
        match write.try_write(buf) {
            Ok(0) if !buf.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf.advance(n);
                queue.writer_unblocked();
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                queue.writer_blocked();
                write.writable().await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The bytes an item took of its queue's byte bound (as the send path counted them).
fn item_bytes<S: Encode>(item: &Outgoing<S>) -> usize {
    match item {
        Outgoing::Message(msg) => msg.encoded_len(),
        Outgoing::Framed(framed) => framed.wire.len(),
    }
}
