//! Closing a connection: whether it is closing, why, and what its tasks wait on to learn it.
//!
//! | state | `flag` | `token` | `reason` | entered by |
//! | --- | --- | --- | --- | --- |
//! | open | unset | live | none | `Closing::new` |
//! | closing, with a reason | set | cancelled | the first reason given | [`Closing::close_with`]: the program (`disconnect`), the reader (end of stream, bad frame, time-out, rate limit), the writer (a failed write), a send under `QueuePolicy::Disconnect` |
//! | closing, the handler shut down | set | cancelled (by its parent, the handler's) | none | `Registry::close_all` marks, then cancels |
//! | closed | set | cancelled | taken | the reader, as it pushes `Disconnected` ([`Closing::take_reason`]) |
//!
//! The flag is always set before the token is cancelled: what senders and the tasks' loops
//! check is an atomic load, and [`CloseWait`] relies on the order.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::reason::DisconnectReason;
use crate::transport::ReadHalf;

/// Whether and why one connection closes; shared by its handles and tasks.
pub(crate) struct Closing {
    /// Cancelled when the connection is to close, by either side; a child of the handler's.
    token: CancellationToken,
    /// Set when the connection is to close: what `send` checks (a load, where the token's
    /// own check takes a lock).
    flag: AtomicBool,
    /// Why it closed: the first reason given wins.
    reason: Mutex<Option<DisconnectReason>>,
}

impl Closing {
    /// An open connection of the handler whose token is `parent`.
    pub(crate) fn new(parent: &CancellationToken) -> Self {
        Closing {
            token: parent.child_token(),
            flag: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    /// Records why the connection closes (if no reason was recorded yet) and starts closing.
    pub(crate) fn close_with(&self, reason: DisconnectReason) {
        {
            let mut slot = self.lock();
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.mark();
        self.token.cancel();
    }

    /// Makes sends fail from now on (the handler's close, or a task that saw it).
    pub(crate) fn mark(&self) {
        self.flag.store(true, Ordering::Release);
    }

    /// Whether the connection is to close: an atomic load.
    pub(crate) fn is_closing(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Whether the connection's token is cancelled (its own close or its handler's).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits until the connection's token is cancelled.
    pub(crate) async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// A future of the token's cancellation, for one task's whole loop (see [`CloseWait`]).
    pub(crate) fn cancelled_owned(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// Whether the recorded reason satisfies `f`.
    pub(crate) fn reason_is(&self, f: impl Fn(&DisconnectReason) -> bool) -> bool {
        self.lock().as_ref().is_some_and(f)
    }

    /// Whether the close was ours (no reason recorded counts as ours: the handler's close).
    pub(crate) fn is_local(&self) -> bool {
        self.lock().as_ref().is_none_or(DisconnectReason::is_local)
    }

    /// The WebSocket close code and text for the recorded reason (none recorded: the
    /// handler's close).
    pub(crate) fn close_code(&self) -> (u16, String) {
        match &*self.lock() {
            Some(reason) => reason.close_code(),
            None => DisconnectReason::Shutdown.close_code(),
        }
    }

    /// Takes the recorded reason, once, for `Disconnected`.
    pub(crate) fn take_reason(&self) -> Option<DisconnectReason> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<DisconnectReason>> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the reader and writer wait on, beside their work, to learn that the connection is
/// to close: the connection's token, polled only when it must be. The token registers the
/// task's waker once (polling it again takes the token's lock, which the connection's other
/// task takes too); after that it is polled again only for another waker. Woken, the task
/// finds the closing flag set: the flag is always set before the token is cancelled.
pub(crate) struct CloseWait<'a> {
    closing: &'a Closing,
    /// One future for the connection's life: making one per wait registers and unregisters
    /// a waiter each time.
    token: Pin<&'a mut WaitForCancellationFutureOwned>,
    registered: Option<Waker>,
}

impl<'a> CloseWait<'a> {
    pub(crate) fn new(
        closing: &'a Closing,
        token: Pin<&'a mut WaitForCancellationFutureOwned>,
    ) -> Self {
        CloseWait {
            closing,
            token,
            registered: None,
        }
    }
}

/// Completes once the connection is to close (and again if polled after).
impl Future for CloseWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.closing.is_closing() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        if self.token.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        self.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// After a close from our side: reads and discards until the peer closes, at most `limit`,
/// so that unread input cannot reset the connection before the peer has read our last
/// messages.
pub(crate) async fn linger<R: ReadHalf>(read: &mut R, limit: Duration) {
    let discard = async {
        let mut sink = [0u8; 1024];
        loop {
            match tokio::io::AsyncReadExt::read(read, &mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(limit, discard).await;
}
