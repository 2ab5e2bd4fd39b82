//! A NATS bus as another handler kind (feature `nats`): programs on several machines, or
//! several processes on one, exchange the same derived messages as their TCP peers through
//! a NATS server, and each bus puts what it receives into the program's central queue.
//!
//! | room | owns |
//! | --- | --- |
//! | here | [`Bus`], [`BusBuilder`], [`BusEvent`], [`BusMessage`], [`BusError`], [`BusStats`] |
//! | `inbound.rs` | subscriptions: a task each, from the NATS client's channel into the central queue within its bounds; the client's own events (connection, slow consumers) as [`BusEvent`]s |
//! | `outbound.rs` | publishing without waiting (a queue bounded in messages and bytes, written by a task of its own), or waiting a bounded time for its room, and requests over NATS |
//!
//! A bus's life, as the program sees it:
//!
//! | state | what happens | event |
//! | --- | --- | --- |
//! | connecting | `BusBuilder::connect` tries the servers (NATS picks among them) within `connect_timeout` | none (an error from `connect`) |
//! | connected | subscriptions deliver, publishes and requests go out | `Connected { server }` |
//! | disconnected | NATS reconnects by itself, to any server it knows; subscriptions are renewed on the new connection; messages published meanwhile wait in the bus's queue while it has room (then `publish` says `Full`, and `publish_timeout` once its time is up) | `Disconnected` |
//! | reconnected | as connected | `Connected { server }` |
//! | closed | `shutdown` flushes what was published, then ends every task | `Closed` |
//!
//! What NATS promises is at-most-once delivery: a message published while no subscriber's
//! connection is up is not kept for it, and one the client had written when the connection
//! broke may be lost. A message either arrives once, whole, or not at all.
//!
//! Bounds: each subscription holds at most `subscription_bytes / max_message_size` messages
//! in the NATS client (it bounds by count, so the count comes from the largest payload the
//! server lets through, which `connect` checks is not above `max_message_size`); beyond that
//! the client drops messages and the bus reports [`BusEvent::SlowConsumer`]. From there,
//! messages take room in the central queue as a connection's do (its count and its bytes);
//! publishing takes room in the bus's own queue (`publish_capacity`, `publish_bytes`).
//!
//! A room above `central`, `message` and `talk`; nothing below knows it.

mod inbound;
mod outbound;

use std::{
    fmt,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{central::CentralSender, message::DecodeError, peer::Peer, talk::Reply};

pub use inbound::Subscription;

/// The largest message a bus takes by default: NATS's own default `max_payload` (1 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// The bytes of messages each subscription may hold in the NATS client by default.
pub const DEFAULT_SUBSCRIPTION_BYTES: usize = 64 << 20;

/// What a bus puts into the central queue.
///
/// # Examples
///
/// ```
/// use connhandler::{bus::BusEvent, Peer};
/// # #[derive(Default)] struct Login;
/// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
/// fn describe(ev: &BusEvent<Login>) -> String {
///     match ev {
///         BusEvent::Message(m) => format!("{} bytes on {}", m.msg.len(), m.subject),
///         BusEvent::Undecodable { subject, error } => format!("bad payload on {subject}: {error}"),
///         BusEvent::SlowConsumer { subject, dropped } => format!("{dropped} dropped on {subject}"),
///         other => format!("{other:?}"),
///     }
/// }
/// ```
#[non_exhaustive]
pub enum BusEvent<P: Peer> {
    /// Connected to a NATS server, first or again after a disconnection.
    Connected {
        /// The server, as `host:port`.
        server: String,
    },
    /// The connection to the NATS server was lost; NATS is reconnecting.
    Disconnected,
    /// A message on a subscribed subject, decoded.
    Message(BusMessage<P::Recv>),
    /// A message on a subscribed subject that did not decode (or was longer than
    /// `max_message_size`); it is dropped, and the subscription goes on.
    Undecodable {
        /// The subject it came on.
        subject: String,
        /// Why it did not decode.
        error: DecodeError,
    },
    /// The NATS client dropped messages of a subscription because it held as many as it may
    /// (the central task did not take them fast enough). At most one a second per
    /// subscription, with the count since the last.
    SlowConsumer {
        /// The subscription's subject.
        subject: String,
        /// Messages dropped since the last report.
        dropped: u64,
    },
    /// The server entered lame-duck mode: it is going away, and NATS will move to another.
    LameDuck,
    /// An error the server or the client reported (a permissions violation, say).
    Error(String),
    /// The bus was shut down.
    Closed,
}

impl<P: Peer> fmt::Debug for BusEvent<P>
where
    P::Recv: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusEvent::Connected { server } => {
                f.debug_struct("Connected").field("server", server).finish()
            }
            BusEvent::Disconnected => f.write_str("Disconnected"),
            BusEvent::Message(m) => f.debug_tuple("Message").field(m).finish(),
            BusEvent::Undecodable { subject, error } => f
                .debug_struct("Undecodable")
                .field("subject", subject)
                .field("error", error)
                .finish(),
            BusEvent::SlowConsumer { subject, dropped } => f
                .debug_struct("SlowConsumer")
                .field("subject", subject)
                .field("dropped", dropped)
                .finish(),
            BusEvent::LameDuck => f.write_str("LameDuck"),
            BusEvent::Error(e) => f.debug_tuple("Error").field(e).finish(),
            BusEvent::Closed => f.write_str("Closed"),
        }
    }
}

