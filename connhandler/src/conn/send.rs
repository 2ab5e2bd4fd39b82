//! The send path: how a message given to `PeerHandle::send`, `PeerHandle::try_send`,
//! `PeerHandle::send_timeout` or a broadcast reaches the socket. Written down once, here; the writer's side of it is in
//! `writer.rs` (it flips the idle state below and drains the queue).
//!
//! A message is checked first, then written directly or queued:
//!
//! | connection | writer task | queue | central hint | tap | a send |
//! | --- | --- | --- | --- | --- | --- |
//! | closing | any | any | any | any | refused: [`SendError::Closed`] |
//! | open, length not sendable or over a prefix | any | any | any | any | refused: [`SendError::Refused`]; the connection stays up |
//! | open | idle | empty | reply now | none | **direct**: encoded and written from the sending task; all taken: done |
//! | open | idle | empty | reply now | none | direct, part taken: the rest queued first (`force_push`, past the bound), for the writer |
//! | open | idle | empty | reply now | none | direct, nothing taken or encoding failed: queued as below |
//! | open | busy, or queue not empty, or no hint, or a tap | has room | any | any | **queued** for the writer, in order |
//! | open | any | full (count or bytes) | any | any | `send`: the policy at once, never waiting (`Disconnect`: closed with `QueueFull`, [`SendError::Closed`]; `Fail`: [`SendError::Full`]); `try_send`: [`SendError::Full`]; `send_timeout`: waits for room until its deadline, then as `send` |
//!
//! No row waits except the last one's `send_timeout`, which is for tasks other than the
//! central one: the central task serves every peer, so one peer's full queue must never
//! hold it up.
//!
//! A broadcast is framed once and queued to each connection (never written directly, never
//! waiting); a connection whose queue is full is skipped (or, under `Disconnect`, closed).
//!
//! The "central hint" is `central::reply_now`: the central task took a lone message and
//! nothing else waits, so a reply may go out at once. It decides speed, never order: the
//! direct write (`direct.rs`) happens only while the writer is idle (nothing buffered,
//! nothing queued).

use std::{fmt, sync::Arc};

use super::{
    direct::Direct,
    queue::{Framed, NotQueued, Outgoing},
    shared::Shared,
};
use crate::{
    codec::FrameError, limits::QueuePolicy, message::Encode, peer::Peer, reason::DisconnectReason,
};

impl<P: Peer> Shared<P> {
    /// `PeerHandle::send`: checks, then writes directly or queues; a full queue gets the
    /// handler's policy at once.
    pub(crate) fn send(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        match self.queue_message(msg)? {
            None => Ok(()),
            Some(msg) => Err(self.on_full(msg)),
        }
    }

    /// `PeerHandle::try_send`: as `send`, but a full queue hands the message back whatever
    /// the policy.
    pub(crate) fn try_send(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        match self.queue_message(msg)? {
            None => Ok(()),
            Some(msg) => Err(SendError::Full(msg)),
        }
    }

    /// `PeerHandle::close_with`: queues `msg` as the last message (past the bounds: one
    /// message more at most, since the connection takes no other after it), then closes.
    pub(crate) fn close_with(
        &self,
        msg: P::Send,
        reason: DisconnectReason,
    ) -> Result<(), SendError<P::Send>> {
        let queued = self.queue_last(msg);
        if !matches!(queued, Err(SendError::Refused(..))) {
            self.closing().close_with(reason);
        }
        queued
    }

    /// Queues `msg` as the last message, past the bounds (one message more at most: the
    /// connection is about to close).
    pub(crate) fn queue_last(&self, msg: P::Send) -> Result<(), SendError<P::Send>> {
        let (msg, len) = self.check(msg)?;
        self.queue()
            .force_push(Outgoing::Message(msg), len)
            .map_err(|o| SendError::Closed(unwrap_message(o)))
    }

