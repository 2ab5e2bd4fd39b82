//! Messages of a protocol document as JSON, with no generated code: what a tool that has
//! only the document (`tcpmsg --schema`) decodes and encodes with.
//!
//! A message is `{"msg": NAME, "fields": {..}}`, NAME its variant's (or struct's) name and
//! the fields by name (`"0"`, `"1"`... for a tuple's). Values: integers as JSON numbers
//! (128-bit ones as strings of digits), floats as numbers, `bool`, strings, bytes as hex
//! strings, vecs and arrays as arrays, tuples as arrays, options as `null` or the value,
//! `()` as `null`, a nested struct as an object of its fields, a nested enum value as
//! `{VARIANT: {fields}}`; a JSON body's fields as they are; the catch-all variant as
//! `{"id": N, "body": HEX}`. A type the document leaves opaque cannot be read or written
//! here: the error names it.
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{dynamic, FramingSpec, Protocol}, Encode, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! enum Up {
//!     #[wire(id = 1)]
//!     Say { text: String },
//! }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Up, send = Up, name = "chat")]
//! struct Chatter;
//!
//! let protocol = Protocol::of::<Chatter>(FramingSpec::tcp_message());
//! let json = serde_json::json!({"msg": "Say", "fields": {"text": "hi"}});
//! let bytes = dynamic::encode(&protocol, &protocol.recv, &json).unwrap();
//! let mut expected = bytes::BytesMut::new();
//! Up::Say { text: "hi".into() }.encode(&mut expected);
//! assert_eq!(bytes, &expected[..]);
//! assert_eq!(dynamic::decode(&protocol, &protocol.recv, &bytes).unwrap(), json);
//! ```

use serde_json::{json, Map, Value};

use super::{is_u8, Protocol};
use crate::describe::{ByteOrder, FieldDef, FieldKind, Shape, Ty, TypeDef};

/// Decodes the whole of `bytes` as a message of `ty` (the document's `recv` or `send`).
///
/// # Errors
///
/// What is wrong, naming the field (`"Type.field: ..."`).
///
/// # Examples
///
/// See the [module's docs](self).
pub fn decode(p: &Protocol, ty: &Ty, bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader {
        p,
        data: bytes,
        pos: 0,
    };
    let t = message_type(p, ty)?;
    let (msg, fields) = r.message(t)?;
    if r.pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the message",
            bytes.len() - r.pos
        ));
    }
    Ok(json!({ "msg": msg, "fields": fields }))
}

/// The document's definition of the message type `ty`.
fn message_type<'p>(p: &'p Protocol, ty: &Ty) -> Result<&'p TypeDef, String> {
    let name = match ty {
        Ty::Named(n) => n,
        other => return Err(format!("{other:?} is not a message type")),
    };
    p.get(name)
        .ok_or_else(|| format!("no type {name} in the document"))
}

/// Encodes `message` (`{"msg": NAME, "fields": {..}}`) as a message of `ty`.
///
/// # Errors
///
/// What is wrong: an unknown message name, a missing field, a value out of its type.
///
/// # Examples
///
/// See the [module's docs](self).
pub fn encode(p: &Protocol, ty: &Ty, message: &Value) -> Result<Vec<u8>, String> {
    let t = message_type(p, ty)?;
    let msg = message
        .get("msg")
        .and_then(Value::as_str)
        .ok_or("a message is {\"msg\": NAME, \"fields\": {..}}: `msg` is missing")?;
    let empty = Value::Object(Map::new());
    let fields = message.get("fields").unwrap_or(&empty);
    let mut w = Writer { p, out: Vec::new() };
    match &t.shape {
        Shape::Struct { .. } if msg == t.name => w.typed(t, fields, &t.name)?,
        Shape::Struct { .. } => {
            return Err(format!(
                "`{msg}` is not a message here: this side sends {}",
                t.name
            ))
        }
        Shape::Enum { variants } => {
            if !variants.iter().any(|v| v.name == msg) {
                let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                return Err(format!(
                    "`{msg}` is not a message of {}: one of {}",
                    t.name,
                    names.join(", ")
                ));
            }
            w.variant(t, msg, fields)?;
        }
    }
    Ok(w.out)
}

