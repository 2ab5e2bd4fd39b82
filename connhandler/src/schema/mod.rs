//! Protocol documents: a peer kind's derived protocol as data, from which the peers on the
//! other side of the wire are generated and against which changes are checked.
//!
//! | room | owns |
//! | --- | --- |
//! | here | [`Protocol`]: a peer kind's messages ([`describe`](crate::describe)), its framing and its conversation roles; the JSON document and its hashes |
//! | `json.rs` | the document's JSON form, written (always: the handshake hashes it) and read (feature `schema`); the format's rules are in its docs |
//! | `python.rs` | the Python back end: a module of the standard library only (feature `schema`) |
//! | `dynamic.rs` | messages as JSON with no generated code, for tools that have only the document (feature `schema`) |
//! | `csharp.rs` | the C# back end, for Unity and .NET: one file of the base class library alone (feature `schema`) |
//! | `typescript.rs` | the TypeScript back end: a `.ts`, the same as a plain ES module `.js`, and its `.d.ts`, from one source (feature `schema`) |
//! | `wireshark.rs` | the Wireshark back end: a Lua dissector (feature `schema`) |
//! | `lock.rs` | the breaking-change check against a committed document (feature `schema`) |
//!
//! The document is written deterministically (types by name, variants by id), and its hash
//! is FNV-1a 64 over its compact form without the hashes: reordering variants or types in
//! the Rust source changes neither; swapping two fields (same types, other names) changes
//! both. Writing a document needs no feature (the version handshake compares
//! [`Protocol::messages_hash`]); reading one back, the generators and the lock check are
//! dev-time tools behind feature `schema`, which a program's tests turn on.
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{FramingSpec, Protocol}, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! enum Up {
//!     #[wire(id = 1)]
//!     Say { text: String },
//! }
//!
//! #[derive(Message, Debug)]
//! enum Down {
//!     #[wire(id = 1)]
//!     Said { from: String, text: String },
//! }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Up, send = Down, name = "chat")]
//! struct Chatter;
//!
//! let protocol = Protocol::of::<Chatter>(FramingSpec::tcp_message());
//! let doc = protocol.to_json();
//! assert!(doc.contains("\"name\": \"chat\""));
//! # #[cfg(feature = "schema")]
//! assert_eq!(Protocol::from_json(&doc).unwrap(), protocol);
//! assert_eq!(protocol.hash().len(), 16);
//! ```

#[cfg(feature = "schema")]
pub mod csharp;
#[cfg(feature = "schema")]
pub mod dynamic;
mod json;
#[cfg(feature = "schema")]
pub mod lock;
#[cfg(feature = "schema")]
pub mod python;
#[cfg(feature = "schema")]
pub mod typescript;
#[cfg(feature = "schema")]
pub mod wireshark;

#[cfg(feature = "schema")]
use std::path::Path;

use crate::{
    describe::{Ty, TypeDef, Types},
    peer::Peer,
    wire::Wire,
};

/// The generator's name and version, in the header of every file the back ends write.
///
/// # Examples
///
/// ```
/// assert!(connhandler::schema::GENERATOR.starts_with("connhandler "));
/// ```
#[cfg(feature = "schema")]
pub const GENERATOR: &str = concat!("connhandler ", env!("CARGO_PKG_VERSION"));

/// The document format's version; [`Protocol::from_json`] reads this one.
pub const FORMAT_VERSION: u32 = 1;

/// The framing a protocol runs over.
///
/// # Examples
///
/// ```
/// use connhandler::schema::FramingSpec;
/// assert_eq!(FramingSpec::panda3d(4), FramingSpec::Panda3d { header_size: 4 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FramingSpec {
    /// The reference TcpMessage framing: u16 LE chunk lengths, 0 for a full chunk.
    TcpMessage {
        /// The chunk size (65535 by default).
        max_message_size: usize,
        /// Whether a final full chunk carries its length (connhandler's default) rather than 0.
        explicit_final_chunk: bool,
    },
    /// Panda3D's datagrams: a little-endian length header of 0, 2 or 4 bytes.
    Panda3d {
        /// The header's size.
        header_size: u8,
    },
    /// Each binary WebSocket message is one message.
    WebSocket,
}

impl FramingSpec {
    /// TcpMessage with connhandler's defaults (65535-byte chunks, a final full chunk with its
    /// length).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = connhandler::schema::FramingSpec::tcp_message();
    /// ```
    pub fn tcp_message() -> Self {
        FramingSpec::TcpMessage {
            max_message_size: 65535,
            explicit_final_chunk: true,
        }
    }

    /// Panda3D's datagrams with a header of `header_size` bytes (0, 2 or 4).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = connhandler::schema::FramingSpec::panda3d(2);
    /// ```
    pub fn panda3d(header_size: u8) -> Self {
        FramingSpec::Panda3d { header_size }
    }

    /// WebSocket: one binary WebSocket message per message.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = connhandler::schema::FramingSpec::websocket();
    /// ```
    pub fn websocket() -> Self {
        FramingSpec::WebSocket
    }
}

