//! The outgoing handler: connects to one peer, with a time-out, retries and reconnection.

use std::{
    fmt, io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{net::TcpStream, sync::oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use crate::{
    addr::Address,
    central::CentralSender,
    codec::{Framing, TcpMessageCodec},
    conn::{self, ConnCtx, ConnSettings, Registry},
    event::Event,
    peer::{Peer, PeerHandle},
    settings::conn_setters,
};

type MakePeer<P> = Arc<dyn Fn(SocketAddr) -> P + Send + Sync>;

/// When to try connecting again after a failed attempt.
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

/// Settings of an [`OutgoingBuilder`] that are its own.
struct Connect {
    addr: Address,
    timeout: Duration,
    retry: Retry,
    reconnect: bool,
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
#[doc = include_str!("doc_client.rs")]
///
/// let builder = Outgoing::<Client>::to("login.example:7198")
///     .connect_timeout(Duration::from_secs(3))
///     .retry(Retry::backoff(Duration::from_millis(200), Duration::from_secs(5)))
///     .reconnect(true);
/// ```
pub struct OutgoingBuilder<P: Peer, F = TcpMessageCodec> {
    name: Option<String>,
    framing: F,
    settings: ConnSettings,
    make_peer: MakePeer<P>,
    extra: Connect,
}

impl<P: Peer, F> fmt::Debug for OutgoingBuilder<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingBuilder")
            .field("peer", &P::NAME)
            .field("addr", &self.extra.addr)
            .field("timeout", &self.extra.timeout)
            .field("retry", &self.extra.retry)
            .field("reconnect", &self.extra.reconnect)
            .finish_non_exhaustive()
    }
}

conn_setters!(
    OutgoingBuilder,
    "connhandler::Outgoing::<Client>::to(\"127.0.0.1:7000\")"
);

impl<P: Peer> OutgoingBuilder<P> {
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
    ) -> Self {
        OutgoingBuilder {
            name: None,
            framing: TcpMessageCodec::new(),
            settings: ConnSettings::default(),
            make_peer: Arc::new(make_peer),
            extra: Connect {
                addr: addr.into(),
                timeout: Duration::from_secs(10),
                retry: Retry::default(),
                reconnect: false,
            },
        }
    }
}

impl<P: Peer, F: Framing> OutgoingBuilder<P, F> {
    /// How long one attempt (name resolution and TCP connect) may take; default 10 s
    /// (`openTCPClientConnection`'s `timeout_ms`).
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::to("127.0.0.1:7000")
    ///     .connect_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.extra.timeout = timeout;
        self
    }

    /// When to try again after a refused, timed-out or unresolvable attempt.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::to("127.0.0.1:7000").retry(connhandler::Retry::never());
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.extra.retry = retry;
        self
    }

    /// Whether to connect again (with the same retry policy) after a connection ends other
    /// than by a local close or shutdown; default `false`. Each connection is a new peer
    /// with its own `Connected` and `Disconnected` events.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// let b = connhandler::Outgoing::<Client>::to("127.0.0.1:7000").reconnect(true);
    /// ```
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.extra.reconnect = reconnect;
        self
    }

    /// Starts connecting in the background; the connection's events, or
    /// [`Event::ConnectFailed`] when the retries are spent, go to `central`.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// # async fn f() {
    /// let (tx, mut central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// let out = connhandler::Outgoing::<Client>::to("127.0.0.1:7000").start(&tx);
    /// # }
    /// ```
    pub fn start<E>(self, central: &CentralSender<E>) -> Outgoing<P>
    where
        E: From<Event<P>> + Send + 'static,
    {
        self.spawn(central, None)
    }

    /// Starts connecting and waits for the first attempt's outcome, retries included.
    /// Further events (a reconnection, say) still go to `central`.
    ///
    /// # Errors
    ///
    /// The last attempt's [`ConnectError`] when the retries are spent; no
    /// `ConnectFailed` event is queued then.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use connhandler::{Outgoing, Retry};
    /// let (tx, _central) = connhandler::central::<connhandler::Event<Client>>(64);
    /// // Nothing listens on port 1: refused at once, and no retry.
    /// let err = Outgoing::<Client>::to("127.0.0.1:1")
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
        E: From<Event<P>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let out = self.spawn(central, Some(tx));
        match rx.await {
            Ok(Ok(peer)) => Ok((out, peer)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ConnectError {
                addr: out.addr.to_string(),
                attempts: 0,
                kind: ConnectErrorKind::Cancelled,
            }),
        }
    }

    fn spawn<E>(self, central: &CentralSender<E>, first: Option<First<P>>) -> Outgoing<P>
    where
        E: From<Event<P>> + Send + 'static,
    {
        let name: Arc<str> = self.name.as_deref().unwrap_or(P::NAME).into();
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let registry = Arc::new(Registry::new());
        let addr = self.extra.addr.clone();
        let driver = Driver {
            name: name.clone(),
            framing: self.framing,
            settings: Arc::new(self.settings),
            make_peer: self.make_peer,
            connect: self.extra,
            token: token.clone(),
            tracker: tracker.clone(),
            registry: registry.clone(),
            central: central.clone(),
        };
        let span = tracing::info_span!("outgoing", handler = %name, addr = %addr);
        tracker.spawn(driver.run(first).instrument(span));
        Outgoing {
            name,
            addr,
            token,
            tracker,
            registry,
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
#[doc = include_str!("doc_client.rs")]
/// # async fn f(out: connhandler::Outgoing<Client>) {
/// if let Some(server) = out.peer() {
///     server.send(bytes::Bytes::from_static(b"hello")).await.ok();
/// }
/// out.shutdown().await;
/// # }
/// ```
pub struct Outgoing<P: Peer> {
    name: Arc<str>,
    addr: Address,
    token: CancellationToken,
    tracker: TaskTracker,
    registry: Arc<Registry<P>>,
}

impl<P: Peer> fmt::Debug for Outgoing<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("name", &&*self.name)
            .field("addr", &self.addr)
            .field("connected", &(self.registry.len() > 0))
            .finish()
    }
}

