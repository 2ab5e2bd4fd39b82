//! Transports: what carries a connection's bytes, and what a new connection passes through
//! before it is served.
//!
//! | room | owns |
//! | --- | --- |
//! | `stream.rs` | the seam between the connection tasks and the socket: `Transport`, `ReadHalf`, `WriteHalf`, `TryWrite`; TCP |
//! | `tls.rs` | TLS (feature `tls`): settings, handshakes, [`TlsInfo`](tls::TlsInfo), the TLS byte stream |
//! | `ws/` | WebSocket (feature `websocket`): settings and the upgrade (its framing, each WebSocket message one frame, is a framing: `codec/websocket.rs`) |
//! | `socket.rs` | a socket before its door (TCP, or in memory), and listeners: what the accept loop, the door and the connect take |
//! | `memory/` | the in-memory transport (feature `testing`): pipes with faults, the network of hosts (`testing::net`) |
//! | `proxy.rs` | the PROXY protocol (v1 and v2) header a load balancer puts before the client's bytes |
//! | `info.rs` | [`TransportInfo`]: what a connection learned at its door, readable from its handle |
//!
//! The transport room sits below `conn` (which runs a connection over any `Transport`) and
//! above `codec` (WebSocket's framing lives there, with the others); the handlers run the door's steps
//! (`handler/door.rs`).

mod info;
#[cfg(feature = "testing")]
pub(crate) mod memory;
pub(crate) mod proxy;
mod socket;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod ws;

pub use info::TransportInfo;
pub(crate) use socket::{Listener, Socket};
pub(crate) use stream::{read_now, write_some, ReadHalf, Transport, TryWrite, WriteHalf};
