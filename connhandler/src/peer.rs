//! Peer kinds and connection ids: what tells connections apart, at compile time and at run
//! time. A low room: it knows messages and reasons, and nothing of connections or handlers.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::{
    message::{Decode, Encode},
    reason::Farewell,
};

/// A kind of connection: the message type it receives, the one it sends, and a name.
///
/// The implementing type is also the per-connection data that every
/// [`PeerHandle`](crate::PeerHandle) of this kind carries (reached through `Deref`), built by
/// the handler's `make_peer` hook when the connection is made: a unit struct when there is
/// none. Two kinds are told apart at compile
/// time: a `PeerHandle<LoginServer>` cannot be given a game client's message.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::Peer;
///
/// /// A game client; we remember which protocol version it said it speaks.
/// struct GameClient {
///     version: std::sync::atomic::AtomicU32,
/// }
///
/// impl Peer for GameClient {
///     type Recv = Bytes;
///     type Send = Bytes;
///     const NAME: &'static str = "game-client";
/// }
/// ```
pub trait Peer: Send + Sync + Sized + 'static {
    /// What this kind of connection receives.
    type Recv: Decode + Send + 'static;
    /// What this kind of connection sends.
    type Send: Encode + Send + 'static;
    /// A name for logs and spans; handlers use it unless given another.
    const NAME: &'static str;

    /// The last words sent to a connection the library refuses at the door (an incoming
    /// handler's caps) or cuts for going over a limit (a time-out, a rate limit, the read
    /// budget), so that the other side can tell its user why; `None` (the default) sends
    /// nothing. It is written before the close, and the connection lingers (within
    /// `close_timeout`; refused ones a bounded number at a time) so that a reset cannot
    /// destroy it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use connhandler::{Farewell, Peer};
    ///
    /// struct Player;
    ///
    /// impl Peer for Player {
    ///     type Recv = Bytes;
    ///     type Send = Bytes;
    ///     const NAME: &'static str = "player";
    ///
    ///     fn farewell(why: &Farewell<'_>) -> Option<Bytes> {
    ///         Some(Bytes::from(match why {
    ///             Farewell::Refused(by) => format!("refused: {by}"),
    ///             Farewell::Cut(reason) => format!("disconnected: {reason}"),
    ///             _ => "goodbye".to_owned(),
    ///         }))
    ///     }
    /// }
    /// ```
    fn farewell(why: &Farewell<'_>) -> Option<Self::Send> {
        let _ = why;
        None
    }
}

/// A connection's id: unique for the life of the process, across all handlers.
///
/// # Examples
///
/// ```
/// # fn show<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
/// let id: connhandler::PeerId = peer.id();
/// println!("{id}"); // "#42"
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u64);

impl PeerId {
    pub(crate) fn next() -> PeerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PeerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn show<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// let n: u64 = peer.id().get();
    /// # }
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A handler's id: unique for the life of the process. Every connection knows its handler's
/// ([`PeerHandle::handler_id`](crate::PeerHandle::handler_id)), so a central loop tells apart
/// the connections of two handlers of one peer kind (a TCP door and a WebSocket door, say)
/// by comparing ids, not names.
///
/// # Examples
///
/// ```
/// # fn route<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>, browsers: &connhandler::Incoming<P>) {
/// if peer.handler_id() == browsers.id() {
///     // a browser
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(u64);

impl HandlerId {
    pub(crate) fn next() -> HandlerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        HandlerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn show<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
    /// let n: u64 = peer.handler_id().get();
    /// # }
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for HandlerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handler {}", self.0)
    }
}
