//! Typed-message TCP connection handlers.
//!
//! connhandler runs the connections of a program that talks to other programs over TCP with
//! typed messages: game servers, their launchers and login servers, tools, bots, services.
//!
//! - A **framing** cuts message bodies from the byte stream and puts them on it:
//!   [`codec::TcpMessageCodec`] (the reference TcpMessage framing), [`codec::Panda3dCodec`]
//!   (Panda3D's datagrams), or any tokio-util codec through [`codec::Custom`].
//! - A **message type** implements [`Encode`] and [`Decode`] (the derives of
//!   `connhandler-derive` write them; [`bytes::Bytes`] needs none).
//! - A **peer kind** ([`Peer`]) names what a kind of connection receives and sends; the type is
//!   also the per-connection data its [`PeerHandle`]s carry.
//! - **Handlers** run connections: an [`Incoming`] handler listens and serves many peers, an
//!   [`Outgoing`] handler connects (time-out, retry, reconnect) to one. Each connection has a
//!   reader task and a writer task.
//! - **One central queue** ([`central`]) takes every handler's [`Event`]s (`Connected`, each
//!   `Message`, `Disconnected`), in order per connection, converted into the program's own
//!   event type. Replies go out through the [`PeerHandle`].
//!
//! # Examples
//!
//! An echo server and a client of it, in one program:
//!
//! ```
//! use bytes::Bytes;
//! use connhandler::{central, Event, Incoming, Outgoing, Peer};
//!
//! #[derive(Default)]
//! struct Client;
//! impl Peer for Client {
//!     type Recv = Bytes;
//!     type Send = Bytes;
//!     const NAME: &'static str = "client";
//! }
//!
//! #[derive(Default)]
//! struct Server;
//! impl Peer for Server {
//!     type Recv = Bytes;
//!     type Send = Bytes;
//!     const NAME: &'static str = "server";
//! }
//!
//! enum Ev {
//!     Client(Event<Client>),
//!     Server(Event<Server>),
//! }
//! impl From<Event<Client>> for Ev {
//!     fn from(e: Event<Client>) -> Self {
//!         Ev::Client(e)
//!     }
//! }
//! impl From<Event<Server>> for Ev {
//!     fn from(e: Event<Server>) -> Self {
//!         Ev::Server(e)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tx, mut central) = central::<Ev>(1024);
//! let listener = Incoming::<Client>::bind("127.0.0.1:0").start(&tx).await?;
//! let (outgoing, server) = Outgoing::<Server>::to(listener.local_addr()).connect(&tx).await?;
//! server.send(Bytes::from_static(b"ping")).await?;
//!
//! while let Some(event) = central.recv().await {
//!     match event {
//!         Ev::Client(Event::Message(client, msg)) => client.send(msg).await?, // echo
//!         Ev::Server(Event::Message(_, msg)) => {
//!             assert_eq!(&msg[..], b"ping");
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! outgoing.shutdown().await;
//! listener.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The rooms, low to high: a room imports only from rooms above it in this list (see
// ARCHITECTURE.md).
mod addr;
pub mod blocking;
mod central;
pub mod codec;
mod conn;
mod event;
pub mod handler;
mod limits;
mod message;
mod peer;
mod room;
pub mod tap;
pub mod testing;
pub mod wire;

pub use addr::Address;
pub use central::{central, Central, CentralSender, Drain, PostError, DEFAULT_CENTRAL_CAPACITY};
pub use conn::{PeerHandle, SendError};
pub use event::{ConnectError, Disconnect, DisconnectReason, Event, Timeout};
pub use handler::{
    BindError, BroadcastReport, Incoming, IncomingBuilder, IncomingStats, Outgoing,
    OutgoingBuilder, Retry,
};
pub use limits::{Limited, QueuePolicy, RateLimit};
pub use message::{Decode, DecodeError, DecodeErrorKind, Encode, FrameStatus, FrameStatusFn};
pub use peer::{Peer, PeerId};

