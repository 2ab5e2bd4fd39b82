//! Conversations on top of messages: request/response, the version handshake and
//! heartbeats, declared on the protocol (`#[derive(Message)]`) and turned on per handler.
//!
//! | room | owns |
//! | --- | --- |
//! | `request.rs` | [`Request`]/[`Correlated`] (which messages are requests, which replies answer them), [`Reply`], [`RequestError`] |
//! | `pending.rs` | the requests of one connection waiting for replies (a state table), and the one timer that keeps their time-outs |
//! | `slot.rs` | where one request's outcome goes, shared by its entry and its [`Reply`] (a state table) |
//! | `version.rs` | [`Version`], [`Agree`], [`Handshake`], [`Hello`] |
//! | `heartbeat.rs` | [`Heartbeat`], [`Beats`] |
//! | here | what a handler hands its connections: the hooks of the three, as plain functions |
//!
//! What each does on a connection, and where:
//!
//! | feature | sending side | receiving side (the reader) |
//! | --- | --- | --- |
//! | request | `PeerHandle::request` registers the request and queues it under one lock | a reply goes to its waiter, not to the central queue; every other message keeps its order |
//! | handshake | our hello is queued before anything else | the peer's first message must be its hello; `Connected` is pushed once it is accepted |
//! | heartbeat | a ping when nothing arrived for `every` | pings are answered with pongs; both are kept from the central queue; silence past the allowance cuts the peer |
//!
//! A room above `peer` and `central`, below `conn`.
//!
//! # Examples
//!
//! A protocol that declares all three:
//!
//! ```
//! use connhandler::Message;
//!
//! #[derive(Message)]
//! enum ToServer {
//!     #[wire(id = 0x01, hello)]
//!     Hello { #[wire(version)] version: String },
//!     #[wire(id = 0x02, ping)]
//!     Ping,
//!     #[wire(id = 0x03, pong)]
//!     Pong,
//!     // Answered in order by a `Score`.
//!     #[wire(id = 0x10, reply = FromServer::Score)]
//!     GetScore { player: String },
//!     // Answered in any order by a `Found` carrying the same `req`.
//!     #[wire(id = 0x11, reply = FromServer::Found, reply = FromServer::NotFound)]
//!     Find { #[wire(correlation)] req: u32, name: String },
//! }
//!
//! #[derive(Message)]
//! enum FromServer {
//!     #[wire(id = 0x81, hello)]
//!     Hello { #[wire(version)] version: String },
//!     #[wire(id = 0x82, reject)]
//!     Rejected { #[wire(reason)] reason: String },
//!     #[wire(id = 0x83, ping)]
//!     Ping,
//!     #[wire(id = 0x84, pong)]
//!     Pong,
//!     #[wire(id = 0x90)]
//!     Score(u32),
//!     #[wire(id = 0x91)]
//!     Found { #[wire(correlation)] req: u32, at: String },
//!     #[wire(id = 0x92)]
//!     NotFound { #[wire(correlation)] req: u32 },
//! }
//! ```

mod conversation;
mod heartbeat;
mod pending;
mod request;
mod slot;
mod version;

use std::time::Duration;

pub(crate) use conversation::{Conversation, Due, Step};
pub use heartbeat::{Beat, Beats, Heartbeat};
pub(crate) use pending::Pending;
#[cfg(feature = "nats")]
pub(crate) use pending::Retime;
pub use request::{By, Correlated, CorrelationField, Pairing, Reply, Request, RequestError};
#[cfg(feature = "nats")]
pub(crate) use slot::Filler;
pub(crate) use slot::Slot;
pub use version::{
    rejection_reason, Agree, Handshake, Hello, ProtocolField, Rule, Version, VersionError,
    VersionField,
};

use crate::peer::Peer;

/// The default time a request waits for its reply.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default bound on a connection's requests waiting for replies.
pub(crate) const DEFAULT_MAX_PENDING: usize = 64;

