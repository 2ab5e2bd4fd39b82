//! Tapping every message body in both directions, for debugging (the reference's traffic
//! dump).

use std::{fmt, net::SocketAddr, sync::Arc};

use crate::peer::PeerId;

/// Which way a tapped message went.
///
/// # Examples
///
/// ```
/// use connhandler::tap::Direction;
/// assert_eq!(Direction::In.to_string(), "<-");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the peer.
    In,
    /// Sent to the peer.
    Out,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "<-",
            Direction::Out => "->",
        })
    }
}

/// One tapped message: the body as the message codec sees it, without the framing's headers.
///
/// # Examples
///
/// ```
/// use connhandler::tap::{Tap, TapFrame};
///
/// let tap = Tap::new(|frame: &TapFrame<'_>| {
///     eprintln!(
///         "{} {} {} {} bytes",
///         frame.handler, frame.peer, frame.direction, frame.body.len()
///     );
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct TapFrame<'a> {
    /// The handler's name.
    pub handler: &'a str,
    /// The connection.
    pub peer: PeerId,
    /// The remote address.
    pub addr: SocketAddr,
    /// Which way the message went.
    pub direction: Direction,
    /// The message body.
    pub body: &'a [u8],
}

/// A function called with every message body a handler's connections receive (before
/// decoding) and send (as encoded), from the connection's tasks: keep it quick.
///
/// Costs nothing when not set; when set, each sent message is also encoded once more for it.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use connhandler::tap::{Tap, TapFrame};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let tap = Tap::new(move |f: &TapFrame<'_>| log.lock().unwrap().push(f.body.to_vec()));
/// ```
#[derive(Clone)]
pub struct Tap(Arc<dyn Fn(&TapFrame<'_>) + Send + Sync>);

impl Tap {
    /// Wraps `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// let tap = connhandler::tap::Tap::new(|f| println!("{} {:?}", f.direction, f.body));
    /// ```
    pub fn new(f: impl Fn(&TapFrame<'_>) + Send + Sync + 'static) -> Self {
        Tap(Arc::new(f))
    }

    pub(crate) fn call(
        &self,
        handler: &str,
        peer: PeerId,
        addr: SocketAddr,
        direction: Direction,
        body: &[u8],
    ) {
        (self.0)(&TapFrame {
            handler,
            peer,
            addr,
            direction,
            body,
        });
    }
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tap(..)")
    }
}
