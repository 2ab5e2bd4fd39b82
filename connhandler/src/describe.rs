//! What a type says of its wire layout, as data: the vocabulary of protocol documents
//! ([`schema`](crate::schema)). Every [`Wire`](crate::wire::Wire) type describes itself
//! ([`Wire::describe`](crate::wire::Wire::describe)); derived types describe their fields,
//! ids, settings and conversation roles, and built-in types their encoding. A type that says
//! nothing of itself (a hand-written `Wire` impl, a `with` codec) is [`Ty::Opaque`]: a
//! named hook that a generated peer asks its user to supply.

use std::collections::BTreeMap;

/// The byte order of a field's numbers and length prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ByteOrder {
    /// Little-endian.
    Little,
    /// Big-endian.
    Big,
}

impl ByteOrder {
    /// `"little"` or `"big"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::describe::ByteOrder::Big.name(), "big");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

/// A value's wire type.
///
/// # Examples
///
/// ```
/// use connhandler::{describe::{Ty, Types}, wire::Wire};
///
/// let mut types = Types::default();
/// assert_eq!(<Vec<u16> as Wire>::describe(&mut types), Ty::Vec(Box::new(Ty::Int { bits: 16, signed: false })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ty {
    /// An integer of `bits` bits, in the field's byte order.
    Int {
        /// 8, 16, 32, 64 or 128.
        bits: u16,
        /// Two's complement.
        signed: bool,
    },
    /// An IEEE 754 float of `bits` bits (32 or 64), in the field's byte order.
    Float {
        /// 32 or 64.
        bits: u16,
    },
    /// One byte, 0 or 1 (any other is a decode error).
    Bool,
    /// UTF-8 text after a length prefix (bytes) of the field's width; as a rest field, the
    /// rest of the message with no prefix.
    String,
    /// Raw bytes after a length prefix of the field's width; as a rest field, the rest.
    Bytes,
    /// Items after a count prefix of the field's width; as a rest field, items to the end.
    Vec(Box<Ty>),
    /// A byte 0 (none) or 1 (then the value); any other byte is a decode error.
    Option(Box<Ty>),
    /// Exactly `n` items, no prefix.
    Array(usize, Box<Ty>),
    /// The items one after another.
    Tuple(Vec<Ty>),
    /// Nothing.
    Unit,
    /// A derived type of the document, by name (it uses its own settings, not the field's).
    Named(String),
    /// A type that does not describe itself (a hand-written `Wire` impl, a `with` codec):
    /// its name; a generated peer leaves its encoding to its user.
    Opaque(String),
}

impl Ty {
    /// The opaque description of `T`: its type's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::describe::Ty;
    /// assert_eq!(Ty::opaque::<std::net::Ipv4Addr>(), Ty::Opaque("Ipv4Addr".into()));
    /// ```
    pub fn opaque<T>() -> Ty {
        Ty::Opaque(short_type_name::<T>())
    }
}

/// `T`'s name without module paths (`Envelope<u8>`, not `my_crate::proto::Envelope<u8>`).
///
/// # Examples
///
/// ```
/// use connhandler::describe::short_type_name;
/// assert_eq!(short_type_name::<Vec<std::string::String>>(), "Vec<String>");
/// ```
pub fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

/// What a field is in the conversation features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldRole {
    /// The correlation id of a request or reply (`#[wire(correlation)]`).
    Correlation,
    /// The version a hello or rejection carries (`#[wire(version)]`).
    Version,
    /// A rejection's reason (`#[wire(reason)]`).
    Reason,
    /// The protocol's messages hash a hello or rejection carries (`#[wire(protocol)]`).
    Protocol,
}

impl FieldRole {
    /// The attribute's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::describe::FieldRole::Correlation.name(), "correlation");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            FieldRole::Correlation => "correlation",
            FieldRole::Version => "version",
            FieldRole::Reason => "reason",
            FieldRole::Protocol => "protocol",
        }
    }
}

