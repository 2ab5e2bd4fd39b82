//! The builder every handler has: its name, framing, per-connection data hook and
//! per-connection settings, as plain methods on one struct. The kind parameter carries what
//! belongs to one kind only ([`Listen`](super::Listen) for an incoming handler,
//! [`Connect`](super::Connect) for an outgoing one), whose setters live beside that kind.

use std::{fmt, sync::Arc};

use super::{Connections, Core, MakePeer};
use crate::{
    budget::ReadBudget,
    central::CentralSender,
    codec::Carried,
    codec::{Framing, TcpMessageCodec},
    conn::{ConnSettings, Framer, Registry},
    limits::PerIp,
    peer::Peer,
    talk::{Beating, Beats, Greeting, Handshake, Heartbeat, Hello, Talk},
};

/// What distinguishes the builders of the two handler kinds: the settings of one kind
/// ([`Listen`](super::Listen), [`Connect`](super::Connect)). Sealed.
///
/// # Examples
///
/// ```
/// use connhandler::handler::{HandlerBuilder, Kind, Listen};
///
/// // Code generic over both builders names the kind as a parameter.
/// fn named<K: Kind, P: connhandler::Peer>(b: HandlerBuilder<K, P>) -> HandlerBuilder<K, P> {
///     b.name("lobby")
/// }
/// # #[derive(Default)]
/// # struct Client;
/// # impl connhandler::Peer for Client {
/// #     type Recv = bytes::Bytes;
/// #     type Send = bytes::Bytes;
/// #     const NAME: &'static str = "client";
/// # }
/// let builder: HandlerBuilder<Listen, Client> = named(connhandler::Incoming::builder("127.0.0.1:0"));
/// ```
pub trait Kind: fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// The builder's name for `Debug`.
    #[doc(hidden)]
    const BUILDER: &'static str;

    /// Turns off this kind's protections (`HandlerBuilder::unprotected`).
    #[doc(hidden)]
    fn unprotect(&mut self) {}

    /// The framing the handler's connections run: `framing`, or WebSocket's in its place.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn carried<F>(&self, framing: F) -> Carried<F> {
        Carried::Stream(framing)
    }
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// Configures a handler: the settings both kinds have are here; [`IncomingBuilder`] and
/// [`OutgoingBuilder`] (this type, with the kind's settings) add their own and start it.
///
/// [`IncomingBuilder`]: crate::IncomingBuilder
/// [`OutgoingBuilder`]: crate::OutgoingBuilder
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// use std::time::Duration;
///
/// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
///     .name("lobby")
///     .queue_capacity(64)
///     .idle_timeout(Duration::from_secs(60));
/// ```
pub struct HandlerBuilder<K: Kind, P: Peer, F = TcpMessageCodec, H = DefaultPeer> {
    pub(super) name: Option<String>,
    pub(super) framing: F,
    pub(super) settings: ConnSettings,
    pub(super) make_peer: H,
    pub(super) kind: K,
    pub(super) talk: Talk<P>,
    pub(super) _peer: std::marker::PhantomData<fn() -> P>,
}

/// Where a handler's per-connection data comes from: [`DefaultPeer`] (`P::default()`, for a
/// builder made by `Incoming::builder` or `Outgoing::builder`) or [`WithHook`] (the
/// builder's [`make_peer`](HandlerBuilder::make_peer) hook). Sealed.
pub trait PeerSource<P>: sealed::Sealed {
    #[doc(hidden)]
    fn into_hook(self) -> MakePeer<P>;
}

/// The per-connection data is `P::default()` (a builder without a `make_peer` hook).
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// let builder: connhandler::IncomingBuilder<Client, _, connhandler::handler::DefaultPeer> =
///     connhandler::Incoming::builder("127.0.0.1:0");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPeer;

/// The per-connection data comes from a `make_peer` hook.
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// let builder: connhandler::IncomingBuilder<Client, _, connhandler::handler::WithHook<Client>> =
///     connhandler::Incoming::builder("127.0.0.1:0").make_peer(|_| Client);
/// ```
pub struct WithHook<P>(pub(super) MakePeer<P>);

impl<P> fmt::Debug for WithHook<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithHook(..)")
    }
}

