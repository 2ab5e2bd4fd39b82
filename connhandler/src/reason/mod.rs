//! Why things ended: a connection (`Disconnect`, `DisconnectReason`, `Timeout`) or an
//! outgoing handler's attempts to connect (`ConnectError`). A low room: what the events carry,
//! without the events (`conn/event.rs`), so that connections and handlers both use it.

mod connect_error;
mod disconnect;
mod farewell;

pub use connect_error::ConnectError;
pub(crate) use connect_error::ConnectErrorKind;
pub use disconnect::{Disconnect, DisconnectReason, Timeout};
pub use farewell::{Farewell, RefusedBy};
