//! The protocol document's JSON form, version 1:
//!
//! ```text
//! {
//!   "format": "connhandler-protocol", "version": 1, "hash": "<16 hex digits>",
//!   "messages_hash": "<16 hex digits>",
//!   "name": "<peer kind>",
//!   "framing": {"kind": "tcp_message", "max_message_size": 65535, "explicit_final_chunk": true}
//!            | {"kind": "panda3d", "header_size": 2} | {"kind": "websocket"},
//!   "recv": <type>, "send": <type>,
//!   "types": [<definition>, ...]                      (by name)
//! }
//! <definition> = {"name": "...", "id_bytes": 2, "order": "little", "len": 2, "json": false,
//!                 "struct": {"id": 5 | null, "fields": [<field>, ...]}
//!               | "enum": {"variants": [<variant>, ...]}}   (by id, the catch-all last)
//! <variant> = {"name": "...", "id": 3 | null, "role": null | "hello" | "reject" | "ping" | "pong",
//!              "replies": ["Enum::Variant", ...], "fields": [<field>, ...]}
//! <field> = {"name": "...", "type": <type>, "order": "little" | "big", "len": 1 | 2 | 4,
//!            "kind": "plain" | "rest" | "skip",
//!            "role": null | "correlation" | "version" | "reason" | "protocol",
//!            "rust": "<the Rust type as written>"}
//! <type> = "u8" | "i8" | ... | "u128" | "i128" | "f32" | "f64" | "bool" | "string" | "bytes" | "unit"
//!        | {"vec": <type>} | {"option": <type>} | {"array": [n, <type>]} | {"tuple": [<type>, ...]}
//!        | {"named": "<definition's name>"} | {"opaque": "<name>"}
//! ```
//!
//! Keys are written in alphabetical order, two spaces of indent. `hash` is FNV-1a 64 over
//! the same document written compactly without its two hashes. `messages_hash` is FNV-1a 64
//! over the compact document of the messages alone: `format`, `version`, `types`, and
//! `"messages"` (the compact JSON of `recv` and `send`, as two strings in sorted order) in
//! place of `name`, `framing`, `recv` and `send`; both sides of a conversation have the same
//! one, and it is what a version handshake can compare (see
//! [`Hello::hello_with`](crate::talk::Hello::hello_with)).

use std::collections::BTreeMap;

use super::{FramingSpec, Protocol, FORMAT_VERSION};
use crate::describe::{FieldDef, Shape, Ty, TypeDef, VariantDef};

/// A JSON value as the document writes it: written by hand, so that the runtime (the
/// handshake's hash) needs no JSON library; the text is the same as `serde_json` writes.
enum J {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<&'static str, J>),
}

impl J {
    fn str(s: &str) -> J {
        J::Str(s.to_owned())
    }

    fn opt_num(n: Option<u64>) -> J {
        n.map_or(J::Null, J::Num)
    }

    fn obj<const N: usize>(pairs: [(&'static str, J); N]) -> J {
        J::Obj(pairs.into_iter().collect())
    }

    /// Compact (`{"a":1}`) or pretty (two spaces, `"a": 1`), as `serde_json` writes them.
    fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        use std::fmt::Write;
        let newline = |out: &mut String, depth: usize| {
            if pretty {
                out.push('\n');
                for _ in 0..depth {
                    out.push_str("  ");
                }
            }
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Str(s) => escape(out, s),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(items) if items.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    item.write(out, pretty, depth + 1);
                }
                newline(out, depth);
                out.push(']');
            }
            J::Obj(items) => {
                out.push('{');
                for (i, (key, item)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    escape(out, key);
                    out.push_str(if pretty { ": " } else { ":" });
                    item.write(out, pretty, depth + 1);
                }
                newline(out, depth);
                out.push('}');
            }
        }
    }
}

/// A JSON string, escaped as `serde_json` does: quotes, backslashes and control characters.
fn escape(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What a document is written for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// The document as a file: pretty, with its hashes.
    Full,
    /// What [`Protocol::hash`] hashes: compact, without the hashes.
    Hashed,
    /// What [`Protocol::messages_hash`] hashes: compact, the messages only (no name, no
    /// framing, the two directions in a canonical order).
    Messages,
}

