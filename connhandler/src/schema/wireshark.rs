//! The Wireshark back end: a dissector, one Lua file for the Lua 5.2 that Wireshark 4.0
//! embeds (no `//` or bitwise operators; 64-bit fields through Wireshark's `UInt64` and
//! `Int64`), that a user drops into Wireshark's plugin folder or passes to tshark with
//! `-X lua_script:FILE`.
//!
//! It registers on the ports the user chooses in its preferences (`-o ch_NAME.port:7000`,
//! `tls_port`, `ws_port`; and "Decode As" for TCP): over TCP it cuts the stream by the
//! protocol's framing, reassembling messages across segments and across TcpMessage chunks
//! (a full chunk marked 0 ends a message where its bytes decode as a whole one, as the
//! generated peers decide) and Panda3D datagrams; over TLS it dissects what Wireshark
//! decrypts with a key log file (`tls.keylog_file`; connhandler's TLS handlers write one
//! with `key_log_file`); over WebSocket each binary message is one message. Each message
//! shows by name with its fields as a tree (strings, nested types, vecs, options), an
//! unknown id as such, and a malformed message as an expert-info error, never a Lua error.
//! It registers no heuristic: a TcpMessage stream has no signature to tell it by.
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{wireshark, FramingSpec, Protocol}, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! #[wire(id = 1)]
//! struct Say { text: String }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Say, send = Say, name = "echo")]
//! struct Echo;
//!
//! let lua = wireshark::generate(&Protocol::of::<Echo>(FramingSpec::tcp_message()));
//! assert!(lua.contains("local ABBREV = \"ch_echo\""));
//! ```

use std::fmt::Write as _;

use super::{FramingSpec, Protocol};
use crate::describe::{ByteOrder, FieldDef, FieldKind, Shape, Ty, TypeDef};

/// The generator's version, in the header of what it writes.
pub const GENERATOR: &str = super::python::GENERATOR;

const RUNTIME: &str = include_str!("wireshark/runtime.lua");
const FRAMING: &str = include_str!("wireshark/framing.lua");

/// The dissector for `protocol`, as one Lua file.
///
/// # Examples
///
/// See the [module's docs](self).
pub fn generate(protocol: &Protocol) -> String {
    let mut g = Gen {
        p: protocol,
        abbrev: abbrev(&protocol.name),
        out: String::new(),
        fields: Vec::new(),
        temp: 0,
    };
    g.file();
    g.out
}

/// The protocol's filter name: `ch_` and its name in lower case (`ch_lobby`).
pub fn abbrev(name: &str) -> String {
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("ch_{base}")
}

struct Gen<'a> {
    p: &'a Protocol,
    abbrev: String,
    out: String,
    /// The fields declared: (key, declaration).
    fields: Vec<(String, String)>,
    temp: usize,
}

fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\{:03}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn le(o: ByteOrder) -> &'static str {
    match o {
        ByteOrder::Little => "true",
        ByteOrder::Big => "false",
    }
}

fn is_u8(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Int {
            bits: 8,
            signed: false
        }
    )
}

