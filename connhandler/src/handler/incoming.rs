//! The incoming handler: listens, and serves many peers of one kind.

use std::{
    fmt, io,
    marker::PhantomData,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpSocket},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    accept::AcceptLoop,
    builder::{sealed, DefaultPeer, PeerSource, WithHook},
    door::InDoor,
    Core, HandlerBuilder, Kind,
};
use crate::{
    addr::Address,
    budget::ReadBudget,
    central::CentralSender,
    codec::{FrameError, Framing, TcpMessageCodec},
    conn::Event,
    conn::{Framer, PeerHandle},
    group::BroadcastReport,
    limits::Refusal,
    limits::{PerIp, RateLimit},
    peer::Peer,
};

/// The settings only an incoming handler has: where it listens, its backlog, its
/// connection cap and its per-address rate limit (the kind of an [`IncomingBuilder`]).
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").backlog(64);
/// println!("{builder:?}"); // IncomingBuilder { .., kind: Listen { addr: .., backlog: 64, .. } }
/// ```
#[derive(Debug)]
pub struct Listen {
    addr: Address,
    backlog: u32,
    max_connections: Option<usize>,
    /// `None`: a quarter of `max_connections`, at most `DEFAULT_MAX_PER_IP`.
    max_per_ip: Option<Option<usize>>,
    connect_rate: Option<(u64, Duration)>,
    per_ip: Option<RateLimit>,
    /// What a connection passes before it is served: PROXY header, TLS, WebSocket.
    door: InDoor,
    /// The in-memory network's host it listens on, instead of the system's sockets.
    #[cfg(feature = "testing")]
    net: Option<crate::testing::net::Host>,
}

/// Refused connections that may linger over their last words at once.
const MAX_LINGERING: usize = 64;

/// The default `max_connections`.
const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// The default `max_connections_per_ip` at most: room for a load test from one address.
const DEFAULT_MAX_PER_IP: usize = 4096;
/// The default `connect_rate_per_ip`.
const DEFAULT_CONNECT_RATE: (u64, Duration) = (2048, Duration::from_secs(1));

impl Listen {
    /// The in-memory network's host it listens on, if any.
    #[cfg(feature = "testing")]
    fn memory_host(&self) -> Option<&crate::testing::net::Host> {
        self.net.as_ref()
    }

    #[cfg(not(feature = "testing"))]
    fn memory_host(&self) -> Option<std::convert::Infallible> {
        None
    }

    /// The per-address cap in force.
    fn max_per_ip(&self) -> Option<usize> {
        match self.max_per_ip {
            Some(set) => set,
            None => self
                .max_connections
                .map(|max| (max / 4).clamp(1, DEFAULT_MAX_PER_IP)),
        }
    }
}

impl sealed::Sealed for Listen {}

impl Kind for Listen {
    const BUILDER: &'static str = "IncomingBuilder";

    #[allow(private_interfaces)]
    fn carried<F>(&self, framing: F) -> crate::codec::Carried<F> {
        #[cfg(feature = "websocket")]
        if let Some(ws) = &self.door.ws {
            return crate::codec::Carried::WebSocket(
                ws.framing(crate::transport::ws::Role::Server),
            );
        }
        crate::codec::Carried::Stream(framing)
    }

    fn unprotect(&mut self) {
        self.max_connections = None;
        self.max_per_ip = Some(None);
        self.connect_rate = None;
    }
}

/// Configures an incoming handler; [`listen`](HandlerBuilder::listen) binds it and starts
/// accepting.
///
/// # Examples
///
/// ```
/// use connhandler::{central, Event, Incoming};
/// # #[derive(Default)]
/// # struct Client;
/// # impl connhandler::Peer for Client {
/// #     type Recv = bytes::Bytes;
/// #     type Send = bytes::Bytes;
/// #     const NAME: &'static str = "client";
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (tx, mut central) = central::<Event<Client>>(1024);
/// let server = Incoming::<Client>::builder("127.0.0.1:0")
///     .backlog(128)
///     .max_connections(5000)
///     .listen(&tx)
///     .await?;
/// println!("listening on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub type IncomingBuilder<P, F = TcpMessageCodec, H = DefaultPeer> = HandlerBuilder<Listen, P, F, H>;