#[doc(no_inline)]
pub use bytes::Bytes;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Derives the wire codec of a message type: [`Encode`], [`Decode`] and
/// [`wire::Wire`] (so the type also nests inside other messages).
///
/// An **enum** is a protocol: each variant has a message id, written first, then the
/// variant's fields in order. A **struct** is one message, with an id (`#[wire(id = ...)]`)
/// or without. Field types: integers, `f32`/`f64`, `bool`, `String`, `Vec<T>`, `Option<T>`,
/// `[T; N]`, tuples, `Bytes` (decoded without copying) and `Vec<u8>` (copied as one block),
/// other derived types, and types with a hand-written [`wire::Wire`] impl. The defaults
/// (little-endian, u16 ids, u16 length prefixes) read Panda3D datagrams field by field: see
/// [`wire`] for the mapping.
///
/// | where | attribute | meaning |
/// | --- | --- | --- |
/// | container | `id_type = u8 \| u16 \| u32` | width of the message id (default `u16`) |
/// | container | `endian = "little" \| "big"` | byte order of the id and of every field (default little) |
/// | container | `len = u8 \| u16 \| u32` | width of length prefixes (default `u16`) |
/// | struct | `id = N` | the struct is a message with this id |
/// | container | `json` | JSON body mode: `<id><UTF-8 JSON object of the fields>` (feature `json`) |
/// | container | `crate = "path"` | where the `connhandler` crate is, when renamed |
/// | variant | `id = N` | the variant's message id (required, unique, must fit `id_type`) |
/// | variant | `catch_all` | takes every unknown id: `Unknown(u16, Bytes)` keeps the id and raw body |
/// | field | `endian = ...`, `len = ...` | override the container's setting for this field |
/// | field | `rest` | the last field takes the rest of the message, with no length prefix |
/// | field | `skip` (+ `default = path`) | not on the wire; decoded as `Default::default()` or `path()` |
/// | field | `with = path` | a module with `encoded_len(&T, Ctx)`, `encode(&T, Ctx, &mut BytesMut)`, `decode(&mut Bytes, Ctx)` |
///
/// Decoding is strict: a frame that ends early is [`DecodeErrorKind::Incomplete`], a length
/// prefix beyond the input fails before allocating ([`DecodeErrorKind::LengthTooLarge`]),
/// invalid UTF-8, a bool other than 0/1 and trailing bytes are distinct errors, and errors
/// name the field and message id. Bad protocols (duplicate or missing ids, an id too large,
/// unsupported field types, `rest` not last, unknown or conflicting keys) are compile errors.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::{Decode, Encode, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// enum Login {
///     #[wire(id = 0x1000)]
///     Hello { version: u16, name: String },
///     #[wire(id = 0x1001)]
///     Ready(bool),
///     #[wire(id = 0x1002)]
///     Bye,
/// }
///
/// let msg = Login::Hello { version: 3, name: "ann".into() };
/// let mut buf = bytes::BytesMut::new();
/// msg.encode(&mut buf);
/// assert_eq!(&buf[..], &[0x00, 0x10, 3, 0, 3, 0, b'a', b'n', b'n']);
/// assert_eq!(Login::decode(buf.freeze()).unwrap(), msg);
///
/// let err = Login::decode(Bytes::from_static(&[0x01, 0x10, 2])).unwrap_err();
/// assert_eq!(err.to_string(), "message 0x1001: field `0`: invalid bool byte 2 (expected 0 or 1)");
/// ```
///
/// A datagram laid out by Panda3D (`addUint16(7)`, `addString("hi")`, `addInt32(-1)`,
/// `addBool(True)`, `addFloat64(0.5)`) decodes with a plain struct:
///
/// ```
/// use connhandler::{Decode, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// #[wire(id = 7)]
/// struct Chat {
///     text: String,
///     from: i32,
///     urgent: bool,
///     at: f64,
/// }
///
/// let datagram = [7, 0, 2, 0, b'h', b'i', 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f];
/// let chat = Chat::decode(bytes::Bytes::copy_from_slice(&datagram)).unwrap();
/// assert_eq!(chat, Chat { text: "hi".into(), from: -1, urgent: true, at: 0.5 });
/// ```
///
/// `id_type`, `endian` and `len` on the container, overridden per field:
///
/// ```
/// use connhandler::{testing::assert_golden, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// #[wire(id_type = u8, endian = "big", len = u8)]
/// enum Compact {
///     #[wire(id = 0x42)]
///     Named {
///         name: String,
///         #[wire(endian = "little")]
///         le: u16,
///         #[wire(len = u32)]
///         long: Vec<u8>,
///     },
/// }
///
/// assert_golden(
///     &Compact::Named { name: "a".into(), le: 1, long: vec![9] },
///     &[0x42, 1, b'a', 1, 0, 0, 0, 0, 1, 9],
/// );
/// ```
///
/// `catch_all` keeps unknown ids; `rest` takes the rest of the message; `skip` leaves a
/// field off the wire:
///
/// ```
/// use bytes::Bytes;
/// use connhandler::{testing::assert_golden, Decode, Message};
///
/// fn unknown_room() -> u32 {
///     u32::MAX
/// }
///
/// #[derive(Message, Debug, PartialEq)]
/// enum Relay {
///     #[wire(id = 1)]
///     Forward {
///         to: u32,
///         #[wire(skip, default = unknown_room)]
///         room: u32,
///         #[wire(rest)]
///         payload: Bytes,
///     },
///     #[wire(catch_all)]
///     Unknown(u16, Bytes),
/// }
///
/// assert_golden(
///     &Relay::Forward { to: 7, room: u32::MAX, payload: Bytes::from_static(b"raw") },
///     b"\x01\x00\x07\x00\x00\x00raw",
/// );
/// let other = Relay::decode(Bytes::from_static(b"\x09\x00??")).unwrap();
/// assert_eq!(other, Relay::Unknown(9, Bytes::from_static(b"??")));
/// ```
///
/// `with = module` plugs in a codec of your own for one field:
///
/// ```
/// use connhandler::{testing::assert_golden, Message};
///
/// /// Milliseconds on the wire, a Duration in the program.
/// mod millis {
///     use bytes::{Bytes, BytesMut};
///     use connhandler::{wire::{Ctx, Wire}, DecodeError};
///     pub fn encoded_len(_: &std::time::Duration, _: Ctx) -> usize {
///         8
///     }
///     pub fn encode(d: &std::time::Duration, ctx: Ctx, dst: &mut BytesMut) {
///         (d.as_millis() as u64).wire_encode(ctx, dst)
///     }
///     pub fn decode(src: &mut Bytes, ctx: Ctx) -> Result<std::time::Duration, DecodeError> {
///         u64::wire_decode(src, ctx).map(std::time::Duration::from_millis)
///     }
/// }
///
/// #[derive(Message, Debug, PartialEq)]
/// #[wire(id = 3)]
/// struct Timeout {
///     #[wire(with = millis)]
///     after: std::time::Duration,
/// }
///
/// fn main() {
///     assert_golden(
///         &Timeout { after: std::time::Duration::from_millis(258) },
///         &[3, 0, 2, 1, 0, 0, 0, 0, 0, 0],
///     );
/// }
/// ```
///
/// `json` (feature `json`): `<u16 LE id><JSON object of the fields>`, as the reference
/// system's internal messages:
///
/// ```
/// # #[cfg(feature = "json")] {
/// use connhandler::{testing::assert_golden, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// #[wire(json)]
/// enum Internal {
///     #[wire(id = 0x0101)]
///     Register { name: String, slots: u32 },
/// }
///
/// assert_golden(
///     &Internal::Register { name: "eu-1".into(), slots: 64 },
///     b"\x01\x01{\"name\":\"eu-1\",\"slots\":64}",
/// );
/// # }
/// ```
///
/// `crate = "path"` names the runtime crate when it is renamed or re-exported:
///
/// ```
/// mod deps {
///     pub(crate) use ::connhandler as net;
/// }
///
/// #[derive(connhandler::Message, Debug, PartialEq)]
/// #[wire(crate = "crate::deps::net", id = 1)]
/// struct Ping;
///
/// fn main() {
///     deps::net::testing::assert_golden(&Ping, &[1, 0]);
/// }
/// ```
///
/// Freezing a protocol: the fingerprint changes when the bytes on the wire would.
///
/// ```
/// use connhandler::{wire::Wire, Message};
///
/// #[derive(Message)]
/// enum V1 {
///     #[wire(id = 1)]
///     Ping(u32),
/// }
/// #[derive(Message)]
/// enum V2 {
///     #[wire(id = 1)]
///     Ping(u64),
/// }
/// const _: () = assert!(<V1 as Wire>::FINGERPRINT != <V2 as Wire>::FINGERPRINT);
/// ```
#[cfg(feature = "derive")]
pub use connhandler_derive::Message;

