//! An in-memory network to test whole programs on (feature `testing`): hosts by name,
//! connections with no sockets and no ports, links with latency, jitter and a bandwidth
//! cap, partitions and stalls, resets and half-closes; all of it on tokio's clock, so a
//! test under paused time (`#[tokio::test(start_paused = true)]`) runs a 30 s time-out in
//! no real time and cannot flake on a loaded machine.
//!
//! A handler joins the network with [`in_memory`](crate::handler::HandlerBuilder::in_memory):
//! an incoming one listens on its host, an outgoing one connects from its host to another
//! by name (`"login:7000"`). Everything else is the same as over TCP: the reader, the writer,
//! the framing, the budgets, the deadlines, the door's steps (TLS and WebSocket too) and the
//! events, so a program's central loop runs unchanged.
//!
//! | fault | how |
//! | --- | --- |
//! | latency, jitter (drawn from the network's seed), a bandwidth cap, per direction | [`Network::set_conditions`] |
//! | a partition between two hosts, and its healing | [`Network::partition`], [`Network::heal`] |
//! | a stall: one direction delivers nothing for a while | [`Network::stall`] |
//! | connects refused by a host | [`Network::refuse_connections`] |
//! | connect time-outs | a partition: the connect waits until healed, so the handler's `connect_timeout` passes |
//! | a reset now, or after N more bytes (in the middle of a message) | [`Connection::reset`], [`Connection::reset_after`] |
//! | a half-close (one side's FIN) | [`Connection::half_close`] |
//! | a peer that stops reading | a small [`Network::buffer_size`]: a direction holds that many bytes, then writes wait |
//!
//! # Examples
//!
//! ```
//! use connhandler::{central, testing::net::Network, Event, Incoming, Outgoing};
//! # #[derive(Default)] struct Client;
//! # impl connhandler::Peer for Client { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "client"; }
//! # #[derive(Default)] struct Server;
//! # impl connhandler::Peer for Server { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "server"; }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = Network::new();
//! let (tx, mut server_events) = central::<Event<Client>>(64);
//! let _server = Incoming::<Client>::builder("0.0.0.0:7000")
//!     .in_memory(&net.host("login"))
//!     .listen(&tx)
//!     .await?;
//! let (tx, _client_events) = central::<Event<Server>>(64);
//! let (_out, login) = Outgoing::<Server>::builder("login:7000")
//!     .in_memory(&net.host("launcher"))
//!     .connect(&tx)
//!     .await?;
//! login.send(bytes::Bytes::from_static(b"hello"))?;
//! assert!(matches!(server_events.recv().await, Some(Event::Connected(_))));
//! assert!(matches!(server_events.recv().await, Some(Event::Message(_, m)) if &m[..] == b"hello"));
//! # Ok(()) }
//! ```

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Weak},
    time::Duration,
};

use crate::transport::memory::network::{Made, NetInner};

/// An in-memory network: hosts by name, and the links between them.
///
/// Clones share the network. Hosts are made on first use, with the addresses 10.0.0.1,
/// 10.0.0.2, ... in order, which the handlers report (`PeerHandle::addr`) and limit by
/// (`max_connections_per_ip`).
///
/// # Examples
///
/// ```
/// let net = connhandler::testing::net::Network::with_seed(7);
/// let login = net.host("login");
/// assert_eq!(login.ip().to_string(), "10.0.0.1");
/// assert_eq!(net.host("login").ip(), login.ip());
/// ```
#[derive(Clone)]
pub struct Network {
    inner: Arc<NetInner>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A network with the seed 0 (see [`with_seed`](Network::with_seed)).
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// # let _ = net;
    /// ```
    pub fn new() -> Self {
        Network::with_seed(0)
    }

    /// A network whose random draws (the jitter) come from `seed`: the same seed, the same
    /// run.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::with_seed(42);
    /// # let _ = net;
    /// ```
    pub fn with_seed(seed: u64) -> Self {
        Network {
            inner: NetInner::new(seed),
        }
    }

    /// The host `name` (made on first use).
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// let login = net.host("login");
    /// assert_eq!(login.name(), "login");
    /// ```
    pub fn host(&self, name: &str) -> Host {
        Host {
            ip: self.inner.host(name),
            name: name.to_owned(),
            net: self.inner.clone(),
        }
    }

    /// How many bytes each direction of a connection holds (the two sockets' buffers
    /// together; default 256 KiB): past it, writes wait for the reader. Applies to
    /// connections made afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// net.buffer_size(16 * 1024); // a peer that stops reading blocks its sender sooner
    /// ```
    pub fn buffer_size(&self, bytes: usize) {
        self.inner.set_buffer(bytes);
    }

