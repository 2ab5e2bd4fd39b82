//! The events a connection puts into the central queue (its handler's `ConnectFailed` too).

use std::fmt;

use super::handle::PeerHandle;
use crate::{
    peer::Peer,
    reason::{ConnectError, Disconnect},
};

/// What happens on the connections of one kind of peer, in the order it happens.
///
/// For each connection: `Connected` first, then every `Message` in the order received, then
/// `Disconnected`, exactly once. The program's central event type converts from it
/// (`E: From<Event<P>>`), so handlers of different kinds feed one typed queue.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::{Event, Peer};
///
/// struct Login;
/// impl Peer for Login {
///     type Recv = Bytes;
///     type Send = Bytes;
///     const NAME: &'static str = "login";
/// }
/// struct Game;
/// impl Peer for Game {
///     type Recv = Bytes;
///     type Send = Bytes;
///     const NAME: &'static str = "game";
/// }
///
/// // The program's own event type: both handlers and the program's timers feed it.
/// enum Central {
///     Login(Event<Login>),
///     Game(Event<Game>),
///     Tick,
/// }
/// impl From<Event<Login>> for Central {
///     fn from(e: Event<Login>) -> Self {
///         Central::Login(e)
///     }
/// }
/// impl From<Event<Game>> for Central {
///     fn from(e: Event<Game>) -> Self {
///         Central::Game(e)
///     }
/// }
/// ```
///
/// The enum is exhaustive: a central loop can match every variant and let the compiler
/// check that none of the program's own is forgotten (an incoming handler never produces
/// `ConnectFailed`; match it with the others that need nothing).
///
/// ```
/// # use connhandler::{Event, Peer};
/// # struct Login;
/// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
/// fn handle(event: Event<Login>) {
///     match event {
///         Event::Connected(peer) => println!("{peer} connected"),
///         Event::Message(peer, msg) => {
///             let _ = peer.send(msg);
///         }
///         Event::Disconnected(peer, why) => println!("{peer} left: {why}"),
///         Event::ConnectFailed(e) => eprintln!("{e}"),
///     }
/// }
/// ```
pub enum Event<P: Peer> {
    /// A connection was made (accepted, or connected by an outgoing handler).
    Connected(PeerHandle<P>),
    /// A message arrived on a connection.
    Message(PeerHandle<P>, P::Recv),
    /// A connection ended; its last event. The [`Disconnect`] is boxed: it is the largest
    /// thing an event carries, once per connection, and every event is moved several times
    /// on its way to `recv` (unboxed, each was 128 bytes with a `Bytes` message, boxed 56).
    /// Reading its fields or printing it works through the box; `*why` takes it out.
    Disconnected(PeerHandle<P>, Box<Disconnect>),
    /// An outgoing handler gave up connecting (its retries are spent).
    ConnectFailed(ConnectError),
}

impl<P: Peer> fmt::Debug for Event<P>
where
    P::Recv: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected(p) => f.debug_tuple("Connected").field(p).finish(),
            Event::Message(p, m) => f.debug_tuple("Message").field(p).field(m).finish(),
            Event::Disconnected(p, d) => f.debug_tuple("Disconnected").field(p).field(d).finish(),
            Event::ConnectFailed(e) => f.debug_tuple("ConnectFailed").field(e).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Raw;
    impl Peer for Raw {
        type Recv = bytes::Bytes;
        type Send = bytes::Bytes;
        const NAME: &'static str = "raw";
    }

    #[test]
    fn an_event_is_no_larger_than_a_message_needs() {
        // Every event is moved several times between a reader and `recv`: what it may carry
        // once per connection (a disconnect's reason, a connect error) must not make every
        // message's event larger. A `Bytes` message and its handle take 40 bytes.
        assert!(
            size_of::<Event<Raw>>() <= 64,
            "Event<Raw> is {} bytes",
            size_of::<Event<Raw>>()
        );
    }
}
