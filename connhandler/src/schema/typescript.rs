//! The TypeScript back end: one source, three files. A `.ts` module that `tsc --strict`
//! accepts, the same module as plain JavaScript (an ES module a browser loads with no build
//! step and Node 20 runs) and its `.d.ts`: a class per message with `encode()` and
//! `static decode()`, enums as a union of their variants' classes with a `kind`
//! discriminant, numbers through `DataView` in their byte order, 64- and 128-bit integers
//! as `bigint`, UTF-8 through `TextEncoder`/`TextDecoder` (invalid input refused), one
//! `DecodeError` naming the message id and the field, the TcpMessage and Panda3D framings
//! over `Uint8Array`, and a WebSocket client helper.
//!
//! The generator writes the TypeScript with its types between `«` and `»`
//! (`render`): kept, they make the `.ts`; dropped, the `.js`. The `.d.ts` is the `.ts`
//! with its bodies taken out (`declarations`). The tests compile the `.ts` and the
//! `.js` with its `.d.ts` under `tsc --strict`, check that the two declare the same types,
//! and run the `.js` in Node and Chromium against the Rust side.
//!
//! Floats: JavaScript numbers are doubles, so an `f32` is widened and narrowed again
//! exactly; negative zero, infinities, subnormals and quiet NaNs with their payload and
//! sign come back as they went. A signalling NaN comes back quieted (its quiet bit set, the
//! rest kept) from an `f32` field, and kept or quieted from an `f64` field (V8 quiets it on
//! some paths: Chromium 156 does, Node 20 does not); the conformance test checks exactly
//! this. JSON-body fields of 64 bits are `number`s (`JSON.parse`'s), refused beyond 2^53
//! rather than rounded.
//!
//! # Examples
//!
//! ```
//! use connhandler::{schema::{typescript, FramingSpec, Protocol}, Message, Peer};
//!
//! #[derive(Message, Debug)]
//! #[wire(id = 1)]
//! struct Say { text: String }
//!
//! #[derive(Peer, Default)]
//! #[peer(recv = Say, send = Say, name = "echo")]
//! struct Echo;
//!
//! let module = typescript::generate(&Protocol::of::<Echo>(FramingSpec::websocket()));
//! assert!(module.ts.contains("export class Say {"));
//! assert!(module.ts.contains("constructor(text: string)"));
//! assert!(module.js.contains("constructor(text)"));
//! assert!(module.d_ts.contains("export declare class Say {"));
//! ```

use std::fmt::Write as _;

use super::{is_u8, FramingSpec, Protocol};
use crate::describe::{ByteOrder, FieldDef, FieldKind, FieldRole, Shape, Ty, TypeDef, VariantDef};

pub use super::GENERATOR;

const RUNTIME: &str = include_str!("typescript/runtime.ts");
const FRAMING: &str = include_str!("typescript/framing.ts");

/// What the TypeScript back end writes for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Module {
    /// The TypeScript module (`name.ts`).
    pub ts: String,
    /// The same module as plain JavaScript, an ES module (`name.js`).
    pub js: String,
    /// The JavaScript module's types (`name.d.ts`).
    pub d_ts: String,
}

/// The TypeScript module, its JavaScript and its declarations, for the other side of
/// `protocol`: it sends the peer kind's `Recv` type and receives its `Send` type (`Send`,
/// `Recv`, `SEND` and `RECV` in the module).
///
/// # Examples
///
/// See the [module's docs](self).
pub fn generate(protocol: &Protocol) -> Module {
    let mut g = Gen {
        p: protocol,
        out: String::new(),
        temp: 0,
    };
    g.module();
    let marked = g.out;
    let ts = render(&marked, true);
    Module {
        js: render(&marked, false),
        d_ts: declarations(&ts),
        ts,
    }
}

/// The marked source as TypeScript (`types`: its types kept) or as JavaScript (dropped):
/// `«` and `»` enclose what only TypeScript has; a line that held only such text is
/// dropped with it.
fn render(marked: &str, types: bool) -> String {
    let mut out = String::with_capacity(marked.len());
    let mut inside = false;
    for line in marked.split_inclusive('\n') {
        let mut kept = String::with_capacity(line.len());
        let mut marked_here = inside;
        for c in line.chars() {
            match c {
                '«' => {
                    inside = true;
                    marked_here = true;
                }
                '»' => inside = false,
                _ if types || !inside => kept.push(c),
                _ => {}
            }
        }
        if !types && marked_here && kept.trim().is_empty() {
            continue;
        }
        out.push_str(&kept);
    }
    out
}

