//! The Python back end: one module per protocol, standard library only (Python 3.8 or newer),
//! readable as a careful person would write it: a class per message with `encode()` and
//! `decode()`, runs of fixed-size numbers read and written with one precompiled `struct`,
//! one `DecodeError` naming the message id and the field, the protocol's framing as plain
//! functions over bytes, an asyncio connection, and Panda3D `Datagram` helpers.
//!
//! Each class has two paths: the checking one (`_write`, `_read`: every field through a
//! writer or reader that names it in its errors) and a fast one (`encode`, `_unpack`,
//! each variant's own `decode`, in `fast.rs`: straight-line `struct` code, as fast as hand-written), which
//! hands anything it does not take to the checking one (see `BENCHMARKS.md`).
//!
//! The module is for the other side of the peer kind: it sends the kind's `Recv` type and
//! receives its `Send` type (`SEND` and `RECV` in the module).
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{python, FramingSpec, Protocol}, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! #[wire(id = 1)]
//! struct Say { text: String }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Say, send = Say, name = "echo")]
//! struct Echo;
//!
//! let module = python::generate(&Protocol::of::<Echo>(FramingSpec::tcp_message()));
//! assert!(module.contains("class Say(Message):"));
//! ```

mod fast;

use std::fmt::Write as _;

use super::{FramingSpec, Protocol};
use crate::describe::{ByteOrder, FieldDef, FieldKind, FieldRole, Shape, Ty, TypeDef, VariantDef};

pub use super::GENERATOR;

const RUNTIME: &str = include_str!("python/runtime.py");
const FRAMING: &str = include_str!("python/framing.py");

/// The Python module for the other side of `protocol`.
pub fn generate(protocol: &Protocol) -> String {
    let mut g = Gen {
        p: protocol,
        out: String::new(),
        structs: Vec::new(),
    };
    g.module();
    g.out
}

struct Gen<'a> {
    p: &'a Protocol,
    out: String,
    /// The precompiled `struct`s of runs: (name, format).
    structs: Vec<(String, String)>,
}

/// The fields on the wire (not skipped) and their Python names.
fn wire_fields(fields: &[FieldDef]) -> (Vec<&FieldDef>, Vec<String>) {
    let wire: Vec<&FieldDef> = fields
        .iter()
        .filter(|f| f.kind != FieldKind::Skip)
        .collect();
    let names = wire.iter().map(|f| ident(&f.name)).collect();
    (wire, names)
}

/// Python's reserved words, which a field name cannot be.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case",
];

/// A Python identifier for a Rust name: a type's (`Envelope<u8>` → `Envelope_u8`), a
/// field's (`0` → `f0`, `from` → `from_`).
fn ident(name: &str) -> String {
    super::identifier(name, KEYWORDS)
}

fn order(o: ByteOrder) -> &'static str {
    match o {
        ByteOrder::Little => "little",
        ByteOrder::Big => "big",
    }
}

fn prefix(o: ByteOrder) -> char {
    match o {
        ByteOrder::Little => '<',
        ByteOrder::Big => '>',
    }
}

/// The `struct` format character of a number that runs can hold.
fn run_char(ty: &Ty) -> Option<char> {
    Some(match ty {
        Ty::Int {
            bits: 8,
            signed: false,
        } => 'B',
        Ty::Int {
            bits: 8,
            signed: true,
        } => 'b',
        Ty::Int {
            bits: 16,
            signed: false,
        } => 'H',
        Ty::Int {
            bits: 16,
            signed: true,
        } => 'h',
        Ty::Int {
            bits: 32,
            signed: false,
        } => 'I',
        Ty::Int {
            bits: 32,
            signed: true,
        } => 'i',
        Ty::Int {
            bits: 64,
            signed: false,
        } => 'Q',
        Ty::Int {
            bits: 64,
            signed: true,
        } => 'q',
        Ty::Float { bits: 32 } => 'f',
        Ty::Float { bits: 64 } => 'd',
        _ => return None,
    })
}