/// A name for Lua functions (`Envelope<u8>` → `Envelope_u8`).
fn ident(name: &str) -> String {
    super::identifier(name, &[])
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// The field of `key` (declared once), for a leaf of `ty`.
    fn field(&mut self, key: &str, label: &str, ty: &Ty) -> String {
        let abbr = format!("{}.{key}", self.abbrev);
        if !self.fields.iter().any(|(k, _)| k == key) {
            let decl = match ty {
                Ty::Int { bits, signed } if *bits <= 64 => format!(
                    "ProtoField.{}{bits}({}, {})",
                    if *signed { "int" } else { "uint" },
                    lit(&abbr),
                    lit(label)
                ),
                Ty::Float { bits: 32 } => {
                    format!("ProtoField.float({}, {})", lit(&abbr), lit(label))
                }
                Ty::Float { .. } => format!("ProtoField.double({}, {})", lit(&abbr), lit(label)),
                Ty::Bool => format!("ProtoField.bool({}, {})", lit(&abbr), lit(label)),
                Ty::String => format!("ProtoField.string({}, {})", lit(&abbr), lit(label)),
                _ => format!("ProtoField.bytes({}, {})", lit(&abbr), lit(label)),
            };
            self.fields.push((key.to_owned(), decl));
        }
        format!("F[{}]", lit(key))
    }

    fn file(&mut self) {
        let p = self.p;
        let hash = p.hash();
        let _ = writeln!(
            self.out,
            "-- Generated by {GENERATOR} from the protocol {} (hash {hash}). Do not edit:",
            lit(&p.name)
        );
        self.line(
            0,
            "-- generate it anew from the Rust protocol (connhandler::schema::wireshark).",
        );
        self.line(0, "--");
        self.line(
            0,
            "-- A Wireshark dissector (Wireshark 4.0 or newer, its Lua 5.2): put it in the plugin folder,",
        );
        let _ = writeln!(
            self.out,
            "-- or run `tshark -X lua_script:THIS_FILE -o {}.port:PORT`. Preferences: port, tls_port, ws_port.",
            self.abbrev
        );
        self.line(0, "");
        let _ = writeln!(self.out, "local PROTOCOL = {}", lit(&p.name));
        let _ = writeln!(self.out, "local PROTOCOL_HASH = \"{hash}\"");
        let _ = writeln!(self.out, "local ABBREV = {}", lit(&self.abbrev));
        let (framing, max, header) = match p.framing {
            FramingSpec::TcpMessage {
                max_message_size, ..
            } => ("tcpmessage", max_message_size, 2),
            FramingSpec::Panda3d { header_size } => ("panda3d", 65535, header_size.max(2)),
            FramingSpec::WebSocket => ("tcpmessage", 65535, 2),
        };
        let _ = writeln!(self.out, "local FRAMING = \"{framing}\"");
        let _ = writeln!(self.out, "local MAX_MESSAGE_SIZE = {max}");
        let _ = writeln!(self.out, "local PANDA3D_HEADER_SIZE = {header}");
        let _ = writeln!(
            self.out,
            "local PROTO = Proto(ABBREV, \"connhandler \" .. PROTOCOL .. \" (hash \" .. PROTOCOL_HASH .. \")\")"
        );
        self.line(0, "local F = {}");
        self.line(0, "");
        self.out.push_str(RUNTIME);
        let mut body = std::mem::take(&mut self.out);
        for t in p.types_in_order() {
            body.push('\n');
            self.typedef(t);
            body.push_str(&std::mem::take(&mut self.out));
        }
        self.out = body;
        self.line(0, "");
        let recv = match &p.recv {
            Ty::Named(n) => format!("read_{}", ident(n)),
            _ => "nil".to_owned(),
        };
        let send = match &p.send {
            Ty::Named(n) => format!("read_{}", ident(n)),
            _ => "nil".to_owned(),
        };
        let _ = writeln!(
            self.out,
            "-- What the server (the document's peer kind) receives, and sends."
        );
        let _ = writeln!(self.out, "READ_RECV = {recv}");
        let _ = writeln!(self.out, "READ_SEND = {send}");
        self.line(0, "");
        // The fields, declared before the functions run (at dissection).
        let mut decls = String::new();
        let mut list = vec![
            "f_msg".to_owned(),
            "f_id".to_owned(),
            "f_body".to_owned(),
            "f_json".to_owned(),
        ];
        for (key, decl) in &self.fields {
            let _ = writeln!(decls, "F[{}] = {decl}", lit(key));
            list.push(format!("F[{}]", lit(key)));
        }
        self.out.push_str(&decls);
        let _ = writeln!(self.out, "PROTO.fields = {{ {} }}", list.join(", "));
        self.line(
            0,
            "PROTO.experts = { ef_malformed, ef_unknown, ef_opaque, ef_framing }",
        );
        self.line(0, "");
        self.out.push_str(FRAMING);
        // READ_RECV and READ_SEND are globals of this chunk: make them locals' names used by
        // the framing above (declared before it).
        self.out = self.out.replacen(
            "local F = {}\n",
            "local F = {}\nlocal READ_RECV, READ_SEND\n",
            1,
        );
    }

    fn typedef(&mut self, t: &TypeDef) {
        let name = ident(&t.name);
        let _ = writeln!(self.out, "function read_{name}(r, tree)");
        match &t.shape {
            Shape::Struct { id, fields } => {
                if let Some(id) = id {
                    self.id_check(t, *id, 1);
                }
                self.fields(t, &t.name, &t.name, fields, 1);
                let _ = writeln!(self.out, "    return {}", lit(&t.name));
            }
            Shape::Enum { variants } => {
                let at = lit(&format!("{}.id", t.name));
                let _ = writeln!(
                    self.out,
                    "    local id, id_range = uint(r, {}, {}, {at})",
                    t.id_bytes,
                    le(t.order)
                );
                self.line(
                    1,
                    "tree:add(f_id, id_range, type(id) == \"number\" and UInt64.new(id) or id)",
                );
                if t.id_bytes > 4 {
                    self.line(1, "id = id:tonumber()");
                }
                let mut first = true;
                for v in variants.iter().filter(|v| v.id.is_some()) {
                    let id = v.id.unwrap_or(0);
                    let _ = writeln!(
                        self.out,
                        "    {} id == {id} then",
                        if first { "if" } else { "elseif" }
                    );
                    first = false;
                    let label = format!("{}.{}", t.name, v.name);
                    let key = format!("{}.{}", ident(&t.name), ident(&v.name));
                    self.fields(t, &label, &key, &v.fields, 2);
                    let _ = writeln!(self.out, "        return {}", lit(&v.name));
                }
                if !first {
                    self.line(1, "end");
                }
                match variants.iter().find(|v| v.id.is_none()) {
                    Some(c) => {
                        let _ = writeln!(
                            self.out,
                            "    tree:add_proto_expert_info(ef_unknown, string.format(\"unknown message id 0x%x, taken by the catch-all {}\", id))",
                            c.name
                        );
                        self.line(1, "add_bytes(r, tree, f_body, 0, true, \"body\")");
                        self.line(1, "r.rest = true");
                        let _ = writeln!(self.out, "    return {}", lit(&c.name));
                    }
                    None => {
                        let _ = writeln!(
                            self.out,
                            "    tree:add_proto_expert_info(ef_unknown, string.format(\"unknown message id 0x%x\", id))"
                        );
                        let _ = writeln!(
                            self.out,
                            "    fail({at}, string.format(\"unknown message id 0x%x\", id))"
                        );
                    }
                }
            }
        }
        self.line(0, "end");
    }

    fn id_check(&mut self, t: &TypeDef, id: u64, indent: usize) {
        let at = lit(&format!("{}.id", t.name));
        let pad = "    ".repeat(indent);
        let _ = writeln!(
            self.out,
            "{pad}local id, id_range = uint(r, {}, {}, {at})",
            t.id_bytes,
            le(t.order)
        );
        let _ = writeln!(
            self.out,
            "{pad}tree:add(f_id, id_range, type(id) == \"number\" and UInt64.new(id) or id)"
        );
        if t.id_bytes > 4 {
            let _ = writeln!(self.out, "{pad}id = id:tonumber()");
        }
        let _ = writeln!(
            self.out,
            "{pad}if id ~= {id} then fail({at}, string.format(\"id 0x%x, not 0x{id:x}\", id)) end"
        );
    }

    fn fields(&mut self, t: &TypeDef, label: &str, key: &str, fields: &[FieldDef], indent: usize) {
        let pad = "    ".repeat(indent);
        if t.json {
            let at = lit(&format!("{label}.body"));
            let _ = writeln!(self.out, "{pad}local body = need(r, r.len - r.pos, {at})");
            let _ = writeln!(
                self.out,
                "{pad}if not valid_utf8(body:bytes()) then fail({at}, \"invalid UTF-8\") end"
            );
            let _ = writeln!(
                self.out,
                "{pad}tree:add(f_json, body, body:string(ENC_UTF_8))"
            );
            let _ = writeln!(
                self.out,
                "{pad}if r.pinfo then pcall(function() Dissector.get(\"json\"):call(body:tvb(), r.pinfo, tree) end) end"
            );
            let _ = writeln!(self.out, "{pad}r.rest = true");
            return;
        }
        for f in fields.iter().filter(|f| f.kind != FieldKind::Skip) {
            let at = format!("{label}.{}", f.name);
            let k = format!("{key}.{}", f.name);
            self.value(
                indent,
                "tree",
                &f.ty,
                f,
                &at,
                &k,
                &f.name,
                f.kind == FieldKind::Rest,
            );
        }
    }

    /// Lines reading a value of `ty` into the tree `tree`.
    #[allow(clippy::too_many_arguments)]
    fn value(
        &mut self,
        indent: usize,
        tree: &str,
        ty: &Ty,
        f: &FieldDef,
        at: &str,
        key: &str,
        name: &str,
        rest: bool,
    ) {
        let o = le(f.order);
        let w = f.len;
        let a = lit(at);
        let line = match ty {
            Ty::Int { bits, signed } if *bits <= 64 => {
                let field = self.field(key, name, ty);
                format!(
                    "add_{}(r, {tree}, {field}, {}, {o}, {a})",
                    if *signed { "int" } else { "uint" },
                    bits / 8
                )
            }
            Ty::Int { .. } => {
                let field = self.field(key, name, ty);
                format!("add_big(r, {tree}, {field}, {o}, {a})")
            }
            Ty::Float { bits } => {
                let field = self.field(key, name, ty);
                format!("add_float(r, {tree}, {field}, {}, {o}, {a})", bits / 8)
            }
            Ty::Bool => {
                let field = self.field(key, name, ty);
                format!("add_bool(r, {tree}, {field}, {a})")
            }
            Ty::String => {
                let field = self.field(key, name, ty);
                let width = if rest { 0 } else { w };
                let mark = if rest { "; r.rest = true" } else { "" };
                format!("add_text(r, {tree}, {field}, {width}, {o}, {a}){mark}")
            }
            Ty::Bytes | Ty::Vec(_)
                if matches!(ty, Ty::Bytes) || matches!(ty, Ty::Vec(t) if is_u8(t)) =>
            {
                let field = self.field(key, name, &Ty::Bytes);
                let width = if rest { 0 } else { w };
                let mark = if rest { "; r.rest = true" } else { "" };
                format!("add_bytes(r, {tree}, {field}, {width}, {o}, {a}){mark}")
            }
            Ty::Array(n, item) if is_u8(item) => {
                let field = self.field(key, name, &Ty::Bytes);
                format!("add_bytes(r, {tree}, {field}, -{n}, {o}, {a})")
            }
            Ty::Vec(item) | Ty::Array(_, item) => {
                self.temp += 1;
                let g = format!("g{}", self.temp);
                let s = format!("s{}", self.temp);
                let n = format!("n{}", self.temp);
                let pad = "    ".repeat(indent);
                let _ = writeln!(self.out, "{pad}do");
                match ty {
                    Ty::Array(count, _) => {
                        let _ = writeln!(self.out, "{pad}    local {n} = {count}");
                    }
                    _ if rest => {}
                    _ => {
                        let min = self.p.min_len(item);
                        let _ = writeln!(
                            self.out,
                            "{pad}    local {n} = count(r, {w}, {o}, {min}, {a})"
                        );
                    }
                }
                let label = if rest && matches!(ty, Ty::Vec(_)) {
                    lit(name)
                } else {
                    format!("{} .. {n} .. \" items\"", lit(&format!("{name}: ")))
                };
                let _ = writeln!(
                    self.out,
                    "{pad}    local {g}, {s} = group(r, {tree}, {label})"
                );
                if rest && matches!(ty, Ty::Vec(_)) {
                    let _ = writeln!(self.out, "{pad}    while r.pos < r.len do");
                } else {
                    let _ = writeln!(self.out, "{pad}    for _ = 1, {n} do");
                }
                self.value(indent + 2, &g, item, f, at, key, name, false);
                let _ = writeln!(self.out, "{pad}    end");
                let _ = writeln!(self.out, "{pad}    close(r, {g}, {s})");
                if rest {
                    let _ = writeln!(self.out, "{pad}    r.rest = true");
                }
                let _ = writeln!(self.out, "{pad}end");
                return;
            }
            Ty::Option(inner) => {
                let pad = "    ".repeat(indent);
                let _ = writeln!(self.out, "{pad}if tag(r, {a}) then");
                self.value(indent + 1, tree, inner, f, at, key, name, false);
                let _ = writeln!(self.out, "{pad}else");
                let _ = writeln!(
                    self.out,
                    "{pad}    {tree}:add(PROTO, r.tvb(r.pos - 1, 1), {})",
                    lit(&format!("{name}: None"))
                );
                let _ = writeln!(self.out, "{pad}end");
                return;
            }
            Ty::Tuple(items) => {
                self.temp += 1;
                let g = format!("g{}", self.temp);
                let s = format!("s{}", self.temp);
                let pad = "    ".repeat(indent);
                let _ = writeln!(self.out, "{pad}do");
                let _ = writeln!(
                    self.out,
                    "{pad}    local {g}, {s} = group(r, {tree}, {})",
                    lit(name)
                );
                for (k, item) in items.iter().enumerate() {
                    self.value(
                        indent + 1,
                        &g,
                        item,
                        f,
                        at,
                        &format!("{key}.{k}"),
                        &format!("{name}.{k}"),
                        false,
                    );
                }
                let _ = writeln!(self.out, "{pad}    close(r, {g}, {s})");
                let _ = writeln!(self.out, "{pad}end");
                return;
            }
            Ty::Unit => return,
            Ty::Named(n) => {
                self.temp += 1;
                let g = format!("g{}", self.temp);
                let s = format!("s{}", self.temp);
                let pad = "    ".repeat(indent);
                let _ = writeln!(self.out, "{pad}do");
                let _ = writeln!(
                    self.out,
                    "{pad}    local {g}, {s} = group(r, {tree}, {})",
                    lit(name)
                );
                let _ = writeln!(
                    self.out,
                    "{pad}    {g}:append_text(\": \" .. read_{}(r, {g}))",
                    ident(n)
                );
                let _ = writeln!(self.out, "{pad}    close(r, {g}, {s})");
                let _ = writeln!(self.out, "{pad}end");
                return;
            }
            Ty::Opaque(n) => format!(
                "{tree}:add_proto_expert_info(ef_opaque, {}); r.pos = r.len; r.rest = true",
                lit(&format!(
                    "{at}: `{n}`, a type of the program's own, is not dissected (nor what follows)"
                ))
            ),
            _ => return,
        };
        self.line(indent, &line);
    }
}
