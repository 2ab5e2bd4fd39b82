//! The names of the attributes and their keys.

pub(crate) const WIRE: &str = "wire";
pub(crate) const PEER: &str = "peer";

// What each attribute's keys are called in errors ("duplicate wire attribute `id`").
pub(crate) const WIRE_ATTR: &str = "wire attribute";
pub(crate) const PEER_ATTR: &str = "peer attribute";
pub(crate) const INCOMING_SETTING: &str = "incoming handler setting";
pub(crate) const OUTGOING_SETTING: &str = "outgoing handler setting";
pub(crate) const TCP_MESSAGE_SETTING: &str = "tcp_message setting";
pub(crate) const PANDA3D_SETTING: &str = "panda3d setting";

// Container keys of #[wire(...)].
pub(crate) const ID_TYPE: &str = "id_type";
pub(crate) const ENDIAN: &str = "endian";
pub(crate) const LEN: &str = "len";
pub(crate) const ID: &str = "id";
pub(crate) const JSON: &str = "json";
pub(crate) const CRATE: &str = "crate";
// Variant keys.
pub(crate) const CATCH_ALL: &str = "catch_all";
// Conversation keys on variants: the replies a request expects, and the part a variant
// plays (the version handshake's hello and rejection, the heartbeat's ping and pong).
pub(crate) const REPLY: &str = "reply";
pub(crate) const HELLO: &str = "hello";
pub(crate) const REJECT: &str = "reject";
pub(crate) const PING: &str = "ping";
pub(crate) const PONG: &str = "pong";
// ... and on fields: a request's or reply's correlation id, a hello's version, a
// rejection's reason, the protocol's messages hash a hello or rejection carries.
pub(crate) const CORRELATION: &str = "correlation";
pub(crate) const VERSION: &str = "version";
pub(crate) const REASON: &str = "reason";
pub(crate) const PROTOCOL: &str = "protocol";
// Field keys.
pub(crate) const REST: &str = "rest";
pub(crate) const SKIP: &str = "skip";
pub(crate) const DEFAULT: &str = "default";
pub(crate) const WITH: &str = "with";
// #[peer(...)] keys.
pub(crate) const RECV: &str = "recv";
pub(crate) const SEND: &str = "send";
pub(crate) const NAME: &str = "name";

// #[incoming(...)] and #[outgoing(...)] keys (`peer`, `name` and `crate` above too).
pub(crate) const TCP_MESSAGE: &str = "tcp_message";
pub(crate) const PANDA3D: &str = "panda3d";
pub(crate) const FRAMING: &str = "framing";
pub(crate) const MAKE_PEER: &str = "make_peer";
pub(crate) const BACKLOG: &str = "backlog";
pub(crate) const MAX_CONNECTIONS: &str = "max_connections";
pub(crate) const CONNECT_TIMEOUT_MS: &str = "connect_timeout_ms";
pub(crate) const RETRY_MS: &str = "retry_ms";
pub(crate) const BACKOFF_MAX_MS: &str = "backoff_max_ms";
pub(crate) const MAX_ATTEMPTS: &str = "max_attempts";
pub(crate) const RECONNECT: &str = "reconnect";
// Protection keys (0 turns a time-out or cap off).
pub(crate) const UNPROTECTED: &str = "unprotected";
pub(crate) const FIRST_MESSAGE_TIMEOUT_MS: &str = "first_message_timeout_ms";
pub(crate) const IDLE_TIMEOUT_MS: &str = "idle_timeout_ms";
pub(crate) const FRAME_TIMEOUT_MS: &str = "frame_timeout_ms";
pub(crate) const MAX_CONNECTIONS_PER_IP: &str = "max_connections_per_ip";
pub(crate) const READ_BUDGET: &str = "read_budget";
pub(crate) const QUEUE_BYTES: &str = "queue_bytes";
// Transport keys: WebSocket on a path (both kinds), its allowed origins, the PROXY protocol
// and the door's time-out (incoming).
pub(crate) const WEBSOCKET: &str = "websocket";
pub(crate) const ALLOW_ORIGIN: &str = "allow_origin";
pub(crate) const PROXY_PROTOCOL: &str = "proxy_protocol";
pub(crate) const HANDSHAKE_TIMEOUT_MS: &str = "handshake_timeout_ms";
// Conversation keys (both kinds): the version handshake (our version, the rule, its
// time-out), the heartbeat, requests, TCP keepalive.
pub(crate) const VERSION_KEY: &str = "version";
pub(crate) const AGREE: &str = "agree";
pub(crate) const VERSION_TIMEOUT_MS: &str = "version_timeout_ms";
pub(crate) const HEARTBEAT_MS: &str = "heartbeat_ms";
pub(crate) const HEARTBEAT_ALLOWANCE_MS: &str = "heartbeat_allowance_ms";
pub(crate) const REQUEST_TIMEOUT_MS: &str = "request_timeout_ms";
pub(crate) const MAX_PENDING: &str = "max_pending";
pub(crate) const TCP_KEEPALIVE_MS: &str = "tcp_keepalive_ms";
// tcp_message(...) and panda3d(...) keys.
pub(crate) const MAX_MESSAGE_SIZE: &str = "max_message_size";
pub(crate) const MAX_FRAME_LENGTH: &str = "max_frame_length";
pub(crate) const REASSEMBLE: &str = "reassemble";
pub(crate) const EXPLICIT_FINAL_CHUNK: &str = "explicit_final_chunk";
pub(crate) const HEADER_SIZE: &str = "header_size";

