//! Request/response: which messages are requests and which replies answer them ([`Request`],
//! [`Correlated`], derived from `#[wire(reply = ...)]` and `#[wire(correlation)]`), the
//! future of a reply ([`Reply`]) and why one did not come ([`RequestError`]).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use super::{pending::Retime, slot::Slot};
use crate::central::CentralSender;

/// How a reply is paired with its request.
///
/// # Examples
///
/// ```
/// assert_ne!(connhandler::talk::By::Order, connhandler::talk::By::Correlation);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// The peer answers requests in the order it got them (no change on the wire): a reply
    /// answers the oldest request still waiting that it may answer.
    Order,
    /// The request carries a correlation id (its field marked `#[wire(correlation)]`,
    /// written by [`PeerHandle::request`](crate::PeerHandle::request)) and the reply
    /// carries it back, in any order.
    Correlation,
}

/// What a request expects: which messages answer it, paired how.
///
/// # Examples
///
/// ```
/// use connhandler::talk::{By, Pairing};
///
/// let pairing: Pairing<u32> = Pairing { answers: |n| *n > 10, by: By::Order };
/// assert!((pairing.answers)(&11));
/// ```
#[derive(Debug)]
pub struct Pairing<R> {
    /// Whether a message received is a reply to this request.
    pub answers: fn(&R) -> bool,
    /// How the reply is paired with it.
    pub by: By,
}

impl<R> Clone for Pairing<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Pairing<R> {}

/// A message type's requests, whose replies are messages of type `R`: what
/// `#[derive(Message)]` writes from `#[wire(reply = Other::Variant)]` on a variant
/// (repeatable: any of them answers it). `R` is the enum the replies belong to, the peer
/// kind's `Recv` type, which the compiler checks at [`PeerHandle::request`].
///
/// [`PeerHandle::request`]: crate::PeerHandle::request
///
/// # Examples
///
/// ```
/// use connhandler::{talk::{By, Request}, Message};
///
/// #[derive(Message)]
/// enum Answer {
///     #[wire(id = 0x81)]
///     Score(u32),
/// }
///
/// #[derive(Message)]
/// enum Ask {
///     #[wire(id = 0x01, reply = Answer::Score)]
///     GetScore(String),
///     #[wire(id = 0x02)]
///     Chat(String),
/// }
///
/// let p = Ask::GetScore("ann".into()).pairing().unwrap();
/// assert_eq!(p.by, By::Order);
/// assert!((p.answers)(&Answer::Score(3)));
/// assert!(Ask::Chat("hi".into()).pairing().is_none());
/// ```
pub trait Request<R>: Sized {
    /// How this message's reply is paired with it; `None` for a message that expects none.
    fn pairing(&self) -> Option<Pairing<R>>;
    /// Writes `id` into the correlation field of a request paired [`By::Correlation`] and
    /// returns the id as the field holds it (cut to its width).
    fn set_correlation(&mut self, id: u64) -> u64 {
        id
    }
}

/// The correlation id a message carries, if it has a field marked `#[wire(correlation)]`:
/// written by `#[derive(Message)]` for every message (`None` without such a field), and by
/// hand for raw types.
///
/// # Examples
///
/// ```
/// use connhandler::{talk::Correlated, Message};
///
/// #[derive(Message)]
/// enum Answer {
///     #[wire(id = 0x81)]
///     Found { #[wire(correlation)] req: u32, name: String },
///     #[wire(id = 0x82)]
///     News(String),
/// }
///
/// assert_eq!(Answer::Found { req: 7, name: "x".into() }.correlation(), Some(7));
/// assert_eq!(Answer::News("x".into()).correlation(), None);
/// ```
pub trait Correlated {
    /// The correlation id, if this message carries one.
    fn correlation(&self) -> Option<u64>;
}

impl Correlated for bytes::Bytes {
    fn correlation(&self) -> Option<u64> {
        None
    }
}

impl Correlated for String {
    fn correlation(&self) -> Option<u64> {
        None
    }
}

