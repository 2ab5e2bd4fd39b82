//! WebSocket under any handler (feature `websocket`): each binary WebSocket message is one
//! connhandler message, with no framing of ours inside; over plain TCP (`ws://`) or, with
//! the `tls` feature, over TLS (`wss://`).
//!
//! | room | owns |
//! | --- | --- |
//! | here | [`WebSocket`] (the settings), [`WsInfo`] (what the upgrade said) |
//! | `handshake.rs` | the HTTP upgrade, both sides, within a byte bound |
//! | `framing.rs` | the framing: frames to messages, pings, the close frame |
//!
//! Text messages are refused (the connection closes with code 1003) unless the settings
//! take them ([`WebSocket::accept_text`]): then a text message's UTF-8 bytes are the
//! message's bytes, as a binary message's are, for peer kinds whose `Decode` reads text (a
//! derived protocol's binary id is not valid UTF-8, so derived protocols use binary
//! messages, in JSON body mode too).

mod handshake;

use std::{fmt, sync::Arc};

pub(crate) use crate::codec::websocket::{Role, WsFraming, DEFAULT_MAX_FRAGMENTS};
pub(crate) use handshake::{accept, connect};

/// The WebSocket settings of a handler: the path and subprotocols it serves or asks for,
/// the `Origin`s it lets in, and the size of a message.
///
/// # Examples
///
/// ```
/// use connhandler::ws::WebSocket;
///
/// let ws = WebSocket::new()
///     .path("/game")
///     .subprotocol("game.v1")
///     // Browsers on our own site only (clients without an Origin, which browsers
///     // always send, are let in).
///     .allow_origin("https://play.example.com");
/// ```
#[derive(Clone)]
pub struct WebSocket {
    pub(crate) path: Arc<str>,
    pub(crate) subprotocols: Vec<Arc<str>>,
    pub(crate) origins: Origins,
    pub(crate) max_message: usize,
    pub(crate) max_fragments: usize,
    pub(crate) text: bool,
    pub(crate) host: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Origins {
    Listed(Vec<Arc<str>>),
    Any,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("path", &self.path)
            .field("subprotocols", &self.subprotocols)
            .field("origins", &self.origins)
            .field("max_message_size", &self.max_message)
            .field("max_fragments", &self.max_fragments)
            .field("accept_text", &self.text)
            .finish()
    }
}

impl Default for WebSocket {
    fn default() -> Self {
        WebSocket::new()
    }
}

/// The default bound of one WebSocket message: the TcpMessage framing's.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 65535;

impl WebSocket {
    /// WebSocket on path `/`, no subprotocol, requests from browsers refused until their
    /// `Origin` is allowed, messages up to [`DEFAULT_MAX_MESSAGE_SIZE`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new();
    /// ```
    pub fn new() -> Self {
        WebSocket {
            path: "/".into(),
            subprotocols: Vec::new(),
            origins: Origins::Listed(Vec::new()),
            max_message: DEFAULT_MAX_MESSAGE_SIZE,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            text: false,
            host: None,
        }
    }