impl<P: Peer> HandlerBuilder<Listen, P> {
    /// A builder that listens on `addr` (port 0 picks a free port) and builds each
    /// connection's peer data with `make_peer`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// struct Client {
    ///     from: SocketAddr,
    /// }
    /// impl connhandler::Peer for Client {
    ///     type Recv = bytes::Bytes;
    ///     type Send = bytes::Bytes;
    ///     const NAME: &'static str = "client";
    /// }
    /// let builder = connhandler::IncomingBuilder::new("0.0.0.0:7000", |from| Client { from });
    /// ```
    pub fn new(
        addr: impl Into<Address>,
        make_peer: impl Fn(SocketAddr) -> P + Send + Sync + 'static,
    ) -> HandlerBuilder<Listen, P, TcpMessageCodec, WithHook<P>> {
        Self::listening(addr).make_peer(make_peer)
    }

    /// The builder with the defaults for `addr`, before a `make_peer` hook.
    fn listening(addr: impl Into<Address>) -> Self {
        let listen = Listen {
            addr: addr.into(),
            backlog: 1024,
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_per_ip: None,
            connect_rate: Some(DEFAULT_CONNECT_RATE),
            per_ip: None,
            door: InDoor::default(),
            #[cfg(feature = "testing")]
            net: None,
        };
        let mut builder = HandlerBuilder::with_kind(listen);
        // Safe for a server facing the internet (the table in the README).
        let settings = &mut builder.settings;
        settings.timeouts.first_message = Some(Duration::from_secs(30));
        settings.timeouts.frame = Some(Duration::from_secs(30));
        settings.timeouts.min_frame_rate = Some(4096);
        settings.timeouts.idle = Some(Duration::from_secs(300));
        settings.read_budget = Some(64 << 20);
        settings.write_timeout = Some(crate::conn::DEFAULT_WRITE_TIMEOUT);
        settings.backpressure = true;
        settings.control_rate = Some(crate::conn::DEFAULT_CONTROL_RATE);
        builder
    }
}