struct Reader<'a> {
    p: &'a Protocol,
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, at: &str) -> Result<&[u8], String> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(format!("{at}: {n} bytes needed, {left} left"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize, order: ByteOrder, at: &str) -> Result<u128, String> {
        let b = self.take(n, at)?;
        let mut v: u128 = 0;
        match order {
            ByteOrder::Little => b.iter().rev().for_each(|x| v = v << 8 | u128::from(*x)),
            ByteOrder::Big => b.iter().for_each(|x| v = v << 8 | u128::from(*x)),
        }
        Ok(v)
    }

    fn count(&mut self, f: &FieldDef, min: usize, at: &str) -> Result<usize, String> {
        let n = self.uint(usize::from(f.len), f.order, at)? as usize;
        let left = self.data.len() - self.pos;
        if n.saturating_mul(min.max(1)) > left {
            return Err(format!(
                "{at}: length {n} is more than the {left} bytes left can hold"
            ));
        }
        Ok(n)
    }

    /// A message of `t` (its id first): its name and fields.
    fn message(&mut self, t: &TypeDef) -> Result<(String, Value), String> {
        match &t.shape {
            Shape::Struct { .. } => Ok((t.name.clone(), self.typed(t)?)),
            Shape::Enum { .. } => {
                let (name, fields) = self.variant(t)?;
                Ok((name, fields))
            }
        }
    }

    /// A struct's fields (its id checked first, when it has one).
    fn typed(&mut self, t: &TypeDef) -> Result<Value, String> {
        let Shape::Struct { id, fields } = &t.shape else {
            let (name, fields) = self.variant(t)?;
            return Ok(json!({ name: fields }));
        };
        if let Some(id) = id {
            let at = format!("{}.id", t.name);
            let got = self.uint(usize::from(t.id_bytes), t.order, &at)?;
            if got != u128::from(*id) {
                return Err(format!("{at}: id 0x{got:x}, not 0x{id:x}"));
            }
        }
        self.fields(t, &t.name, fields)
    }

    fn variant(&mut self, t: &TypeDef) -> Result<(String, Value), String> {
        let Shape::Enum { variants } = &t.shape else {
            return Ok((t.name.clone(), self.typed(t)?));
        };
        let at = format!("{}.id", t.name);
        let id = self.uint(usize::from(t.id_bytes), t.order, &at)?;
        match variants.iter().find(|v| v.id.map(u128::from) == Some(id)) {
            Some(v) => {
                let fields = self.fields(t, &format!("{}.{}", t.name, v.name), &v.fields)?;
                Ok((v.name.clone(), fields))
            }
            None => match variants.iter().find(|v| v.id.is_none()) {
                Some(c) => {
                    let body = hex(&self.data[self.pos..]);
                    self.pos = self.data.len();
                    Ok((c.name.clone(), json!({ "id": id as u64, "body": body })))
                }
                None => Err(format!("{at}: unknown message id 0x{id:x}")),
            },
        }
    }

    fn fields(&mut self, t: &TypeDef, label: &str, fields: &[FieldDef]) -> Result<Value, String> {
        let mut out = Map::new();
        if t.json {
            let text = std::str::from_utf8(&self.data[self.pos..])
                .map_err(|_| format!("{label}.body: invalid UTF-8"))?;
            self.pos = self.data.len();
            let body: Value = serde_json::from_str(text)
                .map_err(|e| format!("{label}.body: invalid JSON: {e}"))?;
            let Value::Object(body) = body else {
                return Err(format!("{label}.body: not a JSON object"));
            };
            for f in fields.iter().filter(|f| f.kind != FieldKind::Skip) {
                let v = body
                    .get(&f.name)
                    .ok_or_else(|| format!("{label}.{}: missing", f.name))?;
                if !json_fits(&f.ty, v) {
                    return Err(format!("{label}.{}: {v} is not a {}", f.name, f.rust));
                }
                out.insert(f.name.clone(), v.clone());
            }
            return Ok(Value::Object(out));
        }
        for f in fields.iter().filter(|f| f.kind != FieldKind::Skip) {
            let at = format!("{label}.{}", f.name);
            let v = self.value(&f.ty, f, &at, f.kind == FieldKind::Rest)?;
            out.insert(f.name.clone(), v);
        }
        Ok(Value::Object(out))
    }

    fn value(&mut self, ty: &Ty, f: &FieldDef, at: &str, rest: bool) -> Result<Value, String> {
        Ok(match ty {
            Ty::Int { bits, signed } => {
                let n = usize::from(*bits) / 8;
                let raw = self.uint(n, f.order, at)?;
                if *signed {
                    let shift = 128 - u32::from(*bits);
                    let v = ((raw << shift) as i128) >> shift;
                    if *bits > 64 {
                        Value::String(v.to_string())
                    } else {
                        json!(v as i64)
                    }
                } else if *bits > 64 {
                    Value::String(raw.to_string())
                } else {
                    json!(raw as u64)
                }
            }
            Ty::Float { bits: 32 } => {
                let raw = self.uint(4, f.order, at)? as u32;
                json!(f64::from(f32::from_bits(raw)))
            }
            Ty::Float { .. } => json!(f64::from_bits(self.uint(8, f.order, at)? as u64)),
            Ty::Bool => match self.take(1, at)?[0] {
                0 => json!(false),
                1 => json!(true),
                b => return Err(format!("{at}: invalid bool {b}")),
            },
            Ty::String => {
                let n = if rest {
                    self.data.len() - self.pos
                } else {
                    self.count(f, 1, at)?
                };
                let b = self.take(n, at)?;
                Value::String(
                    std::str::from_utf8(b)
                        .map_err(|_| format!("{at}: invalid UTF-8"))?
                        .to_owned(),
                )
            }
            Ty::Bytes => {
                let n = if rest {
                    self.data.len() - self.pos
                } else {
                    self.count(f, 1, at)?
                };
                Value::String(hex(self.take(n, at)?))
            }
            Ty::Vec(item) if is_u8(item) => {
                let n = if rest {
                    self.data.len() - self.pos
                } else {
                    self.count(f, 1, at)?
                };
                Value::String(hex(self.take(n, at)?))
            }
            Ty::Vec(item) => {
                let mut items = Vec::new();
                if rest {
                    while self.pos < self.data.len() {
                        items.push(self.value(item, f, at, false)?);
                    }
                } else {
                    let min = self.p.min_len(item);
                    for _ in 0..self.count(f, min, at)? {
                        items.push(self.value(item, f, at, false)?);
                    }
                }
                Value::Array(items)
            }
            Ty::Array(n, item) if is_u8(item) => Value::String(hex(self.take(*n, at)?)),
            Ty::Array(n, item) => {
                let mut items = Vec::with_capacity((*n).min(4096));
                for _ in 0..*n {
                    items.push(self.value(item, f, at, false)?);
                }
                Value::Array(items)
            }
            Ty::Option(inner) => match self.take(1, at)?[0] {
                0 => Value::Null,
                1 => self.value(inner, f, at, false)?,
                b => return Err(format!("{at}: invalid option tag {b}")),
            },
            Ty::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(|t| self.value(t, f, at, false))
                    .collect::<Result<_, _>>()?,
            ),
            Ty::Unit => Value::Null,
            Ty::Named(n) => {
                let t = self
                    .p
                    .get(n)
                    .ok_or_else(|| format!("{at}: no type {n} in the document"))?;
                self.typed(t)?
            }
            Ty::Opaque(n) => {
                return Err(format!(
                    "{at}: `{n}` is a type of the program's own (opaque in the document)"
                ))
            }
        })
    }
}