impl<P: Peer + Default> Outgoing<P> {
    /// A builder that connects to `addr`, with `P::default()` as the peer data.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// let builder = connhandler::Outgoing::<Client>::to("localhost:7000");
    /// ```
    pub fn to(addr: impl Into<Address>) -> OutgoingBuilder<P> {
        OutgoingBuilder::new(addr, |_| P::default())
    }
}

impl<P: Peer> Outgoing<P> {
    /// The current connection, if connected.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// # fn f(out: &connhandler::Outgoing<Client>) {
    /// let connected = out.peer().is_some();
    /// # }
    /// ```
    pub fn peer(&self) -> Option<PeerHandle<P>> {
        self.registry.snapshot().into_iter().next()
    }

    /// The handler's name.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// # fn f(out: &connhandler::Outgoing<Client>) {
    /// println!("{}", out.name());
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops connecting and reconnecting, closes the connection if there is one (queued
    /// messages are written first), and returns once every task has ended.
    ///
    /// # Examples
    ///
    /// ```
    #[doc = include_str!("doc_client.rs")]
    /// # async fn f(out: connhandler::Outgoing<Client>) {
    /// out.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(&self) {
        self.registry.close_all(&self.token);
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl<P: Peer> Drop for Outgoing<P> {
    fn drop(&mut self) {
        self.registry.close_all(&self.token);
    }
}

struct Driver<P: Peer, F, E> {
    name: Arc<str>,
    framing: F,
    settings: Arc<ConnSettings>,
    make_peer: MakePeer<P>,
    connect: Connect,
    token: CancellationToken,
    tracker: TaskTracker,
    registry: Arc<Registry<P>>,
    central: CentralSender<E>,
}

impl<P, F, E> Driver<P, F, E>
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    async fn run(self, first: Option<First<P>>) {
        let first = Mutex::new(first);
        let report = |result: Result<PeerHandle<P>, ConnectError>| -> Option<ConnectError> {
            match first.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(tx) => {
                    let _ = tx.send(result);
                    None
                }
                None => result.err(),
            }
        };
        loop {
            let Some((stream, addr)) =
                connect_with_retry(&self.connect, &self.token, &self.central, &report).await
            else {
                return;
            };
            let Some(data) = conn::make_peer(&*self.make_peer, addr) else {
                let err = ConnectError {
                    addr: self.connect.addr.to_string(),
                    attempts: 1,
                    kind: ConnectErrorKind::MakePeer,
                };
                if let Some(err) = report(Err(err)) {
                    let _ = self
                        .central
                        .push_unbounded(Event::ConnectFailed(err).into());
                }
                return;
            };
            let ctx = ConnCtx {
                handler: &self.name,
                settings: &self.settings,
                framing: &self.framing,
                parent: &self.token,
                central: &self.central,
                tracker: &self.tracker,
                registry: &self.registry,
                per_ip: None,
            };
            let (peer, done) = conn::spawn(ctx, stream, addr, data, None);
            report(Ok(peer));
            let reconnect_worthy = done.await.unwrap_or(false);
            if !self.connect.reconnect || !reconnect_worthy || self.token.is_cancelled() {
                return;
            }
            tracing::info!("connection lost; reconnecting");
        }
    }
}