/// The declarations of a TypeScript module written by this generator: its bodies and
/// initializers taken out, what is not exported left out (but classes, which exported
/// ones may name). It reads the generator's own layout: items at column 0, class members
/// at column 2, each body closed by a brace at its item's column.
fn declarations(ts: &str) -> String {
    let lines: Vec<&str> = ts.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    // Comments wait for the item they document: dropped with a dropped item.
    let mut comment: Vec<&str> = Vec::new();
    let mut in_class = false;
    while i < lines.len() {
        let line = lines[i];
        let keep_comment = |out: &mut String, comment: &mut Vec<&str>| {
            for c in comment.drain(..) {
                out.push_str(c);
                out.push('\n');
            }
        };
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("/**")
            || trimmed.starts_with("* ")
            || trimmed == "*"
            || trimmed.starts_with("*/")
        {
            comment.push(line);
            i += 1;
            continue;
        }
        if trimmed.starts_with("//") {
            if !in_class && indent == 0 {
                out.push_str(line);
                out.push('\n');
            }
            i += 1;
            continue;
        }
        if trimmed.is_empty() {
            comment.clear();
            if !in_class {
                out.push('\n');
            }
            i += 1;
            continue;
        }
        if in_class {
            if indent == 0 && trimmed.starts_with('}') {
                out.push_str("}\n");
                in_class = false;
                i += 1;
                continue;
            }
            // A member: a field as it is, a method's signature without its body.
            if line.ends_with('{') {
                let mut signature = line.trim_end_matches('{').trim_end().to_owned();
                // A signature over several lines ends with `) {` at the member's column.
                i += 1;
                while !lines[i - 1].ends_with('{') {
                    i += 1;
                }
                let mut j = i;
                while !(lines[j].len() - lines[j].trim_start().len() == indent
                    && lines[j].trim_start().starts_with('}'))
                {
                    j += 1;
                }
                signature = optional_defaults(&signature);
                keep_comment(&mut out, &mut comment);
                let _ = writeln!(out, "{signature};");
                i = j + 1;
                continue;
            }
            if trimmed.starts_with('(') || trimmed.starts_with(')') || indent > 2 {
                // A multi-line signature's parameters (taken with its first line).
                i += 1;
                continue;
            }
            keep_comment(&mut out, &mut comment);
            out.push_str(line);
            out.push('\n');
            i += 1;
            continue;
        }
        // An item at column 0.
        let exported = trimmed.starts_with("export ");
        let item = trimmed.trim_start_matches("export ");
        let end_of = |from: usize, closing: &str| -> usize {
            let mut j = from;
            while !(lines[j].starts_with(closing)) {
                j += 1;
            }
            j
        };
        if item.starts_with("class ") {
            keep_comment(&mut out, &mut comment);
            let _ = writeln!(
                out,
                "{}declare {item}",
                if exported { "export " } else { "" }
            );
            in_class = true;
            i += 1;
        } else if item.starts_with("function ") {
            // Its signature, maybe over several lines, ends with `{`.
            let mut j = i;
            while !lines[j].ends_with('{') {
                j += 1;
            }
            let signature: Vec<&str> = lines[i..=j].to_vec();
            let end = end_of(j + 1, "}");
            if exported {
                keep_comment(&mut out, &mut comment);
                let text = signature.join("\n");
                let text = text.trim_end_matches('{').trim_end();
                let _ = writeln!(out, "export declare {};", optional_defaults(&text[7..]));
            } else {
                comment.clear();
            }
            i = end + 1;
        } else if item.starts_with("interface ") || item.starts_with("type ") {
            keep_comment(&mut out, &mut comment);
            let end = if line.ends_with('{') {
                end_of(i + 1, "}")
            } else {
                let mut j = i;
                while !lines[j].trim_end().ends_with(';') {
                    j += 1;
                }
                j
            };
            for l in &lines[i..=end] {
                out.push_str(l);
                out.push('\n');
            }
            i = end + 1;
        } else if item.starts_with("const ") || item.starts_with("let ") {
            // `const NAME: TYPE = VALUE;`, TYPE and VALUE maybe over several lines.
            let mut j = i;
            let mut text = String::new();
            loop {
                text.push_str(lines[j]);
                text.push('\n');
                if lines[j].ends_with(" = {") || lines[j].contains(" = ") || j > i + 200 {
                    break;
                }
                j += 1;
            }
            let at = text.find(" = ").unwrap_or(text.len());
            let head = &text[..at];
            let end = if lines[j].ends_with(" = {") || lines[j].ends_with(" = [") {
                end_of(j + 1, "}")
            } else {
                let mut k = j;
                while !lines[k].trim_end().ends_with(';') {
                    k += 1;
                }
                k
            };
            if exported {
                keep_comment(&mut out, &mut comment);
                let _ = writeln!(
                    out,
                    "export declare {};",
                    head.trim_start_matches("export ")
                );
            } else {
                comment.clear();
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    // Blank lines where dropped items were: at most one in a row.
    let mut tidy = String::with_capacity(out.len());
    let mut blank = 0;
    for l in out.lines() {
        if l.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        tidy.push_str(l);
        tidy.push('\n');
    }
    // What is not marked `export` stays the module's own (a declaration file exports every
    // item otherwise).
    tidy.push_str("export {};\n");
    tidy
}

/// A signature's parameters with default values made optional (`size: number = 256` →
/// `size?: number`), as declarations write them.
fn optional_defaults(signature: &str) -> String {
    let Some(open) = signature.find('(') else {
        return signature.to_owned();
    };
    // The parameters: up to the matching `)`, split at commas outside brackets.
    let mut depth = 0i32;
    let mut params = Vec::new();
    let mut start = open + 1;
    let mut close = signature.len();
    let bytes = signature.as_bytes();
    for (k, c) in signature.char_indices().skip_while(|(k, _)| *k <= open) {
        match c {
            '(' | '[' | '{' => depth += 1,
            // A generic's `<` follows a name (`Record<`); a shift's does not.
            '<' if k > 0 && bytes[k - 1].is_ascii_alphanumeric() => depth += 1,
            '<' => {}
            '>' if k > 0 && (bytes[k - 1] == b'=' || bytes[k - 1] == b' ') => {}
            ')' if depth == 0 => {
                params.push(&signature[start..k]);
                close = k;
                break;
            }
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                params.push(&signature[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    let params: Vec<String> = params
        .into_iter()
        .map(|p| match (p.find(" = "), p.find(": ")) {
            (Some(eq), Some(colon)) if colon < eq => {
                format!("{}?{}", &p[..colon], &p[colon..eq])
            }
            _ => p.to_owned(),
        })
        .collect();
    format!(
        "{}{}{}",
        &signature[..=open],
        params.join(","),
        &signature[close..]
    )
}

struct Gen<'a> {
    p: &'a Protocol,
    out: String,
    /// Temporaries of the function being written.
    temp: usize,
}

/// JavaScript's reserved words (and `arguments`/`eval`), which a parameter cannot be.
const RESERVED: &[&str] = &[
    "arguments",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "kind",
    "encode",
    "decode",
    "constructor",
    "prototype",
    "_write",
    "_read",
];

/// A JavaScript identifier for a Rust name (`kind` is the enums' discriminant, so a field
/// of that name becomes `kind_`).
fn ident(name: &str) -> String {
    super::identifier(name, RESERVED)
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

/// The reader's and writer's method for an integer or float, and whether it takes a byte
/// order.
fn number_method(ty: &Ty) -> Option<(&'static str, bool)> {
    Some(match ty {
        Ty::Int { bits: 8, signed } => (if *signed { "i8" } else { "u8" }, false),
        Ty::Int { bits: 16, signed } => (if *signed { "i16" } else { "u16" }, true),
        Ty::Int { bits: 32, signed } => (if *signed { "i32" } else { "u32" }, true),
        Ty::Int { bits: 64, signed } => (if *signed { "i64" } else { "u64" }, true),
        Ty::Int { bits: 128, signed } => (if *signed { "i128" } else { "u128" }, true),
        Ty::Float { bits: 32 } => ("f32", true),
        Ty::Float { bits: 64 } => ("f64", true),
        _ => return None,
    })
}

/// The size of a number that runs can hold (128-bit ones go alone), 0 for anything else.
fn fixed_size(ty: &Ty) -> usize {
    match ty {
        Ty::Int { bits, .. } | Ty::Float { bits } if *bits <= 64 => usize::from(*bits) / 8,
        _ => 0,
    }
}

/// The end of the run of two or more fixed-size numbers starting at field `i`, if any.
fn run_end(fields: &[&FieldDef], i: usize) -> Option<usize> {
    let end = (i..fields.len())
        .find(|&j| fields[j].kind != FieldKind::Plain || fixed_size(&fields[j].ty) == 0)
        .unwrap_or(fields.len());
    (end >= i + 2).then_some(end)
}

/// `DataView`'s getter or setter (`verb`) of a number that runs hold.
fn view_method(ty: &Ty, verb: &str) -> String {
    let kind = match ty {
        Ty::Int { bits: 8, signed } => {
            if *signed {
                "Int8"
            } else {
                "Uint8"
            }
        }
        Ty::Int { bits: 16, signed } => {
            if *signed {
                "Int16"
            } else {
                "Uint16"
            }
        }
        Ty::Int { bits: 32, signed } => {
            if *signed {
                "Int32"
            } else {
                "Uint32"
            }
        }
        Ty::Int { signed, .. } => {
            if *signed {
                "BigInt64"
            } else {
                "BigUint64"
            }
        }
        Ty::Float { bits: 32 } => "Float32",
        _ => "Float64",
    };
    format!("{verb}{kind}")
}

/// A JavaScript expression true when `v` is not a value of the number type `ty`.
fn bad_number(ty: &Ty, v: &str) -> String {
    match ty {
        Ty::Int {
            bits: 8,
            signed: false,
        } => format!("({v} & 0xff) !== {v}"),
        Ty::Int {
            bits: 8,
            signed: true,
        } => format!("(({v} << 24) >> 24) !== {v}"),
        Ty::Int {
            bits: 16,
            signed: false,
        } => format!("({v} & 0xffff) !== {v}"),
        Ty::Int {
            bits: 16,
            signed: true,
        } => format!("(({v} << 16) >> 16) !== {v}"),
        Ty::Int {
            bits: 32,
            signed: false,
        } => format!("{v} >>> 0 !== {v}"),
        Ty::Int {
            bits: 32,
            signed: true,
        } => format!("({v} | 0) !== {v}"),
        Ty::Int { bits, signed } => format!(
            "typeof {v} !== \"bigint\" || BigInt.{}({bits}, {v}) !== {v}",
            if *signed { "asIntN" } else { "asUintN" }
        ),
        _ => format!("typeof {v} !== \"number\""),
    }
}

/// What an error calls a number of the reader's method `m` (`"a u32"`).
fn number_name(m: &str) -> String {
    match m {
        "f32" | "f64" => "a number".to_owned(),
        m if m.ends_with("64") || m.ends_with("128") => {
            format!(
                "{} {m} (a bigint)",
                if m.starts_with('i') { "an" } else { "a" }
            )
        }
        m => format!("{} {m}", if m.starts_with('i') { "an" } else { "a" }),
    }
}

/// The TypeScript type of a value (`json`: as JSON.parse gives it).
fn ts_type(ty: &Ty, json: bool) -> String {
    match ty {
        Ty::Int { bits, .. } if *bits <= 32 || json => "number".to_owned(),
        Ty::Int { .. } => "bigint".to_owned(),
        Ty::Float { .. } => "number".to_owned(),
        Ty::Bool => "boolean".to_owned(),
        Ty::String => "string".to_owned(),
        Ty::Bytes if json => "Array<number>".to_owned(),
        Ty::Bytes => "Uint8Array".to_owned(),
        Ty::Vec(t) | Ty::Array(_, t) if is_u8(t) && !json => "Uint8Array".to_owned(),
        Ty::Vec(t) | Ty::Array(_, t) => format!("Array<{}>", ts_type(t, json)),
        Ty::Option(t) => format!("{} | null", ts_type(t, json)),
        Ty::Tuple(ts) => format!(
            "[{}]",
            ts.iter()
                .map(|t| ts_type(t, json))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ty::Unit => "null".to_owned(),
        Ty::Named(_) if json => "unknown".to_owned(),
        Ty::Named(n) => ident(n),
        Ty::Opaque(_) => "unknown".to_owned(),
    }
}

/// A JavaScript expression true when the JSON value `v` has the shape of `ty` (as
/// serde_json would read it); `None` where the shape is not checked (derived and opaque
/// types).
fn json_check(ty: &Ty, v: &str, depth: usize) -> Option<String> {
    let x = format!("j{depth}");
    Some(match ty {
        Ty::Int { bits, signed } => {
            let (lo, hi) = match (bits, signed) {
                (8, false) => ("0", "0xff"),
                (8, true) => ("-0x80", "0x7f"),
                (16, false) => ("0", "0xffff"),
                (16, true) => ("-0x8000", "0x7fff"),
                (32, false) => ("0", "0xffffffff"),
                (32, true) => ("-0x80000000", "0x7fffffff"),
                (_, false) => ("0", "Number.MAX_SAFE_INTEGER"),
                (_, true) => ("Number.MIN_SAFE_INTEGER", "Number.MAX_SAFE_INTEGER"),
            };
            format!("Number.isSafeInteger({v}) && {v} >= {lo} && {v} <= {hi}")
        }
        Ty::Float { .. } => format!("typeof {v} === \"number\""),
        Ty::Bool => format!("typeof {v} === \"boolean\""),
        Ty::String => format!("typeof {v} === \"string\""),
        Ty::Unit => format!("{v} === null"),
        Ty::Bytes => format!(
            "Array.isArray({v}) && {v}.every(({x}«: unknown») => {})",
            json_check(
                &Ty::Int {
                    bits: 8,
                    signed: false
                },
                &x,
                depth + 1
            )?
        ),
        Ty::Vec(item) | Ty::Array(_, item) => match json_check(item, &x, depth + 1) {
            Some(inner) => format!("Array.isArray({v}) && {v}.every(({x}«: any») => {inner})"),
            None => format!("Array.isArray({v})"),
        },
        Ty::Option(inner) => match json_check(inner, v, depth) {
            Some(inner) => format!("{v} === null || ({inner})"),
            None => return None,
        },
        _ => return None,
    })
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// A temporary's name (`_$1`...: no field's local, `$name`, can be one).
    fn temp(&mut self) -> String {
        self.temp += 1;
        format!("_${}", self.temp)
    }

    /// The TypeScript name of a top-level message type.
    fn ty_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Named(n) => ident(n),
            _ => "unknown".to_owned(),
        }
    }

    fn module(&mut self) {
        let p = self.p;
        let hash = p.hash();
        let send = self.ty_name(&p.recv);
        let recv = self.ty_name(&p.send);
        let _ = writeln!(
            self.out,
            "// Generated by {GENERATOR} from the protocol {} (hash {hash}). Do not edit:",
            lit(&p.name)
        );
        self.line(
            0,
            "// generate it anew from the Rust protocol (connhandler::schema::typescript).",
        );
        self.line(0, "//");
        let _ = writeln!(
            self.out,
            "// The other side of the peer kind {}: it sends `{send}` and receives `{recv}`.",
            lit(&p.name)
        );
        self.line(
            0,
            "// Each message is a class with `encode()` and `static decode(data)`; a message that",
        );
        self.line(
            0,
            "// does not decode throws `DecodeError`, naming the message id and the field.",
        );
        self.line(0, "");
        self.line(0, "/** The peer kind's name. */");
        let _ = writeln!(
            self.out,
            "export const PROTOCOL«: string» = {};",
            lit(&p.name)
        );
        self.line(0, "/** The protocol document's hash. */");
        let _ = writeln!(
            self.out,
            "export const PROTOCOL_HASH«: string» = \"{hash}\";"
        );
        self.line(
            0,
            "/** The hash of the messages alone, the same on both sides: what a hello's `protocol` field says. */",
        );
        let _ = writeln!(
            self.out,
            "export const MESSAGES_HASH«: string» = \"{}\";",
            p.messages_hash()
        );
        self.line(0, "/** What generated this module. */");
        let _ = writeln!(
            self.out,
            "export const GENERATOR«: string» = {};",
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
        self.line(0, "/** TcpMessage's chunk size. */");
        let _ = writeln!(self.out, "export const MAX_MESSAGE_SIZE«: number» = {max};");
        self.line(
            0,
            "/** Whether a final full TcpMessage chunk says its length (connhandler's way) rather than 0. */",
        );
        let _ = writeln!(
            self.out,
            "export const EXPLICIT_FINAL_CHUNK«: boolean» = {explicit};"
        );
        self.line(
            0,
            "/** The length header of Panda3D's datagrams, in bytes. */",
        );
        let _ = writeln!(
            self.out,
            "export const PANDA3D_HEADER_SIZE«: number» = {header};"
        );
        self.line(0, "");
        self.out.push_str(RUNTIME);
        for t in p.types_in_order() {
            self.out.push('\n');
            self.typedef(t);
        }
        self.line(0, "");
        self.line(0, "/** What this side sends (the peer kind's `Recv`). */");
        let _ = writeln!(self.out, "«export type Send = {send};»");
        self.line(
            0,
            "/** What this side receives (the peer kind's `Send`). */",
        );
        let _ = writeln!(self.out, "«export type Recv = {recv};»");
        self.line(0, "/** The messages this side sends. */");
        let _ = writeln!(self.out, "export const SEND«: typeof {send}» = {send};");
        self.line(0, "/** The messages this side receives. */");
        let _ = writeln!(self.out, "export const RECV«: typeof {recv}» = {recv};");
        self.line(0, "");
        self.out.push_str(FRAMING);
        self.framing();
    }

    /// `frame` and `streamReader`: the protocol's own framing.
    fn framing(&mut self) {
        self.line(0, "");
        self.line(0, "// ---- The protocol's framing. ----");
        self.line(0, "");
        self.line(
            0,
            "/** One message's bytes, framed as the protocol frames them. */",
        );
        self.line(
            0,
            "export function frame(body«: Uint8Array»)«: Uint8Array» {",
        );
        match self.p.framing {
            FramingSpec::TcpMessage { .. } => self.line(1, "return tcpMessageFrame(body);"),
            FramingSpec::Panda3d { .. } => self.line(1, "return panda3dFrame(body);"),
            FramingSpec::WebSocket => self.line(1, "return body;"),
        }
        self.line(0, "}");
        self.line(0, "");
        self.line(
            0,
            "/** A reader of messages from a byte stream, framed as the protocol frames them. */",
        );
        self.line(
            0,
            "«export interface StreamReader {\n  feed(data: Uint8Array): Uint8Array[];\n  flush(): Uint8Array[];\n}»",
        );
        self.line(0, "");
        if let FramingSpec::TcpMessage { .. } = self.p.framing {
            self.line(
                0,
                "/** Whether `body` is a whole message, of a kind that tells its own end. */",
            );
            self.line(0, "function wholeMessage(body«: Uint8Array»)«: boolean» {");
            self.line(1, "try {");
            self.line(2, "const message = RECV.decode(body);");
            self.line(
                2,
                "return (message.constructor« as { SELF_DELIMITING?: boolean }»).SELF_DELIMITING !== false;",
            );
            self.line(1, "} catch (e) {");
            self.line(2, "return false;");
            self.line(1, "}");
            self.line(0, "}");
            self.line(0, "");
            self.line(
                0,
                "/** Whether `body` decodes: a pause may end it (a kind whose end is the message's). */",
            );
            self.line(0, "function decodes(body«: Uint8Array»)«: boolean» {");
            self.line(1, "try {");
            self.line(2, "RECV.decode(body);");
            self.line(2, "return true;");
            self.line(1, "} catch (e) {");
            self.line(2, "return false;");
            self.line(1, "}");
            self.line(0, "}");
            self.line(0, "");
            self.line(
                0,
                "/** A reader of the protocol's framing, for a byte stream. */",
            );
            self.line(0, "export function streamReader()«: StreamReader» {");
            self.line(
                1,
                "return new TcpMessageReader({ whole: wholeMessage, couldEnd: decodes });",
            );
            self.line(0, "}");
        } else {
            self.line(
                0,
                "/** A reader of the protocol's framing, for a byte stream. */",
            );
            self.line(0, "export function streamReader()«: StreamReader» {");
            let header = match self.p.framing {
                FramingSpec::Panda3d { header_size } if header_size != 0 => header_size,
                _ => 2,
            };
            let _ = writeln!(self.out, "  const reader = new Panda3dReader({header});");
            self.line(
                1,
                "return { feed: (data«: Uint8Array») => reader.feed(data), flush: () => [] };",
            );
            self.line(0, "}");
        }
    }

    fn typedef(&mut self, t: &TypeDef) {
        let name = ident(&t.name);
        match &t.shape {
            Shape::Struct { id, fields } => {
                let id_text = id.map_or(String::new(), |id| format!(" (id 0x{id:x})"));
                let _ = writeln!(self.out, "/** `{}`{id_text}. */", t.name);
                let _ = writeln!(self.out, "export class {name} {{");
                self.class_body(t, &name, &t.name, None, *id, fields);
                self.line(1, "/** Decodes the whole of `data`. */");
                let _ = writeln!(
                    self.out,
                    "  static decode(data«: Uint8Array»)«: {name}» {{\n    return decodeWhole(data, {name}._read);\n  }}"
                );
                self.line(0, "}");
            }
            Shape::Enum { variants } => self.enumeration(t, &name, variants),
        }
    }

    /// Fields, constructor, `encode`, `_write` and `_read` of a struct or a variant
    /// (`kind`: the variant's name).
    fn class_body(
        &mut self,
        t: &TypeDef,
        name: &str,
        label: &str,
        kind: Option<&str>,
        id: Option<u64>,
        fields: &[FieldDef],
    ) {
        let wire: Vec<&FieldDef> = fields
            .iter()
            .filter(|f| f.kind != FieldKind::Skip)
            .collect();
        let names: Vec<String> = wire.iter().map(|f| ident(&f.name)).collect();
        if let Some(kind) = kind {
            let _ = writeln!(self.out, "  «readonly kind: {};»", lit(kind));
        }
        if let Some(id) = id {
            let _ = writeln!(self.out, "  static «readonly »ID = 0x{id:x};");
        }
        if fields.iter().any(|f| f.kind == FieldKind::Rest) {
            self.line(1, "/** A rest field: its end is the message's. */");
            self.line(1, "static «readonly »SELF_DELIMITING = false;");
        }
        for (n, f) in names.iter().zip(&wire) {
            let _ = writeln!(
                self.out,
                "  «/** `{}` */»\n  «{n}: {};»",
                f.rust.replace('`', "'"),
                ts_type(&f.ty, t.json)
            );
        }
        // A field that says the messages hash may be left out (this module's), when the
        // fields after it may be too.
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
                let q = if i >= optional_from { "?" } else { "" };
                format!("{n}«{q}: {}»", ts_type(&f.ty, t.json))
            })
            .collect();
        let _ = writeln!(self.out, "  constructor({}) {{", params.join(", "));
        if let Some(kind) = kind {
            let _ = writeln!(self.out, "    this.kind = {};", lit(kind));
        }
        for (n, f) in names.iter().zip(&wire) {
            if says_hash(f) {
                let ours = if f.ty == Ty::String {
                    "MESSAGES_HASH".to_owned()
                } else {
                    "BigInt(\"0x\" + MESSAGES_HASH)".to_owned()
                };
                let _ = writeln!(self.out, "    this.{n} = {n} === undefined ? {ours} : {n};");
            } else {
                let _ = writeln!(self.out, "    this.{n} = {n};");
            }
        }
        self.line(1, "}");
        self.line(1, "/** The message's bytes (no framing). */");
        self.line(1, "encode()«: Uint8Array» {");
        self.line(2, "return encodeMessage(this);");
        self.line(1, "}");
        self.line(1, "_write(w«: Writer»)«: void» {");
        // The id goes in the run of numbers after it, if there is one.
        let lead = (0..wire.len())
            .find(|&j| wire[j].kind != FieldKind::Plain || fixed_size(&wire[j].ty) == 0)
            .unwrap_or(wire.len());
        let id_in_run = id.is_some() && !t.json && lead > 0 && t.id_bytes <= 4;
        if let Some(id) = id.filter(|_| !id_in_run) {
            self.id_write(t, id, &format!("{label}.id"));
        }
        if t.json {
            self.json_write(label, &wire, &names);
        } else {
            let mut i = 0;
            while i < wire.len() {
                if i == 0 && id_in_run {
                    let id = id.map(|id| (t, id));
                    self.write_run(label, &wire[..lead], &names[..lead], id);
                    i = lead;
                    continue;
                }
                if let Some(end) = run_end(&wire, i) {
                    self.write_run(label, &wire[i..end], &names[i..end], None);
                    i = end;
                    continue;
                }
                let (n, f) = (&names[i], wire[i]);
                let at = format!("{label}.{}", f.name);
                self.write_value(
                    2,
                    &f.ty,
                    f,
                    &format!("this.{n}"),
                    &at,
                    f.kind == FieldKind::Rest,
                    0,
                );
                i += 1;
            }
        }
        self.line(1, "}");
        // A variant's id is read by its enum; a struct's by itself.
        let _ = writeln!(self.out, "  static _read(r«: Reader»)«: {name}» {{");
        self.temp = 0;
        if let (Some(id), None) = (id, kind) {
            let at = lit(&format!("{label}.id"));
            let read = self.id_read(t, &at);
            let _ = writeln!(self.out, "    const id = {read};");
            self.line(2, "if (r.messageId === null) r.messageId = id;");
            let _ = writeln!(
                self.out,
                "    if (id !== {}) r.fail({at}, \"id 0x\" + id.toString(16) + \", not 0x{id:x}\");",
                self.id_literal(t, id)
            );
        }
        if t.json {
            self.json_read(label, &wire, &names);
        } else {
            let mut i = 0;
            while i < wire.len() {
                if let Some(end) = run_end(&wire, i) {
                    self.read_run(label, &wire[i..end], &names[i..end]);
                    i = end;
                    continue;
                }
                let (n, f) = (&names[i], wire[i]);
                let at = format!("{label}.{}", f.name);
                let expr = self.read_value(2, &f.ty, f, &at, f.kind == FieldKind::Rest);
                let _ = writeln!(self.out, "    const ${n} = {expr};");
                i += 1;
            }
        }
        let locals: Vec<String> = names.iter().map(|n| format!("${n}")).collect();
        let _ = writeln!(self.out, "    return new {name}({});", locals.join(", "));
        self.line(1, "}");
    }

    /// Writes a run of fixed-size numbers: room for all at once, each value checked, then
    /// set through the `DataView` at its offset.
    fn write_run(
        &mut self,
        label: &str,
        fields: &[&FieldDef],
        names: &[String],
        id: Option<(&TypeDef, u64)>,
    ) {
        let id_size = id.map_or(0, |(t, _)| usize::from(t.id_bytes));
        let size: usize = id_size + fields.iter().map(|f| fixed_size(&f.ty)).sum::<usize>();
        let mut list: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if id.is_some() {
            list.insert(0, "the id");
        }
        let _ = writeln!(
            self.out,
            "    // {}: {size} bytes, room made once.",
            list.join(", ")
        );
        for (n, f) in names.iter().zip(fields) {
            let (m, _) = number_method(&f.ty).unwrap_or(("u8", false));
            let _ = writeln!(self.out, "    const ${n} = this.{n};");
            let _ = writeln!(
                self.out,
                "    if ({}) badValue({}, ${n}, {});",
                bad_number(&f.ty, &format!("${n}")),
                lit(&format!("{label}.{}", f.name)),
                lit(&number_name(m))
            );
        }
        let _ = writeln!(self.out, "    const p{} = w.room({size});", self.temp + 1);
        self.temp += 1;
        let p = format!("p{}", self.temp);
        self.line(2, "const view = w.view;");
        if let Some((t, id)) = id {
            let set = match t.id_bytes {
                1 => format!("view.setUint8({p}, 0x{id:x});"),
                2 => format!("view.setUint16({p}, 0x{id:x}, {});", le(t.order)),
                _ => format!("view.setUint32({p}, 0x{id:x}, {});", le(t.order)),
            };
            self.line(2, &set);
        }
        let mut at = id_size;
        for (n, f) in names.iter().zip(fields) {
            let offset = if at == 0 {
                p.clone()
            } else {
                format!("{p} + {at}")
            };
            let ordered = if fixed_size(&f.ty) > 1 {
                format!(", {}", le(f.order))
            } else {
                String::new()
            };
            let _ = writeln!(
                self.out,
                "    view.{}({offset}, ${n}{ordered});",
                view_method(&f.ty, "set")
            );
            at += fixed_size(&f.ty);
        }
    }

    /// Reads a run of fixed-size numbers: one bounds check, then each through the
    /// `DataView` at its offset; short of bytes, field by field (which names the field
    /// that is short).
    fn read_run(&mut self, label: &str, fields: &[&FieldDef], names: &[String]) {
        let size: usize = fields.iter().map(|f| fixed_size(&f.ty)).sum();
        let list: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        for (n, f) in names.iter().zip(fields) {
            let _ = writeln!(self.out, "    let ${n}«: {}»;", ts_type(&f.ty, false));
        }
        self.temp += 1;
        let p = format!("p{}", self.temp);
        let _ = writeln!(
            self.out,
            "    // {}: {size} bytes, checked once.",
            list.join(", ")
        );
        let _ = writeln!(self.out, "    const {p} = r.pos;");
        let _ = writeln!(self.out, "    if ({p} + {size} <= r.end) {{");
        let _ = writeln!(self.out, "      r.pos = {p} + {size};");
        self.line(3, "const view = r.view;");
        let mut at = 0;
        for (n, f) in names.iter().zip(fields) {
            let offset = if at == 0 {
                p.clone()
            } else {
                format!("{p} + {at}")
            };
            let ordered = if fixed_size(&f.ty) > 1 {
                format!(", {}", le(f.order))
            } else {
                String::new()
            };
            let _ = writeln!(
                self.out,
                "      ${n} = view.{}({offset}{ordered});",
                view_method(&f.ty, "get")
            );
            at += fixed_size(&f.ty);
        }
        self.line(2, "} else {");
        for (n, f) in names.iter().zip(fields) {
            let at = format!("{label}.{}", f.name);
            let expr = self.read_value(3, &f.ty, f, &at, false);
            let _ = writeln!(self.out, "      ${n} = {expr};");
        }
        self.line(2, "}");
    }

    /// A whole message of fixed size (an id and numbers), read straight through a
    /// `DataView` when its size and id are right; anything else goes on to the checking
    /// path after it.
    fn whole_fixed(&mut self, t: &TypeDef, cls: &str, id: u64, fields: &[FieldDef]) {
        let wire: Vec<&FieldDef> = fields
            .iter()
            .filter(|f| f.kind != FieldKind::Skip)
            .collect();
        let m = Self::id_method(t);
        if wire.is_empty()
            || m == "u64"
            || wire
                .iter()
                .any(|f| f.kind != FieldKind::Plain || fixed_size(&f.ty) == 0)
        {
            return;
        }
        let id_size = usize::from(t.id_bytes);
        let size: usize = id_size + wire.iter().map(|f| fixed_size(&f.ty)).sum::<usize>();
        let _ = writeln!(
            self.out,
            "    if (data instanceof Uint8Array && data.length === {size}) {{"
        );
        self.line(
            3,
            "const view = new DataView(data.buffer, data.byteOffset, data.byteLength);",
        );
        let id_get = match t.id_bytes {
            1 => "view.getUint8(0)".to_owned(),
            2 => format!("view.getUint16(0, {})", le(t.order)),
            _ => format!("view.getUint32(0, {})", le(t.order)),
        };
        let _ = writeln!(self.out, "      if ({id_get} === 0x{id:x}) {{");
        let mut at = id_size;
        let mut args = Vec::new();
        for f in &wire {
            let ordered = if fixed_size(&f.ty) > 1 {
                format!(", {}", le(f.order))
            } else {
                String::new()
            };
            args.push(format!("view.{}({at}{ordered})", view_method(&f.ty, "get")));
            at += fixed_size(&f.ty);
        }
        let _ = writeln!(
            self.out,
            "        return new {cls}(\n          {},\n        );",
            args.join(",\n          ")
        );
        self.line(3, "}");
        self.line(2, "}");
    }

    /// The id as a literal of its JavaScript type (a bigint for 8-byte ids).
    fn id_literal(&self, t: &TypeDef, id: u64) -> String {
        if t.id_bytes > 4 {
            format!("0x{id:x}n")
        } else {
            format!("0x{id:x}")
        }
    }

    fn id_method(t: &TypeDef) -> &'static str {
        match t.id_bytes {
            1 => "u8",
            2 => "u16",
            3 | 4 => "u32",
            _ => "u64",
        }
    }

    fn id_write(&mut self, t: &TypeDef, id: u64, at: &str) {
        let lit_id = self.id_literal(t, id);
        self.id_write_expr(t, &lit_id, at);
    }

    fn id_write_expr(&mut self, t: &TypeDef, value: &str, at: &str) {
        let m = Self::id_method(t);
        if m == "u8" {
            let _ = writeln!(self.out, "    w.u8({value}, {});", lit(at));
        } else {
            let _ = writeln!(
                self.out,
                "    w.{m}({value}, {}, {});",
                le(t.order),
                lit(at)
            );
        }
    }

    fn id_read(&self, t: &TypeDef, at: &str) -> String {
        let m = Self::id_method(t);
        if m == "u8" {
            format!("r.u8({at})")
        } else {
            format!("r.{m}({}, {at})", le(t.order))
        }
    }

    fn json_write(&mut self, label: &str, fields: &[&FieldDef], names: &[String]) {
        for (n, f) in names.iter().zip(fields) {
            if let Some(ok) = json_check(&f.ty, &format!("this.{n}"), 0) {
                let _ = writeln!(
                    self.out,
                    "    if (!({ok})) throw new EncodeError({} + JSON.stringify(this.{n}) + \" is not a {}\");",
                    lit(&format!("{label}.{}: ", f.name)),
                    f.rust.replace('"', "'")
                );
            }
        }
        let object: Vec<String> = names
            .iter()
            .zip(fields)
            .map(|(n, f)| format!("{}: this.{n}", lit(&f.name)))
            .collect();
        let _ = writeln!(
            self.out,
            "    w.text(JSON.stringify({{ {} }}), 0, true, {});",
            object.join(", "),
            lit(&format!("{label}.body"))
        );
    }

    fn json_read(&mut self, label: &str, fields: &[&FieldDef], names: &[String]) {
        let body = lit(&format!("{label}.body"));
        let _ = writeln!(self.out, "    const text = r.restText({body});");
        self.line(2, "let o«: any»;");
        self.line(2, "try {");
        self.line(3, "o = JSON.parse(text);");
        self.line(2, "} catch (e) {");
        let _ = writeln!(
            self.out,
            "      return r.fail({body}, \"invalid JSON: \" + (e« as Error»).message);"
        );
        self.line(2, "}");
        let _ = writeln!(
            self.out,
            "    if (o === null || typeof o !== \"object\" || Array.isArray(o)) r.fail({body}, \"not a JSON object\");"
        );
        for (n, f) in names.iter().zip(fields) {
            let at = lit(&format!("{label}.{}", f.name));
            let key = lit(&f.name);
            let _ = writeln!(
                self.out,
                "    if (!Object.prototype.hasOwnProperty.call(o, {key})) r.fail({at}, \"missing\");"
            );
            let _ = writeln!(self.out, "    const ${n} = o[{key}];");
            if let Some(ok) = json_check(&f.ty, &format!("${n}"), 0) {
                let _ = writeln!(
                    self.out,
                    "    if (!({ok})) r.fail({at}, JSON.stringify(${n}) + \" is not a {}\");",
                    f.rust.replace('"', "'")
                );
            }
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
        let o = le(f.order);
        let w = f.len;
        let a = lit(at);
        let line = match ty {
            _ if number_method(ty).is_some() => {
                let (m, ordered) = number_method(ty).unwrap_or(("u8", false));
                if ordered {
                    format!("w.{m}({value}, {o}, {a});")
                } else {
                    format!("w.{m}({value}, {a});")
                }
            }
            Ty::Bool => format!("w.bool({value}, {a});"),
            Ty::String if rest => format!("w.text({value}, 0, true, {a});"),
            Ty::String => format!("w.text({value}, {w}, {o}, {a});"),
            Ty::Bytes if rest => format!("w.raw({value}, {a});"),
            Ty::Bytes => format!("w.bytes({value}, {w}, {o}, {a});"),
            Ty::Vec(item) if is_u8(item) => {
                if rest {
                    format!("w.raw({value}, {a});")
                } else {
                    format!("w.bytes({value}, {w}, {o}, {a});")
                }
            }
            Ty::Vec(item) => {
                let x = format!("x{depth}");
                let width = if rest { 0 } else { w };
                self.line(
                    indent,
                    &format!("for (const {x} of w.items({value}, {width}, {o}, {a})) {{"),
                );
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                self.line(indent, "}");
                return;
            }
            Ty::Array(n, item) if is_u8(item) => format!("w.raw({value}, {a}, {n});"),
            Ty::Array(n, item) => {
                let x = format!("x{depth}");
                self.line(
                    indent,
                    &format!("for (const {x} of w.exactly({value}, {n}, {a})) {{"),
                );
                self.write_value(indent + 1, item, f, &x, at, false, depth + 1);
                self.line(indent, "}");
                return;
            }
            Ty::Option(inner) => {
                self.line(indent, &format!("if ({value} == null) {{"));
                self.line(indent + 1, "w.tag(false);");
                self.line(indent, "} else {");
                self.line(indent + 1, "w.tag(true);");
                self.write_value(indent + 1, inner, f, value, at, false, depth);
                self.line(indent, "}");
                return;
            }
            Ty::Tuple(items) => {
                self.line(
                    indent,
                    &format!("w.exactly({value}, {}, {a});", items.len()),
                );
                for (k, item) in items.iter().enumerate() {
                    self.write_value(indent, item, f, &format!("{value}[{k}]"), at, false, depth);
                }
                return;
            }
            Ty::Unit => return,
            Ty::Named(_) => format!("{value}._write(w);"),
            Ty::Opaque(n) => format!("opaque({}, {a}).write(w, {value}, {a});", lit(n)),
            _ => return,
        };
        self.line(indent, &line);
    }

    /// An expression reading a value of `ty`, after the statements it needs (written at
    /// `indent`).
    fn read_value(&mut self, indent: usize, ty: &Ty, f: &FieldDef, at: &str, rest: bool) -> String {
        let o = le(f.order);
        let w = f.len;
        let a = lit(at);
        match ty {
            _ if number_method(ty).is_some() => {
                let (m, ordered) = number_method(ty).unwrap_or(("u8", false));
                if ordered {
                    format!("r.{m}({o}, {a})")
                } else {
                    format!("r.{m}({a})")
                }
            }
            Ty::Bool => format!("r.bool({a})"),
            Ty::String if rest => format!("r.restText({a})"),
            Ty::String => format!("r.text({w}, {o}, {a})"),
            Ty::Bytes if rest => "r.rest()".to_owned(),
            Ty::Bytes => format!("r.bytes({w}, {o}, {a})"),
            Ty::Vec(item) if is_u8(item) => {
                if rest {
                    "r.rest()".to_owned()
                } else {
                    format!("r.bytes({w}, {o}, {a})")
                }
            }
            Ty::Vec(item) | Ty::Array(_, item) => {
                if let Ty::Array(n, _) = ty {
                    if is_u8(item) {
                        return format!("r.take({n}, {a})");
                    }
                }
                let v = self.temp();
                let i = self.temp();
                let pad = "  ".repeat(indent);
                let ty_text = ts_type(ty, false);
                if rest && matches!(ty, Ty::Vec(_)) {
                    // Items to the end: as many as there are.
                    let _ = writeln!(self.out, "{pad}const {v}«: {ty_text}» = [];");
                    self.line(indent, "while (r.left() > 0) {");
                    let inner = self.read_value(indent + 1, item, f, at, false);
                    self.line(indent + 1, &format!("{v}.push({inner});"));
                    self.line(indent, "}");
                    return v;
                }
                // A count checked against the bytes left before anything is made.
                let count = match ty {
                    Ty::Array(count, _) => count.to_string(),
                    _ => {
                        let n = self.temp();
                        let min = self.p.min_len(item);
                        let _ =
                            writeln!(self.out, "{pad}const {n} = r.count({w}, {o}, {min}, {a});");
                        n
                    }
                };
                let _ = writeln!(
                    self.out,
                    "{pad}const {v}«: {ty_text}» = new Array({count});"
                );
                self.line(
                    indent,
                    &format!("for (let {i} = 0; {i} < {count}; {i}++) {{"),
                );
                let inner = self.read_value(indent + 1, item, f, at, false);
                self.line(indent + 1, &format!("{v}[{i}] = {inner};"));
                self.line(indent, "}");
                v
            }
            Ty::Option(inner) => {
                let v = self.temp();
                let _ = writeln!(
                    self.out,
                    "{}let {v}«: {}» = null;",
                    "  ".repeat(indent),
                    ts_type(ty, false)
                );
                self.line(indent, &format!("if (r.tag({a})) {{"));
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
                    self.line(indent, &format!("const {t} = {value};"));
                    parts.push(t);
                }
                let v = self.temp();
                let _ = writeln!(
                    self.out,
                    "{}const {v}«: {}» = [{}];",
                    "  ".repeat(indent),
                    ts_type(ty, false),
                    parts.join(", ")
                );
                v
            }
            Ty::Unit => "null".to_owned(),
            Ty::Named(n) => format!("{}._read(r)", ident(n)),
            Ty::Opaque(n) => format!("opaque({}, {a}).read(r, {a})", lit(n)),
            _ => "null".to_owned(),
        }
    }

    fn enumeration(&mut self, t: &TypeDef, name: &str, variants: &[VariantDef]) {
        let catch = variants.iter().find(|v| v.id.is_none());
        let class_of = |v: &VariantDef| format!("{name}_{}", ident(&v.name));
        for v in variants {
            let cls = class_of(v);
            let label = format!("{}.{}", t.name, v.name);
            let kind = ident(&v.name);
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
                    let _ = writeln!(self.out, "/** `{label}` (id 0x{id:x}{role}{replies}). */");
                    let _ = writeln!(self.out, "export class {cls} {{");
                    self.class_body(t, &cls, &label, Some(&kind), Some(id), &v.fields);
                    // The variant alone: its id checked, then its fields.
                    self.line(
                        1,
                        "/** Decodes the whole of `data` as this message alone: another message's bytes throw `DecodeError`. */",
                    );
                    let _ = writeln!(self.out, "  static decode(data«: Uint8Array»)«: {cls}» {{");
                    self.whole_fixed(t, &cls, id, &v.fields);
                    self.line(2, "const r = new Reader(data);");
                    let at = lit(&format!("{}.id", t.name));
                    let read = self.id_read(t, &at);
                    let _ = writeln!(self.out, "    const id = r.messageId = {read};");
                    let _ = writeln!(
                        self.out,
                        "    if (id !== {}) r.fail({at}, \"id 0x\" + id.toString(16) + \", not {label} (0x{id:x})\");",
                        self.id_literal(t, id)
                    );
                    let _ = writeln!(self.out, "    const value = {cls}._read(r);");
                    self.line(2, "r.finish();");
                    self.line(2, "return value;");
                    self.line(1, "}");
                    self.line(0, "}");
                }
                None => {
                    let id_type = if t.id_bytes > 4 { "bigint" } else { "number" };
                    let _ = writeln!(
                        self.out,
                        "/** `{label}`: any other id, and its body as it came. */"
                    );
                    let _ = writeln!(self.out, "export class {cls} {{");
                    let _ = writeln!(self.out, "  «readonly kind: {};»", lit(&kind));
                    self.line(1, "static «readonly »SELF_DELIMITING = false;");
                    let _ = writeln!(self.out, "  «id: {id_type};»");
                    self.line(1, "«body: Uint8Array;»");
                    let _ = writeln!(
                        self.out,
                        "  constructor(id«: {id_type}», body«: Uint8Array») {{"
                    );
                    let _ = writeln!(self.out, "    this.kind = {};", lit(&kind));
                    self.line(2, "this.id = id;");
                    self.line(2, "this.body = body;");
                    self.line(1, "}");
                    self.line(1, "/** The message's bytes (no framing). */");
                    self.line(1, "encode()«: Uint8Array» {");
                    self.line(2, "return encodeMessage(this);");
                    self.line(1, "}");
                    self.line(1, "_write(w«: Writer»)«: void» {");
                    self.id_write_expr(t, "this.id", &format!("{label}.id"));
                    let _ = writeln!(
                        self.out,
                        "    w.raw(this.body, {});",
                        lit(&format!("{label}.body"))
                    );
                    self.line(1, "}");
                    self.line(
                        1,
                        "/** Decodes the whole of `data` as a message of an id no other variant has. */",
                    );
                    let _ = writeln!(self.out, "  static decode(data«: Uint8Array»)«: {cls}» {{");
                    let _ = writeln!(self.out, "    const value = {name}.decode(data);");
                    let _ = writeln!(self.out, "    if (!(value instanceof {cls})) {{");
                    let _ = writeln!(
                        self.out,
                        "      throw new DecodeError(«(»value.constructor« as unknown as {{ ID: number | bigint }})».ID, {}, value.kind + \", not {label}\");",
                        lit(&format!("{}.id", t.name))
                    );
                    self.line(2, "}");
                    self.line(2, "return value;");
                    self.line(1, "}");
                    self.line(0, "}");
                }
            }
            self.line(0, "");
        }
        let all: Vec<String> = variants.iter().map(class_of).collect();
        let _ = writeln!(
            self.out,
            "/** The `{}` messages: a class per variant, `{name}.<Variant>`, told apart by `kind`. */",
            t.name
        );
        let _ = writeln!(self.out, "«export type {name} = {};»", all.join(" | "));
        let _ = writeln!(self.out, "export const {name}«: {{");
        for v in variants {
            let _ = writeln!(
                self.out,
                "  readonly {}: typeof {};",
                ident(&v.name),
                class_of(v)
            );
        }
        let _ = writeln!(
            self.out,
            "  /** Decodes the whole of `data`: any `{}` message. */",
            t.name
        );
        let _ = writeln!(self.out, "  decode(data: Uint8Array): {name};");
        let _ = writeln!(self.out, "  _read(r: Reader): {name};");
        self.line(0, "}» = {");
        for v in variants {
            let _ = writeln!(self.out, "  {}: {},", ident(&v.name), class_of(v));
        }
        let _ = writeln!(self.out, "  decode(data«: Uint8Array»)«: {name}» {{");
        // The id, read from the bytes as they came; then that variant's own decode.
        let id_of = match (t.id_bytes, t.order) {
            (1, _) => Some("data[0]«!»"),
            (2, ByteOrder::Little) => Some("data[0]«!» | (data[1]«!» << 8)"),
            (2, ByteOrder::Big) => Some("(data[0]«!» << 8) | data[1]«!»"),
            (4, ByteOrder::Little) => Some(
                "(data[0]«!» | (data[1]«!» << 8) | (data[2]«!» << 16)) + data[3]«!» * 0x1000000",
            ),
            (4, ByteOrder::Big) => Some(
                "data[0]«!» * 0x1000000 + ((data[1]«!» << 16) | (data[2]«!» << 8) | data[3]«!»)",
            ),
            _ => None,
        };
        if let Some(id_of) = id_of {
            let _ = writeln!(
                self.out,
                "    if (data instanceof Uint8Array && data.length >= {}) {{",
                t.id_bytes
            );
            let _ = writeln!(self.out, "      switch ({id_of}) {{");
            for v in variants {
                if let Some(id) = v.id {
                    let _ = writeln!(self.out, "        case 0x{id:x}:");
                    let _ = writeln!(self.out, "          return {}.decode(data);", class_of(v));
                }
            }
            self.line(3, "}");
            self.line(2, "}");
            self.line(2, "// The catch-all, or what is wrong.");
        }
        let _ = writeln!(
            self.out,
            "    return decodeWhole(data, {name}._read);\n  }},"
        );
        let _ = writeln!(self.out, "  _read(r«: Reader»)«: {name}» {{");
        let at = lit(&format!("{}.id", t.name));
        let read = self.id_read(t, &at);
        let _ = writeln!(self.out, "    const id = {read};");
        self.line(2, "if (r.messageId === null) r.messageId = id;");
        self.line(2, "switch (id) {");
        for v in variants {
            if let Some(id) = v.id {
                let _ = writeln!(self.out, "      case {}:", self.id_literal(t, id));
                let _ = writeln!(self.out, "        return {}._read(r);", class_of(v));
            }
        }
        self.line(3, "default:");
        match catch {
            Some(c) => {
                let _ = writeln!(
                    self.out,
                    "        return new {}(id, r.rest());",
                    class_of(c)
                );
            }
            None => {
                let _ = writeln!(
                    self.out,
                    "        return r.fail({at}, \"unknown message id 0x\" + id.toString(16));"
                );
            }
        }
        self.line(2, "}");
        self.line(1, "},");
        self.line(0, "};");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_types_are_kept_for_typescript_and_dropped_for_javascript() {
        let marked = "export class A {\n  «x: number;»\n  static «readonly »ID = 1;\n  f(a«: number»)«: void» {}\n}\n";
        assert_eq!(
            render(marked, true),
            "export class A {\n  x: number;\n  static readonly ID = 1;\n  f(a: number): void {}\n}\n"
        );
        assert_eq!(
            render(marked, false),
            "export class A {\n  static ID = 1;\n  f(a) {}\n}\n"
        );
    }

    #[test]
    fn declarations_make_defaults_optional() {
        assert_eq!(
            optional_defaults("  constructor(size: number = 256, n: number = 8 << 20) {"),
            "  constructor(size?: number, n?: number) {"
        );
        assert_eq!(
            optional_defaults("f(o: A & { W?: new (u: string) => B } = {}, m: Record<string, C>)"),
            "f(o?: A & { W?: new (u: string) => B }, m: Record<string, C>)"
        );
    }

    #[test]
    fn declarations_keep_signatures_and_drop_bodies_and_private_items() {
        let ts = "const HIDDEN = 1;\n/** A. */\nexport class A {\n  x: number;\n  constructor(x: number = 1) {\n    this.x = x;\n  }\n}\nfunction hidden(): void {\n}\nexport function f(a: A): number {\n  return a.x;\n}\nexport const B: number = 2;\n";
        assert_eq!(
            declarations(ts),
            "/** A. */\nexport declare class A {\n  x: number;\n  constructor(x?: number);\n}\nexport declare function f(a: A): number;\nexport declare const B: number;\nexport {};\n"
        );
    }
}