    /// Sets the conditions of the link from host `from` to host `to` (one direction), for
    /// the bytes written from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::testing::net::{Conditions, Network};
    /// use std::time::Duration;
    ///
    /// let net = Network::new();
    /// let slow = Conditions::new()
    ///     .latency(Duration::from_millis(50))
    ///     .bandwidth(50_000 / 8); // a 50 kbit/s line
    /// net.set_conditions("client", "login", slow);
    /// net.set_conditions("login", "client", slow);
    /// ```
    pub fn set_conditions(&self, from: &str, to: &str, conditions: Conditions) {
        let (from, to) = (self.inner.host(from), self.inner.host(to));
        self.inner.set_conditions(from, to, conditions);
    }

    /// Cuts hosts `a` and `b` apart, both ways, until [`heal`](Network::heal): nothing
    /// written between them is delivered (it is held, and once the buffers are full,
    /// writes wait), and a connect between them waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// net.partition("launcher", "login");
    /// net.heal("launcher", "login");
    /// ```
    pub fn partition(&self, a: &str, b: &str) {
        let (a, b) = (self.inner.host(a), self.inner.host(b));
        self.inner.cut(a, b);
    }

    /// Ends the partition between `a` and `b`: what was held is delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// net.partition("a", "b");
    /// net.heal("a", "b");
    /// ```
    pub fn heal(&self, a: &str, b: &str) {
        let (a, b) = (self.inner.host(a), self.inner.host(b));
        self.inner.heal(a, b);
    }

    /// Ends every partition and stall.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// net.partition("a", "b");
    /// net.heal_all();
    /// ```
    pub fn heal_all(&self) {
        self.inner.heal_all();
    }

    /// Delivers nothing from `from` to `to` for `duration` (tokio's clock), then all that
    /// was held.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let net = connhandler::testing::net::Network::new();
    /// net.stall("login", "client", std::time::Duration::from_secs(20));
    /// # }
    /// ```
    pub fn stall(&self, from: &str, to: &str, duration: Duration) {
        let (from, to) = (self.inner.host(from), self.inner.host(to));
        self.inner
            .stall(from, to, tokio::time::Instant::now() + duration);
    }

    /// Makes host `host` refuse connects (`true`) or take them again (`false`).
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// net.refuse_connections("login", true);
    /// ```
    pub fn refuse_connections(&self, host: &str, refuse: bool) {
        let host = self.inner.host(host);
        self.inner.refuse(host, refuse);
    }

    /// The open connections between hosts `a` and `b` (whichever connected), oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// for c in net.connections("launcher", "login") {
    ///     c.reset();
    /// }
    /// ```
    pub fn connections(&self, a: &str, b: &str) -> Vec<Connection> {
        let (a, b) = (self.inner.host(a), self.inner.host(b));
        self.inner
            .made_between(a, b)
            .into_iter()
            .map(|made| Connection {
                made,
                net: Arc::downgrade(&self.inner),
            })
            .collect()
    }
}

/// A host of a [`Network`]: what a handler listens or connects on
/// ([`in_memory`](crate::handler::HandlerBuilder::in_memory)).
///
/// # Examples
///
/// ```
/// let net = connhandler::testing::net::Network::new();
/// let host = net.host("launcher");
/// println!("{} is {}", host.name(), host.ip());
/// ```
#[derive(Clone)]
pub struct Host {
    net: Arc<NetInner>,
    name: String,
    ip: IpAddr,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("ip", &self.ip)
            .finish()
    }
}

impl Host {
    /// The host's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// assert_eq!(net.host("login").name(), "login");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address on the network.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::testing::net::Network::new();
    /// assert!(net.host("login").ip().is_ipv4());
    /// ```
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    pub(crate) fn inner(&self) -> &Arc<NetInner> {
        &self.net
    }

    /// Opens a raw byte stream from this host to `addr` (a host of the network by name,
    /// `"login:7000"`, or its address): for tests that speak bytes to a handler, as a
    /// hostile peer would. Connects as a handler does (refused, or waiting while a
    /// partition separates the hosts).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there or the host refuses; `NotFound` for a
    /// host the network does not have.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::AsyncWriteExt;
    /// # #[derive(Default)] struct Client;
    /// # impl connhandler::Peer for Client { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "client"; }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let net = connhandler::testing::net::Network::new();
    /// let (tx, mut events) = connhandler::central::<connhandler::Event<Client>>(64);
    /// let _server = connhandler::Incoming::<Client>::builder("0.0.0.0:7000")
    ///     .in_memory(&net.host("login"))
    ///     .listen(&tx)
    ///     .await?;
    /// let mut raw = net.host("attacker").connect("login:7000").await?;
    /// raw.write_all(&[0xff, 0xff, 1]).await?; // a header, then a byte at a time...
    /// assert!(matches!(events.recv().await, Some(connhandler::Event::Connected(_))));
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, addr: &str) -> std::io::Result<RawStream> {
        let to = self.net.resolve(self.ip, addr)?;
        let stream = self.net.connect(self.ip, to).await?;
        Ok(RawStream(stream))
    }
}

