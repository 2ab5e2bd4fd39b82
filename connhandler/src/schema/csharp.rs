//! The C# back end, for Unity and .NET peers: one file, the base class library alone (and
//! `System.Numerics` for 128-bit integers), no `unsafe`, and only what both Mono's `mcs`
//! and Unity's compiler accept: plain arrays and explicit byte order by shifts (no `Span`,
//! no `BinaryPrimitives`), `List<T>` for vecs, `Nullable<T>` for options of value types.
//!
//! A class per message with `Encode()` and `static Decode(byte[])`; an enum is an abstract
//! class whose variants are nested classes (`new Up.Say("hi")`, `Up.Decode(bytes)`,
//! `Up.Say.Decode` for a `Say` alone) told apart by `Kind` or by type; `DecodeException`
//! names the message id and the field, `EncodeException` the field; the TcpMessage and
//! Panda3D framings over byte arrays (`Framing`, `TcpMessageReader`, `Panda3dReader`); and
//! `Client`, a `TcpClient` speaking the protocol's stream framing.
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{csharp, FramingSpec, Protocol}, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! #[wire(id = 1)]
//! struct Say { text: String }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Say, send = Say, name = "echo")]
//! struct Echo;
//!
//! let file = csharp::generate(&Protocol::of::<Echo>(FramingSpec::tcp_message()));
//! assert!(file.contains("public sealed class Say : IMessage"));
//! ```

use std::fmt::Write as _;

use super::{is_u8, FramingSpec, Protocol};
use crate::describe::{ByteOrder, FieldDef, FieldKind, FieldRole, Shape, Ty, TypeDef, VariantDef};

pub use super::GENERATOR;

const RUNTIME: &str = include_str!("csharp/runtime.cs");
const FRAMING: &str = include_str!("csharp/framing.cs");

/// The C# file for the other side of `protocol`: it sends the peer kind's `Recv` type and
/// receives its `Send` type.
///
/// # Examples
///
/// See the [module's docs](self).
pub fn generate(protocol: &Protocol) -> String {
    let mut g = Gen {
        p: protocol,
        out: String::new(),
        temp: 0,
    };
    g.file();
    g.out
}

struct Gen<'a> {
    p: &'a Protocol,
    out: String,
    temp: usize,
}

/// Names a member cannot take (the generated classes' own members).
const TAKEN: &[&str] = &[
    "Kind",
    "Encode",
    "Decode",
    "Write",
    "Read",
    "ReadFields",
    "ID",
];

/// A C# name in PascalCase for a Rust name (`from` → `From`, `0` → `F0`, `player_id` →
/// `PlayerId`).
fn pascal(name: &str) -> String {
    let base = super::identifier(name, &[]);
    let mut out = String::with_capacity(base.len());
    let mut up = true;
    for c in base.chars() {
        if c == '_' {
            up = true;
            continue;
        }
        if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field's member name in class `class`.
fn member(name: &str, class: &str) -> String {
    let m = pascal(name);
    if m == class || TAKEN.contains(&m.as_str()) {
        format!("{m}_")
    } else {
        m
    }
}

/// C#'s reserved words, which a parameter takes with `@`.
const KEYWORDS: &[&str] = &[
    "abstract",
    "as",
    "base",
    "bool",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "checked",
    "class",
    "const",
    "continue",
    "decimal",
    "default",
    "delegate",
    "do",
    "double",
    "else",
    "enum",
    "event",
    "explicit",
    "extern",
    "false",
    "finally",
    "fixed",
    "float",
    "for",
    "foreach",
    "goto",
    "if",
    "implicit",
    "in",
    "int",
    "interface",
    "internal",
    "is",
    "lock",
    "long",
    "namespace",
    "new",
    "null",
    "object",
    "operator",
    "out",
    "override",
    "params",
    "private",
    "protected",
    "public",
    "readonly",
    "ref",
    "return",
    "sbyte",
    "sealed",
    "short",
    "sizeof",
    "stackalloc",
    "static",
    "string",
    "struct",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "uint",
    "ulong",
    "unchecked",
    "unsafe",
    "ushort",
    "using",
    "virtual",
    "void",
    "volatile",
    "while",
];

/// A parameter's name: the member's in camelCase (`@` before a reserved word).
fn parameter(member: &str) -> String {
    let mut chars = member.trim_end_matches('_').chars();
    let camel: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "value".to_owned(),
    };
    if KEYWORDS.contains(&camel.as_str()) {
        format!("@{camel}")
    } else {
        camel
    }
}

/// A string literal of the language.
fn lit(s: &str) -> String {
    super::quoted(s, |c| format!("\\u{c:04x}"))
}

fn le(o: ByteOrder) -> &'static str {
    match o {
        ByteOrder::Little => "true",
        ByteOrder::Big => "false",
    }
}