impl<P: Peer, F: Framing, H> HandlerBuilder<Listen, P, F, H> {
    /// The listen backlog (`openTCPServerRendezvous`'s `backlog`): connections the kernel
    /// holds before they are accepted; default 1024.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").backlog(16);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.kind.backlog = backlog;
        self
    }

    /// Listens on `host` of an in-memory network (feature `testing`) instead of the
    /// system's sockets: at the port of the address given to the builder (0 picks one),
    /// on the host's address. See [`testing::net`](crate::testing::net).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), connhandler::BindError> {
    /// let net = connhandler::testing::net::Network::new();
    /// let (tx, _central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// let server = connhandler::Incoming::<Client>::builder("0.0.0.0:7000")
    ///     .in_memory(&net.host("login"))
    ///     .listen(&tx)
    ///     .await?;
    /// assert_eq!(server.local_addr().to_string(), "10.0.0.1:7000");
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "testing")]
    pub fn in_memory(mut self, host: &crate::testing::net::Host) -> Self {
        self.kind.net = Some(host.clone());
        self
    }

    /// The most connections served at once (default 16384; `None`: no limit). Connections
    /// beyond it are accepted and closed at once, and counted in
    /// [`IncomingStats::refused_full`]. A closed connection keeps its slot until the central
    /// task takes its `Disconnected` event, so this also bounds the `Connected` and
    /// `Disconnected` events queued.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").max_connections(100);
    /// ```
    pub fn max_connections(mut self, max: impl Into<Option<usize>>) -> Self {
        self.kind.max_connections = max.into();
        self
    }

    /// The most connections served at once from one address, an IPv6 one by its /64
    /// prefix (default: a quarter of `max_connections`, at most 4096, so one address cannot
    /// hold every slot and a load test can still open thousands; `None`: no limit).
    /// Connections beyond it are closed at once and counted in
    /// [`IncomingStats::refused_per_ip`].
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0").max_connections_per_ip(16);
    /// ```
    pub fn max_connections_per_ip(mut self, max: impl Into<Option<usize>>) -> Self {
        self.kind.max_per_ip = Some(max.into());
        self
    }

    /// At most `n` new connections per `period` from one address (an IPv6 one by its /64
    /// prefix), as a bucket of `n` refilled over `period` (default 2048 per second; `None`
    /// turns it off). Connections beyond it are closed at once and counted in
    /// [`IncomingStats::refused_rate`].
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
    ///     .connect_rate_per_ip(Some((20, Duration::from_secs(10))));
    /// ```
    pub fn connect_rate_per_ip(mut self, rate: Option<(u64, Duration)>) -> Self {
        self.kind.connect_rate = rate;
        self
    }

    /// A rate limit shared by all connections from one IP address (as the reference login
    /// server applies): the connection that goes over it is disconnected with
    /// [`DisconnectReason::RateLimited`](crate::DisconnectReason::RateLimited) and
    /// `per_ip: true`. An address keeps its buckets across reconnections.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use std::time::Duration;
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0")
    ///     .per_ip_rate_limit(connhandler::RateLimit::bytes(1 << 20, Duration::from_secs(1)));
    /// ```
    pub fn per_ip_rate_limit(mut self, limit: RateLimit) -> Self {
        self.kind.per_ip = Some(limit);
        self
    }

    /// Serves TLS: every connection's handshake is made (within
    /// [`handshake_timeout`](Self::handshake_timeout)) before it is served; a client that
    /// fails it (plain TCP on this port, an unknown client certificate) is closed without
    /// an event and counted in `IncomingStats::failed_handshakes`. Feature `tls`.
    ///
    /// # Examples
    ///
    /// ```no_run
    #[doc = include_str!("../doc_client.rs")]
    /// let tls = connhandler::tls::TlsServer::from_pem_files("cert.pem", "key.pem")?;
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:7443").tls(tls);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsServer) -> Self {
        self.kind.door.tls = Some(tls);
        self
    }

    /// Serves WebSocket (over TLS too, with [`tls`](Self::tls)): each binary WebSocket
    /// message is one message, in place of the handler's framing. Feature `websocket`.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// use connhandler::ws::WebSocket;
    ///
    /// let ws = WebSocket::new().path("/game").allow_origin("https://play.example.com");
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:8080").websocket(ws);
    /// ```
    #[cfg(feature = "websocket")]
    pub fn websocket(mut self, ws: crate::ws::WebSocket) -> Self {
        self.kind.door.ws = Some(ws);
        self
    }

    /// Expects a PROXY protocol header (v1 or v2, as HAProxy, nginx and the cloud load
    /// balancers send it) before each connection's bytes from a trusted load balancer
    /// ([`proxy_trusted`](Self::proxy_trusted); by default loopback and the private
    /// networks, [`IpNet::private`](crate::IpNet::private)): the client it names becomes the
    /// connection's address, for `PeerHandle::addr` and the per-address caps and rate
    /// limits, and the balancer itself is not capped. A connection from a balancer without a
    /// header is closed. A connection from any other address is refused at once, before it
    /// holds anything (counted in [`IncomingStats::refused_untrusted`]), or served as a
    /// plain listener would serve it with
    /// [`proxy_serve_direct`](Self::proxy_serve_direct): without a header, anyone could
    /// name any address. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:7000").proxy_protocol(true);
    /// ```
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.kind.door.proxy = on;
        self
    }

    /// The load balancers whose PROXY headers are believed (with
    /// [`proxy_protocol`](Self::proxy_protocol)), as networks; replaces the default, loopback
    /// and the private networks.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let lb: connhandler::IpNet = "10.0.3.0/24".parse()?;
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:7000")
    ///     .proxy_protocol(true)
    ///     .proxy_trusted([lb]);
    /// # Ok::<(), String>(())
    /// ```
    pub fn proxy_trusted(mut self, balancers: impl IntoIterator<Item = crate::IpNet>) -> Self {
        self.kind.door.trusted = Some(balancers.into_iter().collect());
        self
    }

    /// With [`proxy_protocol`](Self::proxy_protocol): serves a connection from an address
    /// that is not a trusted balancer as it came, without reading a header (its own
    /// address counts, for the per-address caps at the door), instead of refusing it.
    /// Default `false`.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:7000")
    ///     .proxy_protocol(true)
    ///     .proxy_serve_direct(true);
    /// ```
    pub fn proxy_serve_direct(mut self, on: bool) -> Self {
        self.kind.door.serve_direct = on;
        self
    }

    /// How long a new connection may take over its PROXY header, TLS handshake and
    /// WebSocket upgrade together (default 10 s); then it is closed, without an event.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("0.0.0.0:7000")
    ///     .handshake_timeout(std::time::Duration::from_secs(3));
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.kind.door.timeout = timeout;
        self
    }

    /// Binds the listener and starts accepting; every connection's events go to `central`.
    ///
    /// # Errors
    ///
    /// A [`BindError`] naming the address when it cannot be resolved or listened on
    /// ("address in use", say).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), connhandler::BindError> {
    /// let (tx, central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// let server = connhandler::Incoming::<Client>::builder("127.0.0.1:0").listen(&tx).await?;
    /// // A second listener on the same port is refused, with the address in the error.
    /// let taken = server.local_addr();
    /// let err = connhandler::Incoming::<Client>::builder(taken).listen(&tx).await.unwrap_err();
    /// assert!(err.is_addr_in_use());
    /// assert!(err.to_string().contains(&taken.to_string()));
    /// # Ok(()) }
    /// ```
    pub async fn listen<E>(self, central: &CentralSender<E>) -> Result<Incoming<P, F>, BindError>
    where
        E: From<Event<P>> + Send + 'static,
        H: PeerSource<P>,
    {
        let addr = self.kind.addr.clone();
        let bind_err = |source| BindError {
            addr: addr.to_string(),
            source,
        };
        let listener = match self.kind.memory_host() {
            #[cfg(feature = "testing")]
            Some(host) => {
                let port = host
                    .inner()
                    .resolve(host.ip(), &addr.to_string())
                    .map_err(bind_err)?
                    .port();
                crate::transport::Listener::Mem(
                    host.inner()
                        .bind(host.ip(), port, self.kind.backlog)
                        .map_err(bind_err)?,
                )
            }
            _ => crate::transport::Listener::Tcp(
                listen(&addr, self.kind.backlog).await.map_err(bind_err)?,
            ),
        };
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let per_ip = PerIp::new(
            self.kind.per_ip,
            self.kind.max_per_ip(),
            self.kind.connect_rate,
        );
        let per_ip = per_ip.is_active().then_some(per_ip);
        let (listen, core, connections) = self.into_parts(central, per_ip);
        let listener_token = core.child_token();
        let budget = connections.budget();
        let framer = connections.framer();
        let stats = Arc::new(Counters::default());
        let accept = AcceptLoop {
            listener,
            connections: Arc::new(connections),
            door: Arc::new(listen.door.clone()),
            limit: listen
                .max_connections
                .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
            listener_token: listener_token.clone(),
            stats: stats.clone(),
            lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
        };
        let name = core.name().clone();
        let span = tracing::info_span!("listener", handler = %name, addr = %local_addr);
        core.spawn_task(accept.run().instrument(span));
        tracing::info!(handler = %name, addr = %local_addr, "listening");
        Ok(Incoming {
            core,
            local_addr,
            framer,
            _framing: PhantomData,
            listener_token,
            stats,
            budget,
        })
    }
}