/// A raw byte stream of the in-memory network ([`Host::connect`]): tokio's `AsyncRead` and
/// `AsyncWrite`, as a `TcpStream` is.
///
/// # Examples
///
/// ```
/// # async fn f(net: connhandler::testing::net::Network) -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let mut s = net.host("client").connect("login:7000").await?;
/// s.write_all(&[2, 0, b'h', b'i']).await?;
/// let mut back = [0u8; 4];
/// s.read_exact(&mut back).await?;
/// # Ok(()) }
/// ```
pub struct RawStream(crate::transport::memory::MemStream);

impl fmt::Debug for RawStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawStream")
            .field("local", &self.0.local_addr())
            .finish()
    }
}

impl RawStream {
    /// This end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(s: &connhandler::testing::net::RawStream) {
    /// println!("from {}", s.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
}

impl tokio::io::AsyncRead for RawStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for RawStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The conditions of one direction of a link: latency, jitter and a bandwidth cap. The
/// default is none of them (bytes are delivered at once).
///
/// # Examples
///
/// ```
/// use connhandler::testing::net::Conditions;
/// use std::time::Duration;
///
/// let c = Conditions::new()
///     .latency(Duration::from_millis(100))
///     .jitter(Duration::from_millis(20))
///     .bandwidth(125_000); // 1 Mbit/s
/// assert_eq!(c, c.clone());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub(crate) latency: Duration,
    pub(crate) jitter: Duration,
    pub(crate) bandwidth: Option<u64>,
}

impl Conditions {
    /// No latency, no jitter, no cap.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = connhandler::testing::net::Conditions::new();
    /// assert_eq!(c, Default::default());
    /// ```
    pub fn new() -> Self {
        Conditions::default()
    }

    /// The time every byte takes to cross (one way).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = connhandler::testing::net::Conditions::new().latency(std::time::Duration::from_millis(30));
    /// # let _ = c;
    /// ```
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Up to this much more, drawn for each write from the network's seed (bytes stay in
    /// order, as TCP keeps them).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = connhandler::testing::net::Conditions::new().jitter(std::time::Duration::from_millis(5));
    /// # let _ = c;
    /// ```
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// At most this many bytes per second (at least 1), for each connection on the link in
    /// this direction (a connection's bytes queue behind each other; connections do not
    /// share the cap).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = connhandler::testing::net::Conditions::new().bandwidth(6_250); // 50 kbit/s
    /// # let _ = c;
    /// ```
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.bandwidth = Some(bytes_per_second.max(1));
        self
    }
}

/// An open connection of a [`Network`], for faults ([`Network::connections`]).
///
/// # Examples
///
/// ```
/// # fn f(net: &connhandler::testing::net::Network) {
/// if let Some(c) = net.connections("launcher", "login").first() {
///     println!("{} -> {}", c.client_addr(), c.server_addr());
/// }
/// # }
/// ```
pub struct Connection {
    made: Made,
    net: Weak<NetInner>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("client", &self.made.client)
            .field("server", &self.made.server)
            .finish()
    }
}

impl Connection {
    /// The connecting end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(c: &connhandler::testing::net::Connection) {
    /// println!("from {}", c.client_addr());
    /// # }
    /// ```
    pub fn client_addr(&self) -> SocketAddr {
        self.made.client
    }

    /// The listening end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(c: &connhandler::testing::net::Connection) {
    /// println!("to {}", c.server_addr());
    /// # }
    /// ```
    pub fn server_addr(&self) -> SocketAddr {
        self.made.server
    }

    /// Resets the connection now (an RST): both ends' reads and writes fail with
    /// `ConnectionReset`, and what was in flight is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(c: &connhandler::testing::net::Connection) {
    /// c.reset();
    /// # }
    /// ```
    pub fn reset(&self) {
        if let Some(p) = self.made.up.upgrade() {
            p.reset_both();
        } else if let Some(p) = self.made.down.upgrade() {
            p.reset_both();
        }
    }

    /// Resets the connection once `bytes` more bytes written by host `from` have been
    /// delivered (`0`: after what is in flight now); a write that crosses the mark is cut
    /// there, so the reset can fall in the middle of a message.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(c: &connhandler::testing::net::Connection) {
    /// c.reset_after("launcher", 3); // three bytes into the next message
    /// # }
    /// ```
    pub fn reset_after(&self, from: &str, bytes: u64) {
        if let Some(p) = self.direction_from(from) {
            p.reset_after(bytes);
        }
    }

    /// Shuts down host `from`'s sending direction (a FIN): the other end reads what was
    /// sent, then the end of the stream; it may still send back.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(c: &connhandler::testing::net::Connection) {
    /// c.half_close("launcher");
    /// # }
    /// ```
    pub fn half_close(&self, from: &str) {
        if let Some(p) = self.direction_from(from) {
            p.finish();
        }
    }

    fn direction_from(&self, from: &str) -> Option<Arc<crate::transport::memory::pipe::Pipe>> {
        let net = self.net.upgrade()?;
        let ip = net.host(from);
        if ip == self.made.client.ip() {
            self.made.up.upgrade()
        } else if ip == self.made.server.ip() {
            self.made.down.upgrade()
        } else {
            None
        }
    }
}