/// A peer kind's protocol: the messages it receives and sends (with every derived type they
/// contain), its framing and its conversation roles (in the types: hellos, pings, replies,
/// correlation and version fields). See the [module's docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// The peer kind's name (`Peer::NAME`).
    pub name: String,
    /// What the connection is framed with.
    pub framing: FramingSpec,
    /// What the peer kind receives (so what its peers send).
    pub recv: Ty,
    /// What it sends.
    pub send: Ty,
    /// Every derived type either contains, by name.
    pub types: Vec<TypeDef>,
}

impl Protocol {
    /// The protocol of peer kind `P` over `framing`.
    ///
    /// # Examples
    ///
    /// See the [module's docs](self).
    pub fn of<P: Peer>(framing: FramingSpec) -> Protocol
    where
        P::Recv: Wire,
        P::Send: Wire,
    {
        let mut types = Types::default();
        let recv = <P::Recv as Wire>::describe(&mut types);
        let send = <P::Send as Wire>::describe(&mut types);
        Protocol {
            name: P::NAME.to_owned(),
            framing,
            recv,
            send,
            types: types.iter().cloned().collect(),
        }
    }

    /// The type named `name`.
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The document, as JSON: deterministic, with its hashes (see [`hash`](Self::hash) and
    /// [`messages_hash`](Self::messages_hash)).
    pub fn to_json(&self) -> String {
        json::write(self, json::Form::Full)
    }

    /// The canonical hash of the whole document: 16 hex digits of FNV-1a 64 over the compact
    /// document without its hashes.
    pub fn hash(&self) -> String {
        format!("{:016x}", fnv1a(&json::write(self, json::Form::Hashed)))
    }

    /// The hash of the messages alone, as 16 hex digits: the types and the two directions,
    /// without the peer kind's name, its framing, or which direction is which, so that both
    /// sides of a conversation have the same one. It is what a version handshake compares
    /// when the protocol's hello carries a `#[wire(protocol)]` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{schema::{FramingSpec, Protocol}, Message, Peer};
    ///
    /// #[derive(Message, Debug)]
    /// enum Up { #[wire(id = 1)] Say { text: String } }
    /// #[derive(Message, Debug)]
    /// enum Down { #[wire(id = 1)] Said { from: String, text: String } }
    ///
    /// #[derive(Peer, Default)]
    /// #[peer(recv = Up, send = Down)]
    /// struct Server;
    /// #[derive(Peer, Default)]
    /// #[peer(recv = Down, send = Up)]
    /// struct Client;
    ///
    /// let server = Protocol::of::<Server>(FramingSpec::tcp_message());
    /// let client = Protocol::of::<Client>(FramingSpec::websocket());
    /// assert_ne!(server.hash(), client.hash());
    /// assert_eq!(server.messages_hash(), client.messages_hash());
    /// ```
    pub fn messages_hash(&self) -> String {
        format!("{:016x}", self.messages_hash_value())
    }

    /// [`messages_hash`](Self::messages_hash) as a number.
    pub(crate) fn messages_hash_value(&self) -> u64 {
        fnv1a(&json::write(self, json::Form::Messages))
    }

    /// Reads a document written by [`to_json`](Self::to_json) (format version 1; feature
    /// `schema`).
    ///
    /// # Errors
    ///
    /// What is wrong with the text, as a sentence.
    #[cfg(feature = "schema")]
    pub fn from_json(text: &str) -> Result<Protocol, String> {
        json::read(text)
    }

    /// The types in the order a generated module defines them: each after those it
    /// contains, by name otherwise.
    #[cfg(feature = "schema")]
    pub(crate) fn types_in_order(&self) -> Vec<&TypeDef> {
        let mut done: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        fn visit<'a>(
            p: &'a Protocol,
            t: &'a TypeDef,
            done: &mut Vec<&'a str>,
            out: &mut Vec<&'a TypeDef>,
        ) {
            if done.contains(&t.name.as_str()) {
                return;
            }
            done.push(&t.name);
            let fields: Vec<&crate::describe::FieldDef> = match &t.shape {
                crate::describe::Shape::Struct { fields, .. } => fields.iter().collect(),
                crate::describe::Shape::Enum { variants } => {
                    variants.iter().flat_map(|v| &v.fields).collect()
                }
            };
            for f in fields {
                for name in named(&f.ty) {
                    if let Some(inner) = p.get(&name) {
                        visit(p, inner, done, out);
                    }
                }
            }
            out.push(t);
        }
        for t in &self.types {
            visit(self, t, &mut done, &mut out);
        }
        out
    }