/// The reader's and writer's method of a number, and whether it takes a byte order.
fn number_method(ty: &Ty) -> Option<(&'static str, bool)> {
    Some(match ty {
        Ty::Int { bits: 8, signed } => (if *signed { "I8" } else { "U8" }, false),
        Ty::Int { bits: 16, signed } => (if *signed { "I16" } else { "U16" }, true),
        Ty::Int { bits: 32, signed } => (if *signed { "I32" } else { "U32" }, true),
        Ty::Int { bits: 64, signed } => (if *signed { "I64" } else { "U64" }, true),
        Ty::Int { bits: 128, signed } => (if *signed { "I128" } else { "U128" }, true),
        Ty::Float { bits: 32 } => ("F32", true),
        Ty::Float { bits: 64 } => ("F64", true),
        _ => return None,
    })
}

/// The C# type of a value.
fn cs_type(ty: &Ty) -> String {
    match ty {
        Ty::Int { bits: 8, signed } => if *signed { "sbyte" } else { "byte" }.to_owned(),
        Ty::Int { bits: 16, signed } => if *signed { "short" } else { "ushort" }.to_owned(),
        Ty::Int { bits: 32, signed } => if *signed { "int" } else { "uint" }.to_owned(),
        Ty::Int { bits: 64, signed } => if *signed { "long" } else { "ulong" }.to_owned(),
        Ty::Int { .. } => "BigInteger".to_owned(),
        Ty::Float { bits: 32 } => "float".to_owned(),
        Ty::Float { .. } => "double".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::String => "string".to_owned(),
        Ty::Bytes => "byte[]".to_owned(),
        Ty::Vec(t) if is_u8(t) => "byte[]".to_owned(),
        Ty::Array(_, t) if is_u8(t) => "byte[]".to_owned(),
        Ty::Vec(t) => format!("List<{}>", cs_type(t)),
        Ty::Array(_, t) => format!("{}[]", cs_type(t)),
        Ty::Option(t) if value_type(t) => format!("{}?", cs_type(t)),
        Ty::Option(t) => cs_type(t),
        Ty::Tuple(ts) => format!(
            "ValueTuple<{}>",
            ts.iter().map(cs_type).collect::<Vec<_>>().join(", ")
        ),
        Ty::Unit | Ty::Opaque(_) => "object".to_owned(),
        Ty::Named(n) => pascal(n),
    }
}