/// What a handler hands its connections of the conversation features: settings, and the
/// protocol's hooks as plain functions (taken from the trait bounds of the builder's
/// setters, so that the connection tasks need none).
pub(crate) struct Talk<P: Peer> {
    pub(crate) request_timeout: Duration,
    pub(crate) max_pending: usize,
    pub(crate) handshake: Option<Greeting<P>>,
    pub(crate) heartbeat: Option<Beating<P>>,
}

impl<P: Peer> Default for Talk<P> {
    fn default() -> Self {
        Talk {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            handshake: None,
            heartbeat: None,
        }
    }
}

impl<P: Peer> Clone for Talk<P> {
    fn clone(&self) -> Self {
        Talk {
            request_timeout: self.request_timeout,
            max_pending: self.max_pending,
            handshake: self.handshake.clone(),
            heartbeat: self.heartbeat,
        }
    }
}

impl<P: Peer> Talk<P> {
    /// Whether the reader has anything to look at in each message it decodes.
    pub(crate) fn watches_messages(&self) -> bool {
        self.handshake.is_some() || self.heartbeat.is_some()
    }
}

/// A handler's handshake with the protocol's hooks.
pub(crate) struct Greeting<P: Peer> {
    pub(crate) config: Handshake,
    /// The protocol's messages hash (0: the protocol does not describe itself).
    pub(crate) protocol: u64,
    pub(crate) hello: fn(&Version, u64) -> P::Send,
    pub(crate) version_of: fn(&P::Recv) -> Option<Result<Version, VersionError>>,
    pub(crate) protocol_of: fn(&P::Recv) -> Option<u64>,
    pub(crate) reject: fn(&Version, &str, u64) -> Option<P::Send>,
    pub(crate) is_rejection: fn(&P::Recv) -> bool,
}

impl<P: Peer> Clone for Greeting<P> {
    fn clone(&self) -> Self {
        Greeting {
            config: self.config.clone(),
            protocol: self.protocol,
            hello: self.hello,
            version_of: self.version_of,
            protocol_of: self.protocol_of,
            reject: self.reject,
            is_rejection: self.is_rejection,
        }
    }
}

impl<P: Peer> Greeting<P> {
    pub(crate) fn new(config: Handshake) -> Self
    where
        P::Send: Hello,
        P::Recv: Hello,
    {
        let mut types = crate::describe::Types::default();
        let protocol = match (
            <P::Recv as Hello>::describe_messages(&mut types),
            <P::Send as Hello>::describe_messages(&mut types),
        ) {
            (Some(recv), Some(send)) => crate::schema::messages_hash_of(recv, send, &types),
            _ => 0,
        };
        Greeting {
            config,
            protocol,
            hello: <P::Send as Hello>::hello_with,
            version_of: <P::Recv as Hello>::hello_version,
            protocol_of: <P::Recv as Hello>::protocol_of,
            reject: <P::Send as Hello>::reject_with,
            is_rejection: <P::Recv as Hello>::is_rejection,
        }
    }

    /// A messages hash as the reasons show it.
    pub(crate) fn show(hash: Option<u64>) -> Option<String> {
        hash.filter(|h| *h != 0).map(|h| format!("{h:016x}"))
    }
}

/// A handler's heartbeat with the protocol's hooks.
pub(crate) struct Beating<P: Peer> {
    pub(crate) config: Heartbeat,
    pub(crate) ping: fn() -> Option<P::Send>,
    pub(crate) pong: fn() -> Option<P::Send>,
    pub(crate) beat: fn(&P::Recv) -> Option<Beat>,
}

impl<P: Peer> Clone for Beating<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Peer> Copy for Beating<P> {}

impl<P: Peer> Beating<P> {
    pub(crate) fn new(config: Heartbeat) -> Self
    where
        P::Send: Beats,
        P::Recv: Beats,
    {
        Beating {
            config,
            ping: <P::Send as Beats>::ping,
            pong: <P::Send as Beats>::pong,
            beat: <P::Recv as Beats>::beat,
        }
    }
}
