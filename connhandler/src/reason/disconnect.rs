//! How and why a connection ended: what `Event::Disconnected` carries.

use std::{fmt, io, time::Duration};

use crate::{codec::FrameError, limits::Limited, message::DecodeError};

/// How a connection ended: why, and how many queued messages were not written.
///
/// # Examples
///
/// ```
/// use connhandler::{Disconnect, DisconnectReason};
///
/// let d = Disconnect { reason: DisconnectReason::ClosedByPeer, unsent: 2 };
/// assert_eq!(d.to_string(), "closed by the peer (2 queued messages not sent)");
/// ```
#[derive(Debug)]
pub struct Disconnect {
    /// Why the connection ended.
    pub reason: DisconnectReason,
    /// Messages that were queued with `send`/`try_send` but not written to the socket.
    pub unsent: usize,
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)?;
        match self.unsent {
            0 => Ok(()),
            1 => f.write_str(" (1 queued message not sent)"),
            n => write!(f, " ({n} queued messages not sent)"),
        }
    }
}

/// Why a connection ended.
///
/// # Examples
///
/// ```
/// use connhandler::DisconnectReason;
///
/// let r = DisconnectReason::ClosedLocally { reason: Some("kicked".into()) };
/// assert_eq!(r.to_string(), "closed locally: kicked");
/// assert!(!r.is_error());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection (end of stream between messages).
    ClosedByPeer,
    /// The peer closed the connection with a closing message of the framing's own (a
    /// WebSocket close frame), between messages.
    ClosedByPeerWith {
        /// The close code, if the peer gave one (WebSocket: 1000 for a normal close).
        code: Option<u16>,
        /// The reason the peer gave (may be empty).
        reason: String,
    },
    /// The program closed it with `disconnect` or `disconnect_with`.
    ClosedLocally {
        /// The reason given to `disconnect_with`.
        reason: Option<String>,
    },
    /// The handler shut down (or was dropped), or the central queue was dropped.
    Shutdown,
    /// Reading or writing the socket failed (a reset, say).
    Io(io::Error),
    /// The peer broke the framing: a chunk or message too long, or the stream ended inside a
    /// message.
    Framing(FrameError),
    /// A frame did not decode as the peer kind's message type.
    Decode(DecodeError),
    /// A queued message could not be encoded (its `Encode` impl broke its word).
    Encode(FrameError),
    /// The peer sent nothing, or left a frame unfinished, for longer than allowed.
    TimedOut(Timeout),
    /// The peer went over a rate limit.
    RateLimited {
        /// Which limit.
        what: Limited,
        /// Whether it was the limit shared by all connections from the peer's IP address.
        per_ip: bool,
    },
    /// The peer's outgoing queue was full under [`QueuePolicy::Disconnect`](crate::QueuePolicy).
    QueueFull,
    /// The peer's unfinished frames needed more memory than the handler's budget for them
    /// had left (`read_budget`: a budget all its connections share, so that many peers
    /// each stalling just under the longest message cannot pin that much memory each).
    OverBudget {
        /// The bytes the connection held in unfinished frames.
        held: usize,
    },
    /// The version handshake failed: the peer's version is not accepted by the handler's
    /// rule (we sent the protocol's rejection first, if it declares one), or the peer's
    /// rejection message came (it did not accept ours).
    VersionMismatch {
        /// Our version.
        ours: String,
        /// The peer's version, as it sent it (`None`: its rejection came before its hello).
        theirs: Option<String>,
        /// Whether the peer rejected ours (its rejection came), rather than we theirs.
        by_peer: bool,
        /// Our protocol's messages hash (16 hex digits), when the protocol describes itself
        /// ([`Protocol::messages_hash`](crate::schema::Protocol::messages_hash)): the
        /// document to compare is the one with this `messages_hash`.
        our_protocol: Option<String>,
        /// The peer's, when its hello or rejection said one (`#[wire(protocol)]`).
        their_protocol: Option<String>,
    },
    /// The peer said an accepted version, but its hello said other messages than ours (the
    /// protocol's hello has a `#[wire(protocol)]` field, and the two messages hashes
    /// differ): the two sides were built from different protocols under one version. We
    /// sent the protocol's rejection first, if it declares one.
    ProtocolMismatch {
        /// The version both said (the peer's).
        version: String,
        /// Our messages hash (16 hex digits).
        ours: String,
        /// The peer's.
        theirs: String,
    },
    /// The peer's first message was not its hello (the handler has a version handshake).
    NoHello,
}

/// Which time-out a connection ran into.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::Timeout;
/// assert_eq!(
///     Timeout::Frame(Duration::from_secs(2)).to_string(),
///     "a frame was left unfinished for 2s"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// Nothing at all arrived for this long (`idle_timeout`).
    Idle(Duration),
    /// Part of a frame arrived and the rest did not within this long (`frame_timeout`,
    /// extended by `min_frame_rate` for the bytes that did arrive).
    Frame(Duration),
    /// A new connection sent nothing within this long (`first_message_timeout`).
    FirstMessage(Duration),
    /// The peer did not send an accepted hello within this long (the version handshake's
    /// time-out).
    Handshake(Duration),
    /// Nothing arrived for this long although pings were sent (the heartbeat's allowance).
    Heartbeat(Duration),
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeout::Idle(d) => write!(f, "nothing arrived for {d:?}"),
            Timeout::Frame(d) => write!(f, "a frame was left unfinished for {d:?}"),
            Timeout::FirstMessage(d) => write!(f, "nothing arrived within {d:?} of connecting"),
            Timeout::Handshake(d) => write!(f, "no hello within {d:?} of connecting"),
            Timeout::Heartbeat(d) => write!(f, "no answer to pings for {d:?}"),
        }
    }
}