/// Connects, retrying as configured; `None` when it gave up (reported) or was cancelled.
async fn connect_with_retry<P: Peer, E: From<Event<P>>>(
    connect: &Connect,
    token: &CancellationToken,
    central: &CentralSender<E>,
    report: &impl Fn(Result<PeerHandle<P>, ConnectError>) -> Option<ConnectError>,
) -> Option<(TcpStream, SocketAddr)> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = tokio::select! {
            _ = token.cancelled() => return None,
            r = connect_once(&connect.addr, connect.timeout) => r,
        };
        let kind = match result {
            Ok(connected) => return Some(connected),
            Err(kind) => kind,
        };
        let Some(delay) = connect.retry.delay_after(attempt) else {
            let err = ConnectError {
                addr: connect.addr.to_string(),
                attempts: attempt,
                kind,
            };
            tracing::warn!("{err}");
            if let Some(err) = report(Err(err)) {
                let _ = central.push_unbounded(Event::ConnectFailed(err).into());
            }
            return None;
        };
        tracing::debug!(attempt, "connect failed ({kind}); retrying in {delay:?}");
        tokio::select! {
            _ = token.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn connect_once(
    addr: &Address,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), ConnectErrorKind> {
    let attempt = async {
        let addrs = addr.resolve().await.map_err(ConnectErrorKind::Resolve)?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(stream) => return Ok((stream, a)),
                Err(e) => last = Some(e),
            }
        }
        Err(ConnectErrorKind::Io(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address")
        })))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectErrorKind::TimedOut(timeout)),
    }
}

/// An outgoing handler could not connect.
///
/// # Examples
///
/// ```
/// # fn f(e: connhandler::ConnectError) {
/// eprintln!("{e}"); // cannot connect to login:7198 after 3 attempts: connection refused
/// if e.is_timeout() { /* ... */ }
/// # }
/// ```
#[derive(Debug)]
pub struct ConnectError {
    addr: String,
    attempts: u32,
    kind: ConnectErrorKind,
}

/// Why an attempt to connect failed.
#[derive(Debug)]
enum ConnectErrorKind {
    Resolve(io::Error),
    TimedOut(Duration),
    Io(io::Error),
    /// The `make_peer` hook panicked; the connection was closed.
    MakePeer,
    Cancelled,
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectErrorKind::Resolve(e) => write!(f, "cannot resolve the host name: {e}"),
            ConnectErrorKind::TimedOut(t) => write!(f, "timed out after {t:?}"),
            ConnectErrorKind::Io(e) => e.fmt(f),
            ConnectErrorKind::MakePeer => {
                f.write_str("connected, but the make_peer hook panicked (see the log)")
            }
            ConnectErrorKind::Cancelled => f.write_str("the handler shut down"),
        }
    }
}

impl ConnectError {
    /// The address as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// println!("{}", e.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// How many attempts were made.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// println!("gave up after {}", e.attempts());
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the last attempt timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let slow = e.is_timeout();
    /// # }
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ConnectErrorKind::TimedOut(_))
    }

    /// Whether the last attempt failed to resolve the host name.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let typo = e.is_resolve();
    /// # }
    /// ```
    pub fn is_resolve(&self) -> bool {
        matches!(self.kind, ConnectErrorKind::Resolve(_))
    }

    /// The I/O error of the last attempt, if it was one (refused, unreachable...).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let refused = e.io_error().map(|e| e.kind()) == Some(std::io::ErrorKind::ConnectionRefused);
    /// # }
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ConnectErrorKind::Io(e) | ConnectErrorKind::Resolve(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.addr)?;
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as _)
    }
}