struct Writer<'a> {
    p: &'a Protocol,
    out: Vec<u8>,
}

impl Writer<'_> {
    fn uint(&mut self, v: u128, n: usize, order: ByteOrder) {
        let bytes = v.to_le_bytes();
        match order {
            ByteOrder::Little => self.out.extend_from_slice(&bytes[..n]),
            ByteOrder::Big => self.out.extend(bytes[..n].iter().rev()),
        }
    }

    fn variant(&mut self, t: &TypeDef, name: &str, fields: &Value) -> Result<(), String> {
        let Shape::Enum { variants } = &t.shape else {
            return self.typed(t, fields, &t.name);
        };
        let v = variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| format!("`{name}` is not a variant of {}", t.name))?;
        let label = format!("{}.{}", t.name, v.name);
        match v.id {
            Some(id) => {
                self.uint(u128::from(id), usize::from(t.id_bytes), t.order);
                self.fields(t, &label, &v.fields, fields)
            }
            None => {
                let id = fields
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{label}.id: a number is needed"))?;
                self.uint(u128::from(id), usize::from(t.id_bytes), t.order);
                let body = fields
                    .get("body")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{label}.body: a hex string is needed"))?;
                self.out
                    .extend(unhex(body).map_err(|e| format!("{label}.body: {e}"))?);
                Ok(())
            }
        }
    }

    /// A struct's (its id first) or a nested enum value's (`{VARIANT: {fields}}`).
    fn typed(&mut self, t: &TypeDef, value: &Value, label: &str) -> Result<(), String> {
        match &t.shape {
            Shape::Struct { id, fields } => {
                if let Some(id) = id {
                    self.uint(u128::from(*id), usize::from(t.id_bytes), t.order);
                }
                self.fields(t, label, fields, value)
            }
            Shape::Enum { .. } => {
                let obj = value
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .ok_or_else(|| format!("{label}: a {} is {{VARIANT: {{fields}}}}", t.name))?;
                let (name, fields) = obj.iter().next().ok_or("empty")?;
                self.variant(t, name, fields)
            }
        }
    }

    fn fields(
        &mut self,
        t: &TypeDef,
        label: &str,
        fields: &[FieldDef],
        value: &Value,
    ) -> Result<(), String> {
        let empty = Map::new();
        let obj = match value {
            Value::Object(o) => o,
            Value::Null => &empty,
            _ => return Err(format!("{label}: the fields are an object")),
        };
        let wire: Vec<&FieldDef> = fields
            .iter()
            .filter(|f| f.kind != FieldKind::Skip)
            .collect();
        if t.json {
            // The fields in their order, as serde_json writes a struct.
            let mut body = Vec::new();
            for f in &wire {
                let v = obj
                    .get(&f.name)
                    .ok_or_else(|| format!("{label}.{}: missing", f.name))?;
                if !json_fits(&f.ty, v) {
                    return Err(format!("{label}.{}: {v} is not a {}", f.name, f.rust));
                }
                body.push(format!("{}:{v}", Value::String(f.name.clone())));
            }
            self.out.extend(format!("{{{}}}", body.join(",")).bytes());
            return Ok(());
        }
        for f in wire {
            let at = format!("{label}.{}", f.name);
            let v = obj.get(&f.name).ok_or_else(|| format!("{at}: missing"))?;
            self.value(&f.ty, f, v, &at, f.kind == FieldKind::Rest)?;
        }
        Ok(())
    }

    fn count(&mut self, n: usize, f: &FieldDef, at: &str) -> Result<(), String> {
        let width = usize::from(f.len);
        if width < 16 && (n as u128) >> (8 * width) != 0 {
            return Err(format!(
                "{at}: length {n} does not fit a {width}-byte prefix"
            ));
        }
        self.uint(n as u128, width, f.order);
        Ok(())
    }

    fn value(
        &mut self,
        ty: &Ty,
        f: &FieldDef,
        v: &Value,
        at: &str,
        rest: bool,
    ) -> Result<(), String> {
        let bad = |what: &str| format!("{at}: {v} is not {what}");
        match ty {
            Ty::Int { bits, signed } => {
                let n = usize::from(*bits) / 8;
                let parsed: Option<i128> = match v {
                    Value::Number(x) => x
                        .as_i64()
                        .map(i128::from)
                        .or_else(|| x.as_u64().map(i128::from)),
                    Value::String(s) => s.parse::<i128>().ok(),
                    _ => None,
                };
                let unsigned_big: Option<u128> = match v {
                    Value::String(s) if !*signed => s.parse::<u128>().ok(),
                    _ => None,
                };
                let what = format!(
                    "{} {}{bits}",
                    if *signed { "an" } else { "a" },
                    if *signed { "i" } else { "u" }
                );
                let raw: u128 = if *signed {
                    let x = parsed.ok_or_else(|| bad(&what))?;
                    let (lo, hi) = if *bits == 128 {
                        (i128::MIN, i128::MAX)
                    } else {
                        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                    };
                    if x < lo || x > hi {
                        return Err(bad(&what));
                    }
                    x as u128
                } else {
                    let x = match (parsed, unsigned_big) {
                        (_, Some(x)) => x,
                        (Some(x), None) if x >= 0 => x as u128,
                        _ => return Err(bad(&what)),
                    };
                    if *bits < 128 && x >> bits != 0 {
                        return Err(bad(&what));
                    }
                    x
                };
                self.uint(raw, n, f.order);
            }
            Ty::Float { bits } => {
                let x = v.as_f64().ok_or_else(|| bad("a number"))?;
                if *bits == 32 {
                    self.uint(u128::from((x as f32).to_bits()), 4, f.order);
                } else {
                    self.uint(u128::from(x.to_bits()), 8, f.order);
                }
            }
            Ty::Bool => self
                .out
                .push(u8::from(v.as_bool().ok_or_else(|| bad("a bool"))?)),
            Ty::String => {
                let s = v.as_str().ok_or_else(|| bad("a string"))?;
                if !rest {
                    self.count(s.len(), f, at)?;
                }
                self.out.extend_from_slice(s.as_bytes());
            }
            Ty::Bytes => self.bytes(v, f, at, rest, None)?,
            Ty::Vec(item) if is_u8(item) => self.bytes(v, f, at, rest, None)?,
            Ty::Array(n, item) if is_u8(item) => self.bytes(v, f, at, true, Some(*n))?,
            Ty::Vec(item) => {
                let items = v.as_array().ok_or_else(|| bad("an array"))?;
                if !rest {
                    self.count(items.len(), f, at)?;
                }
                for x in items {
                    self.value(item, f, x, at, false)?;
                }
            }
            Ty::Array(n, item) => {
                let items = v
                    .as_array()
                    .filter(|a| a.len() == *n)
                    .ok_or_else(|| bad(&format!("an array of {n}")))?;
                for x in items {
                    self.value(item, f, x, at, false)?;
                }
            }
            Ty::Option(inner) => {
                if v.is_null() {
                    self.out.push(0);
                } else {
                    self.out.push(1);
                    self.value(inner, f, v, at, false)?;
                }
            }
            Ty::Tuple(items) => {
                let values = v
                    .as_array()
                    .filter(|a| a.len() == items.len())
                    .ok_or_else(|| bad(&format!("an array of {}", items.len())))?;
                for (t, x) in items.iter().zip(values) {
                    self.value(t, f, x, at, false)?;
                }
            }
            Ty::Unit => {}
            Ty::Named(n) => {
                let t = self
                    .p
                    .get(n)
                    .ok_or_else(|| format!("{at}: no type {n} in the document"))?;
                self.typed(t, v, at)?;
            }
            Ty::Opaque(n) => {
                return Err(format!(
                    "{at}: `{n}` is a type of the program's own (opaque in the document)"
                ))
            }
        }
        Ok(())
    }

    fn bytes(
        &mut self,
        v: &Value,
        f: &FieldDef,
        at: &str,
        rest: bool,
        exactly: Option<usize>,
    ) -> Result<(), String> {
        let s = v
            .as_str()
            .ok_or_else(|| format!("{at}: {v} is not a hex string"))?;
        let b = unhex(s).map_err(|e| format!("{at}: {e}"))?;
        if let Some(n) = exactly {
            if b.len() != n {
                return Err(format!("{at}: {} bytes, not {n}", b.len()));
            }
        }
        if !rest {
            self.count(b.len(), f, at)?;
        }
        self.out.extend(b);
        Ok(())
    }
}

/// Whether the JSON value `v` has the shape of `ty`, as serde_json would read it (derived
/// and opaque types unchecked).
fn json_fits(ty: &Ty, v: &Value) -> bool {
    match ty {
        Ty::Int { bits, signed } => match (v.as_i64(), v.as_u64()) {
            (_, Some(u)) if !signed => *bits >= 64 || u >> bits == 0,
            (Some(i), _) if *signed => {
                *bits >= 64 || (-(1i64 << (bits - 1))..(1i64 << (bits - 1))).contains(&i)
            }
            _ => false,
        },
        Ty::Float { .. } => v.is_number(),
        Ty::Bool => v.is_boolean(),
        Ty::String => v.is_string(),
        Ty::Unit => v.is_null(),
        Ty::Vec(item) | Ty::Array(_, item) => v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| json_fits(item, x))),
        Ty::Option(inner) => v.is_null() || json_fits(inner, v),
        _ => true,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{s}` is not hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}