/// The document in `form`.
pub(super) fn write(p: &Protocol, form: Form) -> String {
    let mut doc = BTreeMap::new();
    doc.insert("format", J::str("connhandler-protocol"));
    doc.insert("version", J::Num(u64::from(FORMAT_VERSION)));
    let mut types: Vec<&TypeDef> = p.types.iter().collect();
    types.sort_by(|a, b| a.name.cmp(&b.name));
    doc.insert("types", J::Arr(types.into_iter().map(definition).collect()));
    if form == Form::Messages {
        // Both sides of a conversation have the same messages: the one's recv is the other's
        // send.
        let mut pair = [compact(&ty(&p.recv)), compact(&ty(&p.send))];
        pair.sort();
        doc.insert("messages", J::Arr(pair.iter().map(|t| J::str(t)).collect()));
    } else {
        doc.insert("name", J::str(&p.name));
        doc.insert("framing", framing(&p.framing));
        doc.insert("recv", ty(&p.recv));
        doc.insert("send", ty(&p.send));
    }
    if form == Form::Full {
        doc.insert("hash", J::str(&p.hash()));
        doc.insert("messages_hash", J::str(&p.messages_hash()));
    }
    let mut text = String::new();
    J::Obj(doc).write(&mut text, form == Form::Full, 0);
    if form == Form::Full {
        text.push('\n');
    }
    text
}

fn compact(j: &J) -> String {
    let mut text = String::new();
    j.write(&mut text, false, 0);
    text
}

fn framing(f: &FramingSpec) -> J {
    match f {
        FramingSpec::TcpMessage {
            max_message_size,
            explicit_final_chunk,
        } => J::obj([
            ("kind", J::str("tcp_message")),
            ("max_message_size", J::Num(*max_message_size as u64)),
            ("explicit_final_chunk", J::Bool(*explicit_final_chunk)),
        ]),
        FramingSpec::Panda3d { header_size } => J::obj([
            ("kind", J::str("panda3d")),
            ("header_size", J::Num(u64::from(*header_size))),
        ]),
        FramingSpec::WebSocket => J::obj([("kind", J::str("websocket"))]),
    }
}

fn definition(t: &TypeDef) -> J {
    let shape = match &t.shape {
        Shape::Struct { id, fields } => (
            "struct",
            J::obj([
                ("id", J::opt_num(*id)),
                ("fields", J::Arr(fields.iter().map(field).collect())),
            ]),
        ),
        Shape::Enum { variants } => (
            "enum",
            J::obj([("variants", J::Arr(variants.iter().map(variant).collect()))]),
        ),
    };
    J::obj([
        ("name", J::str(&t.name)),
        ("id_bytes", J::Num(u64::from(t.id_bytes))),
        ("order", J::str(t.order.name())),
        ("len", J::Num(u64::from(t.len))),
        ("json", J::Bool(t.json)),
        shape,
    ])
}

fn variant(v: &VariantDef) -> J {
    J::obj([
        ("name", J::str(&v.name)),
        ("id", J::opt_num(v.id)),
        ("role", v.role.as_deref().map_or(J::Null, J::str)),
        (
            "replies",
            J::Arr(v.replies.iter().map(|r| J::str(r)).collect()),
        ),
        ("fields", J::Arr(v.fields.iter().map(field).collect())),
    ])
}

fn field(f: &FieldDef) -> J {
    J::obj([
        ("name", J::str(&f.name)),
        ("type", ty(&f.ty)),
        ("order", J::str(f.order.name())),
        ("len", J::Num(u64::from(f.len))),
        ("kind", J::str(f.kind.name())),
        ("role", f.role.map_or(J::Null, |r| J::str(r.name()))),
        ("rust", J::str(&f.rust)),
    ])
}

/// A type's name in the document (`"u32"`, `"string"`...), for the simple ones.
pub(crate) fn simple_name(t: &Ty) -> Option<String> {
    Some(match t {
        Ty::Int { bits, signed } => format!("{}{bits}", if *signed { 'i' } else { 'u' }),
        Ty::Float { bits } => format!("f{bits}"),
        Ty::Bool => "bool".into(),
        Ty::String => "string".into(),
        Ty::Bytes => "bytes".into(),
        Ty::Unit => "unit".into(),
        _ => return None,
    })
}

fn ty(t: &Ty) -> J {
    if let Some(name) = simple_name(t) {
        return J::Str(name);
    }
    match t {
        Ty::Vec(i) => J::obj([("vec", ty(i))]),
        Ty::Option(i) => J::obj([("option", ty(i))]),
        Ty::Array(n, i) => J::obj([("array", J::Arr(vec![J::Num(*n as u64), ty(i)]))]),
        Ty::Tuple(ts) => J::obj([("tuple", J::Arr(ts.iter().map(ty).collect()))]),
        Ty::Named(n) => J::obj([("named", J::str(n))]),
        Ty::Opaque(n) => J::obj([("opaque", J::str(n))]),
        _ => J::obj([("opaque", J::str("?"))]),
    }
}

/// The reader (feature `schema`: `serde_json` parses).
#[cfg(feature = "schema")]
mod reading {
    use serde_json::Value;