/// How a field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// In order, self-delimiting.
    Plain,
    /// The rest of the message, with no prefix (`#[wire(rest)]`, last).
    Rest,
    /// Not on the wire (`#[wire(skip)]`): filled with its default when read.
    Skip,
}

impl FieldKind {
    /// Its name in the protocol document.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::describe::FieldKind::Rest.name(), "rest");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Plain => "plain",
            FieldKind::Rest => "rest",
            FieldKind::Skip => "skip",
        }
    }
}

/// One field of a message, in wire order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldDef {
    /// The field's name (`0`, `1`... for a tuple's).
    pub name: String,
    /// Its wire type (`Unit` for a skipped field).
    pub ty: Ty,
    /// The byte order of its numbers and prefixes.
    pub order: ByteOrder,
    /// The width of its length prefixes, in bytes (1, 2 or 4).
    pub len: u8,
    /// How it is written.
    pub kind: FieldKind,
    /// Its conversation role, if any.
    pub role: Option<FieldRole>,
    /// Its Rust type as written in the source (what JSON-body fields are described by).
    pub rust: String,
}

/// One variant of a message enum.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VariantDef {
    /// The variant's name.
    pub name: String,
    /// Its id; `None` for the catch-all variant, which takes every other id (its fields: the
    /// id and the raw rest).
    pub id: Option<u64>,
    /// Its fields, in wire order.
    pub fields: Vec<FieldDef>,
    /// Its conversation role: `hello`, `reject`, `ping` or `pong`.
    pub role: Option<String>,
    /// The variants that answer it, as `Enum::Variant` (a request's `reply = ...`).
    pub replies: Vec<String>,
}

/// A struct's or an enum's body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A struct: its id (if it declares one) and its fields.
    Struct {
        /// The id written first, if any.
        id: Option<u64>,
        /// The fields, in wire order.
        fields: Vec<FieldDef>,
    },
    /// An enum: the variant's id, then its fields.
    Enum {
        /// The variants, in id order (the catch-all last).
        variants: Vec<VariantDef>,
    },
}

/// A derived message type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TypeDef {
    /// The type's name (without module paths).
    pub name: String,
    /// The width of its ids, in bytes.
    pub id_bytes: u8,
    /// The byte order of its ids, and the default of its fields.
    pub order: ByteOrder,
    /// The default width of its fields' length prefixes.
    pub len: u8,
    /// Whether its body after the id is JSON (`#[wire(json)]`): the fields by name, as
    /// serde_json writes them.
    pub json: bool,
    /// Its body.
    pub shape: Shape,
}

/// The derived types a description found, by name.
///
/// # Examples
///
/// ```
/// use connhandler::{describe::{Ty, Types}, wire::Wire, Message};
///
/// #[derive(Message)]
/// #[wire(id = 1)]
/// struct Ping { seq: u32 }
///
/// let mut types = Types::default();
/// assert_eq!(<Ping as Wire>::describe(&mut types), Ty::Named("Ping".into()));
/// assert_eq!(types.get("Ping").unwrap().name, "Ping");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Types {
    defs: BTreeMap<String, Option<TypeDef>>,
}

impl Types {
    /// Describes a derived type named `name` once: `define` runs the first time only (a type
    /// that contains itself finds its name taken already). Generated code's.
    #[doc(hidden)]
    pub fn define(&mut self, name: String, define: impl FnOnce(&mut Types) -> TypeDef) -> Ty {
        if !self.defs.contains_key(&name) {
            self.defs.insert(name.clone(), None);
            let def = define(self);
            self.defs.insert(name.clone(), Some(def));
        }
        Ty::Named(name)
    }

    /// The type named `name`.
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.defs.get(name)?.as_ref()
    }

    /// Every type, by name.
    pub fn iter(&self) -> impl Iterator<Item = &TypeDef> + '_ {
        self.defs.values().flatten()
    }
}