    /// The fewest bytes a value of `ty` takes (as the Rust side's `MIN_LEN`): a generated
    /// reader checks a count's claim against it before it reads or allocates anything.
    #[cfg(feature = "schema")]
    pub(crate) fn min_len(&self, ty: &Ty) -> usize {
        match ty {
            Ty::Int { bits, .. } | Ty::Float { bits } => usize::from(*bits) / 8,
            Ty::Bool | Ty::String | Ty::Bytes | Ty::Vec(_) | Ty::Option(_) => 1,
            Ty::Array(n, t) => n * self.min_len(t),
            Ty::Tuple(ts) => ts.iter().map(|t| self.min_len(t)).sum(),
            Ty::Unit | Ty::Opaque(_) => 0,
            Ty::Named(n) => self.get(n).map_or(0, |t| self.type_min_len(t)),
        }
    }

    #[cfg(feature = "schema")]
    fn type_min_len(&self, t: &TypeDef) -> usize {
        use crate::describe::{FieldDef, FieldKind, Shape};
        let fields = |fs: &[FieldDef]| -> usize {
            fs.iter()
                .filter(|f| f.kind == FieldKind::Plain)
                .map(|f| self.min_len(&f.ty))
                .sum()
        };
        match &t.shape {
            Shape::Struct { id, fields: fs } if !t.json => {
                usize::from(t.id_bytes) * usize::from(id.is_some()) + fields(fs)
            }
            Shape::Struct { id, .. } => usize::from(t.id_bytes) * usize::from(id.is_some()) + 2,
            Shape::Enum { variants } => {
                usize::from(t.id_bytes)
                    + variants
                        .iter()
                        .filter(|v| v.id.is_some())
                        .map(|v| if t.json { 2 } else { fields(&v.fields) })
                        .min()
                        .unwrap_or(0)
            }
        }
    }
}

/// An identifier of a generated language for a Rust name: a type's (`Envelope<u8>` →
/// `Envelope_u8`), a field's (`0` → `f0`; a reserved word gets a `_` after it).
#[cfg(feature = "schema")]
pub(crate) fn identifier(name: &str, reserved: &[&str]) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("f{s}");
    }
    if reserved.contains(&s.as_str()) {
        return format!("{s}_");
    }
    s
}

/// A string literal of the generated languages (JavaScript, C#, Lua): quotes, backslashes and
/// newlines escaped, other control characters as `control` writes them.
#[cfg(feature = "schema")]
pub(crate) fn quoted(s: &str, control: fn(u32) -> String) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&control(c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a vec's or an array's items are bytes (carried as a byte string, not a list).
#[cfg(feature = "schema")]
pub(crate) fn is_u8(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Int {
            bits: 8,
            signed: false
        }
    )
}

/// FNV-1a 64 of `text`.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The messages hash of a conversation whose sides receive `recv` and send `send`, given
/// their descriptions (what the version handshake compares).
pub(crate) fn messages_hash_of(recv: Ty, send: Ty, types: &Types) -> u64 {
    Protocol {
        name: String::new(),
        framing: FramingSpec::WebSocket,
        recv,
        send,
        types: types.iter().cloned().collect(),
    }
    .messages_hash_value()
}

/// The derived types a field's type names.
#[cfg(feature = "schema")]
pub(crate) fn named(ty: &Ty) -> Vec<String> {
    match ty {
        Ty::Named(n) => vec![n.clone()],
        Ty::Vec(t) | Ty::Option(t) | Ty::Array(_, t) => named(t),
        Ty::Tuple(ts) => ts.iter().flat_map(named).collect(),
        _ => Vec::new(),
    }
}

/// Writes a generated file at `path` if it is missing or stale, and says so: the one line of
/// a user's test that keeps committed generated code in step with the protocol (as snapshot
/// tools do). Generated once, committed, and from then on checked: a test that fails after a
/// protocol change has rewritten the file, for review and commit.
///
/// # Errors
///
/// The file was missing or stale (it is written now), or could not be written.
///
/// # Examples
///
/// ```no_run
/// # use connhandler::schema::{python, FramingSpec, Protocol};
/// # #[derive(connhandler::Message)] #[wire(id = 1)] struct Say { text: String }
/// # #[derive(connhandler::Peer, Default)] #[peer(recv = Say, send = Say)] struct Chatter;
/// let protocol = Protocol::of::<Chatter>(FramingSpec::tcp_message());
/// connhandler::schema::keep_generated("tools/chat_protocol.py", &python::generate(&protocol))
///     .unwrap();
/// ```
#[cfg(feature = "schema")]
pub fn keep_generated(path: impl AsRef<Path>, contents: &str) -> Result<(), String> {
    let path = path.as_ref();
    match std::fs::read_to_string(path) {
        Ok(old) if old == contents => Ok(()),
        old => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("{}: cannot make its folder: {e}", path.display()))?;
            }
            std::fs::write(path, contents)
                .map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
            Err(match old {
                Ok(_) => format!(
                    "{} was stale: it has been written anew from the current protocol; review the \
                     change and commit it",
                    path.display()
                ),
                Err(_) => format!(
                    "{} was missing: it has been written from the current protocol; commit it",
                    path.display()
                ),
            })
        }
    }
}