/// A Python expression true when the JSON value `v` has the shape of `ty` (as serde_json
/// would read it); `None` where the shape is not checked (derived and opaque types).
fn json_check(ty: &Ty, v: &str, depth: usize) -> Option<String> {
    let x = format!("j{depth}");
    Some(match ty {
        Ty::Int { bits, signed } => {
            let (lo, hi) = if *signed {
                (
                    format!("-(1 << {})", bits - 1),
                    format!("1 << {}", bits - 1),
                )
            } else {
                ("0".to_owned(), format!("1 << {bits}"))
            };
            format!("type({v}) is int and {lo} <= {v} < {hi}")
        }
        Ty::Float { .. } => format!("type({v}) in (int, float)"),
        Ty::Bool => format!("type({v}) is bool"),
        Ty::String => format!("type({v}) is str"),
        Ty::Unit => format!("{v} is None"),
        Ty::Vec(item) | Ty::Array(_, item) => match json_check(item, &x, depth + 1) {
            Some(inner) => format!("type({v}) is list and all({inner} for {x} in {v})"),
            None => format!("type({v}) is list"),
        },
        Ty::Option(inner) => match json_check(inner, v, depth) {
            Some(inner) => format!("{v} is None or ({inner})"),
            None => return None,
        },
        _ => return None,
    })
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// The name of a precompiled `struct` for `format`, made once.
    fn struct_for(&mut self, format: &str) -> String {
        if let Some((name, _)) = self.structs.iter().find(|(_, f)| f == format) {
            return name.clone();
        }
        let name = format!("_S{}", self.structs.len());
        self.structs.push((name.clone(), format.to_owned()));
        name
    }

    /// The fewest bytes a value takes (see [`Protocol::min_len`]).
    fn min_len(&self, ty: &Ty) -> usize {
        self.p.min_len(ty)
    }

    fn module(&mut self) {
        let p = self.p;
        let hash = p.hash();
        let send = self.ty_name(&p.recv);
        let recv = self.ty_name(&p.send);
        let _ = writeln!(
            self.out,
            "# Generated by {GENERATOR} from the protocol \"{}\" (hash {hash}). Do not edit:",
            p.name
        );
        self.line(
            0,
            "# generate it anew from the Rust protocol (connhandler::schema::python).",
        );
        let _ = writeln!(
            self.out,
            "\"\"\"The other side of the peer kind \"{}\": it sends `{send}` and receives `{recv}`.\n\nEach message is a class with ``encode()`` and ``decode(data)``; a message that does\nnot decode raises ``DecodeError``, naming the message id and the field.\n\"\"\"\n",
            p.name
        );
        self.line(0, "import asyncio");
        self.line(0, "import json");
        self.line(0, "import struct");
        self.line(0, "");
        let _ = writeln!(self.out, "PROTOCOL = {:?}", p.name);
        let _ = writeln!(self.out, "PROTOCOL_HASH = {hash:?}");
        let _ = writeln!(
            self.out,
            "#: The hash of the messages alone, the same on both sides: what a hello's\n\
             #: `protocol` field says (a field given None says this one)."
        );
        let _ = writeln!(self.out, "MESSAGES_HASH = {:?}", p.messages_hash());
        let _ = writeln!(self.out, "GENERATOR = {GENERATOR:?}");
        self.line(0, "");
        self.line(0, "");
        self.out.push_str(RUNTIME);
        let mut body = std::mem::take(&mut self.out);
        for t in p.types_in_order() {
            body.push_str("\n\n");
            self.typedef(t);
            body.push_str(&std::mem::take(&mut self.out));
        }
        // The precompiled structs go before the classes that use them.
        let mut structs = String::new();
        for (name, format) in &self.structs {
            let _ = writeln!(structs, "{name} = struct.Struct({format:?})");
        }
        if !structs.is_empty() {
            let marker = "GENERATOR = ";
            if let Some(at) = body
                .find(marker)
                .and_then(|at| body[at..].find('\n').map(|n| at + n + 1))
            {
                body.insert_str(at, &structs);
            }
        }
        self.out = body;
        self.out.push_str("\n\n");
        let _ = writeln!(
            self.out,
            "#: What this side sends (the peer kind's `Recv`)."
        );
        let _ = writeln!(self.out, "SEND = {send}");
        let _ = writeln!(
            self.out,
            "#: What this side receives (the peer kind's `Send`)."
        );
        let _ = writeln!(self.out, "RECV = {recv}");
        self.framing();
    }

    /// The Python name of a top-level message type.
    fn ty_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Named(n) => ident(n),
            _ => "None".to_owned(),
        }
    }

    fn framing(&mut self) {
        let (max, explicit, header) = match self.p.framing {
            FramingSpec::TcpMessage {
                max_message_size,
                explicit_final_chunk,
            } => (max_message_size, explicit_final_chunk, 2),
            FramingSpec::Panda3d { header_size } => (65535, true, header_size),
            FramingSpec::WebSocket => (65535, true, 2),
        };
        self.out.push_str("\n\n");
        let _ = writeln!(self.out, "MAX_MESSAGE_SIZE = {max}");
        let _ = writeln!(
            self.out,
            "EXPLICIT_FINAL_CHUNK = {}",
            if explicit { "True" } else { "False" }
        );
        let _ = writeln!(self.out, "PANDA3D_HEADER_SIZE = {header}");
        self.out.push_str("\n\n");
        self.out.push_str(FRAMING);
        self.out.push_str("\n\n");
        let recv = self.ty_name(&self.p.send);
        match self.p.framing {
            FramingSpec::TcpMessage { .. } => {
                // A message ends on a full chunk marked 0 where its bytes decode as a
                // whole one of a kind that tells its own end (no rest field).
                self.line(0, "def _whole(body):");
                self.line(1, "try:");
                let _ = writeln!(self.out, "        msg = {recv}.decode(body)");
                self.line(1, "except DecodeError:");
                self.line(2, "return False");
                self.line(1, "return getattr(msg, \"_SELF_DELIMITING\", True)");
                self.line(0, "");
                self.line(0, "");
                // A pause ends an open message only if its bytes decode (a kind whose end
                // is the message's): a self-delimiting one that does not is still arriving.
                self.line(0, "def _decodes(body):");
                self.line(1, "try:");
                let _ = writeln!(self.out, "        {recv}.decode(body)");
                self.line(1, "except DecodeError:");
                self.line(2, "return False");
                self.line(1, "return True");
                self.line(0, "");
                self.line(0, "");
                self.line(0, "def _new_reader():");
                self.line(
                    1,
                    "return TcpMessageReader(whole=_whole, could_end=_decodes)",
                );
                self.line(0, "");
                self.line(0, "");
                self.line(0, "_frame = tcp_message_frame");
                self.line(0, "");
                self.line(0, "");
                self.line(0, "def _flush(reader):");
                self.line(1, "return reader.flush()");
            }
            FramingSpec::Panda3d { .. } | FramingSpec::WebSocket => {
                self.line(0, "def _new_reader():");
                self.line(1, "return Panda3dReader()");
                self.line(0, "");
                self.line(0, "");
                self.line(0, "_frame = panda3d_frame");
                self.line(0, "");
                self.line(0, "");
                self.line(0, "def _flush(reader):");
                self.line(1, "return []");
            }
        }
    }

    fn typedef(&mut self, t: &TypeDef) {
        let name = ident(&t.name);
        match &t.shape {
            Shape::Struct { id, fields } => {
                let _ = writeln!(self.out, "class {name}(Message):");
                let id_text = id.map_or(String::new(), |id| format!(" (id 0x{id:x})"));
                let _ = writeln!(self.out, "    \"\"\"`{}`{id_text}.\"\"\"", t.name);
                self.line(0, "");
                self.class_body(t, &name, &t.name, *id, fields);
                self.line(0, "");
                self.line(1, "@staticmethod");
                self.line(1, "def decode(data):");
                self.line(2, "d = data if type(data) is bytes else bytes(data)");
                let (wire, names) = wire_fields(fields);
                let whole = fast::Fast::new(self).whole(t, &name, *id, &wire, &names);
                if let Some(lines) = whole {
                    self.line(2, "try:");
                    for line in lines {
                        let _ = writeln!(self.out, "            {line}");
                    }
                    self.line(2, "except Exception:");
                    self.line(3, "pass");
                    self.line(2, "# The checking path says what is wrong.");
                }
                let _ = writeln!(self.out, "        return _decode_whole({name}._read, d)");
            }
            Shape::Enum { variants } => self.enumeration(t, &name, variants),
        }
    }

    /// `__slots__`, `__init__`, `_write` and `_read` of a struct or a variant.
    fn class_body(
        &mut self,
        t: &TypeDef,
        name: &str,
        label: &str,
        id: Option<u64>,
        fields: &[FieldDef],
    ) {
        let (wire, names) = wire_fields(fields);
        let slots = match names.len() {
            0 => "()".to_owned(),
            1 => format!("({:?},)", names[0]),
            _ => format!(
                "({})",
                names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(self.out, "    __slots__ = {slots}");
        let _ = writeln!(self.out, "    _NAME = {label:?}");
        if fields.iter().any(|f| f.kind == FieldKind::Rest) {
            self.line(
                1,
                "_SELF_DELIMITING = False  # a rest field: its end is the message's",
            );
        }
        if let Some(id) = id {
            let _ = writeln!(self.out, "    ID = 0x{id:x}");
        }
        self.line(0, "");
        // A field that says the messages hash may be left out (None: this module's), when
        // the fields after it may be too.
        let says_hash = |f: &FieldDef| f.role == Some(FieldRole::Protocol);
        let optional_from = wire
            .iter()
            .rposition(|f| !says_hash(f))
            .map_or(0, |last| last + 1);
        let params: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i >= optional_from {
                    format!(", {n}=None")
                } else {
                    format!(", {n}")
                }
            })
            .collect();
        let _ = writeln!(self.out, "    def __init__(self{params}):");
        if names.is_empty() {
            self.line(2, "pass");
        }
        for (n, f) in names.iter().zip(&wire) {
            if says_hash(f) {
                let ours = if f.ty == Ty::String {
                    "MESSAGES_HASH"
                } else {
                    "int(MESSAGES_HASH, 16)"
                };
                let _ = writeln!(
                    self.out,
                    "        self.{n} = {ours} if {n} is None else {n}  # {}",
                    f.rust
                );
            } else {
                let _ = writeln!(self.out, "        self.{n} = {n}  # {}", f.rust);
            }
        }
        self.line(0, "");
        self.line(1, "def _write(self, w):");
        let id_order = order(t.order);
        if let Some(id) = id {
            let _ = writeln!(
                self.out,
                "        w.out += (0x{id:x}).to_bytes({}, {id_order:?})",
                t.id_bytes
            );
        }
        if t.json {
            for (n, f) in names.iter().zip(&wire) {
                if let Some(ok) = json_check(&f.ty, &format!("self.{n}"), 0) {
                    let _ = writeln!(self.out, "        if not ({ok}):");
                    let _ = writeln!(
                        self.out,
                        "            raise EncodeError(\"%s: %r is not a {}\" % ({:?}, self.{n}))",
                        f.rust,
                        format!("{label}.{}", f.name)
                    );
                }
            }
            let dict: Vec<String> = names
                .iter()
                .zip(&wire)
                .map(|(n, f)| format!("{:?}: self.{n}", f.name))
                .collect();
            let _ = writeln!(
                self.out,
                "        w.out += json.dumps({{{}}}, separators=(\",\", \":\"), ensure_ascii=False).encode(\"utf-8\")",
                dict.join(", ")
            );
        } else {
            self.write_fields(label, &wire, &names);
        }
        if wire.is_empty() && id.is_none() && !t.json {
            self.line(2, "pass");
        }
        self.line(0, "");
        self.line(1, "@staticmethod");
        let _ = writeln!(self.out, "    def _read(r):");
        if let (Some(id), Shape::Struct { .. }) = (id, &t.shape) {
            let _ = writeln!(self.out, "        if r.message_id is None:");
            let _ = writeln!(self.out, "            r.message_id = 0x{id:x}");
            let _ = writeln!(
                self.out,
                "        got = r.uint({}, {id_order:?}, {:?})",
                t.id_bytes,
                format!("{label}.id")
            );
            let _ = writeln!(self.out, "        if got != 0x{id:x}:");
            let _ = writeln!(
                self.out,
                "            r.fail({:?}, \"id 0x%x, not 0x{id:x}\" % got)",
                format!("{label}.id")
            );
        }
        if t.json {
            let _ = writeln!(
                self.out,
                "        body = r.utf8(r.rest(), {:?})",
                format!("{label}.body")
            );
            self.line(2, "try:");
            self.line(3, "fields = json.loads(body)");
            self.line(2, "except ValueError as e:");
            let _ = writeln!(
                self.out,
                "            r.fail({:?}, \"invalid JSON: %s\" % e)",
                format!("{label}.body")
            );
            self.line(2, "if not isinstance(fields, dict):");
            let _ = writeln!(
                self.out,
                "            r.fail({:?}, \"not a JSON object\")",
                format!("{label}.body")
            );
            for (n, f) in names.iter().zip(&wire) {
                let _ = writeln!(self.out, "        if {:?} not in fields:", f.name);
                let _ = writeln!(
                    self.out,
                    "            r.fail({:?}, \"missing\")",
                    format!("{label}.{}", f.name)
                );
                let _ = writeln!(self.out, "        {n} = fields[{:?}]", f.name);
                if let Some(ok) = json_check(&f.ty, n, 0) {
                    let _ = writeln!(self.out, "        if not ({ok}):");
                    let _ = writeln!(
                        self.out,
                        "            r.fail({:?}, \"%r is not a {}\" % ({n},))",
                        format!("{label}.{}", f.name),
                        f.rust
                    );
                }
            }
        } else {
            self.read_fields(label, &wire, &names);
        }
        let args = names.join(", ");
        let _ = writeln!(self.out, "        return {name}({args})");
        // The fast paths beside the checking ones.
        let mut fast = fast::Fast::new(self);
        let encode = fast.encode(t, id, &wire, &names);
        let unpack = fast.unpack(t, name, id, &wire, &names);
        if let Some(encode) = encode {
            self.line(0, "");
            self.out.push_str(&encode);
        }
        self.line(0, "");
        self.out.push_str(&unpack);
        if let (Some(_), Shape::Enum { .. }) = (id, &t.shape) {
            // A variant decodes itself alone (a program that knows what comes), in one
            // call; the enum's `decode` dispatches here on the id.
            let whole = fast::Fast::new(self).whole(t, name, id, &wire, &names);
            let enumeration = ident(&t.name);
            self.line(0, "");
            self.line(1, "@staticmethod");
            self.line(1, "def decode(data):");
            let _ = writeln!(
                self.out,
                "        \"\"\"This message alone: another message's bytes raise ``DecodeError``.\"\"\""
            );
            self.line(2, "d = data if type(data) is bytes else bytes(data)");
            if let Some(lines) = whole {
                self.line(2, "try:");
                for line in lines {
                    let _ = writeln!(self.out, "            {line}");
                }
                self.line(2, "except Exception:");
                self.line(3, "pass");
                self.line(2, "# The checking path says what is wrong.");
            }
            let _ = writeln!(
                self.out,
                "        v = _decode_whole({enumeration}._read, d)"
            );
            let _ = writeln!(self.out, "        if type(v) is not {name}:");
            let _ = writeln!(
                self.out,
                "            raise DecodeError(getattr(v, \"ID\", None), {:?}, \"%s, not {label}\" % v._NAME)",
                format!("{}.id", t.name)
            );
            self.line(2, "return v");
        }
    }

    /// The run of fixed-size numbers of one byte order starting at field `i`, if it has
    /// two or more (one struct reads and writes them): their indexes and the struct.
    fn run_at(&mut self, fields: &[&FieldDef], i: usize) -> Option<(Vec<usize>, String)> {
        let run: Vec<usize> = (i..fields.len())
            .take_while(|&j| {
                fields[j].kind == FieldKind::Plain
                    && run_char(&fields[j].ty).is_some()
                    && fields[j].order == fields[i].order
            })
            .collect();
        if run.len() < 2 {
            return None;
        }
        let format: String = std::iter::once(prefix(fields[i].order))
            .chain(run.iter().filter_map(|&j| run_char(&fields[j].ty)))
            .collect();
        let s = self.struct_for(&format);
        Some((run, s))
    }

    fn write_fields(&mut self, label: &str, fields: &[&FieldDef], names: &[String]) {
        let mut i = 0;
        while i < fields.len() {
            if let Some((run, s)) = self.run_at(fields, i) {
                let values: Vec<String> =
                    run.iter().map(|&j| format!("self.{}", names[j])).collect();
                let labels: Vec<String> = run
                    .iter()
                    .map(|&j| format!("{:?}", format!("{label}.{}", fields[j].name)))
                    .collect();
                let _ = writeln!(
                    self.out,
                    "        w.run({s}, ({},), ({},))",
                    values.join(", "),
                    labels.join(", ")
                );
                i += run.len();
                continue;
            }
            let f = fields[i];
            let value = format!("self.{}", names[i]);
            let at = format!("{label}.{}", f.name);
            self.write_value(2, &f.ty, f, &value, &at, f.kind == FieldKind::Rest, 0);
            i += 1;
        }
    }

    /// Lines writing `value` of `ty` (with the field's order and prefix width).
    #[allow(clippy::too_many_arguments)]
    fn write_value(
        &mut self,
        indent: usize,
        ty: &Ty,
        f: &FieldDef,
        value: &str,
        at: &str,
        rest: bool,
        depth: usize,
    ) {
        let o = order(f.order);
        let w = f.len;
        let line = match ty {
            Ty::Int { bits, signed } if *bits == 8 && !*signed => {
                format!("w.uint({value}, 1, {o:?}, {at:?})")
            }
            Ty::Int { bits, signed } => format!(
                "w.{}({value}, {}, {o:?}, {at:?})",
                if *signed { "sint" } else { "uint" },
                bits / 8
            ),
            Ty::Float { bits } => {
                let s = self.struct_for(&format!(
                    "{}{}",
                    prefix(f.order),
                    if *bits == 32 { 'f' } else { 'd' }
                ));
                format!("w.run({s}, ({value},), {at:?})")
            }
            Ty::Bool => format!("w.boolean({value}, {at:?})"),
            Ty::String if rest => format!("w.utf8({value}, {at:?})"),
            Ty::String => format!("w.text({value}, {w}, {o:?}, {at:?})"),
            Ty::Bytes if rest => format!("w.out += {value}"),
            Ty::Bytes => format!("w.raw({value}, {w}, {o:?}, {at:?})"),
            Ty::Vec(item)
                if matches!(
                    **item,
                    Ty::Int {
                        bits: 8,
                        signed: false
                    }
                ) =>
            {
                if rest {
                    format!("w.out += bytes({value})")
                } else {
                    format!("w.raw(bytes({value}), {w}, {o:?}, {at:?})")
                }
            }
            Ty::Vec(item) => {
                let x = format!("x{depth}");
                let width = if rest { 0 } else { w };
                self.line(
                    indent,
                    &format!("for {x} in w.items({value}, {width}, {o:?}, {at:?}):"),
                );
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                return;
            }
            Ty::Array(n, item)
                if matches!(
                    **item,
                    Ty::Int {
                        bits: 8,
                        signed: false
                    }
                ) =>
            {
                self.line(indent, &format!("if len({value}) != {n}:"));
                self.line(
                    indent + 1,
                    &format!(
                        "raise EncodeError(\"%s: %d items, not {n}\" % ({at:?}, len({value})))"
                    ),
                );
                format!("w.out += bytes({value})")
            }
            Ty::Array(n, item) => {
                self.line(indent, &format!("if len({value}) != {n}:"));
                self.line(
                    indent + 1,
                    &format!(
                        "raise EncodeError(\"%s: %d items, not {n}\" % ({at:?}, len({value})))"
                    ),
                );
                let x = format!("x{depth}");
                self.line(indent, &format!("for {x} in {value}:"));
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                return;
            }
            Ty::Option(inner) => {
                self.line(indent, &format!("if {value} is None:"));
                self.line(indent + 1, "w.out.append(0)");
                self.line(indent, "else:");
                self.line(indent + 1, "w.out.append(1)");
                self.write_value(indent + 1, inner, f, value, at, false, depth);
                return;
            }
            Ty::Tuple(items) => {
                for (k, item) in items.iter().enumerate() {
                    self.write_value(indent, item, f, &format!("{value}[{k}]"), at, false, depth);
                }
                return;
            }
            Ty::Unit => return,
            Ty::Named(n) => format!("{value}._write(w)  # {}", n),
            Ty::Opaque(n) => format!("OPAQUE[{n:?}].write(w, {value}, {at:?})"),
        };
        self.line(indent, &line);
    }

    fn read_fields(&mut self, label: &str, fields: &[&FieldDef], names: &[String]) {
        let mut i = 0;
        while i < fields.len() {
            if let Some((run, s)) = self.run_at(fields, i) {
                let targets: Vec<&str> = run.iter().map(|&j| names[j].as_str()).collect();
                let _ = writeln!(
                    self.out,
                    "        {}, = r.run({s}, {:?})",
                    targets.join(", "),
                    format!("{label}.{}", fields[i].name)
                );
                i += run.len();
                continue;
            }
            let f = fields[i];
            let at = format!("{label}.{}", f.name);
            let expr = self.read_value(&f.ty, f, &at, f.kind == FieldKind::Rest);
            let _ = writeln!(self.out, "        {} = {expr}", names[i]);
            i += 1;
        }
    }

    /// An expression reading a value of `ty`.
    fn read_value(&mut self, ty: &Ty, f: &FieldDef, at: &str, rest: bool) -> String {
        let o = order(f.order);
        let w = f.len;
        match ty {
            Ty::Int {
                bits: 8,
                signed: false,
            } => format!("r.take(1, {at:?})[0]"),
            Ty::Int { bits, signed } => format!(
                "r.{}({}, {o:?}, {at:?})",
                if *signed { "sint" } else { "uint" },
                bits / 8
            ),
            Ty::Float { bits } => {
                let s = self.struct_for(&format!(
                    "{}{}",
                    prefix(f.order),
                    if *bits == 32 { 'f' } else { 'd' }
                ));
                format!("r.run({s}, {at:?})[0]")
            }
            Ty::Bool => format!("r.boolean({at:?})"),
            Ty::String if rest => format!("r.utf8(r.rest(), {at:?})"),
            Ty::String => format!("r.text({w}, {o:?}, {at:?})"),
            Ty::Bytes if rest => "r.rest()".to_owned(),
            Ty::Bytes => format!("r.raw({w}, {o:?}, {at:?})"),
            Ty::Vec(item)
                if matches!(
                    **item,
                    Ty::Int {
                        bits: 8,
                        signed: false
                    }
                ) =>
            {
                if rest {
                    "r.rest()".to_owned()
                } else {
                    format!("r.raw({w}, {o:?}, {at:?})")
                }
            }
            Ty::Vec(item) => {
                let inner = self.read_value(item, f, at, false);
                if rest {
                    format!("_rest_items(r, lambda: {inner})")
                } else {
                    let min = self.min_len(item);
                    format!("[{inner} for _ in range(r.count({w}, {o:?}, {min}, {at:?}))]")
                }
            }
            Ty::Array(n, item)
                if matches!(
                    **item,
                    Ty::Int {
                        bits: 8,
                        signed: false
                    }
                ) =>
            {
                format!("r.take({n}, {at:?})")
            }
            Ty::Array(n, item) => {
                let inner = self.read_value(item, f, at, false);
                format!("[{inner} for _ in range({n})]")
            }
            Ty::Option(inner) => {
                let inner = self.read_value(inner, f, at, false);
                format!("({inner} if r.tag({at:?}) else None)")
            }
            Ty::Tuple(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|t| self.read_value(t, f, at, false))
                    .collect();
                if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                }
            }
            Ty::Unit => "None".to_owned(),
            Ty::Named(n) => format!("{}._read(r)", ident(n)),
            Ty::Opaque(n) => format!("OPAQUE[{n:?}].read(r, {at:?})"),
        }
    }

    fn enumeration(&mut self, t: &TypeDef, name: &str, variants: &[VariantDef]) {
        let o = order(t.order);
        let _ = writeln!(self.out, "class {name}(Message):");
        let _ = writeln!(
            self.out,
            "    \"\"\"The `{}` messages: a class per variant, `{name}.<Variant>`.\"\"\"",
            t.name
        );
        self.line(0, "");
        self.line(1, "__slots__ = ()");
        self.line(0, "");
        let table = format!("_{}_UNPACK", name.to_uppercase());
        let id_struct = fast::prefix_char_id(t.id_bytes)
            .map(|c| self.struct_for(&format!("{}{c}", prefix(t.order))));
        self.line(1, "@staticmethod");
        self.line(1, "def decode(data):");
        let top = [&self.p.recv, &self.p.send]
            .iter()
            .any(|ty| matches!(ty, Ty::Named(n) if *n == t.name));
        let decoders = format!("_{}_DECODE", name.to_uppercase());
        // The id, read from the bytes as they came (bytes, bytearray or memoryview).
        let id_of = match (t.id_bytes, t.order) {
            (1, _) => Some("data[0]".to_owned()),
            (2, ByteOrder::Little) => Some("data[0] | data[1] << 8".to_owned()),
            (2, ByteOrder::Big) => Some("data[0] << 8 | data[1]".to_owned()),
            _ => id_struct
                .as_ref()
                .map(|s| format!("{s}.unpack_from(data)[0]")),
        };
        match (&id_struct, id_of) {
            (Some(_), Some(id_of)) if top => {
                // Each variant's own `decode`, found by the id.
                self.line(2, "try:");
                let _ = writeln!(self.out, "            decode = {decoders}[{id_of}]");
                self.line(2, "except Exception:");
                self.line(
                    3,
                    "# The checking path reads the catch-all or says what is wrong.",
                );
                let _ = writeln!(
                    self.out,
                    "            return _decode_whole({name}._read, data)"
                );
                self.line(2, "return decode(data)");
            }
            (Some(ids), _) => {
                self.line(2, "d = data if type(data) is bytes else bytes(data)");
                self.line(2, "try:");
                let _ = writeln!(self.out, "            id, = {ids}.unpack_from(d, 0)");
                let _ = writeln!(
                    self.out,
                    "            v, p = {table}[id](d, {})",
                    t.id_bytes
                );
                self.line(3, "if p == len(d):");
                self.line(4, "return v");
                self.line(2, "except Exception:");
                self.line(3, "pass");
                self.line(
                    2,
                    "# The checking path says what is wrong (or reads the catch-all).",
                );
                let _ = writeln!(self.out, "        return _decode_whole({name}._read, d)");
            }
            (None, _) => {
                let _ = writeln!(self.out, "        return _decode_whole({name}._read, data)");
            }
        }
        self.line(0, "");
        self.line(1, "@staticmethod");
        self.line(1, "def _unpack(d, p):");
        match &id_struct {
            Some(ids) => {
                let _ = writeln!(self.out, "        id, = {ids}.unpack_from(d, p)");
                let _ = writeln!(self.out, "        f = {table}.get(id)");
                self.line(2, "if f is not None:");
                let _ = writeln!(self.out, "            return f(d, p + {})", t.id_bytes);
                match variants.iter().find(|v| v.id.is_none()) {
                    Some(catch) => {
                        let _ = writeln!(
                            self.out,
                            "        return {name}_{}(id, d[p + {}:]), len(d)",
                            ident(&catch.name),
                            t.id_bytes
                        );
                    }
                    None => self.line(2, "_bad()"),
                }
            }
            None => {
                let _ = writeln!(
                    self.out,
                    "        return _checked_unpack({name}._read, d, p)"
                );
            }
        }
        self.line(0, "");
        self.line(1, "@staticmethod");
        self.line(1, "def _read(r):");
        let _ = writeln!(
            self.out,
            "        id = r.uint({}, {o:?}, {:?})",
            t.id_bytes,
            format!("{}.id", t.name)
        );
        self.line(2, "if r.message_id is None:");
        self.line(3, "r.message_id = id");
        let _ = writeln!(
            self.out,
            "        cls = _{}_BY_ID.get(id)",
            name.to_uppercase()
        );
        self.line(2, "if cls is not None:");
        self.line(3, "return cls._read(r)");
        match variants.iter().find(|v| v.id.is_none()) {
            Some(catch) => {
                let _ = writeln!(
                    self.out,
                    "        return {name}_{}(id, r.rest())",
                    ident(&catch.name)
                );
            }
            None => {
                let _ = writeln!(
                    self.out,
                    "        r.fail({:?}, \"unknown message id 0x%x\" % id)",
                    format!("{}.id", t.name)
                );
            }
        }
        for v in variants {
            let cls = format!("{name}_{}", ident(&v.name));
            let label = format!("{}.{}", t.name, v.name);
            self.out.push_str("\n\n");
            let _ = writeln!(self.out, "class {cls}({name}):");
            match v.id {
                Some(id) => {
                    let role = v
                        .role
                        .as_ref()
                        .map_or(String::new(), |r| format!(", the {r}"));
                    let replies = if v.replies.is_empty() {
                        String::new()
                    } else {
                        format!("; answered by {}", v.replies.join(", "))
                    };
                    let _ = writeln!(
                        self.out,
                        "    \"\"\"`{label}` (id 0x{id:x}{role}{replies}).\"\"\""
                    );
                    self.line(0, "");
                    // The variant's own `_read` reads its fields; the id was read by the enum.
                    let shaped = TypeDef {
                        shape: Shape::Enum {
                            variants: Vec::new(),
                        },
                        ..t.clone()
                    };
                    self.class_body(&shaped, &cls, &label, Some(id), &v.fields);
                    // A variant's id is written by `_write` (above) and read by the enum.
                }
                None => {
                    let _ = writeln!(
                        self.out,
                        "    \"\"\"`{label}`: any other id, and its body as it came.\"\"\""
                    );
                    self.line(0, "");
                    self.line(1, "__slots__ = (\"id\", \"body\")");
                    let _ = writeln!(self.out, "    _NAME = {label:?}");
                    self.line(1, "_SELF_DELIMITING = False");
                    self.line(0, "");
                    self.line(1, "def __init__(self, id, body):");
                    self.line(2, "self.id = id");
                    self.line(2, "self.body = body");
                    self.line(0, "");
                    self.line(1, "def _write(self, w):");
                    let _ = writeln!(
                        self.out,
                        "        w.uint(self.id, {}, {o:?}, {:?})",
                        t.id_bytes,
                        format!("{label}.id")
                    );
                    self.line(2, "w.out += self.body");
                }
            }
        }
        self.out.push_str("\n\n");
        let entries: Vec<String> = variants
            .iter()
            .filter_map(|v| {
                v.id.map(|id| format!("0x{id:x}: {name}_{}", ident(&v.name)))
            })
            .collect();
        let _ = writeln!(
            self.out,
            "_{}_BY_ID = {{{}}}",
            name.to_uppercase(),
            entries.join(", ")
        );
        let unpackers: Vec<String> = variants
            .iter()
            .filter_map(|v| {
                v.id.map(|id| format!("0x{id:x}: {name}_{}._unpack", ident(&v.name)))
            })
            .collect();
        let _ = writeln!(
            self.out,
            "_{}_UNPACK = {{{}}}",
            name.to_uppercase(),
            unpackers.join(", ")
        );
        if top {
            let decoders_of: Vec<String> = variants
                .iter()
                .filter_map(|v| {
                    v.id.map(|id| format!("0x{id:x}: {name}_{}.decode", ident(&v.name)))
                })
                .collect();
            let _ = writeln!(self.out, "{decoders} = {{{}}}", decoders_of.join(", "));
        }

        for v in variants {
            let _ = writeln!(
                self.out,
                "{name}.{} = {name}_{}",
                ident(&v.name),
                ident(&v.name)
            );
        }
    }
}