    /// `PeerHandle::send_timeout`: as `send`, waiting for room up to `timeout` first.
    pub(crate) async fn send_timeout(
        &self,
        msg: P::Send,
        timeout: std::time::Duration,
    ) -> Result<(), SendError<P::Send>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (msg, len) = self.check(msg)?;
        let Some(msg) = self.try_direct(msg) else {
            return Ok(());
        };
        match self
            .queue()
            .push_until(Outgoing::Message(msg), len, deadline)
            .await
        {
            Ok(()) => Ok(()),
            Err(NotQueued::Full(o)) => Err(self.on_full(unwrap_message(o))),
            Err(NotQueued::Closed(o)) => Err(SendError::Closed(unwrap_message(o))),
        }
    }

    /// Checks, then writes directly or queues if there is room; `Ok(Some(msg))` hands back
    /// a message that found the queue full.
    fn queue_message(&self, msg: P::Send) -> Result<Option<P::Send>, SendError<P::Send>> {
        let (msg, len) = self.check(msg)?;
        let Some(msg) = self.try_direct(msg) else {
            return Ok(None);
        };
        match self.queue().try_push(Outgoing::Message(msg), len) {
            Ok(()) => Ok(None),
            Err(NotQueued::Full(o)) => Ok(Some(unwrap_message(o))),
            Err(NotQueued::Closed(o)) => Err(SendError::Closed(unwrap_message(o))),
        }
    }

    /// A broadcast: queues bytes already framed for this connection; applies the queue
    /// policy when the queue is full.
    pub(crate) fn try_send_framed(&self, framed: &Arc<Framed>) -> Queued {
        if self.closing().is_closing() {
            return Queued::Closing;
        }
        match self
            .queue()
            .try_push(Outgoing::Framed(framed.clone()), framed.wire.len())
        {
            Ok(()) => Queued::Sent,
            Err(NotQueued::Full(_)) => {
                if self.policy() == QueuePolicy::Disconnect {
                    self.closing().close_with(DisconnectReason::QueueFull);
                }
                Queued::Slow
            }
            Err(NotQueued::Closed(_)) => Queued::Closing,
        }
    }

    /// The first rows of the table: refuses a message on a closing connection, or one the
    /// framing cannot carry.
    fn check(&self, msg: P::Send) -> Result<(P::Send, usize), SendError<P::Send>> {
        if self.closing().is_closing() {
            return Err(SendError::Closed(msg));
        }
        let len = msg.encoded_len();
        if !self.sendable().contains(&len) {
            let err = if len == 0 {
                FrameError::EmptyMessage
            } else {
                FrameError::MessageTooLong {
                    len,
                    max: *self.sendable().end(),
                }
            };
            return Err(SendError::Refused(msg, err));
        }
        if let Err(e) = msg.encodable() {
            return Err(SendError::Refused(msg, FrameError::LengthOverflow(e)));
        }
        Ok((msg, len))
    }

    /// The direct rows of the table: writes `msg` from this task if the writer task is idle
    /// and the transport takes the whole message now. Hands the message back when it is to
    /// be queued instead. A partial write queues the rest of the bytes, ahead of anything
    /// else, for the writer.
    fn try_direct(&self, msg: P::Send) -> Option<P::Send> {
        if !crate::central::reply_now() {
            return Some(msg);
        }
        let written = self.direct().write(
            &msg,
            || self.queue().len() == 0,
            |rest| {
                // The rest must go next. The queue is empty and open (the writer closes it
                // only after leaving the idle state, which needs the direct lock, held here).
                let rest_len = rest.len();
                let rest = Outgoing::Framed(Arc::new(Framed {
                    wire: rest,
                    body: None,
                }));
                if self.queue().force_push(rest, rest_len).is_err() {
                    tracing::error!("the rest of a partly written message could not be queued");
                    self.closing()
                        .close_with(DisconnectReason::Io(std::io::ErrorKind::BrokenPipe.into()));
                }
            },
        );
        match written {
            Direct::Written => None,
            Direct::NotWritten => Some(msg),
        }
    }

    /// The last row of the table: applies the queue policy to a message that found the
    /// queue full.
    fn on_full(&self, msg: P::Send) -> SendError<P::Send> {
        if self.policy() == QueuePolicy::Disconnect {
            self.closing().close_with(DisconnectReason::QueueFull);
            SendError::Closed(msg)
        } else {
            SendError::Full(msg)
        }
    }
}

/// What a broadcast did for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    Sent,
    /// Its queue was full (under `QueuePolicy::Disconnect`, it is being cut for it).
    Slow,
    /// It was closing already.
    Closing,
}

fn unwrap_message<S>(o: Outgoing<S>) -> S {
    match o {
        Outgoing::Message(m) => m,
        // Only messages go through `send` and `try_send`.
        Outgoing::Framed(_) => unreachable!("a framed item where a message was sent"),
    }
}

/// Why a message was not queued; the message is handed back.
///
/// # Examples
///
/// ```
/// use connhandler::SendError;
///
/// let err: SendError<&str> = SendError::Full("hi");
/// assert_eq!(err.to_string(), "the peer's outgoing queue is full");
/// assert_eq!(format!("{err:?}"), "Full(..): the peer's outgoing queue is full");
/// assert_eq!(err.into_inner(), "hi");
/// ```
#[non_exhaustive]
pub enum SendError<T> {
    /// The outgoing queue is full: from `try_send`, and from `send` and `send_timeout`
    /// under [`QueuePolicy::Fail`](crate::QueuePolicy::Fail).
    Full(T),
    /// The connection is closed or closing.
    Closed(T),
    /// The framing cannot carry this message; the connection stays up.
    Refused(T, FrameError),
}

impl<T> SendError<T> {
    /// The message that was not queued.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::SendError::Closed(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Full(t) | SendError::Closed(t) | SendError::Refused(t, _) => t,
        }
    }
}

/// Says what happened (the message itself is left out: it may be large, and need not be
/// `Debug`), so that `Error: ...` from a `?` in `main` reads well.
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("Full(..): ")?,
            SendError::Closed(_) => f.write_str("Closed(..): ")?,
            SendError::Refused(_, e) => write!(f, "Refused(.., {e:?}): ")?,
        }
        fmt::Display::fmt(self, f)
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("the peer's outgoing queue is full"),
            SendError::Closed(_) => f.write_str("the connection is closed"),
            SendError::Refused(_, e) => write!(f, "message refused by the framing: {e}"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Refused(_, e) => Some(e),
            _ => None,
        }
    }
}