/// Whether the C# type of `ty` is a value type (its option is a `Nullable`).
fn value_type(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Int { .. } | Ty::Float { .. } | Ty::Bool | Ty::Tuple(_)
    )
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn temp(&mut self) -> String {
        self.temp += 1;
        format!("t_{}", self.temp)
    }

    fn ty_name(ty: &Ty) -> String {
        match ty {
            Ty::Named(n) => pascal(n),
            _ => "object".to_owned(),
        }
    }

    fn file(&mut self) {
        let p = self.p;
        let hash = p.hash();
        let send = Self::ty_name(&p.recv);
        let recv = Self::ty_name(&p.send);
        let _ = writeln!(
            self.out,
            "// Generated by {GENERATOR} from the protocol {} (hash {hash}). Do not edit:",
            lit(&p.name)
        );
        self.line(
            0,
            "// generate it anew from the Rust protocol (connhandler::schema::csharp).",
        );
        self.line(0, "//");
        let _ = writeln!(
            self.out,
            "// The other side of the peer kind {}: it sends `{send}` and receives `{recv}`.",
            lit(&p.name)
        );
        self.line(
            0,
            "// Each message is a class with Encode() and static Decode(byte[]); a message that",
        );
        self.line(
            0,
            "// does not decode throws DecodeException, naming the message id and the field.",
        );
        self.line(0, "using System;");
        self.line(0, "using System.Collections.Generic;");
        self.line(0, "using System.Net.Sockets;");
        self.line(0, "using System.Numerics;");
        self.line(0, "using System.Text;");
        self.line(0, "");
        let _ = writeln!(self.out, "namespace {}Protocol", pascal(&p.name));
        self.line(0, "{");
        self.line(1, "/// <summary>The protocol's constants.</summary>");
        self.line(1, "public static class ProtocolInfo");
        self.line(1, "{");
        let _ = writeln!(
            self.out,
            "        public const string Name = {};",
            lit(&p.name)
        );
        let _ = writeln!(self.out, "        public const string Hash = \"{hash}\";");
        self.line(
            2,
            "/// <summary>The hash of the messages alone, the same on both sides: what a hello's protocol field says.</summary>",
        );
        let _ = writeln!(
            self.out,
            "        public const string MessagesHash = \"{}\";",
            p.messages_hash()
        );
        let _ = writeln!(
            self.out,
            "        public const string Generator = {};",
            lit(GENERATOR)
        );
        let (max, explicit, header) = match p.framing {
            FramingSpec::TcpMessage {
                max_message_size,
                explicit_final_chunk,
            } => (max_message_size, explicit_final_chunk, 2),
            FramingSpec::Panda3d { header_size } => (65535, true, header_size),
            FramingSpec::WebSocket => (65535, true, 2),
        };
        let _ = writeln!(self.out, "        public const int MaxMessageSize = {max};");
        let _ = writeln!(
            self.out,
            "        public const bool ExplicitFinalChunk = {explicit};"
        );
        let _ = writeln!(
            self.out,
            "        public const int Panda3dHeaderSize = {header};"
        );
        self.line(1, "}");
        self.line(0, "");
        self.out.push_str(RUNTIME);
        for t in p.types_in_order() {
            self.out.push('\n');
            self.typedef(t);
        }
        self.line(0, "");
        self.out.push_str(FRAMING);
        self.client(&send, &recv);
        self.line(0, "}");
    }

    /// `Client`: the protocol's stream framing over a `TcpClient`.
    fn client(&mut self, send: &str, recv: &str) {
        let tcp = matches!(self.p.framing, FramingSpec::TcpMessage { .. });
        let header = match self.p.framing {
            FramingSpec::Panda3d { header_size } if header_size != 0 => header_size,
            _ => 2,
        };
        let frame = if tcp {
            "Framing.TcpMessageFrame(message.Encode())".to_owned()
        } else {
            format!("Framing.Panda3dFrame(message.Encode(), {header})")
        };
        let reader = if tcp {
            format!(
                "new TcpMessageReader(body => {{ try {{ return !({recv}.Decode(body) is IEndsWithRest); }} catch (DecodeException) {{ return false; }} }})"
            )
        } else {
            format!("new Panda3dReader({header})")
        };
        let feed = "reader.Feed(buf, 0, n)";
        let _ = write!(
            self.out,
            r#"
    /// <summary>A message whose end is the message's (a rest field): a stream reader cannot
    /// tell its end from its bytes.</summary>
    public interface IEndsWithRest {{ }}

    /// <summary>A TcpClient that speaks the protocol's stream framing: Send(message) and
    /// Receive(), blocking (ReceiveTimeout bounds each wait).</summary>
    public sealed class Client : IDisposable
    {{
        readonly TcpClient tcp;
        readonly NetworkStream stream;
        readonly {reader_type} reader = {reader};
        readonly Queue<byte[]> ready = new Queue<byte[]>();
        readonly byte[] buf = new byte[65536];

        public Client(TcpClient tcp)
        {{
            this.tcp = tcp;
            stream = tcp.GetStream();
        }}

        public static Client Connect(string host, int port)
        {{
            return new Client(new TcpClient(host, port));
        }}

        /// <summary>How long Receive waits for bytes, in milliseconds (0: for ever).</summary>
        public int ReceiveTimeout {{ get {{ return stream.ReadTimeout; }} set {{ stream.ReadTimeout = value; }} }}

        /// <summary>Encodes, frames and writes one message.</summary>
        public void Send({send} message)
        {{
            byte[] framed = {frame};
            stream.Write(framed, 0, framed.Length);
        }}

        /// <summary>Writes bytes framed already (a message framed another way, for tests of
        /// a peer's reassembly).</summary>
        public void SendFramed(byte[] framed)
        {{
            stream.Write(framed, 0, framed.Length);
        }}

        /// <summary>The next message; null at the end of the stream.</summary>
        public {recv} Receive()
        {{
            while (ready.Count == 0)
            {{
                int n = stream.Read(buf, 0, buf.Length);
                if (n == 0)
                {{
                    {flush}
                    if (ready.Count == 0) return null;
                    break;
                }}
                foreach (byte[] m in {feed}) ready.Enqueue(m);
            }}
            return {recv}.Decode(ready.Dequeue());
        }}

        public void Dispose()
        {{
            stream.Dispose();
            tcp.Close();
        }}
    }}
"#,
            reader_type = if tcp {
                "TcpMessageReader"
            } else {
                "Panda3dReader"
            },
            flush = if tcp {
                "foreach (byte[] m in reader.Flush()) ready.Enqueue(m);"
            } else {
                ""
            },
        );
    }

    fn typedef(&mut self, t: &TypeDef) {
        let name = pascal(&t.name);
        match &t.shape {
            Shape::Struct { id, fields } => {
                let id_text = id.map_or(String::new(), |id| format!(" (id 0x{id:x})"));
                let _ = writeln!(
                    self.out,
                    "    /// <summary>`{}`{id_text}.</summary>",
                    t.name
                );
                let rest = fields.iter().any(|f| f.kind == FieldKind::Rest);
                let _ = writeln!(
                    self.out,
                    "    public sealed class {name} : IMessage{}",
                    if rest { ", IEndsWithRest" } else { "" }
                );
                self.line(1, "{");
                self.class_body(t, &name, &t.name, None, *id, fields, 2);
                let _ = writeln!(
                    self.out,
                    "        public static {name} Decode(byte[] data) {{ return Whole.Decode(data, Read); }}"
                );
                self.line(1, "}");
            }
            Shape::Enum { variants } => self.enumeration(t, &name, variants),
        }
    }

    fn id_type(t: &TypeDef) -> &'static str {
        match t.id_bytes {
            1 => "byte",
            2 => "ushort",
            3 | 4 => "uint",
            _ => "ulong",
        }
    }

    fn id_read(t: &TypeDef, at: &str) -> String {
        match t.id_bytes {
            1 => format!("r.U8({at})"),
            2 => format!("r.U16({}, {at})", le(t.order)),
            3 | 4 => format!("r.U32({}, {at})", le(t.order)),
            _ => format!("r.U64({}, {at})", le(t.order)),
        }
    }

    fn id_write(t: &TypeDef, value: &str, at: &str) -> String {
        match t.id_bytes {
            1 => format!("w.U8({value}, {at});"),
            2 => format!("w.U16({value}, {}, {at});", le(t.order)),
            3 | 4 => format!("w.U32({value}, {}, {at});", le(t.order)),
            _ => format!("w.U64({value}, {}, {at});", le(t.order)),
        }
    }

    /// Fields, constructor, `Write` and the reading of a struct (`Read`) or a variant
    /// (`ReadFields`: its id read by the enum), at `indent`.
    #[allow(clippy::too_many_arguments)]
    fn class_body(
        &mut self,
        t: &TypeDef,
        name: &str,
        label: &str,
        kind: Option<&str>,
        id: Option<u64>,
        fields: &[FieldDef],
        indent: usize,
    ) {
        let wire: Vec<&FieldDef> = fields
            .iter()
            .filter(|f| f.kind != FieldKind::Skip)
            .collect();
        let names: Vec<String> = wire.iter().map(|f| member(&f.name, name)).collect();
        let pad = "    ".repeat(indent);
        if let Some(id) = id {
            let _ = writeln!(
                self.out,
                "{pad}public const {} ID = 0x{id:x};",
                Self::id_type(t)
            );
        }
        if let Some(kind) = kind {
            let _ = writeln!(
                self.out,
                "{pad}public override string Kind {{ get {{ return {}; }} }}",
                lit(kind)
            );
        }
        for (n, f) in names.iter().zip(&wire) {
            let _ = writeln!(
                self.out,
                "{pad}/// <summary><c>{}</c></summary>\n{pad}public {} {n};",
                f.rust.replace('<', "&lt;").replace('>', "&gt;"),
                cs_type(&f.ty)
            );
        }
        // A field that says the messages hash may be left out (null: this file's).
        let says_hash = |f: &FieldDef| f.role == Some(FieldRole::Protocol);
        let optional_from = wire
            .iter()
            .rposition(|f| !says_hash(f))
            .map_or(0, |last| last + 1);
        let params: Vec<String> = names
            .iter()
            .zip(&wire)
            .enumerate()
            .map(|(i, (n, f))| {
                let p = parameter(n);
                if i >= optional_from {
                    let ty = cs_type(&f.ty);
                    let ty = if value_type(&f.ty) {
                        format!("{ty}?")
                    } else {
                        ty
                    };
                    format!("{ty} {p} = null")
                } else {
                    format!("{} {p}", cs_type(&f.ty))
                }
            })
            .collect();
        let _ = writeln!(self.out, "{pad}public {name}({})", params.join(", "));
        let _ = writeln!(self.out, "{pad}{{");
        for (i, (n, f)) in names.iter().zip(&wire).enumerate() {
            if i >= optional_from {
                let ours = if f.ty == Ty::String {
                    "ProtocolInfo.MessagesHash".to_owned()
                } else {
                    "Convert.ToUInt64(ProtocolInfo.MessagesHash, 16)".to_owned()
                };
                let _ = writeln!(self.out, "{pad}    {n} = {} ?? {ours};", parameter(n));
            } else {
                let _ = writeln!(self.out, "{pad}    {n} = {};", parameter(n));
            }
        }
        let _ = writeln!(self.out, "{pad}}}");
        let over = if kind.is_some() { "override " } else { "" };
        if kind.is_none() {
            let _ = writeln!(
                self.out,
                "{pad}/// <summary>The message's bytes (no framing).</summary>\n{pad}public byte[] Encode() {{ return Whole.Encode(this); }}"
            );
        }
        let _ = writeln!(self.out, "{pad}public {over}void Write(Writer w)");
        let _ = writeln!(self.out, "{pad}{{");
        if id.is_some() {
            let at = lit(&format!("{label}.id"));
            let line = Self::id_write(t, "ID", &at);
            self.line(indent + 1, &line);
        }
        if t.json {
            self.json_write(label, &wire, &names, indent + 1);
        } else {
            for (n, f) in names.iter().zip(&wire) {
                let at = format!("{label}.{}", f.name);
                self.write_value(indent + 1, &f.ty, f, n, &at, f.kind == FieldKind::Rest, 0);
            }
        }
        let _ = writeln!(self.out, "{pad}}}");
        let reader = if kind.is_some() { "ReadFields" } else { "Read" };
        let _ = writeln!(self.out, "{pad}public static {name} {reader}(Reader r)");
        let _ = writeln!(self.out, "{pad}{{");
        self.temp = 0;
        if let (Some(id), None) = (id, kind) {
            let at = lit(&format!("{label}.id"));
            let read = Self::id_read(t, &at);
            let _ = writeln!(self.out, "{pad}    var id = {read};");
            let _ = writeln!(
                self.out,
                "{pad}    if (r.MessageId == null) r.MessageId = id;"
            );
            let _ = writeln!(
                self.out,
                "{pad}    if (id != ID) throw r.Fail({at}, \"id 0x\" + id.ToString(\"x\") + \", not 0x{id:x}\");"
            );
        }
        if t.json {
            self.json_read(label, &wire, &names, indent + 1);
        } else {
            for (n, f) in names.iter().zip(&wire) {
                let at = format!("{label}.{}", f.name);
                let expr = self.read_value(indent + 1, &f.ty, f, &at, f.kind == FieldKind::Rest);
                let _ = writeln!(self.out, "{pad}    var v_{n} = {expr};");
            }
        }
        let locals: Vec<String> = names.iter().map(|n| format!("v_{n}")).collect();
        let _ = writeln!(
            self.out,
            "{pad}    return new {name}({});",
            locals.join(", ")
        );
        let _ = writeln!(self.out, "{pad}}}");
    }

    fn json_write(&mut self, label: &str, fields: &[&FieldDef], names: &[String], indent: usize) {
        let mut parts = Vec::new();
        for (n, f) in names.iter().zip(fields) {
            let value = self.json_value(&f.ty, n, &format!("{label}.{}", f.name));
            parts.push(format!("{} + {value}", lit(&format!("{}:", lit(&f.name)))));
        }
        let body = if parts.is_empty() {
            "\"{}\"".to_owned()
        } else {
            format!("\"{{\" + {} + \"}}\"", parts.join(" + \",\" + "))
        };
        self.line(
            indent,
            &format!(
                "w.Text({body}, 0, true, {});",
                lit(&format!("{label}.body"))
            ),
        );
    }

    /// A C# expression: the JSON text of `v` of `ty`, as serde_json writes it.
    fn json_value(&mut self, ty: &Ty, v: &str, at: &str) -> String {
        match ty {
            Ty::Int { bits, .. } if *bits <= 64 => format!("JsonField.Number({v})"),
            Ty::Float { .. } => format!("JsonField.Number((double){v})"),
            Ty::Bool => format!("({v} ? \"true\" : \"false\")"),
            Ty::String => format!("Json.Quote({v} ?? \"\")"),
            Ty::Unit => "\"null\"".to_owned(),
            Ty::Vec(item) | Ty::Array(_, item) if !is_u8(item) => {
                let x = format!("x{}", self.temp);
                self.temp += 1;
                let inner = self.json_value(item, &x, at);
                format!(
                    "\"[\" + string.Join(\",\", new List<{}>({v}).ConvertAll({x} => {inner}).ToArray()) + \"]\"",
                    cs_type(item)
                )
            }
            Ty::Option(inner) => {
                let unwrapped = if value_type(inner) {
                    format!("{v}.Value")
                } else {
                    v.to_owned()
                };
                let inner = self.json_value(inner, &unwrapped, at);
                format!("({v} == null ? \"null\" : {inner})")
            }
            _ => format!(
                "((Func<string>)(() => {{ throw new EncodeException({}); }}))()",
                lit(&format!(
                    "{at}: a JSON body field of this type is not generated for C#"
                ))
            ),
        }
    }

    fn json_read(&mut self, label: &str, fields: &[&FieldDef], names: &[String], indent: usize) {
        let body = lit(&format!("{label}.body"));
        self.line(
            indent,
            &format!("var o = JsonField.Object(r.RestText({body}), r, {body});"),
        );
        for (n, f) in names.iter().zip(fields) {
            let at = lit(&format!("{label}.{}", f.name));
            let j = format!("JsonField.Get(o, {}, r, {at})", lit(&f.name));
            let expr = self.json_read_value(&f.ty, &j, &at);
            self.line(indent, &format!("var v_{n} = {expr};"));
        }
    }

    /// A C# expression reading the JSON value `j` as `ty` (a decode error otherwise).
    fn json_read_value(&mut self, ty: &Ty, j: &str, at: &str) -> String {
        match ty {
            Ty::Int { bits: 64, signed: false } => format!("JsonField.UInt64({j}, r, {at})"),
            Ty::Int { bits, signed } if *bits <= 64 => {
                let (lo, hi) = match (bits, signed) {
                    (8, false) => ("0", "byte.MaxValue"),
                    (8, true) => ("sbyte.MinValue", "sbyte.MaxValue"),
                    (16, false) => ("0", "ushort.MaxValue"),
                    (16, true) => ("short.MinValue", "short.MaxValue"),
                    (32, false) => ("0", "uint.MaxValue"),
                    (32, true) => ("int.MinValue", "int.MaxValue"),
                    _ => ("long.MinValue", "long.MaxValue"),
                };
                format!("({})JsonField.Int({j}, {lo}, {hi}, r, {at})", cs_type(ty))
            }
            Ty::Float { .. } => format!("({})JsonField.Float({j}, r, {at})", cs_type(ty)),
            Ty::Bool => format!("JsonField.Bool({j}, r, {at})"),
            Ty::String => format!("JsonField.Str({j}, r, {at})"),
            Ty::Unit => "(object)null".to_owned(),
            Ty::Vec(item) if !is_u8(item) => {
                let x = format!("x{}", self.temp);
                self.temp += 1;
                let inner = self.json_read_value(item, &x, at);
                format!("JsonField.List({j}, r, {at}).ConvertAll({x} => {inner})")
            }
            Ty::Option(inner) => {
                let x = format!("x{}", self.temp);
                self.temp += 1;
                let value = self.json_read_value(inner, &x, at);
                let ty = cs_type(ty);
                format!("((Func<object, {ty}>)({x} => {x} == null ? null : ({ty}){value}))({j})")
            }
            _ => format!(
                "((Func<{}>)(() => {{ throw r.Fail({at}, \"a JSON body field of this type is not generated for C#\"); }}))()",
                cs_type(ty)
            ),
        }
    }

    /// Lines writing `value` of `ty`.
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
        let o = le(f.order);
        let w = f.len;
        let a = lit(at);
        let line = match ty {
            _ if number_method(ty).is_some() => {
                let (m, ordered) = number_method(ty).unwrap_or(("U8", false));
                if ordered {
                    format!("w.{m}({value}, {o}, {a});")
                } else {
                    format!("w.{m}({value}, {a});")
                }
            }
            Ty::Bool => format!("w.Bool({value}, {a});"),
            Ty::String if rest => format!("w.Text({value}, 0, true, {a});"),
            Ty::String => format!("w.Text({value}, {w}, {o}, {a});"),
            Ty::Bytes if rest => format!("w.RawBytes({value}, {a});"),
            Ty::Bytes => format!("w.Bytes({value}, {w}, {o}, {a});"),
            Ty::Vec(item) if is_u8(item) => {
                if rest {
                    format!("w.RawBytes({value}, {a});")
                } else {
                    format!("w.Bytes({value}, {w}, {o}, {a});")
                }
            }
            Ty::Vec(item) => {
                let x = format!("x{depth}");
                if !rest {
                    self.line(
                        indent,
                        &format!("w.Count(w.NotNull({value}, {a}).Count, {w}, {o}, {a});"),
                    );
                }
                self.line(
                    indent,
                    &format!("foreach (var {x} in w.NotNull({value}, {a}))"),
                );
                self.line(indent, "{");
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                self.line(indent, "}");
                return;
            }
            Ty::Array(n, item) if is_u8(item) => format!("w.RawBytes({value}, {a}, {n});"),
            Ty::Array(n, item) => {
                let x = format!("x{depth}");
                self.line(
                    indent,
                    &format!("foreach (var {x} in w.Exactly({value}, {n}, {a}))"),
                );
                self.line(indent, "{");
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                self.line(indent, "}");
                return;
            }
            Ty::Option(inner) => {
                self.line(indent, &format!("if ({value} == null) w.Tag(false);"));
                self.line(indent, "else");
                self.line(indent, "{");
                self.line(indent + 1, "w.Tag(true);");
                let unwrapped = if value_type(inner) {
                    format!("{value}.Value")
                } else {
                    value.to_owned()
                };
                self.write_value(indent + 1, inner, f, &unwrapped, at, false, depth);
                self.line(indent, "}");
                return;
            }
            Ty::Tuple(items) => {
                for (k, item) in items.iter().enumerate() {
                    self.write_value(
                        indent,
                        item,
                        f,
                        &format!("{value}.Item{}", k + 1),
                        at,
                        false,
                        depth,
                    );
                }
                return;
            }
            Ty::Unit => return,
            Ty::Named(_) => format!("w.NotNull({value}, {a}).Write(w);"),
            Ty::Opaque(n) => format!("Opaque.Get({}, {a}).Write(w, {value}, {a});", lit(n)),
            _ => return,
        };
        self.line(indent, &line);
    }

    /// An expression reading a value of `ty`, after the statements it needs.
    fn read_value(&mut self, indent: usize, ty: &Ty, f: &FieldDef, at: &str, rest: bool) -> String {
        let o = le(f.order);
        let w = f.len;
        let a = lit(at);
        match ty {
            _ if number_method(ty).is_some() => {
                let (m, ordered) = number_method(ty).unwrap_or(("U8", false));
                if ordered {
                    format!("r.{m}({o}, {a})")
                } else {
                    format!("r.{m}({a})")
                }
            }
            Ty::Bool => format!("r.Bool({a})"),
            Ty::String if rest => format!("r.RestText({a})"),
            Ty::String => format!("r.Text({w}, {o}, {a})"),
            Ty::Bytes if rest => "r.Rest()".to_owned(),
            Ty::Bytes => format!("r.Bytes({w}, {o}, {a})"),
            Ty::Vec(item) if is_u8(item) => {
                if rest {
                    "r.Rest()".to_owned()
                } else {
                    format!("r.Bytes({w}, {o}, {a})")
                }
            }
            Ty::Array(n, item) if is_u8(item) => format!("r.Take({n}, {a})"),
            Ty::Vec(item) | Ty::Array(_, item) => {
                let v = self.temp();
                let i = self.temp();
                let ty_text = cs_type(ty);
                let item_ty = cs_type(item);
                let pad = "    ".repeat(indent);
                match ty {
                    Ty::Vec(_) if rest => {
                        let _ = writeln!(self.out, "{pad}var {v} = new {ty_text}();");
                        self.line(indent, "while (r.Left() > 0)");
                    }
                    Ty::Vec(_) => {
                        let min = self.p.min_len(item);
                        let n = self.temp();
                        let _ = writeln!(self.out, "{pad}var {n} = r.Count({w}, {o}, {min}, {a});");
                        let _ = writeln!(self.out, "{pad}var {v} = new {ty_text}({n});");
                        self.line(indent, &format!("for (int {i} = 0; {i} < {n}; {i}++)"));
                    }
                    Ty::Array(n, _) => {
                        let _ = writeln!(self.out, "{pad}var {v} = new {item_ty}[{n}];");
                        self.line(indent, &format!("for (int {i} = 0; {i} < {n}; {i}++)"));
                    }
                    _ => {}
                }
                self.line(indent, "{");
                let inner = self.read_value(indent + 1, item, f, at, false);
                if matches!(ty, Ty::Array(..)) {
                    self.line(indent + 1, &format!("{v}[{i}] = {inner};"));
                } else {
                    self.line(indent + 1, &format!("{v}.Add({inner});"));
                }
                self.line(indent, "}");
                v
            }
            Ty::Option(inner) => {
                let v = self.temp();
                let _ = writeln!(
                    self.out,
                    "{}{} {v} = null;",
                    "    ".repeat(indent),
                    cs_type(ty)
                );
                self.line(indent, &format!("if (r.Tag({a}))"));
                self.line(indent, "{");
                let value = self.read_value(indent + 1, inner, f, at, false);
                self.line(indent + 1, &format!("{v} = {value};"));
                self.line(indent, "}");
                v
            }
            Ty::Tuple(items) => {
                let mut parts = Vec::new();
                for item in items {
                    let value = self.read_value(indent, item, f, at, false);
                    let t = self.temp();
                    self.line(indent, &format!("var {t} = {value};"));
                    parts.push(t);
                }
                format!("ValueTuple.Create({})", parts.join(", "))
            }
            Ty::Unit => "(object)null".to_owned(),
            Ty::Named(n) => format!("{}.Read(r)", pascal(n)),
            Ty::Opaque(n) => format!("Opaque.Get({}, {a}).Read(r, {a})", lit(n)),
            _ => "(object)null".to_owned(),
        }
    }

    fn enumeration(&mut self, t: &TypeDef, name: &str, variants: &[VariantDef]) {
        let id_type = Self::id_type(t);
        let _ = writeln!(
            self.out,
            "    /// <summary>The `{}` messages: a nested class per variant, told apart by Kind.</summary>",
            t.name
        );
        let _ = writeln!(self.out, "    public abstract class {name} : IMessage");
        self.line(1, "{");
        self.line(2, "public abstract string Kind { get; }");
        self.line(2, "public abstract void Write(Writer w);");
        self.line(
            2,
            "/// <summary>The message's bytes (no framing).</summary>",
        );
        self.line(2, "public byte[] Encode() { return Whole.Encode(this); }");
        let _ = writeln!(
            self.out,
            "        /// <summary>Decodes the whole of data: any `{}` message.</summary>",
            t.name
        );
        let _ = writeln!(
            self.out,
            "        public static {name} Decode(byte[] data) {{ return Whole.Decode(data, Read); }}"
        );
        let _ = writeln!(self.out, "        public static {name} Read(Reader r)");
        self.line(2, "{");
        let at = lit(&format!("{}.id", t.name));
        let _ = writeln!(self.out, "            var id = {};", Self::id_read(t, &at));
        self.line(3, "if (r.MessageId == null) r.MessageId = id;");
        self.line(3, "switch (id)");
        self.line(3, "{");
        for v in variants {
            if let Some(id) = v.id {
                let _ = writeln!(
                    self.out,
                    "                case 0x{id:x}: return {}.ReadFields(r);",
                    pascal(&v.name)
                );
            }
        }
        match variants.iter().find(|v| v.id.is_none()) {
            Some(c) => {
                let _ = writeln!(
                    self.out,
                    "                default: return new {}(id, r.Rest());",
                    pascal(&c.name)
                );
            }
            None => {
                let _ = writeln!(
                    self.out,
                    "                default: throw r.Fail({at}, \"unknown message id 0x\" + id.ToString(\"x\"));"
                );
            }
        }
        self.line(3, "}");
        self.line(2, "}");
        for v in variants {
            let cls = pascal(&v.name);
            let label = format!("{}.{}", t.name, v.name);
            let kind = cls.clone();
            self.line(0, "");
            match v.id {
                Some(id) => {
                    let role = v
                        .role
                        .as_ref()
                        .map_or(String::new(), |r| format!(", the {r}"));
                    let _ = writeln!(
                        self.out,
                        "        /// <summary>`{label}` (id 0x{id:x}{role}).</summary>"
                    );
                    let rest = v.fields.iter().any(|f| f.kind == FieldKind::Rest);
                    let _ = writeln!(
                        self.out,
                        "        public sealed class {cls} : {name}{}",
                        if rest { ", IEndsWithRest" } else { "" }
                    );
                    self.line(2, "{");
                    self.class_body(t, &cls, &label, Some(&kind), Some(id), &v.fields, 3);
                    self.line(
                        3,
                        "/// <summary>Decodes the whole of data as this message alone: another message's bytes throw DecodeException.</summary>",
                    );
                    let _ = writeln!(
                        self.out,
                        "            public static new {cls} Decode(byte[] data)"
                    );
                    self.line(3, "{");
                    self.line(4, "var r = new Reader(data);");
                    let _ = writeln!(
                        self.out,
                        "                var id = {};",
                        Self::id_read(t, &at)
                    );
                    self.line(4, "r.MessageId = id;");
                    let _ = writeln!(
                        self.out,
                        "                if (id != ID) throw r.Fail({at}, \"id 0x\" + id.ToString(\"x\") + \", not {label} (0x{id:x})\");"
                    );
                    self.line(4, "var value = ReadFields(r);");
                    self.line(4, "r.Finish();");
                    self.line(4, "return value;");
                    self.line(3, "}");
                    self.line(2, "}");
                }
                None => {
                    let _ = writeln!(
                        self.out,
                        "        /// <summary>`{label}`: any other id, and its body as it came.</summary>"
                    );
                    let _ = writeln!(
                        self.out,
                        "        public sealed class {cls} : {name}, IEndsWithRest"
                    );
                    self.line(2, "{");
                    let _ = writeln!(
                        self.out,
                        "            public override string Kind {{ get {{ return {}; }} }}",
                        lit(&kind)
                    );
                    let _ = writeln!(self.out, "            public {id_type} Id;");
                    self.line(3, "public byte[] Body;");
                    let _ = writeln!(
                        self.out,
                        "            public {cls}({id_type} id, byte[] body) {{ Id = id; Body = body; }}"
                    );
                    self.line(3, "public override void Write(Writer w)");
                    self.line(3, "{");
                    let line = Self::id_write(t, "Id", &lit(&format!("{label}.id")));
                    self.line(4, &line);
                    let _ = writeln!(
                        self.out,
                        "                w.RawBytes(Body, {});",
                        lit(&format!("{label}.body"))
                    );
                    self.line(3, "}");
                    self.line(2, "}");
                }
            }
        }
        self.line(1, "}");
    }
}