/// A message that came over the bus.
///
/// # Examples
///
/// ```
/// # use connhandler::{bus::{Bus, BusMessage}, Peer};
/// # #[derive(Default)] struct Login;
/// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
/// // Answer a request that came over the bus.
/// fn answer(bus: &Bus<Login>, m: &BusMessage<bytes::Bytes>) {
///     if let Some(to) = &m.reply {
///         let _ = bus.publish(to, &bytes::Bytes::from_static(b"pong"));
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BusMessage<M> {
    /// The subject it was published to.
    pub subject: String,
    /// Where the sender waits for an answer, when it made a request.
    pub reply: Option<String>,
    /// The message.
    pub msg: M,
}

/// Why a bus could not connect, subscribe or publish.
///
/// # Examples
///
/// ```
/// let e = connhandler::bus::BusError::Full;
/// assert_eq!(e.to_string(), "the bus's publish queue is full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusError {
    /// Connecting failed (the text says why: refused, timed out, authorization).
    Connect(String),
    /// The server lets through payloads longer than the bus's `max_message_size`, so the
    /// subscriptions' bounds would not hold.
    PayloadAbove {
        /// The server's `max_payload`.
        server: usize,
        /// The bus's `max_message_size`.
        ours: usize,
    },
    /// The message is longer than `max_message_size` (or the server's `max_payload`).
    TooLong(usize),
    /// The publish queue holds as many messages or bytes as it may.
    Full,
    /// The bus is shut down.
    Closed,
    /// A subject that NATS does not accept (empty, or with spaces).
    BadSubject(String),
    /// Subscribing failed (the text says why).
    Subscribe(String),
    /// A credentials file could not be read.
    Credentials(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::Connect(why) => write!(f, "cannot connect to NATS: {why}"),
            BusError::PayloadAbove { server, ours } => write!(
                f,
                "the NATS server lets through payloads of {server} bytes, more than the bus's max_message_size ({ours}): raise max_message_size or lower the server's max_payload"
            ),
            BusError::TooLong(n) => write!(f, "a message of {n} bytes is longer than the bus takes"),
            BusError::Full => f.write_str("the bus's publish queue is full"),
            BusError::Closed => f.write_str("the bus is shut down"),
            BusError::BadSubject(s) => write!(f, "not a NATS subject: {s:?}"),
            BusError::Subscribe(why) => write!(f, "cannot subscribe: {why}"),
            BusError::Credentials(why) => write!(f, "cannot read the NATS credentials: {why}"),
        }
    }
}

