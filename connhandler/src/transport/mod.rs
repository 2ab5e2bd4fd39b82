//! Transports: what carries a connection's bytes, and what a new connection passes through
//! before it is served.
//!
//! | room | owns |
//! | --- | --- |
//! | `stream.rs` | the seam between the connection tasks and the socket: `Transport`, `ReadHalf`, `WriteHalf`, `TryWrite`; TCP |
//! | `tls.rs` | TLS (feature `tls`): settings, handshakes, [`TlsInfo`](tls::TlsInfo), the TLS byte stream |
//! | `ws/` | WebSocket (feature `websocket`): settings, the upgrade, the framing that makes each WebSocket message one frame |
//! | `proxy.rs` | the PROXY protocol (v1 and v2) header a load balancer puts before the client's bytes |
//! | `carried.rs` | the framing a connection runs: the handler's stream framing, or WebSocket's in its place |
//! | `info.rs` | [`TransportInfo`]: what a connection learned at its door, readable from its handle |
//!
//! The transport room sits below `conn` (which runs a connection over any `Transport`) and
//! above `codec` (the WebSocket framing is a `Framing`); the handlers run the door's steps
//! (`handler/door.rs`).

mod carried;
mod info;
pub(crate) mod proxy;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod ws;

pub(crate) use carried::Carried;
pub use info::TransportInfo;
pub(crate) use stream::{read_now, write_some, ReadHalf, Transport, TryWrite, WriteHalf};