impl DisconnectReason {
    /// Whether the connection ended through an error rather than a close.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!connhandler::DisconnectReason::ClosedByPeer.is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            DisconnectReason::ClosedByPeer
                | DisconnectReason::ClosedByPeerWith { .. }
                | DisconnectReason::ClosedLocally { .. }
                | DisconnectReason::Shutdown
        )
    }

    /// Whether the program (or a handler shutting down) closed the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(connhandler::DisconnectReason::Shutdown.is_local());
    /// ```
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            DisconnectReason::ClosedLocally { .. } | DisconnectReason::Shutdown
        )
    }

    pub(crate) fn from_frame_error(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => DisconnectReason::Io(e),
            FrameError::PeerClosed { code, reason } => {
                DisconnectReason::ClosedByPeerWith { code, reason }
            }
            e => DisconnectReason::Framing(e),
        }
    }

    /// The WebSocket close code and reason text that tell the peer why (RFC 6455, 7.4.1);
    /// the text is this reason's own for a close by the program, the display otherwise.
    pub(crate) fn close_code(&self) -> (u16, String) {
        use DisconnectReason as R;
        match self {
            R::ClosedLocally { reason } => (1000, reason.clone().unwrap_or_default()),
            R::ClosedByPeer => (1000, String::new()),
            R::ClosedByPeerWith { code, .. } => (code.unwrap_or(1000), String::new()),
            R::Shutdown => (1001, self.to_string()),
            R::Framing(FrameError::MessageTooLong { .. } | FrameError::ChunkTooLong { .. }) => {
                (1009, self.to_string())
            }
            R::Framing(FrameError::TextMessage) => (1003, self.to_string()),
            R::Framing(FrameError::TooManyFragments { .. }) => (1008, self.to_string()),
            R::Framing(_) | R::Io(_) => (1002, self.to_string()),
            R::Decode(_) => (1007, self.to_string()),
            R::Encode(_) => (1011, self.to_string()),
            R::TimedOut(_)
            | R::RateLimited { .. }
            | R::QueueFull
            | R::OverBudget { .. }
            | R::VersionMismatch { .. }
            | R::ProtocolMismatch { .. }
            | R::NoHello => (1008, self.to_string()),
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClosedByPeer => f.write_str("closed by the peer"),
            DisconnectReason::ClosedByPeerWith { code, reason } => {
                f.write_str("closed by the peer")?;
                match (code, reason.is_empty()) {
                    (None, _) => Ok(()),
                    (Some(c), true) => write!(f, " (code {c})"),
                    (Some(c), false) => write!(f, " (code {c}: {reason})"),
                }
            }
            DisconnectReason::ClosedLocally { reason: None } => f.write_str("closed locally"),
            DisconnectReason::ClosedLocally { reason: Some(r) } => {
                write!(f, "closed locally: {r}")
            }
            DisconnectReason::Shutdown => f.write_str("handler shut down"),
            DisconnectReason::Io(e) => write!(f, "i/o error: {e}"),
            DisconnectReason::Framing(e) => write!(f, "framing error: {e}"),
            DisconnectReason::Decode(e) => write!(f, "decode error: {e}"),
            DisconnectReason::Encode(e) => write!(f, "encode error: {e}"),
            DisconnectReason::TimedOut(t) => write!(f, "timed out: {t}"),
            DisconnectReason::RateLimited { what, per_ip } => write!(
                f,
                "rate limited: too many {what}{}",
                if *per_ip { " from this IP address" } else { "" }
            ),
            DisconnectReason::QueueFull => f.write_str("the outgoing queue was full"),
            DisconnectReason::OverBudget { held } => write!(
                f,
                "{held} bytes of unfinished frames went over the handler's read budget"
            ),
            DisconnectReason::VersionMismatch {
                ours,
                theirs,
                by_peer,
                our_protocol,
                their_protocol,
            } => {
                let theirs = theirs.as_deref().unwrap_or("unknown");
                if *by_peer {
                    write!(
                        f,
                        "version mismatch: the peer ({theirs}) rejected ours ({ours})"
                    )?;
                } else {
                    write!(f, "version mismatch: the peer's {theirs} is not accepted beside ours ({ours})")?;
                }
                match (our_protocol, their_protocol) {
                    (None, None) => Ok(()),
                    (ours, theirs) => write!(
                        f,
                        "; messages hashes: ours {}, the peer's {}",
                        ours.as_deref().unwrap_or("unknown"),
                        theirs.as_deref().unwrap_or("not said")
                    ),
                }
            }
            DisconnectReason::ProtocolMismatch {
                version,
                ours,
                theirs,
            } => write!(
                f,
                "protocol mismatch: the peer says version {version} as we do, but its messages \
                 hash is {theirs} and ours is {ours} (compare the two protocol documents)"
            ),
            DisconnectReason::NoHello => {
                f.write_str("the peer's first message was not its hello (version handshake)")
            }
        }
    }
}

impl std::error::Error for DisconnectReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DisconnectReason::Io(e) => Some(e),
            DisconnectReason::Framing(e) | DisconnectReason::Encode(e) => Some(e),
            DisconnectReason::Decode(e) => Some(e),
            _ => None,
        }
    }
}
