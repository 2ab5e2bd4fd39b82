//! Heartbeats: telling a dead peer from a quiet one. The handler's setting ([`Heartbeat`])
//! and what a protocol declares ([`Beats`], derived from `#[wire(ping)]` and
//! `#[wire(pong)]`).

use std::time::Duration;

/// Whether a message is a ping or a pong.
///
/// # Examples
///
/// ```
/// use connhandler::talk::Beat;
/// assert_ne!(Beat::Ping, Beat::Pong);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// "Are you there?": answered with the protocol's pong.
    Ping,
    /// The answer to a ping.
    Pong,
}

/// A protocol's ping and pong, as `#[derive(Message)]` writes them from `#[wire(ping)]` and
/// `#[wire(pong)]` on variants (their fields, if any, take `Default::default()`). A protocol
/// that declares no pong leaves pings unanswered (the peer's own pings, or any other
/// message, then tell it we are alive).
///
/// # Examples
///
/// ```
/// use connhandler::{talk::{Beat, Beats}, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// enum Control {
///     #[wire(id = 1, ping)]
///     Ping,
///     #[wire(id = 2, pong)]
///     Pong,
///     #[wire(id = 3)]
///     Chat(String),
/// }
///
/// assert_eq!(Control::ping(), Some(Control::Ping));
/// assert_eq!(Control::Pong.beat(), Some(Beat::Pong));
/// assert_eq!(Control::Chat("hi".into()).beat(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no heartbeat messages: a heartbeat needs `#[wire(ping)]` and `#[wire(pong)]` variants",
    label = "this message type declares no `#[wire(ping)]` or `#[wire(pong)]` variant",
    note = "add a ping and a pong to the protocol, on both message types of the peer kind: `#[wire(id = .., ping)] Ping,` and `#[wire(id = .., pong)] Pong,`"
)]
pub trait Beats: Sized {
    /// The protocol's ping, if it declares one.
    fn ping() -> Option<Self>;
    /// The protocol's pong, if it declares one.
    fn pong() -> Option<Self>;
    /// Whether this message is a ping or a pong.
    fn beat(&self) -> Option<Beat>;
}

/// A handler's heartbeat: a connection on which nothing arrived for `every` is sent the
/// protocol's ping (over WebSocket, a ping frame); one on which nothing arrived for the
/// `allowance` (default three times `every`) is cut with
/// [`Timeout::Heartbeat`](crate::Timeout::Heartbeat). The peer's pings are answered with the
/// protocol's pong. Pings and pongs do not reach the central queue unless
/// [`deliver`](Heartbeat::deliver) says so.
///
/// The allowance takes the place of the idle time-out (which an incoming handler sets to
/// 5 min by default): with a heartbeat, a silent peer is found in seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::talk::Heartbeat;
///
/// let beat = Heartbeat::every(Duration::from_secs(5)).allowance(Duration::from_secs(12));
/// assert_eq!(beat.interval(), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat {
    every: Duration,
    allowance: Option<Duration>,
    deliver: bool,
}

impl Heartbeat {
    /// A ping after `every` without anything from the peer (at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// let beat = connhandler::talk::Heartbeat::every(std::time::Duration::from_secs(10));
    /// ```
    pub fn every(every: Duration) -> Heartbeat {
        Heartbeat {
            every: every.max(Duration::from_millis(1)),
            allowance: None,
            deliver: false,
        }
    }

    /// How long a peer may stay silent before it is cut (default three times `every`; at
    /// least `every`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let beat = connhandler::talk::Heartbeat::every(Duration::from_secs(2)).allowance(Duration::from_secs(5));
    /// assert_eq!(beat.silence_allowed(), Duration::from_secs(5));
    /// ```
    pub fn allowance(mut self, allowance: Duration) -> Heartbeat {
        self.allowance = Some(allowance);
        self
    }

    /// Whether pings and pongs also reach the central queue as messages (default `false`).
    ///
    /// # Examples
    ///
    /// ```
    /// let beat = connhandler::talk::Heartbeat::every(std::time::Duration::from_secs(2)).deliver(true);
    /// ```
    pub fn deliver(mut self, deliver: bool) -> Heartbeat {
        self.deliver = deliver;
        self
    }

    /// The quiet time after which a ping is sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(connhandler::talk::Heartbeat::every(Duration::from_secs(2)).interval(), Duration::from_secs(2));
    /// ```
    pub fn interval(&self) -> Duration {
        self.every
    }

    /// The silence after which the peer is cut.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(connhandler::talk::Heartbeat::every(Duration::from_secs(2)).silence_allowed(), Duration::from_secs(6));
    /// ```
    pub fn silence_allowed(&self) -> Duration {
        self.allowance.unwrap_or(self.every * 3).max(self.every)
    }

    pub(crate) fn delivers(&self) -> bool {
        self.deliver
    }
}
