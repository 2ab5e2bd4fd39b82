//! The outgoing handler: connects to one peer, with a time-out, retries and reconnection.

use std::{
    fmt, io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{net::TcpStream, sync::oneshot};
use tracing::Instrument;

use super::{
    builder::{sealed, DefaultPeer, PeerSource, WithHook},
    door::{DoorError, OutDoor, Passed},
    Connections, Core, HandlerBuilder, Kind,
};
use crate::{
    addr::Address,
    central::CentralSender,
    codec::{Framing, TcpMessageCodec},
    conn::Event,
    conn::{Admission, Opened, PeerHandle},
    peer::Peer,
    reason::{ConnectError, ConnectErrorKind},
    transport::Socket,
};

/// When to try connecting again after a failed attempt, and, with `reconnect`, after a lost
/// connection. Each wait is jittered (a random part of up to half of it is taken off), so
/// that a fleet of clients that lost the same server does not come back in step. A
/// connection lost soon after it was made (within the policy's longest delay, at least one
/// second) counts as one more failed attempt, so a server that accepts and closes at once
/// is retried at the policy's pace, never in a tight loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::Retry;
///
/// // The reference's retry_time: every 5 seconds, for ever.
/// let fixed = Retry::fixed(Duration::from_secs(5));
/// // 100 ms, 200 ms, 400 ms ... up to 10 s between attempts, 20 attempts in all.
/// let backoff = Retry::backoff(Duration::from_millis(100), Duration::from_secs(10)).max_attempts(20);
/// assert_eq!(backoff.delay_after(3), Some(Duration::from_millis(400)));
/// assert_eq!(backoff.delay_after(20), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    initial: Duration,
    max: Duration,
    backoff: bool,
    max_attempts: Option<u32>,
}

impl Retry {
    /// One attempt only.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::Retry::never().delay_after(1), None);
    /// ```
    pub fn never() -> Self {
        Retry {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            backoff: false,
            max_attempts: Some(1),
        }
    }

    /// Attempts `interval` apart, without end unless [`max_attempts`](Retry::max_attempts)
    /// is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = connhandler::Retry::fixed(Duration::from_secs(1));
    /// assert_eq!(r.delay_after(7), Some(Duration::from_secs(1)));
    /// ```
    pub fn fixed(interval: Duration) -> Self {
        Retry {
            initial: interval,
            max: interval,
            backoff: false,
            max_attempts: None,
        }
    }

    /// Attempts with a delay doubling from `initial` up to `max`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = connhandler::Retry::backoff(Duration::from_secs(1), Duration::from_secs(3));
    /// assert_eq!(r.delay_after(1), Some(Duration::from_secs(1)));
    /// assert_eq!(r.delay_after(2), Some(Duration::from_secs(2)));
    /// assert_eq!(r.delay_after(3), Some(Duration::from_secs(3)));
    /// ```
    pub fn backoff(initial: Duration, max: Duration) -> Self {
        Retry {
            initial,
            max: max.max(initial),
            backoff: true,
            max_attempts: None,
        }
    }

    /// Gives up after `attempts` attempts in all (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = connhandler::Retry::fixed(Duration::from_secs(1)).max_attempts(2);
    /// assert!(r.delay_after(1).is_some());
    /// assert!(r.delay_after(2).is_none());
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The wait after `attempt` failures in a row, ignoring `max_attempts` (reconnecting
    /// after a lost connection never gives up while `reconnect` is on).
    fn wait(&self, attempt: u32) -> Duration {
        Retry {
            max_attempts: None,
            ..*self
        }
        .delay_after(attempt)
        .unwrap_or(self.max)
    }

    /// The wait after failed attempt number `attempt` (from 1), or `None` to give up.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::Retry::never().delay_after(1), None);
    /// ```
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if self.max_attempts.is_some_and(|max| attempt >= max) {
            return None;
        }
        if !self.backoff {
            return Some(self.initial);
        }
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        Some(self.initial.saturating_mul(factor).min(self.max))
    }
}