    use super::{FramingSpec, Protocol, FORMAT_VERSION};
    use crate::describe::{
        ByteOrder, FieldDef, FieldKind, FieldRole, Shape, Ty, TypeDef, VariantDef,
    };

    /// Reads a document.
    pub(in crate::schema) fn read(text: &str) -> Result<Protocol, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let format = doc.get("format").and_then(Value::as_str);
        if format != Some("connhandler-protocol") {
            return Err(
                "not a connhandler protocol document (no `format: connhandler-protocol`)".into(),
            );
        }
        let version = doc.get("version").and_then(Value::as_u64);
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(format!(
                "a protocol document of format version {version:?}; this connhandler reads version {FORMAT_VERSION}"
            ));
        }
        let protocol = Protocol {
            name: string(&doc, "name")?,
            framing: read_framing(get(&doc, "framing")?)?,
            recv: read_ty(get(&doc, "recv")?)?,
            send: read_ty(get(&doc, "send")?)?,
            types: array(&doc, "types")?
                .iter()
                .map(read_definition)
                .collect::<Result<_, _>>()?,
        };
        if let Some(hash) = doc.get("hash").and_then(Value::as_str) {
            if hash != protocol.hash() {
                return Err(format!(
                    "the document's hash {hash} is not its contents' ({}): it was edited by hand",
                    protocol.hash()
                ));
            }
        }
        Ok(protocol)
    }

    fn get<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
        v.get(key).ok_or_else(|| format!("`{key}` is missing"))
    }

    fn string(v: &Value, key: &str) -> Result<String, String> {
        get(v, key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("`{key}` is not a string"))
    }

    fn number(v: &Value, key: &str) -> Result<u64, String> {
        get(v, key)?
            .as_u64()
            .ok_or_else(|| format!("`{key}` is not a number"))
    }

    fn array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, String> {
        get(v, key)?
            .as_array()
            .ok_or_else(|| format!("`{key}` is not a list"))
    }

    fn order(v: &Value) -> Result<ByteOrder, String> {
        match string(v, "order")?.as_str() {
            "little" => Ok(ByteOrder::Little),
            "big" => Ok(ByteOrder::Big),
            other => Err(format!("order `{other}`")),
        }
    }

    fn read_framing(v: &Value) -> Result<FramingSpec, String> {
        Ok(match string(v, "kind")?.as_str() {
            "tcp_message" => FramingSpec::TcpMessage {
                max_message_size: number(v, "max_message_size")? as usize,
                explicit_final_chunk: get(v, "explicit_final_chunk")?
                    .as_bool()
                    .ok_or("`explicit_final_chunk` is not a bool")?,
            },
            "panda3d" => FramingSpec::Panda3d {
                header_size: number(v, "header_size")? as u8,
            },
            "websocket" => FramingSpec::WebSocket,
            other => return Err(format!("framing `{other}`")),
        })
    }

    fn read_definition(v: &Value) -> Result<TypeDef, String> {
        let shape = if let Some(s) = v.get("struct") {
            Shape::Struct {
                id: get(s, "id")?.as_u64(),
                fields: array(s, "fields")?
                    .iter()
                    .map(read_field)
                    .collect::<Result<_, _>>()?,
            }
        } else {
            let e = get(v, "enum")?;
            Shape::Enum {
                variants: array(e, "variants")?
                    .iter()
                    .map(read_variant)
                    .collect::<Result<_, _>>()?,
            }
        };
        Ok(TypeDef {
            name: string(v, "name")?,
            id_bytes: number(v, "id_bytes")? as u8,
            order: order(v)?,
            len: number(v, "len")? as u8,
            json: get(v, "json")?.as_bool().ok_or("`json` is not a bool")?,
            shape,
        })
    }

    fn read_variant(v: &Value) -> Result<VariantDef, String> {
        Ok(VariantDef {
            name: string(v, "name")?,
            id: get(v, "id")?.as_u64(),
            role: get(v, "role")?.as_str().map(str::to_owned),
            replies: array(v, "replies")?
                .iter()
                .map(|r| {
                    r.as_str()
                        .map(str::to_owned)
                        .ok_or("a reply that is not a string")
                })
                .collect::<Result<_, _>>()?,
            fields: array(v, "fields")?
                .iter()
                .map(read_field)
                .collect::<Result<_, _>>()?,
        })
    }

    fn read_field(v: &Value) -> Result<FieldDef, String> {
        Ok(FieldDef {
            name: string(v, "name")?,
            ty: read_ty(get(v, "type")?)?,
            order: order(v)?,
            len: number(v, "len")? as u8,
            kind: match string(v, "kind")?.as_str() {
                "plain" => FieldKind::Plain,
                "rest" => FieldKind::Rest,
                "skip" => FieldKind::Skip,
                other => return Err(format!("field kind `{other}`")),
            },
            role: match get(v, "role")?.as_str() {
                None => None,
                Some("correlation") => Some(FieldRole::Correlation),
                Some("version") => Some(FieldRole::Version),
                Some("reason") => Some(FieldRole::Reason),
                Some("protocol") => Some(FieldRole::Protocol),
                Some(other) => return Err(format!("field role `{other}`")),
            },
            rust: string(v, "rust")?,
        })
    }

    fn read_ty(v: &Value) -> Result<Ty, String> {
        if let Some(name) = v.as_str() {
            return Ok(match name {
                "bool" => Ty::Bool,
                "string" => Ty::String,
                "bytes" => Ty::Bytes,
                "unit" => Ty::Unit,
                n if n.starts_with('f') => Ty::Float {
                    bits: n[1..].parse().map_err(|_| format!("type `{n}`"))?,
                },
                n if n.starts_with('u') || n.starts_with('i') => Ty::Int {
                    bits: n[1..].parse().map_err(|_| format!("type `{n}`"))?,
                    signed: n.starts_with('i'),
                },
                other => return Err(format!("type `{other}`")),
            });
        }
        let (key, inner) = v
            .as_object()
            .and_then(|m| m.iter().next())
            .ok_or_else(|| format!("type {v}"))?;
        Ok(match key.as_str() {
            "vec" => Ty::Vec(Box::new(read_ty(inner)?)),
            "option" => Ty::Option(Box::new(read_ty(inner)?)),
            "array" => {
                let parts = inner.as_array().ok_or("`array` is not a pair")?;
                let n = parts
                    .first()
                    .and_then(Value::as_u64)
                    .ok_or("an array's length")?;
                Ty::Array(
                    n as usize,
                    Box::new(read_ty(parts.get(1).ok_or("an array's item")?)?),
                )
            }
            "tuple" => Ty::Tuple(
                inner
                    .as_array()
                    .ok_or("`tuple` is not a list")?
                    .iter()
                    .map(read_ty)
                    .collect::<Result<_, _>>()?,
            ),
            "named" => Ty::Named(inner.as_str().ok_or("`named` is not a string")?.to_owned()),
            "opaque" => Ty::Opaque(inner.as_str().ok_or("`opaque` is not a string")?.to_owned()),
            other => return Err(format!("type `{other}`")),
        })
    }
}

