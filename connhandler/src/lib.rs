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

mod addr;
pub mod blocking;
mod central;
pub mod codec;
mod conn;
mod event;
mod incoming;
mod message;
mod outgoing;
mod peer;
mod settings;
pub mod tap;

pub use addr::Address;
pub use central::{central, Central, CentralSender, Drain, PostError, DEFAULT_CENTRAL_CAPACITY};
pub use event::{Disconnect, DisconnectReason, Event};
pub use incoming::{BindError, BroadcastReport, Incoming, IncomingBuilder, IncomingStats};
pub use message::{Decode, DecodeError, DecodeErrorKind, Encode, FrameStatus, FrameStatusFn};
pub use outgoing::{ConnectError, Outgoing, OutgoingBuilder, Retry};
pub use peer::{Peer, PeerHandle, PeerId, SendError};

#[doc(no_inline)]
pub use bytes::Bytes;