impl Default for Retry {
    /// Every second, for ever: [`Retry::fixed`] with one second.
    fn default() -> Self {
        Retry::fixed(Duration::from_secs(1))
    }
}

/// The settings only an outgoing handler has: where it connects, the time-out of one
/// attempt, retries and reconnection (the kind of an [`OutgoingBuilder`]).
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// let builder = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000").reconnect(true);
/// println!("{builder:?}"); // OutgoingBuilder { .., kind: Connect { .., reconnect: true } }
/// ```
#[derive(Debug)]
pub struct Connect {
    addr: Address,
    timeout: Duration,
    retry: Retry,
    reconnect: bool,
    /// What a connection passes before it is served: TLS, WebSocket.
    door: OutDoor,
    /// The in-memory network's host it connects from, instead of the system's sockets.
    #[cfg(feature = "testing")]
    net: Option<crate::testing::net::Host>,
}

impl sealed::Sealed for Connect {}

impl Kind for Connect {
    const BUILDER: &'static str = "OutgoingBuilder";

    #[allow(private_interfaces)]
    fn carried<F>(&self, framing: F) -> crate::codec::Carried<F> {
        #[cfg(feature = "websocket")]
        if let Some(ws) = &self.door.ws {
            return crate::codec::Carried::WebSocket(
                ws.framing(crate::transport::ws::Role::Client),
            );
        }
        crate::codec::Carried::Stream(framing)
    }
}

/// Configures an outgoing handler; [`start`](OutgoingBuilder::start) starts connecting,
/// [`connect`](OutgoingBuilder::connect) also waits for the first connection.
///
/// Defaults: a connect time-out of 10 s, [`Retry::default`] (every second, for ever), no
/// reconnection after a disconnect.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::{Outgoing, Retry};
#[doc = include_str!("../doc_client.rs")]
///
/// let builder = Outgoing::<Client>::builder("login.example:7198")
///     .connect_timeout(Duration::from_secs(3))
///     .retry(Retry::backoff(Duration::from_millis(200), Duration::from_secs(5)))
///     .reconnect(true);
/// ```
pub type OutgoingBuilder<P, F = TcpMessageCodec, H = DefaultPeer> =
    HandlerBuilder<Connect, P, F, H>;

impl<P: Peer> HandlerBuilder<Connect, P> {
    /// A builder that connects to `addr` (an address, or a host name resolved at each
    /// attempt) and builds the connection's peer data with `make_peer`.
    ///
    /// # Examples
    ///
    /// ```
    /// struct Server {
    ///     at: std::net::SocketAddr,
    /// }
    /// impl connhandler::Peer for Server {
    ///     type Recv = bytes::Bytes;
    ///     type Send = bytes::Bytes;
    ///     const NAME: &'static str = "server";
    /// }
    /// let builder = connhandler::OutgoingBuilder::new("127.0.0.1:7000", |at| Server { at });
    /// ```
    pub fn new(
        addr: impl Into<Address>,
        make_peer: impl Fn(SocketAddr) -> P + Send + Sync + 'static,
    ) -> HandlerBuilder<Connect, P, TcpMessageCodec, WithHook<P>> {
        Self::connecting(addr).make_peer(make_peer)
    }

    /// The builder with the defaults for `addr`, before a `make_peer` hook.
    fn connecting(addr: impl Into<Address>) -> Self {
        let connect = Connect {
            addr: addr.into(),
            timeout: Duration::from_secs(10),
            retry: Retry::default(),
            reconnect: false,
            door: OutDoor::default(),
            #[cfg(feature = "testing")]
            net: None,
        };
        HandlerBuilder::with_kind(connect)
    }
}