impl std::error::Error for BusError {}

/// Counters of a bus, read with [`Bus::stats`].
///
/// # Examples
///
/// ```
/// let stats = connhandler::bus::BusStats::default();
/// assert_eq!(stats.dropped_slow, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStats {
    /// Messages put into the central queue (decoded or not).
    pub received: u64,
    /// Messages that did not decode.
    pub undecodable: u64,
    /// Messages the NATS client dropped because a subscription held all it may.
    pub dropped_slow: u64,
    /// Messages handed to the NATS client.
    pub published: u64,
    /// Publishes refused because the queue was full.
    pub refused_full: u64,
    /// Times the connection was lost.
    pub disconnections: u64,
    /// Bytes waiting in the publish queue now.
    pub queued_bytes: u64,
}

/// How a bus connects and what it may hold: [`Bus::builder`].
///
/// # Examples
///
/// ```
/// # use connhandler::{bus::Bus, Peer};
/// # #[derive(Default)] struct Login;
/// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
/// let builder = Bus::<Login>::builder(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"])
///     .name("login-1")
///     .user_and_password("login", "secret")
///     .max_message_size(64 * 1024);
/// ```
#[must_use = "a builder does nothing until `connect`"]
pub struct BusBuilder<P: Peer> {
    servers: Vec<String>,
    name: Option<String>,
    auth: Auth,
    tls: TlsFiles,
    connect_timeout: Duration,
    max_message_size: usize,
    subscription_bytes: usize,
    publish_capacity: usize,
    publish_bytes: usize,
    request_timeout: Duration,
    max_pending: usize,
    ping_interval: Duration,
    _peer: std::marker::PhantomData<fn() -> P>,
}

impl<P: Peer> fmt::Debug for BusBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusBuilder")
            .field("servers", &self.servers)
            .field("name", &self.name)
            .field("max_message_size", &self.max_message_size)
            .field("subscription_bytes", &self.subscription_bytes)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
enum Auth {
    #[default]
    None,
    Token(String),
    UserAndPassword(String, String),
    CredentialsFile(PathBuf),
}

#[derive(Default)]
struct TlsFiles {
    required: bool,
    roots: Vec<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
}