pub(crate) const CONTAINER_KEYS: &[&str] = &[ID_TYPE, ENDIAN, LEN, ID, JSON, CRATE];
pub(crate) const VARIANT_KEYS: &[&str] = &[ID, CATCH_ALL, REPLY, HELLO, REJECT, PING, PONG];
pub(crate) const FIELD_KEYS: &[&str] = &[
    ENDIAN,
    LEN,
    REST,
    SKIP,
    DEFAULT,
    WITH,
    CORRELATION,
    VERSION,
    REASON,
    PROTOCOL,
];
pub(crate) const PEER_KEYS: &[&str] = &[RECV, SEND, NAME, CRATE];
pub(crate) const HANDLER_KEYS: &[&str] = &[
    PEER,
    TCP_MESSAGE,
    PANDA3D,
    FRAMING,
    MAKE_PEER,
    NAME,
    CRATE,
    QUEUE_BYTES,
    WEBSOCKET,
    VERSION_KEY,
    AGREE,
    VERSION_TIMEOUT_MS,
    HEARTBEAT_MS,
    HEARTBEAT_ALLOWANCE_MS,
    REQUEST_TIMEOUT_MS,
    MAX_PENDING,
    TCP_KEEPALIVE_MS,
];
pub(crate) const INCOMING_KEYS: &[&str] = &[
    BACKLOG,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_IP,
    FIRST_MESSAGE_TIMEOUT_MS,
    IDLE_TIMEOUT_MS,
    FRAME_TIMEOUT_MS,
    READ_BUDGET,
    UNPROTECTED,
    ALLOW_ORIGIN,
    PROXY_PROTOCOL,
    HANDSHAKE_TIMEOUT_MS,
];
pub(crate) const OUTGOING_KEYS: &[&str] = &[
    CONNECT_TIMEOUT_MS,
    RETRY_MS,
    BACKOFF_MAX_MS,
    MAX_ATTEMPTS,
    RECONNECT,
];
pub(crate) const TCP_MESSAGE_KEYS: &[&str] = &[
    MAX_MESSAGE_SIZE,
    MAX_FRAME_LENGTH,
    REASSEMBLE,
    EXPLICIT_FINAL_CHUNK,
];
pub(crate) const PANDA3D_KEYS: &[&str] = &[HEADER_SIZE, MAX_FRAME_LENGTH];

/// "`a`, `b` or `c`", for error messages that list the valid keys.
pub(crate) fn list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The keys in the first column of the key table in the docs of `pub use ..::NAME;` in
    /// the runtime crate's `lib.rs`.
    fn documented(name: &str) -> BTreeSet<String> {
        let lib = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../connhandler/src/lib.rs"
        ))
        .expect("the runtime crate's lib.rs, beside this crate");
        let end = lib
            .find(&format!("pub use connhandler_derive::{name};"))
            .expect("the macro's re-export");
        let start = lib[..end].rfind("/// Declares an").expect("its docs");
        lib[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("/// | `"))
            .filter_map(|l| l.split('`').next())
            .map(|k| k.trim_end_matches("(..)").to_owned())
            .collect()
    }

    fn accepted(kind: &[&str]) -> BTreeSet<String> {
        HANDLER_KEYS
            .iter()
            .chain(kind)
            .map(|k| (*k).to_owned())
            .collect()
    }

    #[test]
    fn the_attribute_macros_document_every_key_they_take_and_no_other() {
        assert_eq!(documented("incoming"), accepted(INCOMING_KEYS));
        assert_eq!(documented("outgoing"), accepted(OUTGOING_KEYS));
    }
}