#[cfg(feature = "websocket")]
impl<P: Peer> HandlerBuilder<Connect, P> {
    /// The builder of [`Outgoing::websocket_url`].
    fn from_websocket_url(url: &str) -> Result<Self, String> {
        let url = crate::ws::WsUrl::parse(url)?;
        #[allow(unused_mut)]
        let mut builder = Self::connecting((url.host.as_str(), url.port))
            .websocket(crate::ws::WebSocket::new().path(url.path.clone()));
        if url.tls {
            #[cfg(feature = "tls")]
            {
                builder = builder.tls(crate::tls::TlsClient::platform_roots());
            }
            #[cfg(not(feature = "tls"))]
            return Err(format!("{}: wss:// needs the tls feature", url.host));
        }
        Ok(builder)
    }
}

impl<P: Peer, F: Framing, H> HandlerBuilder<Connect, P, F, H> {
    /// Speaks TLS: the handshake is part of each attempt (within
    /// [`connect_timeout`](Self::connect_timeout)); a certificate that is untrusted,
    /// expired or for another name fails the attempt with a `ConnectError` that says which.
    /// Feature `tls`.
    ///
    /// # Examples
    ///
    /// ```no_run
    #[doc = include_str!("../doc_client.rs")]
    /// let tls = connhandler::tls::TlsClient::with_ca_file("ca.pem")?.server_name("login.internal");
    /// let builder = connhandler::Outgoing::<Client>::builder("10.0.0.5:7443").tls(tls);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.kind.door.tls = Some(tls);
        self
    }

    /// Speaks WebSocket (over TLS too, with [`tls`](Self::tls)): each message goes as one
    /// binary WebSocket message, in place of the handler's framing. Feature `websocket`.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let ws = connhandler::ws::WebSocket::new().path("/game");
    /// let builder = connhandler::Outgoing::<Client>::builder("127.0.0.1:8080").websocket(ws);
    /// ```
    #[cfg(feature = "websocket")]
    pub fn websocket(mut self, ws: crate::ws::WebSocket) -> Self {
        self.kind.door.ws = Some(ws);
        self
    }

    /// How long one attempt (name resolution and TCP connect) may take; default 10 s
    /// (`openTCPClientConnection`'s `timeout_ms`).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000")
    ///     .connect_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.kind.timeout = timeout;
        self
    }

    /// Connects from `host` of an in-memory network (feature `testing`) instead of the
    /// system's sockets; the address names a host of that network (`"login:7000"`) or its
    /// address. See [`testing::net`](crate::testing::net).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let net = connhandler::testing::net::Network::new();
    /// let b = connhandler::Outgoing::<Client>::builder("login:7000")
    ///     .in_memory(&net.host("launcher"));
    /// ```
    #[cfg(feature = "testing")]
    pub fn in_memory(mut self, host: &crate::testing::net::Host) -> Self {
        self.kind.net = Some(host.clone());
        self
    }

    /// When to try again after a refused, timed-out or unresolvable attempt.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000").retry(connhandler::Retry::never());
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.kind.retry = retry;
        self
    }

    /// Whether to connect again (with the same retry policy) after a connection ends other
    /// than by a local close or shutdown; default `false`. Each connection is a new peer
    /// with its own `Connected` and `Disconnected` events.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000").reconnect(true);
    /// ```
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.kind.reconnect = reconnect;
        self
    }

    /// Starts connecting in the background; the connection's events, or
    /// [`Event::ConnectFailed`] when the retries are spent, go to `central`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns the handler's task there). From synchronous code,
    /// start it with [`blocking::Runtime::start_outgoing`](crate::blocking::Runtime::start_outgoing).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # async fn f() {
    /// let (tx, mut central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// let out = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000").start(&tx);
    /// # }
    /// ```
    pub fn start<E>(self, central: &CentralSender<E>) -> Outgoing<P>
    where
        E: From<Event<P>> + Send + 'static,
        H: PeerSource<P>,
    {
        self.spawn(central, None)
    }

    /// Starts connecting and waits for the first attempt's outcome, retries included.
    /// Further events (a reconnection, say) still go to `central`. With a version
    /// [`handshake`](crate::handler::HandlerBuilder::handshake) set, `connect` returns once the
    /// socket (and TLS or WebSocket) is up; `Connected`, or a `Disconnected` naming both
    /// versions, follows in the queue when the handshake ends.
    ///
    /// # Errors
    ///
    /// The last attempt's [`ConnectError`] when the retries are spent; no
    /// `ConnectFailed` event is queued then.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use connhandler::{Outgoing, Retry};
    /// let (tx, _central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// // Nothing listens on port 1: refused at once, and no retry.
    /// let err = Outgoing::<Client>::builder("127.0.0.1:1")
    ///     .retry(Retry::never())
    ///     .connect(&tx)
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("cannot connect to 127.0.0.1:1"));
    /// # }
    /// ```
    pub async fn connect<E>(
        self,
        central: &CentralSender<E>,
    ) -> Result<(Outgoing<P>, PeerHandle<P>), ConnectError>
    where
        H: PeerSource<P>,
        E: From<Event<P>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let out = self.spawn(central, Some(tx));
        match rx.await {
            Ok(Ok(peer)) => Ok((out, peer)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ConnectError::new(
                out.addr.to_string(),
                0,
                ConnectErrorKind::Cancelled,
            )),
        }
    }

    fn spawn<E>(self, central: &CentralSender<E>, first: Option<First<P>>) -> Outgoing<P>
    where
        E: From<Event<P>> + Send + 'static,
        H: PeerSource<P>,
    {
        let (connect, core, connections) = self.into_parts(central, None);
        let addr = connect.addr.clone();
        let counters = Arc::new(Counters::default());
        let driver = Driver {
            connections,
            connect,
            counters: counters.clone(),
        };
        let span = tracing::info_span!("outgoing", handler = %core.name(), addr = %addr);
        core.spawn_task(driver.run(first).instrument(span));
        Outgoing {
            core,
            addr,
            counters,
        }
    }
}