impl<P: Peer> BusBuilder<P> {
    /// A name the NATS server shows for this connection (`nats-server`'s monitoring lists
    /// it).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).name("login-eu-1");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with a token.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).token("s3cr3t");
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(token.into());
        self
    }

    /// Authenticates with a user name and a password.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).user_and_password("login", "pw");
    /// ```
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Auth::UserAndPassword(user.into(), password.into());
        self
    }

    /// Authenticates with a NATS credentials file (a JWT and an NKey seed, as `nsc` writes
    /// them), read when connecting.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).credentials_file("login.creds");
    /// ```
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Requires TLS to the server, trusting the certificate authorities in `ca_file` (PEM)
    /// besides the platform's.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["tls://nats.internal:4222"]).tls_ca_file("ca.pem");
    /// ```
    pub fn tls_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.tls.required = true;
        self.tls.roots.push(ca_file.into());
        self
    }

    /// Requires TLS and shows the server this certificate (PEM files), for servers that
    /// verify their clients.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["tls://nats.internal:4222"])
    ///     .tls_ca_file("ca.pem")
    ///     .tls_client_cert("login.pem", "login-key.pem");
    /// ```
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls.required = true;
        self.tls.client = Some((cert.into(), key.into()));
        self
    }

    /// Requires TLS (with the platform's roots unless [`tls_ca_file`](Self::tls_ca_file)
    /// adds others).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats.example.com:4222"]).require_tls(true);
    /// ```
    pub fn require_tls(mut self, required: bool) -> Self {
        self.tls.required = required;
        self
    }

    /// How long connecting may take (default 5 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"])
    ///     .connect_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest message the bus takes, in bytes (default 1 MiB, NATS's default
    /// `max_payload`). `connect` fails when the server lets longer ones through, since the
    /// subscriptions' bounds are counted from it; a longer message received is
    /// [`BusEvent::Undecodable`], a longer one published is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// // With `max_payload: 65536` in the server's configuration:
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).max_message_size(64 * 1024);
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1);
        self
    }

    /// The bytes of messages each subscription may hold in the NATS client before the
    /// client drops them (default 64 MiB). The client bounds by count: the count is this
    /// divided by `max_message_size` (at least 16).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"])
    ///     .max_message_size(4096)
    ///     .subscription_bytes(16 << 20); // 4096 messages
    /// ```
    pub fn subscription_bytes(mut self, bytes: usize) -> Self {
        self.subscription_bytes = bytes;
        self
    }

    /// How many messages, and how many bytes of them, may wait to be handed to the NATS
    /// client (defaults 4096 and 8 MiB); past either, `publish` returns
    /// [`BusError::Full`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).publish_queue(1024, 4 << 20);
    /// ```
    pub fn publish_queue(mut self, capacity: usize, bytes: usize) -> Self {
        self.publish_capacity = capacity.max(1);
        self.publish_bytes = bytes.max(1);
        self
    }

    /// How long a request waits for its reply unless told otherwise (default 30 s, as on
    /// a connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"])
    ///     .request_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many requests may wait for replies at once (default 1024); past it a request
    /// fails with [`RequestError::TooMany`](crate::talk::RequestError::TooMany).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).max_pending(64);
    /// ```
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max.max(1);
        self
    }

    /// How often the client pings the server to find a dead connection (default 20 s; the
    /// connection is given up after two pings unanswered and NATS reconnects).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"])
    ///     .ping_interval(std::time::Duration::from_secs(5));
    /// ```
    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_interval = every;
        self
    }

    /// Connects (to the first server that answers), then runs the bus: its events go to
    /// `central`, converted into the program's own type.
    ///
    /// # Errors
    ///
    /// [`BusError::Connect`] when no server could be reached within `connect_timeout`,
    /// [`BusError::Credentials`] for an unreadable credentials file, and
    /// [`BusError::PayloadAbove`] when the server's `max_payload` exceeds
    /// `max_message_size`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::{Bus, BusEvent}, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f() -> Result<(), connhandler::bus::BusError> {
    /// let (tx, mut central) = connhandler::central::<BusEvent<Login>>(1024);
    /// let bus = Bus::<Login>::builder(["nats://127.0.0.1:4222"]).connect(&tx).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect<E>(self, central: &CentralSender<E>) -> Result<Bus<P>, BusError>
    where
        E: From<BusEvent<P>> + Send + 'static,
    {
        let per_sub = (self.subscription_bytes / self.max_message_size).max(16);
        let (events_tx, events_rx) = tokio::sync::mpsc::channel(256);
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(self.connect_timeout)
            .subscription_capacity(per_sub)
            .ping_interval(self.ping_interval)
            .request_timeout(Some(self.request_timeout))
            .event_callback(move |event| {
                let events_tx = events_tx.clone();
                async move {
                    // Full: the supervisor is behind; the counters still hold what matters.
                    let _ = events_tx.try_send(event);
                }
            });
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        options = match self.auth {
            Auth::None => options,
            Auth::Token(t) => options.token(t),
            Auth::UserAndPassword(u, p) => options.user_and_password(u, p),
            Auth::CredentialsFile(path) => options
                .credentials_file(&path)
                .await
                .map_err(|e| BusError::Credentials(format!("{}: {e}", path.display())))?,
        };
        if self.tls.required {
            options = options.require_tls(true);
        }
        for root in self.tls.roots {
            options = options.add_root_certificates(root);
        }
        if let Some((cert, key)) = self.tls.client {
            options = options.add_client_certificate(cert, key);
        }
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| BusError::Connect(format!("{s}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let client = tokio::time::timeout(self.connect_timeout, options.connect(servers))
            .await
            .map_err(|_| {
                BusError::Connect(format!(
                    "no server of {} answered within {:?}",
                    self.servers.join(", "),
                    self.connect_timeout
                ))
            })?
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let server_max = client.server_info().max_payload;
        if server_max > self.max_message_size {
            return Err(BusError::PayloadAbove {
                server: server_max,
                ours: self.max_message_size,
            });
        }
        let central = central.clone();
        let inner = Arc::new(Inner {
            client,
            end: End::default(),
            counters: Counters::default(),
            subs: tokio::sync::Mutex::new(inbound::Subs::new()),
            slow: Arc::new(Mutex::new(std::collections::HashMap::new())),
            outbound: outbound::Outbound::new(self.publish_capacity, self.publish_bytes),
            max_message: self.max_message_size.min(server_max),
            request_timeout: self.request_timeout,
            pending: Arc::new(tokio::sync::Semaphore::new(self.max_pending)),
            max_pending: self.max_pending,
            tasks: Mutex::new(Vec::new()),
            sink: Box::new(inbound::CentralSink::<E>::new(central.clone())),
        });
        inner.keep(tokio::spawn(inbound::supervise(inner.clone(), events_rx)));
        inner.keep(tokio::spawn(outbound::publisher(inner.clone())));
        let owner = Arc::new(Owner(inner.end.clone()));
        Ok(Bus {
            inner,
            _owner: owner,
        })
    }
}

/// Counters behind [`BusStats`].
#[derive(Default)]
struct Counters {
    received: AtomicU64,
    undecodable: AtomicU64,
    dropped_slow: AtomicU64,
    published: AtomicU64,
    refused_full: AtomicU64,
    disconnections: AtomicU64,
}

/// What a bus's handle and its tasks share; fields private to the bus's rooms.
struct Inner<P: Peer> {
    client: async_nats::Client,
    /// Whether the bus has ended, and its tasks' token.
    end: End,
    counters: Counters,
    /// The subscriptions, by the id the NATS client gives them (subscribing is serialised
    /// by this lock, so the ids the bus counts are the client's).
    subs: tokio::sync::Mutex<inbound::Subs>,
    /// Slow-consumer reports, by subscription id: what the supervisor reads without the
    /// async lock.
    slow: inbound::SlowStates,
    outbound: outbound::Outbound,
    /// The longest message taken (the bus's `max_message_size`, or the server's
    /// `max_payload` when smaller).
    max_message: usize,
    request_timeout: Duration,
    pending: Arc<tokio::sync::Semaphore>,
    max_pending: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The central queue, behind the program's event type.
    sink: Box<dyn inbound::Sink<P>>,
}

/// A bus's end, shared by its handles' [`Owner`] and its tasks: a flag that publishers read
/// without the token's lock, and the token its tasks wait on.
#[derive(Clone, Default)]
struct End {
    closed: Arc<AtomicBool>,
    token: CancellationToken,
}

impl End {
    /// Ends the bus: refuses what is published from now on and stops its tasks.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Whether the bus has ended.
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Ready once the bus has ended.
    fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }
}