impl sealed::Sealed for DefaultPeer {}
impl<P> sealed::Sealed for WithHook<P> {}

impl<P: Default + 'static> PeerSource<P> for DefaultPeer {
    fn into_hook(self) -> MakePeer<P> {
        Arc::new(|_| P::default())
    }
}

impl<P> PeerSource<P> for WithHook<P> {
    fn into_hook(self) -> MakePeer<P> {
        self.0
    }
}

impl<K: Kind, P: Peer, F, H> fmt::Debug for HandlerBuilder<K, P, F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::BUILDER)
            .field("peer", &P::NAME)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<K: Kind, P: Peer> HandlerBuilder<K, P> {
    /// A builder with the default settings, the TcpMessage framing and `P::default()` for
    /// the per-connection data.
    pub(super) fn with_kind(kind: K) -> Self {
        HandlerBuilder {
            name: None,
            framing: TcpMessageCodec::new(),
            settings: ConnSettings::default(),
            make_peer: DefaultPeer,
            kind,
            talk: Talk::default(),
            _peer: std::marker::PhantomData,
        }
    }
}

impl<K: Kind, P: Peer, F: Framing, H> HandlerBuilder<K, P, F, H> {
    /// The handler's name in logs, spans and `PeerHandle::handler_name`; default `P::NAME`.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").name("lobby");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The framing each connection runs: a [`TcpMessageCodec`](crate::codec::TcpMessageCodec)
    /// (the default), a [`Panda3dCodec`](crate::codec::Panda3dCodec), a
    /// [`Custom`](crate::codec::Custom) tokio-util codec, or any [`Framing`]. Each
    /// connection gets a clone.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let panda = connhandler::codec::Panda3dCodec::builder().header_size(4).new_codec()?;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").framing(panda);
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn framing<G: Framing>(self, framing: G) -> HandlerBuilder<K, P, G, H> {
        HandlerBuilder {
            framing,
            name: self.name,
            settings: self.settings,
            make_peer: self.make_peer,
            kind: self.kind,
            talk: self.talk,
            _peer: std::marker::PhantomData,
        }
    }

    /// Builds each connection's per-connection data (the peer value its handles deref
    /// to) from the remote address, as the reference's `create_connection_instances`.
    /// A closure can capture the handler's own state. A panic in it refuses that
    /// connection only. Without it, the data is `P::default()` (and `P` must be `Default`:
    /// the compiler says so at `listen`, `start` or `connect`).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// let serial = AtomicU32::new(0);
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").make_peer(move |_addr| {
    ///     serial.fetch_add(1, Ordering::Relaxed);
    ///     Client
    /// });
    /// ```
    pub fn make_peer(
        self,
        make_peer: impl Fn(std::net::SocketAddr) -> P + Send + Sync + 'static,
    ) -> HandlerBuilder<K, P, F, WithHook<P>> {
        HandlerBuilder {
            make_peer: WithHook(Arc::new(make_peer)),
            name: self.name,
            framing: self.framing,
            settings: self.settings,
            kind: self.kind,
            talk: self.talk,
            _peer: std::marker::PhantomData,
        }
    }