type First<P> = oneshot::Sender<Result<PeerHandle<P>, ConnectError>>;

/// A running outgoing handler.
///
/// Dropping it shuts it down in the background, as [`shutdown`](Outgoing::shutdown) does
/// without the wait.
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// # async fn f(out: connhandler::Outgoing<Client>) {
/// if let Some(server) = out.peer() {
///     server.send(bytes::Bytes::from_static(b"hello")).ok();
/// }
/// out.shutdown().await;
/// # }
/// ```
pub struct Outgoing<P: Peer> {
    core: Core<P>,
    addr: Address,
    counters: Arc<Counters>,
}

impl<P: Peer> fmt::Debug for Outgoing<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("name", &&**self.core.name())
            .field("addr", &self.addr)
            .field("connected", &(self.core.registry().len() > 0))
            .finish()
    }
}

impl<P: Peer> Outgoing<P> {
    /// A builder for an outgoing handler that connects to `addr`, with the defaults; nothing
    /// connects until [`start`](HandlerBuilder::start) or [`connect`](HandlerBuilder::connect).
    /// The connection's peer data is `P::default()` unless the builder is given a
    /// [`make_peer`](HandlerBuilder::make_peer) hook (then `P` need not be `Default`).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Outgoing::<Client>::builder("127.0.0.1:7000");
    /// ```
    pub fn builder(addr: impl Into<Address>) -> OutgoingBuilder<P> {
        OutgoingBuilder::connecting(addr)
    }

