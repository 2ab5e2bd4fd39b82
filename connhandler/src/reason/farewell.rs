//! Why a connection gets a farewell message from us: refused at the door, or cut by a limit.
//! A peer kind turns it into its last words with [`Peer::farewell`](crate::Peer::farewell).

use super::disconnect::DisconnectReason;

/// Why a connection is about to be closed by the library, for
/// [`Peer::farewell`](crate::Peer::farewell) to say so to the other side.
///
/// # Examples
///
/// ```
/// use connhandler::{Farewell, RefusedBy};
/// let why = Farewell::Refused(RefusedBy::MaxConnections);
/// assert!(matches!(why, Farewell::Refused(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Farewell<'a> {
    /// Refused before it started, by the incoming handler's caps.
    Refused(RefusedBy),
    /// Cut by a limit: a time-out ([`DisconnectReason::TimedOut`]), a rate limit
    /// ([`DisconnectReason::RateLimited`]) or the read budget
    /// ([`DisconnectReason::OverBudget`]).
    Cut(&'a DisconnectReason),
}

/// Which cap refused a connection at the door.
///
/// # Examples
///
/// ```
/// assert_eq!(connhandler::RefusedBy::PerIp.to_string(), "too many connections from your address");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedBy {
    /// The handler serves `max_connections` already.
    MaxConnections,
    /// The address has `max_connections_per_ip` open.
    PerIp,
    /// The address connected more often than `connect_rate_per_ip` allows.
    ConnectRate,
}

impl std::fmt::Display for RefusedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RefusedBy::MaxConnections => "the server is full",
            RefusedBy::PerIp => "too many connections from your address",
            RefusedBy::ConnectRate => "too many connections from your address lately",
        })
    }
}

impl DisconnectReason {
    /// Whether the library cut the connection for going over a limit (the cuts that
    /// [`Farewell::Cut`] reports).
    pub(crate) fn is_limit(&self) -> bool {
        matches!(
            self,
            DisconnectReason::TimedOut(_)
                | DisconnectReason::RateLimited { .. }
                | DisconnectReason::OverBudget { .. }
        )
    }
}