    /// The path served (listening: other paths get 404) or asked for (connecting). A query
    /// string is not part of the path a server matches.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().path("/chat");
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.starts_with('/') {
            path.into()
        } else {
            format!("/{path}").into()
        };
        self
    }

    /// A subprotocol (`Sec-WebSocket-Protocol`): listening, the first the client offers
    /// that is in this list is chosen, and a client that offers only others is refused;
    /// connecting, these are offered and the server must choose one. Call it once per name.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().subprotocol("chat.v2").subprotocol("chat.v1");
    /// ```
    pub fn subprotocol(mut self, name: impl Into<String>) -> Self {
        self.subprotocols.push(name.into().into());
        self
    }

    /// Lets in requests whose `Origin` header is `origin` (scheme, host and port, as
    /// browsers send it: `https://play.example.com`). Browsers send an `Origin` with every
    /// WebSocket request, so a page on any other site is refused (403), which stops other
    /// sites' scripts from using a visitor's browser against the server. Requests without
    /// an `Origin` (programs, not browsers) are let in.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().allow_origin("http://localhost:8080");
    /// ```
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into().trim_end_matches('/').to_owned();
        match &mut self.origins {
            Origins::Listed(list) => list.push(origin.into()),
            Origins::Any => {}
        }
        self
    }

    /// Lets in requests from pages on any site: for a server that has nothing a visitor's
    /// browser could be made to misuse (public, no cookies or addresses trusted).
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().allow_any_origin();
    /// ```
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// The longest message, in bytes, read or sent; a longer one is refused on its frame
    /// header, before any of it is buffered, and the connection closes with code 1009.
    /// Fragments of an unfinished message count against the handler's `read_budget` as
    /// the stream framings' unfinished frames do. Default [`DEFAULT_MAX_MESSAGE_SIZE`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().max_message_size(16 * 1024);
    /// ```
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// The most fragments (WebSocket frames) one message may come in, read (default 1024;
    /// at least 1): a message of more is refused and the connection closes with code 1008.
    /// Browsers and the common libraries send a message in one frame, or in a few large
    /// ones; a peer that cuts its messages into one-byte fragments makes the server read a
    /// header per byte.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().max_fragments(64);
    /// ```
    pub fn max_fragments(mut self, max: usize) -> Self {
        self.max_fragments = max.max(1);
        self
    }

    /// Takes text messages as well, their UTF-8 bytes being the message's bytes (for peer
    /// kinds whose `Decode` reads text); off by default: a text message closes the
    /// connection with code 1003.
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().accept_text(true);
    /// ```
    pub fn accept_text(mut self, accept: bool) -> Self {
        self.text = accept;
        self
    }

    /// Connecting: the `Host` header sent (default: the address connected to).
    ///
    /// # Examples
    ///
    /// ```
    /// let ws = connhandler::ws::WebSocket::new().host("game.example.com");
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into().into());
        self
    }

    pub(crate) fn framing(&self, role: Role) -> WsFraming {
        WsFraming::new(role, self.max_message, self.text).max_fragments(self.max_fragments)
    }
}

/// A `ws://` or `wss://` URL, taken apart: what [`Outgoing::websocket_url`] and `tcpmsg`
/// connect with.
///
/// [`Outgoing::websocket_url`]: crate::Outgoing::websocket_url
///
/// # Examples
///
/// ```
/// let url = connhandler::ws::WsUrl::parse("wss://play.example.com/game?room=3")?;
/// assert!(url.tls);
/// assert_eq!(url.host, "play.example.com");
/// assert_eq!(url.port, 443);
/// assert_eq!(url.path, "/game?room=3");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`.
    pub tls: bool,
    /// The host (without brackets for an IPv6 address).
    pub host: String,
    /// The port (default 80, or 443 for `wss://`).
    pub port: u16,
    /// The path and query (`/` at least).
    pub path: String,
}

impl WsUrl {
    /// Parses a `ws://` or `wss://` URL.
    ///
    /// # Errors
    ///
    /// Another scheme, no host, a bad port: the text says which.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(connhandler::ws::WsUrl::parse("http://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<WsUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else {
            return Err(format!("{url:?}: not a ws:// or wss:// URL"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: an unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("{url:?}: bad host")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok(WsUrl {
            tls,
            host,
            port,
            path,
        })
    }
}

/// What a WebSocket connection's upgrade said: read it from
/// [`TransportInfo::websocket`](crate::transport::TransportInfo::websocket).
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
/// if let Some(ws) = peer.transport().websocket() {
///     println!("{} {:?} {:?}", ws.path(), ws.subprotocol(), ws.origin());
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct WsInfo {
    pub(crate) path: String,
    pub(crate) subprotocol: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl WsInfo {
    /// The request's path, with its query string.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(ws: &connhandler::ws::WsInfo) {
    /// let room = ws.path().split_once("room=").map(|(_, r)| r);
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The subprotocol agreed, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(ws: &connhandler::ws::WsInfo) {
    /// let v2 = ws.subprotocol() == Some("chat.v2");
    /// # }
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The request's `Origin` (the page's site, from a browser).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(ws: &connhandler::ws::WsInfo) {
    /// let from_browser = ws.origin().is_some();
    /// # }
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The request's `User-Agent`, if it sent one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(ws: &connhandler::ws::WsInfo) {
    /// println!("{:?}", ws.user_agent());
    /// # }
    /// ```
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}