    /// A builder that connects to a `ws://` or `wss://` URL: its host and port, WebSocket
    /// on its path, and for `wss://` TLS trusting the platform's store with the URL's host
    /// as the server name (replace it with [`tls`](HandlerBuilder::tls)). Features
    /// `websocket`, and `tls` for `wss://`.
    ///
    /// # Errors
    ///
    /// A URL that is not `ws://` or `wss://`, or `wss://` without the `tls` feature.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Outgoing::<Client>::websocket_url("ws://127.0.0.1:8080/game")?;
    /// # Ok::<(), String>(())
    /// ```
    #[cfg(feature = "websocket")]
    pub fn websocket_url(url: &str) -> Result<OutgoingBuilder<P>, String> {
        OutgoingBuilder::from_websocket_url(url)
    }
}

impl<P: Peer> Outgoing<P> {
    /// The current connection, if connected.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # fn f(out: &connhandler::Outgoing<Client>) {
    /// let connected = out.peer().is_some();
    /// # }
    /// ```
    pub fn peer(&self) -> Option<PeerHandle<P>> {
        self.core.registry().snapshot().into_iter().next()
    }

    /// What the handler counted: connections made, failed attempts, reconnections.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(link: &connhandler::Outgoing<P>) {
    /// assert!(link.stats().connects <= link.stats().reconnects + 1);
    /// # }
    /// ```
    pub fn stats(&self) -> OutgoingStats {
        let c = &self.counters;
        OutgoingStats {
            connects: c.connects.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
        }
    }

    /// The handler's name.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # fn f(out: &connhandler::Outgoing<Client>) {
    /// println!("{}", out.name());
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The handler's id, which each of its connections knows
    /// ([`PeerHandle::handler_id`](crate::PeerHandle::handler_id)).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # fn f(out: &connhandler::Outgoing<Client>, peer: &connhandler::PeerHandle<Client>) {
    /// if peer.handler_id() == out.id() { /* this handler's connection */ }
    /// # }
    /// ```
    pub fn id(&self) -> crate::HandlerId {
        self.core.id()
    }

    /// Stops connecting and reconnecting, closes the connection if there is one (queued
    /// messages are written first), and returns once every task has ended.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # async fn f(out: connhandler::Outgoing<Client>) {
    /// out.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(&self) {
        self.core.shutdown().await
    }
}

struct Driver<P: Peer, F, E> {
    connections: Connections<P, F, E>,
    connect: Connect,
    counters: Arc<Counters>,
}

/// What an outgoing handler counts (see [`OutgoingStats`]).
#[derive(Debug, Default)]
struct Counters {
    connects: AtomicU64,
    connect_failures: AtomicU64,
    reconnects: AtomicU64,
}

/// Counts of an outgoing handler: every failed connect attempt is counted here (the
/// `ConnectFailed` event comes only when the retry policy gives up).
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer>(link: &connhandler::Outgoing<P>) {
/// let stats = link.stats();
/// println!("{} connected, {} failed attempts", stats.connects, stats.connect_failures);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingStats {
    /// Connections made.
    pub connects: u64,
    /// Connect attempts that failed (refused, timed out, not resolved).
    pub connect_failures: u64,
    /// Connections lost and tried again (`reconnect`).
    pub reconnects: u64,
}

