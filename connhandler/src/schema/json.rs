//! The protocol document's JSON form, version 1:
//!
//! ```text
//! {
//!   "format": "connhandler-protocol", "version": 1, "hash": "<16 hex digits>",
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
//!            "kind": "plain" | "rest" | "skip", "role": null | "correlation" | "version" | "reason",
//!            "rust": "<the Rust type as written>"}
//! <type> = "u8" | "i8" | ... | "u128" | "i128" | "f32" | "f64" | "bool" | "string" | "bytes" | "unit"
//!        | {"vec": <type>} | {"option": <type>} | {"array": [n, <type>]} | {"tuple": [<type>, ...]}
//!        | {"named": "<definition's name>"} | {"opaque": "<name>"}
//! ```
//!
//! Keys are written in alphabetical order, two spaces of indent; the hash is FNV-1a 64 over
//! the same document written compactly without its `hash` key.

use serde_json::{json, Map, Value};

use super::{FramingSpec, Protocol, FORMAT_VERSION};
use crate::describe::{ByteOrder, FieldDef, FieldKind, FieldRole, Shape, Ty, TypeDef, VariantDef};

/// The document; with `full`, pretty and with its hash, else compact without it.
pub(super) fn write(p: &Protocol, full: bool) -> String {
    let mut doc = Map::new();
    doc.insert("format".into(), json!("connhandler-protocol"));
    doc.insert("version".into(), json!(FORMAT_VERSION));
    if full {
        doc.insert("hash".into(), json!(p.hash()));
    }
    doc.insert("name".into(), json!(p.name));
    doc.insert("framing".into(), framing(&p.framing));
    doc.insert("recv".into(), ty(&p.recv));
    doc.insert("send".into(), ty(&p.send));
    let mut types: Vec<&TypeDef> = p.types.iter().collect();
    types.sort_by(|a, b| a.name.cmp(&b.name));
    doc.insert(
        "types".into(),
        Value::Array(types.into_iter().map(definition).collect()),
    );
    let doc = Value::Object(doc);
    if full {
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    } else {
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

fn framing(f: &FramingSpec) -> Value {
    match f {
        FramingSpec::TcpMessage {
            max_message_size,
            explicit_final_chunk,
        } => json!({
            "kind": "tcp_message",
            "max_message_size": max_message_size,
            "explicit_final_chunk": explicit_final_chunk,
        }),
        FramingSpec::Panda3d { header_size } => {
            json!({"kind": "panda3d", "header_size": header_size})
        }
        FramingSpec::WebSocket => json!({"kind": "websocket"}),
    }
}

fn definition(t: &TypeDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(t.name));
    m.insert("id_bytes".into(), json!(t.id_bytes));
    m.insert("order".into(), json!(t.order.name()));
    m.insert("len".into(), json!(t.len));
    m.insert("json".into(), json!(t.json));
    match &t.shape {
        Shape::Struct { id, fields } => {
            m.insert(
                "struct".into(),
                json!({"id": id, "fields": fields.iter().map(field).collect::<Vec<_>>()}),
            );
        }
        Shape::Enum { variants } => {
            m.insert(
                "enum".into(),
                json!({"variants": variants.iter().map(variant).collect::<Vec<_>>()}),
            );
        }
    }
    Value::Object(m)
}

fn variant(v: &VariantDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(v.name));
    m.insert("id".into(), json!(v.id));
    m.insert("role".into(), json!(v.role));
    m.insert("replies".into(), json!(v.replies));
    m.insert(
        "fields".into(),
        Value::Array(v.fields.iter().map(field).collect()),
    );
    Value::Object(m)
}

fn field(f: &FieldDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(f.name));
    m.insert("type".into(), ty(&f.ty));
    m.insert("order".into(), json!(f.order.name()));
    m.insert("len".into(), json!(f.len));
    m.insert(
        "kind".into(),
        json!(match f.kind {
            FieldKind::Plain => "plain",
            FieldKind::Rest => "rest",
            FieldKind::Skip => "skip",
        }),
    );
    m.insert("role".into(), json!(f.role.map(FieldRole::name)));
    m.insert("rust".into(), json!(f.rust));
    Value::Object(m)
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

fn ty(t: &Ty) -> Value {
    if let Some(name) = simple_name(t) {
        return json!(name);
    }
    match t {
        Ty::Vec(i) => json!({"vec": ty(i)}),
        Ty::Option(i) => json!({"option": ty(i)}),
        Ty::Array(n, i) => json!({"array": [n, ty(i)]}),
        Ty::Tuple(ts) => json!({"tuple": ts.iter().map(ty).collect::<Vec<_>>()}),
        Ty::Named(n) => json!({"named": n}),
        Ty::Opaque(n) => json!({"opaque": n}),
        _ => json!({"opaque": "?"}),
    }
}

/// Reads a document.
pub(super) fn read(text: &str) -> Result<Protocol, String> {
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