async fn listen(addr: &Address, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for a in addr.resolve().await? {
        let attempt = (|| {
            let socket = if a.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            #[cfg(unix)]
            socket.set_reuseaddr(true)?;
            socket.bind(a)?;
            socket.listen(backlog)
        })();
        match attempt {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to bind")))
}

/// A listener could not be opened.
///
/// # Examples
///
/// ```
#[doc = include_str!("../doc_client.rs")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, _central) = connhandler::central::<connhandler::Event<Client>>(8);
/// let err = connhandler::Incoming::<Client>::builder("256.0.0.1:80").listen(&tx).await.unwrap_err();
/// assert!(err.to_string().starts_with("cannot listen on 256.0.0.1:80: "));
/// # }
/// ```
#[derive(Debug)]
pub struct BindError {
    addr: String,
    source: io::Error,
}

impl BindError {
    /// The address as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::BindError) {
    /// eprintln!("{} is taken", e.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether another socket already listens there.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::BindError) {
    /// if e.is_addr_in_use() { /* pick another port */ }
    /// # }
    /// ```
    pub fn is_addr_in_use(&self) -> bool {
        self.source.kind() == io::ErrorKind::AddrInUse
    }

    /// The underlying I/O error.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::BindError) {
    /// let kind = e.io_error().kind();
    /// # }
    /// ```
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The listener's counts, kept by the accept loop (`accept.rs`), read by `stats`.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) refused_full: AtomicU64,
    pub(super) refused_per_ip: AtomicU64,
    pub(super) refused_rate: AtomicU64,
    pub(super) refused_by_hook: AtomicU64,
    pub(super) refused_untrusted: AtomicU64,
    pub(super) accept_errors: AtomicU64,
    pub(super) failed_handshakes: AtomicU64,
}

impl Counters {
    /// Counts a refusal at the door, by its cause.
    pub(super) fn refused(&self, cause: &AtomicU64) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        cause.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal by the per-address caps, by its cause.
    pub(super) fn refused_per_address(&self, refusal: &Refusal) {
        self.refused(match refusal {
            Refusal::PerIp => &self.refused_per_ip,
            Refusal::Rate => &self.refused_rate,
        });
    }
}

/// Counts of an incoming handler's listener.
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
/// let stats = server.stats();
/// println!("{} accepted, {} refused", stats.accepted, stats.refused);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections accepted and closed at once, for any of the causes below.
    pub refused: u64,
    /// Refused because `max_connections` were open.
    pub refused_full: u64,
    /// Refused because the address had `max_connections_per_ip` open.
    pub refused_per_ip: u64,
    /// Refused because the address went over `connect_rate_per_ip`.
    pub refused_rate: u64,
    /// Refused because the `make_peer` hook panicked.
    pub refused_by_hook: u64,
    /// Refused because the handler expects a PROXY protocol header and the connection came
    /// from an address that is not a trusted load balancer
    /// ([`proxy_trusted`](crate::IncomingBuilder::proxy_trusted)).
    pub refused_untrusted: u64,
    /// Bytes of unfinished frames held in the handler's read budget now.
    pub unfinished_bytes: usize,
    /// Bytes queued for the connections open now and not yet taken by their writers (the
    /// sum over them, read when the stats are taken).
    pub queued_bytes: usize,
    /// `accept` calls that failed (out of file descriptors, say); the listener carried on.
    pub accept_errors: u64,
    /// Connections closed at their door: a PROXY header, TLS handshake or WebSocket upgrade
    /// that failed or took longer than `handshake_timeout`.
    pub failed_handshakes: u64,
    /// Connections open now.
    pub connected: usize,
}

/// A running incoming handler: a listener and the connections it accepted.
///
/// Dropping it shuts it down in the background, as [`shutdown`](Incoming::shutdown) does
/// without the wait: no task or socket outlives its handler.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::{central, Event, Incoming};
#[doc = include_str!("../doc_client.rs")]
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (tx, mut central) = central::<Event<Client>>(1024);
/// let server = Incoming::<Client>::builder("127.0.0.1:0").listen(&tx).await?;
/// let mut client = tokio::net::TcpStream::connect(server.local_addr()).await?;
///
/// match central.recv().await {
///     Some(Event::Connected(peer)) => {
///         server.broadcast(&Bytes::from_static(b"welcome"))?;
///     }
///     _ => unreachable!(),
/// }
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Incoming<P: Peer, F: Framing = TcpMessageCodec> {
    core: Core<P>,
    local_addr: SocketAddr,
    /// The handler's framing for broadcasts (shared with its connections).
    framer: Arc<Framer<P::Send>>,
    _framing: PhantomData<fn() -> F>,
    listener_token: CancellationToken,
    stats: Arc<Counters>,
    /// The read budget its connections share, if any.
    budget: Option<Arc<ReadBudget>>,
}

impl<P: Peer, F: Framing> fmt::Debug for Incoming<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("name", &&**self.core.name())
            .field("local_addr", &self.local_addr)
            .field("listening", &self.is_listening())
            .field("connected", &self.core.registry().len())
            .finish()
    }
}