#[cfg(feature = "schema")]
pub(super) use reading::read;

#[cfg(all(test, feature = "schema"))]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::describe::{ByteOrder, FieldKind, FieldRole};

    /// The hand-written writer writes what `serde_json` writes, escapes included.
    #[test]
    fn the_text_is_serde_jsons() {
        let field = |name: &str, ty: Ty| FieldDef {
            name: name.into(),
            ty,
            order: ByteOrder::Little,
            len: 2,
            kind: FieldKind::Plain,
            role: Some(FieldRole::Protocol),
            rust: "Vec<(u8, \"q\\\u{1}\t\u{7f}é)>".into(),
        };
        let p = Protocol {
            name: "odd \"name\"\n".into(),
            framing: FramingSpec::tcp_message(),
            recv: Ty::Named("A".into()),
            send: Ty::Vec(Box::new(Ty::Tuple(vec![Ty::Bool, Ty::Unit]))),
            types: vec![
                TypeDef {
                    name: "B".into(),
                    id_bytes: 2,
                    order: ByteOrder::Big,
                    len: 4,
                    json: false,
                    shape: Shape::Struct {
                        id: None,
                        fields: Vec::new(),
                    },
                },
                TypeDef {
                    name: "A".into(),
                    id_bytes: 1,
                    order: ByteOrder::Little,
                    len: 2,
                    json: true,
                    shape: Shape::Enum {
                        variants: vec![VariantDef {
                            name: "V".into(),
                            id: Some(u64::MAX),
                            role: Some("hello".into()),
                            replies: vec!["A::V".into()],
                            fields: vec![
                                field("x", Ty::Array(3, Box::new(Ty::Float { bits: 32 }))),
                                field("y", Ty::Option(Box::new(Ty::Opaque("f".into())))),
                            ],
                        }],
                    },
                },
            ],
        };
        for form in [Form::Full, Form::Hashed, Form::Messages] {
            let ours = write(&p, form);
            let value: Value = serde_json::from_str(&ours).unwrap();
            let theirs = if form == Form::Full {
                serde_json::to_string_pretty(&value).unwrap() + "\n"
            } else {
                serde_json::to_string(&value).unwrap()
            };
            assert_eq!(ours, theirs);
        }
        assert_eq!(read(&p.to_json()).unwrap().hash(), p.hash());
    }
}