/// `delay` less a random part of up to half of it, so that clients do not retry in step.
fn jittered(delay: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh random seed per call (std's hasher keys), mixed with the time: no extra crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    delay.mul_f64(1.0 - 0.5 * unit)
}

impl<P, F, E> Driver<P, F, E>
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    async fn run(self, first: Option<First<P>>) {
        let first = Mutex::new(first);
        let (closed, central) = (self.connections.token(), self.connections.central().clone());
        let report = |result: Result<PeerHandle<P>, ConnectError>| -> Option<ConnectError> {
            match first.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(tx) => {
                    let _ = tx.send(result);
                    None
                }
                None => result.err(),
            }
        };
        // Connections lost in a row, each soon after it was made.
        let mut lost = 0u32;
        loop {
            let Some((stream, addr, opened)) =
                connect_with_retry(&self.connect, &closed, &central, &report, &self.counters).await
            else {
                return;
            };
            let Some(data) = self.connections.make_peer(addr) else {
                let err =
                    ConnectError::new(self.connect.addr.to_string(), 1, ConnectErrorKind::MakePeer);
                if let Some(err) = report(Err(err)) {
                    let _ = self
                        .connections
                        .central()
                        .push_unbounded(Event::ConnectFailed(err).into(), None);
                }
                return;
            };
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            let since = tokio::time::Instant::now();
            let (peer, done) =
                self.connections
                    .start_passed(stream, addr, data, Admission::default(), opened);
            report(Ok(peer));
            let reconnect_worthy = done.await.unwrap_or(false);
            if !self.connect.reconnect || !reconnect_worthy || self.connections.is_closed() {
                return;
            }
            // Lost soon after it was made: one more failed attempt in a row.
            let quick = self.connect.retry.max.max(Duration::from_secs(1));
            lost = if since.elapsed() < quick { lost + 1 } else { 1 };
            let delay = jittered(self.connect.retry.wait(lost));
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("connection lost; reconnecting in {delay:?}");
            tokio::select! {
                _ = closed.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// Connects, retrying as configured; `None` when it gave up (reported) or was cancelled.
async fn connect_with_retry<P: Peer, E: From<Event<P>>>(
    connect: &Connect,
    closed: &tokio_util::sync::CancellationToken,
    central: &CentralSender<E>,
    report: &impl Fn(Result<PeerHandle<P>, ConnectError>) -> Option<ConnectError>,
    counters: &Counters,
) -> Option<(Passed, SocketAddr, Opened)> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = tokio::select! {
            _ = closed.cancelled() => return None,
            r = connect_once(connect) => r,
        };
        let kind = match result {
            Ok(connected) => return Some(connected),
            Err(kind) => kind,
        };
        counters.connect_failures.fetch_add(1, Ordering::Relaxed);
        let Some(delay) = connect.retry.delay_after(attempt) else {
            let err = ConnectError::new(connect.addr.to_string(), attempt, kind);
            tracing::warn!("{err}");
            if let Some(err) = report(Err(err)) {
                let _ = central.push_unbounded(Event::ConnectFailed(err).into(), None);
            }
            return None;
        };
        let delay = jittered(delay);
        tracing::debug!(attempt, "connect failed ({kind}); retrying in {delay:?}");
        tokio::select! {
            _ = closed.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Opens the socket: a TCP connection, or one of the in-memory network.
async fn open(connect: &Connect) -> Result<(Socket, SocketAddr), ConnectErrorKind> {
    let addr = &connect.addr;
    #[cfg(feature = "testing")]
    if let Some(host) = &connect.net {
        let to = host
            .inner()
            .resolve(host.ip(), &addr.to_string())
            .map_err(ConnectErrorKind::Resolve)?;
        let stream = host
            .inner()
            .connect(host.ip(), to)
            .await
            .map_err(ConnectErrorKind::Io)?;
        return Ok((Socket::Mem(stream), to));
    }
    let addrs = addr.resolve().await.map_err(ConnectErrorKind::Resolve)?;
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(stream) => return Ok((Socket::Tcp(stream), a)),
            Err(e) => last = Some(e),
        }
    }
    Err(ConnectErrorKind::Io(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no address")
    })))
}

async fn connect_once(connect: &Connect) -> Result<(Passed, SocketAddr, Opened), ConnectErrorKind> {
    let (addr, door, timeout) = (&connect.addr, &connect.door, connect.timeout);
    let attempt = async {
        let (stream, a) = open(connect).await?;
        let (passed, opened) = door
            .handshake(stream, &addr.host())
            .await
            .map_err(|e| match e {
                DoorError::Tls(e) => ConnectErrorKind::Tls(e),
                DoorError::WebSocket(e) => ConnectErrorKind::WebSocket(e),
            })?;
        Ok((passed, a, opened))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectErrorKind::TimedOut(timeout)),
    }
}