impl<P: Peer> Incoming<P> {
    /// A builder for an incoming handler on `addr`, with the defaults; nothing is bound until
    /// [`listen`](HandlerBuilder::listen). Every connection's peer data is `P::default()`
    /// unless the builder is given a [`make_peer`](HandlerBuilder::make_peer) hook (then
    /// `P` need not be `Default`).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("../doc_client.rs")]
    /// let builder = connhandler::Incoming::<Client>::builder("127.0.0.1:0");
    ///
    /// // A peer kind without `Default`: its data comes from the hook.
    /// struct Player { from: std::net::SocketAddr }
    /// impl connhandler::Peer for Player {
    ///     type Recv = bytes::Bytes;
    ///     type Send = bytes::Bytes;
    ///     const NAME: &'static str = "player";
    /// }
    /// let players = connhandler::Incoming::<Player>::builder("127.0.0.1:0")
    ///     .make_peer(|from| Player { from });
    /// ```
    pub fn builder(addr: impl Into<Address>) -> IncomingBuilder<P> {
        IncomingBuilder::listening(addr)
    }
}

impl<P: Peer, F: Framing> Incoming<P, F> {
    /// The address the listener is bound to (the real port when port 0 was asked).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// println!("listening on {}", server.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handler's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// println!("{} is up", server.name());
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
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>, peer: &connhandler::PeerHandle<P>) {
    /// if peer.handler_id() == server.id() { /* one of this handler's */ }
    /// # }
    /// ```
    pub fn id(&self) -> crate::HandlerId {
        self.core.id()
    }

    /// The connections open now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// for peer in server.peers() {
    ///     println!("{peer}");
    /// }
    /// # }
    /// ```
    pub fn peers(&self) -> Vec<PeerHandle<P>> {
        self.core.registry().snapshot()
    }

    /// The listener's counts and the connections open now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// assert_eq!(server.stats().connected, server.peers().len());
    /// # }
    /// ```
    pub fn stats(&self) -> IncomingStats {
        IncomingStats {
            accepted: self.stats.accepted.load(Ordering::Relaxed),
            refused: self.stats.refused.load(Ordering::Relaxed),
            refused_full: self.stats.refused_full.load(Ordering::Relaxed),
            refused_per_ip: self.stats.refused_per_ip.load(Ordering::Relaxed),
            refused_rate: self.stats.refused_rate.load(Ordering::Relaxed),
            refused_by_hook: self.stats.refused_by_hook.load(Ordering::Relaxed),
            refused_untrusted: self.stats.refused_untrusted.load(Ordering::Relaxed),
            unfinished_bytes: self.budget.as_ref().map_or(0, |b| b.used()),
            queued_bytes: {
                let mut sum = 0;
                self.core.registry().for_each(|p| sum += p.queued_bytes());
                sum
            },
            accept_errors: self.stats.accept_errors.load(Ordering::Relaxed),
            failed_handshakes: self.stats.failed_handshakes.load(Ordering::Relaxed),
            connected: self.core.registry().len(),
        }
    }

    /// Queues `msg` for every connection open now, encoding and framing it once; the framed
    /// bytes are shared, not copied per peer. It never waits: a peer whose outgoing queue is
    /// full (or that is closing) is skipped and listed in the report. A [`Group`](crate::Group)
    /// does the same for a chosen set of peers.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the framing cannot carry the message (an empty one, say).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer<Send = bytes::Bytes>>(server: &connhandler::Incoming<P>) -> Result<(), connhandler::codec::FrameError> {
    /// let report = server.broadcast(&bytes::Bytes::from_static(b"server restarting"))?;
    /// if !report.slow.is_empty() {
    ///     eprintln!("{} peers too slow for the news", report.slow.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn broadcast(&self, msg: &P::Send) -> Result<BroadcastReport<P>, FrameError> {
        let framed = self.framer.frame(msg)?;
        let mut report = BroadcastReport::new();
        self.core
            .registry()
            .for_each(|peer| report.queue(peer, &framed));
        Ok(report)
    }

    /// Stops accepting and closes the listener; established connections carry on
    /// (Panda3D's `closeConnection` on the rendezvous socket).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// server.close_listener();
    /// assert!(!server.is_listening());
    /// # }
    /// ```
    pub fn close_listener(&self) {
        self.listener_token.cancel();
    }

    /// Whether the listener is still accepting.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(server: &connhandler::Incoming<P>) {
    /// assert!(server.is_listening());
    /// # }
    /// ```
    pub fn is_listening(&self) -> bool {
        !self.listener_token.is_cancelled()
    }

    /// Shuts the handler down gracefully: closes the listener, closes every connection
    /// (messages already queued are written first, within `close_timeout`), and returns once
    /// every task has ended and every `Disconnected` event (reason
    /// [`Shutdown`](crate::DisconnectReason::Shutdown)) is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn f<P: connhandler::Peer>(server: connhandler::Incoming<P>) {
    /// server.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(&self) {
        self.core.shutdown().await
    }
}