    /// How many messages each connection's outgoing queue holds within its soft bound (at
    /// least 1, default 256), beside [`queue_bytes`](Self::queue_bytes). Beyond it, a queue
    /// that is draining takes more, up to [`queue_hard_cap`](Self::queue_hard_cap); one whose
    /// writer has been blocked for [`write_timeout`](Self::write_timeout) does not, and then
    /// `send` applies the queue policy and `try_send` hands the message back. The rule, with
    /// the reader's side of it (backpressure), is the table in the README's "Limits and
    /// protection".
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").queue_capacity(1024);
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.settings.queue_capacity = capacity.max(1);
        self
    }

    /// How long a closing connection may take to write what was queued and, after a
    /// local close, to wait for the peer to close its side (default 5 s). Queued
    /// messages still unwritten then are counted in the `Disconnected` event.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").close_timeout(std::time::Duration::from_secs(1));
    /// ```
    pub fn close_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.settings.close_timeout = timeout;
        self
    }

    /// Whether `TCP_NODELAY` is set on each connection (default `true`: small
    /// messages go out at once; writes are batched by the writer task anyway).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").nodelay(false);
    /// ```
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.settings.nodelay = nodelay;
        self
    }

    /// Closes a connection on which nothing arrives for `timeout`
    /// ([`Timeout::Idle`](crate::Timeout::Idle)); `None` turns it off. Default: 5 minutes
    /// for an incoming handler, off for an outgoing one.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").idle_timeout(Duration::from_secs(60));
    /// let never = connhandler::Incoming::<Client>::builder("127.0.0.1:0").idle_timeout(None);
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<std::time::Duration>>) -> Self {
        self.settings.timeouts.idle = timeout.into();
        self
    }

    /// Closes a new connection that sends nothing within `timeout`
    /// ([`Timeout::FirstMessage`](crate::Timeout::FirstMessage)): peers that connect and
    /// say nothing (one that starts a frame and trickles the rest is cut by the
    /// [`frame_timeout`](Self::frame_timeout)). `None` turns it off. Default: 30 s for an incoming handler, off for an
    /// outgoing one.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").first_message_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn first_message_timeout(
        mut self,
        timeout: impl Into<Option<std::time::Duration>>,
    ) -> Self {
        self.settings.timeouts.first_message = timeout.into();
        self
    }

    /// Closes a connection on which a frame was started and not finished within `timeout`
    /// from its own first byte, plus the time its bytes so far take at
    /// [`min_frame_rate`](Self::min_frame_rate) ([`Timeout::Frame`](crate::Timeout::Frame)):
    /// a peer that trickles a frame in, a byte at a time, is cut; a long message on a slow
    /// link is not. `None` turns it off. Default: 30 s for an incoming handler, off for an
    /// outgoing one.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").frame_timeout(std::time::Duration::from_secs(10));
    /// ```
    pub fn frame_timeout(mut self, timeout: impl Into<Option<std::time::Duration>>) -> Self {
        self.settings.timeouts.frame = timeout.into();
        self
    }

    /// The slowest rate, in bytes per second, at which an unfinished frame may arrive
    /// beyond its [`frame_timeout`](Self::frame_timeout): each byte buffered extends the
    /// time-out by `1 / rate` s. `None`: no extension. Default: 4096 for an incoming
    /// handler.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").min_frame_rate(16 * 1024);
    /// ```
    pub fn min_frame_rate(mut self, bytes_per_second: impl Into<Option<u32>>) -> Self {
        self.settings.timeouts.min_frame_rate = bytes_per_second.into();
        self
    }

    /// The bytes of unfinished frames that all the handler's connections may hold
    /// together, beyond 16 KiB each, so that many peers stalling just under the longest
    /// message cannot pin that much memory each. A connection that needs more than is left
    /// (or than its address's share, [`read_budget_per_ip`](Self::read_budget_per_ip))
    /// stops reading and waits for room; when the wait runs out (2 s), the connection
    /// holding the most unfinished bytes (of all, or of that address) is closed with
    /// [`DisconnectReason::OverBudget`](crate::DisconnectReason::OverBudget), the waiting
    /// one itself if none holds more. `None` turns it off. Default: 64 MiB for an incoming
    /// handler, off for an outgoing one.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").read_budget(256 << 20);
    /// ```
    pub fn read_budget(mut self, bytes: impl Into<Option<usize>>) -> Self {
        self.settings.read_budget = bytes.into();
        self
    }

    /// The most of the [`read_budget`](Self::read_budget) that the connections from one
    /// address (IPv6 by /64 prefix) may hold together: beyond it they wait as for a full
    /// budget, so that one address cannot take the whole budget from the others. `None`
    /// turns it off. Default: an eighth of the read budget.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").read_budget_per_ip(4 << 20);
    /// ```
    pub fn read_budget_per_ip(mut self, bytes: impl Into<Option<usize>>) -> Self {
        self.settings.read_budget_per_ip = Some(bytes.into());
        self
    }

    /// The soft bound, in bytes (encoded message lengths), of each connection's outgoing
    /// queue, beside [`queue_capacity`](Self::queue_capacity)'s count (default 1 MiB). One
    /// message longer than the bound is still queued when nothing else is. The write
    /// watermarks derive from it, and with them the point where the connection's reader
    /// stops handing on the peer's messages (backpressure): see
    /// [`write_watermarks`](Self::write_watermarks).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").queue_bytes(256 * 1024);
    /// ```
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.settings.queue_bytes = bytes.max(1);
        self
    }

    /// The low and high watermarks, in queued bytes, of
    /// [`PeerHandle::is_writable`](crate::PeerHandle::is_writable): false above `high`,
    /// true again at or below `low` (default: a quarter and a half of
    /// [`queue_bytes`](Self::queue_bytes)). They are also the marks of backpressure: the
    /// connection's reader stops handing on the peer's messages once its queue and the
    /// messages it handed on that the central task has not finished reach `high` (in bytes,
    /// plus a slot per message), and goes on at `low`; reading stops meanwhile, so TCP slows
    /// the peer. A client that pipelines requests and reads its replies is served in order,
    /// never cut.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").write_watermarks(32 * 1024, 64 * 1024);
    /// ```
    pub fn write_watermarks(mut self, low: usize, high: usize) -> Self {
        self.settings.watermarks = Some((low.min(high), high));
        self
    }

    /// The hard cap, in bytes of memory (encoded lengths plus a slot per message), of each
    /// connection's outgoing queue: beyond its soft bound
    /// ([`queue_bytes`](Self::queue_bytes), [`queue_capacity`](Self::queue_capacity)), a
    /// queue that is draining takes more messages up to this; past it, `send` applies the
    /// queue policy. Default: 8 x `queue_bytes` (8 MiB).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").queue_hard_cap(32 << 20);
    /// ```
    pub fn queue_hard_cap(mut self, bytes: usize) -> Self {
        self.settings.queue_hard_cap = Some(bytes.max(1));
        self
    }

    /// How long a connection's writer may be blocked on the socket (the peer reads nothing)
    /// while its queue is beyond its soft bound, before the queue policy applies: under
    /// [`QueuePolicy::Disconnect`](crate::QueuePolicy::Disconnect), the peer is cut with
    /// [`QueueFull`](crate::DisconnectReason::QueueFull), whether the program sends to it
    /// or its reader holds its messages (backpressure). `None`: only the hard cap applies.
    /// Default: 15 s for an incoming handler, off for an outgoing one.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").write_timeout(Duration::from_secs(5));
    /// ```
    pub fn write_timeout(mut self, timeout: impl Into<Option<std::time::Duration>>) -> Self {
        self.settings.write_timeout = timeout.into();
        self
    }

    /// Whether each connection's reader holds the peer's messages while the peer has enough
    /// to answer already: its outgoing queue and the messages handed on that the central
    /// task has not finished reach the high write watermark (see
    /// [`write_watermarks`](Self::write_watermarks)). Reading stops meanwhile, so TCP slows
    /// the peer, and a client that pipelines requests while it reads its replies is served
    /// in order, never cut. Default: on for an incoming handler, off for an outgoing one.
    /// Only one side of a connection should hold reading this way: two programs that each
    /// queued more for the other than the other's marks would each wait for the other.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000").backpressure(true);
    /// ```
    pub fn backpressure(mut self, on: bool) -> Self {
        self.settings.backpressure = on;
        self
    }

    /// Whether the peer's FIN leaves the connection open for the replies to what it sent
    /// (default `true`): they are written, within `close_timeout` from the FIN, once the
    /// central task has taken every message that came before it; then the connection
    /// closes with `ClosedByPeer`. `false` treats a FIN as a full close.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").half_close(false);
    /// ```
    pub fn half_close(mut self, half_close: bool) -> Self {
        self.settings.half_close = half_close;
        self
    }

    /// Turns off every protection against hostile peers that is on by default: the
    /// first-message, frame, idle and write time-outs, the read budget, the control-frame
    /// rate limit and, for an incoming
    /// handler, the connection caps and the connect rate limit. For tools on loopback
    /// and benchmarks; a server facing the internet keeps them. The byte bounds of the
    /// queues stay (set them with `queue_bytes`, `queue_hard_cap` and
    /// `central_with_bytes`), and so does backpressure.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").unprotected();
    /// ```
    pub fn unprotected(mut self) -> Self {
        self.settings.timeouts.first_message = None;
        self.settings.timeouts.idle = None;
        self.settings.timeouts.frame = None;
        self.settings.timeouts.min_frame_rate = None;
        self.settings.read_budget = None;
        self.settings.write_timeout = None;
        self.settings.control_rate = None;
        self.kind.unprotect();
        self
    }

    /// What `send` does when a peer's outgoing queue is full (at its hard cap, or beyond its
    /// soft bound with the writer blocked for [`write_timeout`](Self::write_timeout)):
    /// disconnect the peer (the default) or hand the message back; `send` never waits
    /// either way.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").queue_policy(connhandler::QueuePolicy::Fail);
    /// ```
    pub fn queue_policy(mut self, policy: crate::QueuePolicy) -> Self {
        self.settings.queue_policy = policy;
        self
    }

    /// A rate limit for each connection: a peer over it is disconnected with
    /// [`DisconnectReason::RateLimited`](crate::DisconnectReason::RateLimited).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// use connhandler::RateLimit;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").rate_limit(RateLimit::messages(100, Duration::from_secs(1)));
    /// ```
    pub fn rate_limit(mut self, limit: crate::RateLimit) -> Self {
        self.settings.rate_limit = Some(limit);
        self
    }

    /// A rate limit on control frames for each connection: WebSocket pings and pongs, and
    /// the protocol's heartbeat pings and pongs, at most `n` per `period` (a bucket of `n`,
    /// refilled continuously); a peer over it is disconnected with
    /// [`RateLimited { what: ControlFrames, .. }`](crate::DisconnectReason::RateLimited).
    /// They count as messages for [`rate_limit`](Self::rate_limit) too. `None` turns it off.
    /// Default: 64 per second for an incoming handler (no conforming peer comes near),
    /// off for an outgoing one; with a [`heartbeat`](Self::heartbeat), at least four per
    /// heartbeat interval.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
    ///     .control_rate_limit(Some((16, Duration::from_secs(1))));
    /// ```
    pub fn control_rate_limit(mut self, limit: Option<(u64, std::time::Duration)>) -> Self {
        self.settings.control_rate = limit;
        self
    }

    /// Calls `tap` with every message body received and sent, for debugging (the
    /// reference's traffic dump).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use connhandler::tap::Tap;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").tap(Tap::new(|f| eprintln!("{} {} {:02x?}", f.peer, f.direction, f.body)));
    /// ```
    pub fn tap(mut self, tap: crate::tap::Tap) -> Self {
        self.settings.tap = Some(tap);
        self
    }

    /// How long a request made with [`PeerHandle::request`](crate::PeerHandle::request)
    /// waits for its reply, unless the request says otherwise (default 30 s).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
    ///     .request_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.talk.request_timeout = timeout;
        self
    }

    /// How many requests may wait for their replies at once on each connection (at least
    /// 1, default 64); past it, a request fails with
    /// [`RequestError::TooMany`](crate::talk::RequestError::TooMany).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").max_pending(16);
    /// ```
    pub fn max_pending(mut self, max: usize) -> Self {
        self.talk.max_pending = max.max(1);
        self
    }

    /// The version handshake (see [`Handshake`]): each side's first message is its
    /// protocol's hello (`#[wire(hello)]`), and `Connected` reaches the central queue only
    /// once the peer's version is accepted. The protocol's `Hello` impls come from the
    /// derive; the compiler checks that both message types declare a hello.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{talk::{Agree, Handshake, Version}, Incoming, Message, Peer};
    ///
    /// #[derive(Message)]
    /// enum Msg {
    ///     #[wire(id = 1, hello)]
    ///     Hello { #[wire(version)] version: String },
    ///     #[wire(id = 2, reject)]
    ///     Rejected { #[wire(reason)] reason: String },
    ///     #[wire(id = 3)]
    ///     Chat(String),
    /// }
    ///
    /// #[derive(Peer, Default)]
    /// #[peer(recv = Msg, send = Msg)]
    /// struct Player;
    ///
    /// let builder = Incoming::<Player>::builder("127.0.0.1:0")
    ///     .handshake(Handshake::new(Version::new(2, 1, 0)).agree(Agree::SameMajor));
    /// ```
    pub fn handshake(mut self, handshake: Handshake) -> Self
    where
        P::Send: Hello,
        P::Recv: Hello,
    {
        self.talk.handshake = Some(Greeting::new(handshake));
        self
    }

    /// The heartbeat (see [`Heartbeat`]): a ping (`#[wire(ping)]`, or a WebSocket ping
    /// frame) when nothing arrived for a while, a cut with
    /// [`Timeout::Heartbeat`](crate::Timeout::Heartbeat) after the allowance, the peer's
    /// pings answered with the protocol's pong. The allowance replaces the idle time-out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use connhandler::{talk::Heartbeat, Incoming, Message, Peer};
    ///
    /// #[derive(Message)]
    /// enum Msg {
    ///     #[wire(id = 1, ping)]
    ///     Ping,
    ///     #[wire(id = 2, pong)]
    ///     Pong,
    ///     #[wire(id = 3)]
    ///     Chat(String),
    /// }
    ///
    /// #[derive(Peer, Default)]
    /// #[peer(recv = Msg, send = Msg)]
    /// struct Player;
    ///
    /// let builder = Incoming::<Player>::builder("127.0.0.1:0")
    ///     .heartbeat(Heartbeat::every(Duration::from_secs(5)));
    /// ```
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self
    where
        P::Send: Beats,
        P::Recv: Beats,
    {
        self.settings.timeouts.heartbeat =
            Some((heartbeat.interval(), heartbeat.silence_allowed()));
        self.settings.timeouts.idle = None;
        self.talk.heartbeat = Some(Beating::new(heartbeat));
        self
    }

    /// TCP keepalive on each connection's socket: the system probes a connection idle for
    /// `idle`, so that a peer whose host vanished is found even with no heartbeat in the
    /// protocol (default off; `None` turns it off).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
    ///     .tcp_keepalive(std::time::Duration::from_secs(60));
    /// ```
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<std::time::Duration>>) -> Self {
        self.settings.keepalive = idle.into();
        self
    }

    /// Splits the builder for starting: the kind's settings, the core the public handle
    /// keeps, and what the handler's task needs to start connections.
    pub(super) fn into_parts<E>(
        mut self,
        central: &CentralSender<E>,
        per_ip: Option<PerIp>,
    ) -> (K, Core<P>, Connections<P, F, E>)
    where
        H: PeerSource<P>,
    {
        let name: Arc<str> = self.name.as_deref().unwrap_or(P::NAME).into();
        let id = crate::peer::HandlerId::next();
        let core = Core {
            name: name.clone(),
            id,
            token: tokio_util::sync::CancellationToken::new(),
            tracker: tokio_util::task::TaskTracker::new(),
            registry: Arc::new(Registry::new()),
        };
        // A heartbeat faster than the control-frame limit allows must not cut its own peer:
        // room for four control frames per interval (the peer's pings and its pongs to ours,
        // twice over).
        if let (Some((n, per)), Some((every, _))) =
            (self.settings.control_rate, self.settings.timeouts.heartbeat)
        {
            let needed = (4.0 * per.as_secs_f64() / every.as_secs_f64().max(1e-3)).ceil() as u64;
            self.settings.control_rate = Some((n.max(needed), per));
        }
        let budget = self
            .settings
            .read_budget
            .map(|total| ReadBudget::new(total, self.settings.read_budget_per_ip(total)));
        let framing = self.kind.carried(self.framing);
        let framer = Arc::new(Framer::new(framing.clone(), self.settings.tap.is_some()));
        let connections = Connections {
            name,
            id,
            budget,
            framer,
            settings: Arc::new(self.settings),
            framing: std::sync::Mutex::new(framing),
            token: core.token.clone(),
            central: central.clone(),
            tracker: core.tracker.clone(),
            registry: core.registry.clone(),
            per_ip,
            make_peer: self.make_peer.into_hook(),
            talk: Arc::new(self.talk),
        };
        (self.kind, core, connections)
    }
}