impl<P: Peer> Inner<P> {
    fn keep(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

impl<P: Peer> Drop for Inner<P> {
    fn drop(&mut self) {
        self.end.close();
        for t in self.tasks.get_mut().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// A bus: a connection to NATS that subscribes, publishes and asks with the derived
/// messages of peer kind `P` (it receives `P::Recv` and publishes `P::Send`). Cheap to
/// clone; the bus runs until [`shutdown`](Bus::shutdown) or until its last clone is dropped.
///
/// # Examples
///
/// ```no_run
/// use connhandler::{bus::{Bus, BusEvent}, Message, Peer};
///
/// #[derive(Message, Debug)]
/// enum Shared {
///     #[wire(id = 1)]
///     Online { player: String, server: String },
///     #[wire(id = 2)]
///     Chat { from: String, text: String },
/// }
///
/// #[derive(Peer, Default)]
/// #[peer(recv = Shared, send = Shared)]
/// struct Logins;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let (tx, mut central) = connhandler::central::<BusEvent<Logins>>(1024);
/// let bus = Bus::<Logins>::builder(["nats://127.0.0.1:4222"]).connect(&tx).await?;
/// bus.subscribe("chat.>").await?;
/// bus.publish("chat.lobby", &Shared::Chat { from: "ann".into(), text: "hi".into() })?;
/// while let Some(event) = central.recv().await {
///     if let BusEvent::Message(m) = event {
///         println!("{}: {:?}", m.subject, m.msg);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Bus<P: Peer> {
    inner: Arc<Inner<P>>,
    /// Held by the program's handles only (the bus's tasks hold `inner`): when the last
    /// handle goes, the bus stops.
    _owner: Arc<Owner>,
}

/// Stops the bus's tasks when the program's last handle is dropped.
struct Owner(End);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<P: Peer> Clone for Bus<P> {
    fn clone(&self) -> Self {
        Bus {
            inner: self.inner.clone(),
            _owner: self._owner.clone(),
        }
    }
}

impl<P: Peer> fmt::Debug for Bus<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("peer", &P::NAME)
            .field("state", &self.inner.client.connection_state())
            .finish_non_exhaustive()
    }
}

impl<P: Peer> Bus<P> {
    /// A builder for a bus to these NATS servers (`nats://host:port`, `tls://host:port`
    /// or `host:port`; NATS learns the rest of a cluster from the one it reaches).
    ///
    /// # Examples
    ///
    /// ```
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// let b = Bus::<Login>::builder(["nats://127.0.0.1:4222"]);
    /// ```
    pub fn builder<I, S>(servers: I) -> BusBuilder<P>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        BusBuilder {
            servers: servers.into_iter().map(Into::into).collect(),
            name: None,
            auth: Auth::None,
            tls: TlsFiles::default(),
            connect_timeout: Duration::from_secs(5),
            max_message_size: DEFAULT_MAX_MESSAGE,
            subscription_bytes: DEFAULT_SUBSCRIPTION_BYTES,
            publish_capacity: 4096,
            publish_bytes: 8 << 20,
            request_timeout: crate::talk::DEFAULT_REQUEST_TIMEOUT,
            max_pending: 1024,
            ping_interval: Duration::from_secs(20),
            _peer: std::marker::PhantomData,
        }
    }