/// A field that can hold a correlation id: the unsigned integers.
///
/// # Examples
///
/// ```
/// use connhandler::talk::CorrelationField;
/// assert_eq!(u16::from_id(0x1_0005), 5);
/// assert_eq!(7u8.id(), 7);
/// ```
pub trait CorrelationField: Copy {
    /// The id as this field holds it (cut to its width).
    fn from_id(id: u64) -> Self;
    /// The id the field holds.
    fn id(&self) -> u64;
}

macro_rules! correlation_field {
    ($($t:ty),*) => {$(
        impl CorrelationField for $t {
            fn from_id(id: u64) -> Self {
                id as $t
            }
            fn id(&self) -> u64 {
                *self as u64
            }
        }
    )*};
}
correlation_field!(u8, u16, u32, u64);

/// Why a request got no reply.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::talk::RequestError;
///
/// let e = RequestError::TimedOut(Duration::from_secs(5));
/// assert_eq!(e.to_string(), "no reply within 5s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply came within the time-out. In the by-order mode the request keeps its place
    /// until its reply comes (which is then dropped), so that later replies still pair
    /// with their own requests.
    TimedOut(Duration),
    /// The connection ended before the reply came (the reason, as text).
    Disconnected(String),
    /// The connection was closed or closing when the request was made.
    Closed,
    /// The peer's outgoing queue was full (the handler's queue policy was applied).
    Full,
    /// The connection had as many requests waiting as it may (`max_pending`).
    TooMany(usize),
    /// The message expects no reply (it is not declared a request).
    NotARequest,
    /// The framing cannot carry the message (the text says why).
    Refused(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TimedOut(d) => write!(f, "no reply within {d:?}"),
            RequestError::Disconnected(why) => write!(f, "disconnected before the reply: {why}"),
            RequestError::Closed => f.write_str("the connection is closed"),
            RequestError::Full => f.write_str("the peer's outgoing queue is full"),
            RequestError::TooMany(n) => write!(f, "{n} requests are waiting already"),
            RequestError::NotARequest => f.write_str("the message expects no reply"),
            RequestError::Refused(why) => write!(f, "message refused by the framing: {why}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// The reply to a request: a future (from any task; it never makes the central task wait
/// unless awaited there), or, with [`post`](Reply::post), an event in the central queue.
/// It resolves with the reply, or with an error after the time-out (the handler's
/// `request_timeout`, 30 s by default, or [`timeout`](Reply::timeout)), the connection's
/// end, or a refusal when the request was made.
///
/// The request is registered and queued when [`PeerHandle::request`] returns, whether or
/// not the future is polled. Dropping it gives up the reply (which is then dropped when it
/// comes).
///
/// [`PeerHandle::request`]: crate::PeerHandle::request
///
/// # Examples
///
/// ```
/// # use connhandler::{talk::Request, PeerHandle, Peer, Message};
/// # #[derive(Message, Debug)] enum Answer { #[wire(id = 0x81)] Score(u32) }
/// # #[derive(Message)] enum Ask { #[wire(id = 1, reply = Answer::Score)] GetScore(String) }
/// # struct Server; impl Peer for Server { type Recv = Answer; type Send = Ask; const NAME: &'static str = "s"; }
/// # async fn f(server: PeerHandle<Server>) -> Result<(), connhandler::talk::RequestError> {
/// use std::time::Duration;
/// // In a task of its own (or `post` it, in the central loop):
/// let answer = server
///     .request(Ask::GetScore("ann".into()))
///     .timeout(Duration::from_secs(2))
///     .await?;
/// println!("{answer:?}");
/// # Ok(()) }
/// ```
#[must_use = "the reply is dropped unless the future is awaited or posted"]
pub struct Reply<R> {
    /// Where the outcome comes; `None` once taken (or for a refused request).
    slot: Option<Arc<Slot<R>>>,
    /// The way back to the request's entry, for [`timeout`](Reply::timeout).
    retime: Option<Retime<R>>,
    /// Why the request was refused when it was made.
    early: Option<RequestError>,
    timeout: Duration,
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("timeout", &self.timeout)
            .field("refused", &self.early)
            .finish_non_exhaustive()
    }
}

impl<R> Reply<R> {
    /// A request registered with its slot, timing out after `timeout` (kept by the
    /// connection's timer).
    pub(crate) fn waiting(slot: Arc<Slot<R>>, retime: Retime<R>, timeout: Duration) -> Self {
        Reply {
            slot: Some(slot),
            retime: Some(retime),
            early: None,
            timeout,
        }
    }

    /// A request refused when it was made.
    pub(crate) fn failed(e: RequestError) -> Self {
        Reply {
            slot: None,
            retime: None,
            early: Some(e),
            timeout: Duration::ZERO,
        }
    }

    /// How long to wait for the reply, counted from the request (replaces the handler's
    /// `request_timeout`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{talk::Request, PeerHandle, Peer, Message};
    /// # #[derive(Message, Debug)] enum Answer { #[wire(id = 0x81)] Score(u32) }
    /// # #[derive(Message)] enum Ask { #[wire(id = 1, reply = Answer::Score)] GetScore(String) }
    /// # struct Server; impl Peer for Server { type Recv = Answer; type Send = Ask; const NAME: &'static str = "s"; }
    /// # async fn f(server: PeerHandle<Server>) {
    /// let reply = server.request(Ask::GetScore("ann".into())).timeout(std::time::Duration::from_millis(500));
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        if let (Some(slot), Some(retime)) = (&self.slot, &self.retime) {
            retime.set(slot, timeout);
        }
        self
    }

    /// Delivers the outcome to the central queue as the program's own event, `make(outcome)`,
    /// instead of being awaited: for a central loop, which must not wait on one peer. No
    /// task waits for it: the connection's reader queues the event when the reply comes (or
    /// its request timer at the time-out, or its end with the reason), so a posted request
    /// costs what an awaited one does. The event is never held back by the central queue's
    /// bounds (as `Connected` and `Disconnected` are not): at most the handler's
    /// `max_pending` requests per connection wait, so at most that many such events.
    /// `make` runs where the outcome comes (a reader task, or here if it came already):
    /// keep it a constructor.
    ///
    /// Works from any thread, inside a Tokio runtime or not (a game loop's).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{talk::{Request, RequestError}, PeerHandle, Peer, Message, CentralSender};
    /// # #[derive(Message, Debug)] enum Answer { #[wire(id = 0x81)] Score(u32) }
    /// # #[derive(Message)] enum Ask { #[wire(id = 1, reply = Answer::Score)] GetScore(String) }
    /// # struct Server; impl Peer for Server { type Recv = Answer; type Send = Ask; const NAME: &'static str = "s"; }
    /// enum Ev {
    ///     Score(String, Result<Answer, RequestError>),
    ///     // ... the handlers' events
    /// }
    /// # fn f(server: PeerHandle<Server>, tx: &CentralSender<Ev>) {
    /// // In the central loop: ask, and carry on serving everyone.
    /// let who = "ann".to_owned();
    /// server
    ///     .request(Ask::GetScore(who.clone()))
    ///     .post(tx, move |outcome| Ev::Score(who, outcome));
    /// # }
    /// ```
    pub fn post<E, M>(mut self, central: &CentralSender<E>, make: M)
    where
        R: Send + 'static,
        E: Send + 'static,
        M: FnOnce(Result<R, RequestError>) -> E + Send + 'static,
    {
        let central = central.clone();
        // Kept until the outcome comes: a request that keeps its own time (the bus's) gives
        // up when this is dropped.
        let keep = self.retime.take();
        let deliver = move |outcome| {
            drop(keep);
            // A closed queue: the program is gone, and the outcome with it.
            let _ = central.push_unbounded(make(outcome), None);
        };
        match self.slot.take() {
            Some(slot) => slot.post(Box::new(deliver)),
            None => deliver(Err(self.early.take().unwrap_or(RequestError::Closed))),
        }
    }
}

impl<R> Drop for Reply<R> {
    /// Gives up the reply: it is dropped when it comes.
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.give_up();
        }
    }
}

impl<R> Future for Reply<R> {
    type Output = Result<R, RequestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(e) = this.early.take() {
            return Poll::Ready(Err(e));
        }
        let Some(slot) = this.slot.as_ref() else {
            return Poll::Ready(Err(RequestError::Closed));
        };
        let outcome = std::task::ready!(slot.poll(cx.waker()));
        this.slot = None;
        Poll::Ready(outcome)
    }
}