/// Derives [`Peer`](trait@Peer) for a peer marker type: `#[peer(recv = In, send = Out)]`,
/// with `name = "..."` (default: the type's name) and `crate = "..."`.
///
/// The type may carry per-connection data (built by the handler's `make_peer` hook) or be a
/// unit struct.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::Peer;
///
/// #[derive(Peer, Default)]
/// #[peer(recv = Bytes, send = Bytes, name = "launcher")]
/// struct Launcher;
///
/// assert_eq!(<Launcher as connhandler::Peer>::NAME, "launcher");
/// ```
#[cfg(feature = "derive")]
pub use connhandler_derive::Peer;

/// Declares an incoming handler on a struct that holds the handler's own state.
///
/// Settings: `peer = Type` (required); the framing, one of `tcp_message(max_message_size = N,
/// max_frame_length = N, reassemble = bool, explicit_final_chunk = bool)` (the default),
/// `panda3d(header_size = 0|2|4, max_frame_length = N)` or `framing = path` (a function
/// returning any [`codec::Framing`]); `make_peer = path` (a function `(&Self, SocketAddr) ->
/// Peer`, the reference's `create_connection_instances`; default `Peer::default()`);
/// `name = "..."`, `backlog = N`, `max_connections = N`, `crate = "..."`. Settings are
/// checked at compile time.
///
/// It adds `incoming_builder(self, addr)` and `start(self, addr, &central)`: starting the
/// handler is one call.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use bytes::Bytes;
/// use connhandler::{central, incoming, Event, Peer};
///
/// #[derive(Peer)]
/// #[peer(recv = Bytes, send = Bytes)]
/// struct Player {
///     greeting: String,
///     from: SocketAddr,
/// }
///
/// #[incoming(peer = Player, tcp_message(max_message_size = 4096), make_peer = Self::player, backlog = 64)]
/// struct Lobby {
///     motd: String,
/// }
///
/// impl Lobby {
///     fn player(&self, from: SocketAddr) -> Player {
///         Player { greeting: self.motd.clone(), from }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (tx, mut central) = central::<Event<Player>>(64);
/// let lobby = Lobby { motd: "welcome".into() }.start("127.0.0.1:0", &tx).await?;
/// let _client = tokio::net::TcpStream::connect(lobby.local_addr()).await?;
/// if let Some(Event::Connected(player)) = central.recv().await {
///     assert_eq!(player.greeting, "welcome");
/// }
/// # Ok(()) }
/// ```
#[cfg(feature = "derive")]
pub use connhandler_derive::incoming;

/// Declares an outgoing handler on a struct that holds the handler's own state.
///
/// Settings as [`incoming`](macro@incoming) (without `backlog` and `max_connections`), plus
/// `connect_timeout_ms = N`, `retry_ms = N` (fixed interval, the reference's `retry_time`),
/// `backoff_max_ms = N` (doubling from `retry_ms` up to this), `max_attempts = N` and
/// `reconnect`.
///
/// It adds `outgoing_builder(self, addr)`, `start(self, addr, &central)` and
/// `connect(self, addr, &central)`.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::{central, outgoing, Event, Peer};
///
/// #[derive(Peer, Default)]
/// #[peer(recv = Bytes, send = Bytes)]
/// struct LoginServer;
///
/// #[outgoing(peer = LoginServer, panda3d(header_size = 2), connect_timeout_ms = 500, retry_ms = 100, max_attempts = 2)]
/// struct LoginLink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, _central) = central::<Event<LoginServer>>(64);
/// // Nothing listens on port 1: two attempts, then the error.
/// let err = LoginLink.connect("127.0.0.1:1", &tx).await.unwrap_err();
/// assert_eq!(err.attempts(), 2);
/// # }
/// ```
#[cfg(feature = "derive")]
pub use connhandler_derive::outgoing;