    /// Subscribes to `subject` (wildcards: `*` for one token, `>` for the rest): each
    /// message on it becomes a [`BusEvent::Message`] in the central queue. The subscription
    /// lasts until [`Subscription::unsubscribe`] or the bus's end. It returns once the
    /// server has the subscription (one round trip, 5 s at most), so that a message
    /// published after it is delivered: subscribe when starting, or from a task, rather
    /// than from a central loop that serves others meanwhile.
    ///
    /// # Errors
    ///
    /// [`BusError::BadSubject`], [`BusError::Closed`], or [`BusError::Subscribe`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
    /// let players = bus.subscribe("players.*.online").await?;
    /// # Ok(()) }
    /// ```
    pub async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        inbound::subscribe(&self.inner, subject, None).await
    }

    /// Subscribes as one of a queue group: each message on `subject` goes to one member of
    /// `group` only (NATS balances them), for load-balanced consumers.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Launcher;
    /// # impl Peer for Launcher { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "launcher"; }
    /// # async fn f(bus: Bus<Launcher>) -> Result<(), connhandler::bus::BusError> {
    /// // Any one launcher takes each game to start.
    /// bus.queue_subscribe("games.start", "launchers").await?;
    /// # Ok(()) }
    /// ```
    pub async fn queue_subscribe(
        &self,
        subject: &str,
        group: &str,
    ) -> Result<Subscription, BusError> {
        inbound::subscribe(&self.inner, subject, Some(group)).await
    }

    /// Publishes `msg` to `subject`, never waiting: it is encoded now and queued for the
    /// NATS client.
    ///
    /// # Errors
    ///
    /// [`BusError::Full`] when the publish queue holds as many messages or bytes as it
    /// may (the server is slow or unreachable), [`BusError::TooLong`],
    /// [`BusError::BadSubject`], [`BusError::Closed`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
    /// bus.publish("players.ann.online", &bytes::Bytes::from_static(b"login-1"))?;
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, subject: &str, msg: &P::Send) -> Result<(), BusError> {
        outbound::publish(&self.inner, subject, msg)
    }

    /// Queues `msg` for `subject`, waiting up to `timeout` for room while the publish
    /// queue is full; then [`BusError::Full`] as from [`publish`](Bus::publish). For tasks
    /// other than the central one (a task relaying a feed onto the bus, say): the central
    /// task serves every peer and must not wait on the bus.
    ///
    /// # Errors
    ///
    /// As [`publish`](Bus::publish); [`BusError::Full`] only once `timeout` has passed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
    /// use std::time::Duration;
    /// // In a task of its own, never in the central loop.
    /// for line in ["tick 1", "tick 2"] {
    ///     let msg = bytes::Bytes::copy_from_slice(line.as_bytes());
    ///     bus.publish_timeout("feed.ticks", &msg, Duration::from_secs(5)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn publish_timeout(
        &self,
        subject: &str,
        msg: &P::Send,
        timeout: Duration,
    ) -> Result<(), BusError> {
        outbound::publish_timeout(&self.inner, subject, msg, timeout).await
    }

    /// Asks whoever subscribes to `subject` and returns the first answer, decoded, as a
    /// [`Reply`]: awaited from a task, or [`post`](Reply::post)ed into the central queue
    /// from the central loop, the same as a connection's requests. NATS pairs the answer
    /// with the request (an inbox of its own); nobody subscribed is
    /// [`RequestError::Refused`](crate::talk::RequestError::Refused) at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::talk::RequestError> {
    /// let where_is = bus
    ///     .request("players.ann.where", &bytes::Bytes::new())
    ///     .timeout(std::time::Duration::from_secs(1))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn request(&self, subject: &str, msg: &P::Send) -> Reply<P::Recv> {
        outbound::request(&self.inner, subject, msg)
    }

    /// The bus's counters.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # fn f(bus: Bus<Login>) {
    /// let s = bus.stats();
    /// println!("{} received, {} dropped as a slow consumer", s.received, s.dropped_slow);
    /// # }
    /// ```
    pub fn stats(&self) -> BusStats {
        let c = &self.inner.counters;
        BusStats {
            received: c.received.load(Ordering::Relaxed),
            undecodable: c.undecodable.load(Ordering::Relaxed),
            dropped_slow: c.dropped_slow.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            refused_full: c.refused_full.load(Ordering::Relaxed),
            disconnections: c.disconnections.load(Ordering::Relaxed),
            queued_bytes: self.inner.outbound.queued_bytes() as u64,
        }
    }

    /// Whether the bus is connected to a server now.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # fn f(bus: Bus<Login>) {
    /// if !bus.is_connected() { println!("the bus is reconnecting"); }
    /// # }
    /// ```
    pub fn is_connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Writes what was published (within `timeout`), then closes the bus: its
    /// subscriptions end and [`BusEvent::Closed`] is the last event it queues.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) {
    /// bus.shutdown(std::time::Duration::from_secs(2)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) {
        let inner = &self.inner;
        if inner.end.is_closed() {
            return;
        }
        let flushed = async {
            inner.outbound.drained().await;
            let _ = inner.client.flush().await;
        };
        let _ = tokio::time::timeout(timeout, flushed).await;
        inner.end.close();
        let tasks: Vec<_> = inner.tasks.lock().unwrap().drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        inner.subs.lock().await.clear();
        inner.sink.push(BusEvent::Closed);
    }
}
