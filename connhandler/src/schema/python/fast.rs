//! The fast paths of the generated classes, beside the checking ones (`_write`, `_read`):
//! `encode()` as one expression over precompiled structs, and `_unpack(d, p)` as
//! straight-line reads from the bytes (a top-level `decode` calls it). Any error on a fast
//! path sends the value or the bytes through the checking path again, which raises the
//! precise `EncodeError` or `DecodeError` naming the field; the fast path never returns a
//! value the checking path would refuse (bools, option tags, UTF-8, ids and the end are
//! all checked). JSON bodies and opaque hooks keep the checking path alone.
//!
//! A length that claims more than is left is not checked where it is read: its slice stops
//! at the end, the position goes past it, and the check that a message ends where its bytes
//! do (every whole decode has one, after everything else) refuses it. Nothing is allocated
//! by a claim (slices are bounded by the bytes; a count is checked against what is left
//! before a loop).

use std::fmt::Write as _;

use super::{ident, prefix, run_char, Gen};
use crate::describe::{ByteOrder, FieldDef, FieldKind, Shape, Ty, TypeDef};

/// How deep derived types are written inline (a recursive type stops here and calls its
/// class).
const INLINE_DEPTH: usize = 3;

/// One part of an encoded message.
enum Piece {
    /// A fixed-size number, packed in a run with its neighbours of the same byte order
    /// (`None`: one byte, which joins a run of either order).
    Fixed(Option<ByteOrder>, char, String),
    /// An expression of bytes.
    Bytes(String),
}

/// One step of a decoder.
enum Read {
    /// A fixed-size number into a variable, read in a run with its neighbours; then lines.
    Fixed(Option<ByteOrder>, char, String, Vec<String>),
    /// Lines, each indented relative to the decoder's body.
    Lines(Vec<String>),
}

/// A fixed-size number waiting for its run: its order, its character, the variable it goes
/// into and the lines after the run.
type FixedRead = (Option<ByteOrder>, char, (String, Vec<String>));

/// The `struct` character of a length prefix of `width` bytes.
fn prefix_char(width: u8) -> char {
    match width {
        1 => 'B',
        4 => 'I',
        _ => 'H',
    }
}

/// The byte order a fixed number needs (`None` for one byte).
fn needs(order: ByteOrder, c: char) -> Option<ByteOrder> {
    if matches!(c, 'B' | 'b') {
        None
    } else {
        Some(order)
    }
}

fn size_of(c: char) -> usize {
    match c {
        'B' | 'b' => 1,
        'H' | 'h' => 2,
        'I' | 'i' | 'f' => 4,
        _ => 8,
    }
}

fn indented(lines: Vec<String>, by: usize) -> Vec<String> {
    let pad = "    ".repeat(by);
    lines.into_iter().map(|l| format!("{pad}{l}")).collect()
}

/// Splits fixed items into runs of one byte order: (order, chars, items).
fn runs<T>(items: Vec<(Option<ByteOrder>, char, T)>) -> Vec<(ByteOrder, String, Vec<T>)> {
    let mut out: Vec<(Option<ByteOrder>, String, Vec<T>)> = Vec::new();
    for (order, c, item) in items {
        match out.last_mut() {
            Some((run_order, chars, run_items))
                if order.is_none() || run_order.is_none() || *run_order == order =>
            {
                if run_order.is_none() {
                    *run_order = order;
                }
                chars.push(c);
                run_items.push(item);
            }
            _ => out.push((order, c.to_string(), vec![item])),
        }
    }
    out.into_iter()
        .map(|(o, chars, items)| (o.unwrap_or(ByteOrder::Little), chars, items))
        .collect()
}

/// The fast paths' generator over the module's (its precompiled structs are shared).
pub(super) struct Fast<'g, 'a> {
    g: &'g mut Gen<'a>,
    /// Temporaries made so far.
    tmp: usize,
    /// Statements an encoder runs before its expression.
    pre: Vec<String>,
}

impl<'g, 'a> Fast<'g, 'a> {
    pub(super) fn new(g: &'g mut Gen<'a>) -> Self {
        Fast {
            g,
            tmp: 0,
            pre: Vec::new(),
        }
    }

    fn tmp(&mut self, stem: &str) -> String {
        self.tmp += 1;
        format!("{stem}{}", self.tmp)
    }

    /// A derived struct that can be written inline: no id, no JSON, no rest field.
    fn inline_struct(&self, name: &str, depth: usize) -> Option<(&'a TypeDef, Vec<&'a FieldDef>)> {
        let t = self.g.p.get(name)?;
        match &t.shape {
            Shape::Struct { id: None, fields }
                if !t.json
                    && depth < INLINE_DEPTH
                    && fields.iter().all(|f| f.kind != FieldKind::Rest) =>
            {
                Some((
                    t,
                    fields
                        .iter()
                        .filter(|f| f.kind == FieldKind::Plain)
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    /// A derived struct whose fields are one run of numbers (its items read with one
    /// `iter_unpack`): its struct's name and size.
    fn flat_struct(&mut self, name: &str, depth: usize) -> Option<(String, usize)> {
        let (_, fields) = self.inline_struct(name, depth)?;
        let first = fields.first()?;
        let mut format = String::from(prefix(first.order));
        for f in &fields {
            let c = run_char(&f.ty)?;
            if needs(f.order, c).is_some_and(|o| o != first.order) {
                return None;
            }
            format.push(c);
        }
        let size = format.chars().skip(1).map(size_of).sum();
        Some((self.g.struct_for(&format), size))
    }

    // ---- Encoding -------------------------------------------------------------------

    /// The pieces that write `v` of `ty`; `None` where the fast path does not go.
    #[allow(clippy::too_many_arguments)]
    fn pieces(
        &mut self,
        ty: &Ty,
        f: &FieldDef,
        v: &str,
        rest: bool,
        top: bool,
        depth: usize,
        out: &mut Vec<Piece>,
    ) -> Option<()> {
        let p = prefix(f.order);
        let pc = prefix_char(f.len);
        let byte_like = |ty: &Ty| {
            matches!(ty, Ty::Bytes)
                || matches!(ty, Ty::Vec(i) if matches!(**i, Ty::Int { bits: 8, signed: false }))
        };
        match ty {
            Ty::Int { bits: 128, signed } => out.push(Piece::Bytes(format!(
                "{v}.to_bytes(16, {:?}, signed={})",
                super::order(f.order),
                if *signed { "True" } else { "False" }
            ))),
            Ty::Int { .. } | Ty::Float { .. } => {
                let c = run_char(ty)?;
                out.push(Piece::Fixed(needs(f.order, c), c, v.to_owned()));
            }
            Ty::Bool => out.push(Piece::Fixed(
                None,
                'B',
                format!("(1 if {v} is True else 0 if {v} is False else _bad())"),
            )),
            Ty::String | Ty::Bytes | Ty::Vec(_) if byte_like(ty) || *ty == Ty::String => {
                let conv = match ty {
                    Ty::String => format!("{v}.encode()"),
                    Ty::Bytes => v.to_owned(),
                    _ => format!("bytes({v})"),
                };
                if rest {
                    out.push(Piece::Bytes(conv));
                } else if top {
                    let b = self.tmp("b");
                    self.pre.push(format!("{b} = {conv}"));
                    out.push(Piece::Fixed(needs(f.order, pc), pc, format!("len({b})")));
                    out.push(Piece::Bytes(b));
                } else {
                    let s = self.g.struct_for(&format!("{p}{pc}"));
                    out.push(Piece::Bytes(format!("_sized({conv}, {s})")));
                }
            }
            Ty::Vec(item) => {
                if !rest {
                    out.push(Piece::Fixed(needs(f.order, pc), pc, format!("len({v})")));
                }
                if let Some(c) = run_char(item) {
                    out.push(Piece::Bytes(format!(
                        "struct.pack(\"{p}%d{c}\" % len({v}), *{v})"
                    )));
                } else {
                    let x = self.tmp("x");
                    let expr = self.expression(item, f, &x, depth)?;
                    out.push(Piece::Bytes(format!("b\"\".join([{expr} for {x} in {v}])")));
                }
            }
            Ty::Option(inner) => {
                let expr = self.expression(inner, f, v, depth)?;
                out.push(Piece::Bytes(format!(
                    "(b\"\\x00\" if {v} is None else b\"\\x01\" + {expr})"
                )));
            }
            Ty::Array(n, item) => {
                if byte_like(&Ty::Vec(item.clone())) {
                    out.push(Piece::Bytes(format!("_exact(bytes({v}), {n})")));
                } else if let Some(c) = run_char(item) {
                    let s = self.g.struct_for(&format!("{p}{n}{c}"));
                    out.push(Piece::Bytes(format!("{s}.pack(*{v})")));
                } else {
                    let x = self.tmp("x");
                    let expr = self.expression(item, f, &x, depth)?;
                    out.push(Piece::Bytes(format!(
                        "b\"\".join([{expr} for {x} in _exact({v}, {n})])"
                    )));
                }
            }
            Ty::Tuple(items) => {
                for (k, item) in items.iter().enumerate() {
                    self.pieces(item, f, &format!("{v}[{k}]"), false, top, depth, out)?;
                }
            }
            Ty::Unit => {}
            Ty::Named(name) => {
                let mut inline = Vec::new();
                let done = self.inline_struct(name, depth).and_then(|(_, fields)| {
                    fields.into_iter().try_for_each(|field| {
                        let value = format!("{v}.{}", ident(&field.name));
                        self.pieces(&field.ty, field, &value, false, top, depth + 1, &mut inline)
                    })
                });
                match done {
                    Some(()) => out.extend(inline),
                    // Its class knows how (its own fast path or the checking one).
                    None => out.push(Piece::Bytes(format!("{v}.encode()"))),
                }
            }
            Ty::Opaque(_) => return None,
            _ => return None,
        }
        Some(())
    }

    /// One expression of bytes for `v` of `ty` (no statements before it).
    fn expression(&mut self, ty: &Ty, f: &FieldDef, v: &str, depth: usize) -> Option<String> {
        let mut out = Vec::new();
        self.pieces(ty, f, v, false, false, depth, &mut out)?;
        Some(self.join(out))
    }

    /// The pieces as one expression: each run of fixed numbers one `pack`.
    fn join(&mut self, pieces: Vec<Piece>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut fixed: Vec<(Option<ByteOrder>, char, String)> = Vec::new();
        let flush = |this: &mut Self,
                     fixed: &mut Vec<(Option<ByteOrder>, char, String)>,
                     parts: &mut Vec<String>| {
            for (order, chars, values) in runs(std::mem::take(fixed)) {
                let s = this.g.struct_for(&format!("{}{chars}", prefix(order)));
                parts.push(format!("{s}.pack({})", values.join(", ")));
            }
        };
        for piece in pieces {
            match piece {
                Piece::Fixed(o, c, v) => fixed.push((o, c, v)),
                Piece::Bytes(b) => {
                    flush(self, &mut fixed, &mut parts);
                    parts.push(b);
                }
            }
        }
        flush(self, &mut fixed, &mut parts);
        match parts.len() {
            0 => "b\"\"".to_owned(),
            1 => parts.remove(0),
            2 => format!("{} + {}", parts[0], parts[1]),
            _ => format!("b\"\".join(({}))", parts.join(", ")),
        }
    }

    /// `encode()` of a struct or a variant, with the id when it has one: the fast path,
    /// and the checking one on any error. Nothing for what it does not cover.
    pub(super) fn encode(
        &mut self,
        t: &TypeDef,
        id: Option<u64>,
        fields: &[&FieldDef],
        names: &[String],
    ) -> Option<String> {
        if t.json {
            return None;
        }
        self.pre.clear();
        let mut pieces = Vec::new();
        if let Some(id) = id {
            let c = prefix_char_id(t.id_bytes)?;
            pieces.push(Piece::Fixed(needs(t.order, c), c, format!("0x{id:x}")));
        }
        for (f, n) in fields.iter().zip(names) {
            let rest = f.kind == FieldKind::Rest;
            self.pieces(&f.ty, f, &format!("self.{n}"), rest, true, 0, &mut pieces)?;
        }
        let expr = self.join(pieces);
        let mut out = String::new();
        out.push_str("    def encode(self):\n        try:\n");
        for line in std::mem::take(&mut self.pre) {
            let _ = writeln!(out, "            {line}");
        }
        let _ = writeln!(out, "            return {expr}");
        out.push_str("        except Exception:\n            return Message.encode(self)\n");
        Some(out)
    }

    // ---- Decoding -------------------------------------------------------------------

    /// The steps that read a `ty` into `target`; `None` where the fast path does not go.
    fn reads(
        &mut self,
        ty: &Ty,
        f: &FieldDef,
        target: &str,
        rest: bool,
        depth: usize,
        out: &mut Vec<Read>,
    ) -> Option<()> {
        let p = prefix(f.order);
        let pc = prefix_char(f.len);
        let lines = |v: &[String]| Read::Lines(v.to_vec());
        match ty {
            Ty::Int { bits: 128, signed } => out.push(lines(&[
                "e = p + 16".into(),
                format!(
                    "{target} = int.from_bytes(d[p:e], {:?}, signed={})",
                    super::order(f.order),
                    if *signed { "True" } else { "False" }
                ),
                "p = e".into(),
            ])),
            Ty::Int { .. } | Ty::Float { .. } => {
                let c = run_char(ty)?;
                out.push(Read::Fixed(
                    needs(f.order, c),
                    c,
                    target.to_owned(),
                    Vec::new(),
                ));
            }
            Ty::Bool => out.push(Read::Fixed(
                None,
                'B',
                target.to_owned(),
                vec![
                    format!("if {target} > 1:"),
                    "    _bad()".into(),
                    format!("{target} = {target} == 1"),
                ],
            )),
            Ty::String | Ty::Bytes | Ty::Vec(_)
                if matches!(ty, Ty::String | Ty::Bytes)
                    || matches!(ty, Ty::Vec(i) if matches!(**i, Ty::Int { bits: 8, signed: false })) =>
            {
                let conv = |slice: &str| {
                    if *ty == Ty::String {
                        format!("{slice}.decode()")
                    } else {
                        slice.to_owned()
                    }
                };
                if rest {
                    out.push(lines(&[
                        format!("{target} = {}", conv("d[p:]")),
                        "p = len(d)".into(),
                    ]));
                } else {
                    let n = self.tmp("n");
                    out.push(Read::Fixed(needs(f.order, pc), pc, n.clone(), Vec::new()));
                    out.push(lines(&[
                        format!("e = p + {n}"),
                        format!("{target} = {}", conv("d[p:e]")),
                        "p = e".into(),
                    ]));
                }
            }
            Ty::Vec(item) => {
                let n = if rest {
                    None
                } else {
                    let n = self.tmp("n");
                    out.push(Read::Fixed(needs(f.order, pc), pc, n.clone(), Vec::new()));
                    Some(n)
                };
                // Items of one run: read at once.
                let run = match run_char(item) {
                    Some(c) => Some((None, size_of(c), Some(c))),
                    None => match &**item {
                        Ty::Named(name) => self
                            .flat_struct(name, depth)
                            .map(|(s, size)| (Some((s, ident(name))), size, None)),
                        _ => None,
                    },
                };
                if let Some((flat, size, c)) = run {
                    let mut v = Vec::new();
                    let count = match &n {
                        Some(n) => {
                            v.push(format!("e = p + {n} * {size}"));
                            n.clone()
                        }
                        None => {
                            v.push(format!("if (len(d) - p) % {size}:"));
                            v.push("    _bad()".into());
                            v.push("e = len(d)".into());
                            format!("((e - p) // {size})")
                        }
                    };
                    match (flat, c) {
                        (Some((s, cls)), _) => v.push(format!(
                            "{target} = [{cls}(*t) for t in {s}.iter_unpack(d[p:e])]"
                        )),
                        (None, Some(c)) => v.push(format!(
                            "{target} = list(struct.unpack_from(\"{p}%d{c}\" % {count}, d, p))"
                        )),
                        _ => return None,
                    }
                    v.push("p = e".into());
                    out.push(Read::Lines(v));
                } else {
                    let x = self.tmp("x");
                    let mut inner = Vec::new();
                    self.reads(item, f, &x, false, depth, &mut inner)?;
                    let mut v = Vec::new();
                    match &n {
                        Some(n) => {
                            let min = self.g.min_len(item).max(1);
                            v.push(format!("if {n} * {min} > len(d) - p:"));
                            v.push("    _bad()".into());
                            v.push(format!("{target} = []"));
                            v.push(format!("for _ in range({n}):"));
                        }
                        None => {
                            v.push(format!("{target} = []"));
                            v.push("while p < len(d):".into());
                        }
                    }
                    v.extend(indented(self.render(inner), 1));
                    v.push(format!("    {target}.append({x})"));
                    out.push(Read::Lines(v));
                }
            }
            Ty::Option(inner) => {
                let tag = self.tmp("t");
                out.push(Read::Fixed(None, 'B', tag.clone(), Vec::new()));
                let mut some = Vec::new();
                self.reads(inner, f, target, false, depth, &mut some)?;
                let mut v = vec![
                    format!("if {tag} > 1:"),
                    "    _bad()".into(),
                    format!("if {tag}:"),
                ];
                v.extend(indented(self.render(some), 1));
                v.push("else:".into());
                v.push(format!("    {target} = None"));
                out.push(Read::Lines(v));
            }
            Ty::Array(n, item) => {
                if matches!(
                    **item,
                    Ty::Int {
                        bits: 8,
                        signed: false
                    }
                ) {
                    out.push(lines(&[
                        format!("e = p + {n}"),
                        format!("{target} = d[p:e]"),
                        "p = e".into(),
                    ]));
                } else if let Some(c) = run_char(item) {
                    let s = self.g.struct_for(&format!("{p}{n}{c}"));
                    out.push(lines(&[
                        format!("{target} = list({s}.unpack_from(d, p))"),
                        format!("p += {}", n * size_of(c)),
                    ]));
                } else {
                    let x = self.tmp("x");
                    let mut inner = Vec::new();
                    self.reads(item, f, &x, false, depth, &mut inner)?;
                    let mut v = vec![format!("{target} = []"), format!("for _ in range({n}):")];
                    v.extend(indented(self.render(inner), 1));
                    v.push(format!("    {target}.append({x})"));
                    out.push(Read::Lines(v));
                }
            }
            Ty::Tuple(items) => {
                let mut parts = Vec::new();
                for item in items {
                    let x = self.tmp("x");
                    self.reads(item, f, &x, false, depth, out)?;
                    parts.push(x);
                }
                let tuple = if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                };
                out.push(lines(&[format!("{target} = {tuple}")]));
            }
            Ty::Unit => out.push(lines(&[format!("{target} = None")])),
            Ty::Named(name) => {
                let cls = ident(name);
                let mut inline = Vec::new();
                let done = match self.inline_struct(name, depth) {
                    Some((_, fields)) => {
                        let mut args = Vec::new();
                        let mut ok = true;
                        for field in fields {
                            let x = self.tmp("x");
                            if self
                                .reads(&field.ty, field, &x, false, depth + 1, &mut inline)
                                .is_none()
                            {
                                ok = false;
                                break;
                            }
                            args.push(x);
                        }
                        ok.then(|| format!("{target} = {cls}({})", args.join(", ")))
                    }
                    None => None,
                };
                match done {
                    Some(build) => {
                        out.extend(inline);
                        out.push(lines(&[build]));
                    }
                    None => out.push(lines(&[format!("{target}, p = {cls}._unpack(d, p)")])),
                }
            }
            Ty::Opaque(_) => return None,
            _ => return None,
        }
        Some(())
    }

    /// The steps as lines: each run of fixed numbers one `unpack_from`.
    fn render(&mut self, reads: Vec<Read>) -> Vec<String> {
        let mut out = Vec::new();
        let mut fixed: Vec<FixedRead> = Vec::new();
        let flush = |this: &mut Self, fixed: &mut Vec<FixedRead>, out: &mut Vec<String>| {
            for (order, chars, items) in runs(std::mem::take(fixed)) {
                let (targets, posts): (Vec<String>, Vec<Vec<String>>) = items.into_iter().unzip();
                if chars == "B" {
                    out.push(format!("{} = d[p]", targets[0]));
                    out.push("p += 1".into());
                } else {
                    let s = this.g.struct_for(&format!("{}{chars}", prefix(order)));
                    out.push(format!("{}, = {s}.unpack_from(d, p)", targets.join(", ")));
                    out.push(format!(
                        "p += {}",
                        chars.chars().map(size_of).sum::<usize>()
                    ));
                }
                out.extend(posts.into_iter().flatten());
            }
        };
        for read in reads {
            match read {
                Read::Fixed(o, c, t, post) => fixed.push((o, c, (t, post))),
                Read::Lines(lines) => {
                    flush(self, &mut fixed, &mut out);
                    out.extend(lines);
                }
            }
        }
        flush(self, &mut fixed, &mut out);
        out
    }

    /// Lines that decode a whole message from `d` (a struct's `decode`, a variant's own
    /// `decode`): its id (checked), its fields and its end; the last line returns the value. A
    /// message of fixed numbers only is one `unpack` of its exact size, as a hand-written
    /// decoder reads it. `None` where the fast path does not go.
    pub(super) fn whole(
        &mut self,
        t: &TypeDef,
        cls: &str,
        id: Option<u64>,
        fields: &[&FieldDef],
        names: &[String],
    ) -> Option<Vec<String>> {
        if t.json {
            return None;
        }
        let mut reads = Vec::new();
        if let Some(id) = id {
            let c = prefix_char_id(t.id_bytes)?;
            let post = vec![format!("if got != 0x{id:x}:"), "    _bad()".into()];
            reads.push(Read::Fixed(needs(t.order, c), c, "got".into(), post));
        }
        for (f, n) in fields.iter().zip(names) {
            let rest = f.kind == FieldKind::Rest;
            self.reads(&f.ty, f, &format!("v_{n}"), rest, 0, &mut reads)?;
        }
        let args: Vec<String> = names.iter().map(|n| format!("v_{n}")).collect();
        let value = format!("{cls}({})", args.join(", "));
        let all_fixed = reads.iter().all(|r| matches!(r, Read::Fixed(..)));
        let mut out = Vec::new();
        if all_fixed && !reads.is_empty() {
            let items: Vec<_> = reads
                .into_iter()
                .filter_map(|r| match r {
                    Read::Fixed(o, c, t, post) => Some((o, c, (t, post))),
                    Read::Lines(_) => None,
                })
                .collect();
            let mut runs = runs(items);
            if runs.len() == 1 {
                let (order, chars, items) = runs.remove(0);
                let s = self.g.struct_for(&format!("{}{chars}", prefix(order)));
                let (targets, posts): (Vec<String>, Vec<Vec<String>>) = items.into_iter().unzip();
                out.push(format!("{}, = {s}.unpack(d)", targets.join(", ")));
                out.extend(posts.into_iter().flatten());
                out.push(format!("return {value}"));
                return Some(out);
            }
            // Runs of two byte orders: read in turn.
            let reads = runs
                .into_iter()
                .flat_map(|(o, chars, items)| {
                    chars
                        .chars()
                        .zip(items)
                        .map(|(c, (t, post))| Read::Fixed(Some(o), c, t, post))
                        .collect::<Vec<_>>()
                })
                .collect();
            out.push("p = 0".into());
            out.extend(self.render(reads));
        } else {
            out.push("p = 0".into());
            out.extend(self.render(reads));
        }
        out.push("if p != len(d):".into());
        out.push("    _bad()".into());
        out.push(format!("return {value}"));
        Some(out)
    }

    /// `_unpack(d, p)` of a struct (its id read and checked, when it has one) or of a
    /// variant (its body: the enum read the id): the value and where it ended. The
    /// checking path's, for what the fast path does not cover.
    pub(super) fn unpack(
        &mut self,
        t: &TypeDef,
        cls: &str,
        id: Option<u64>,
        fields: &[&FieldDef],
        names: &[String],
    ) -> String {
        let fast = (|| {
            if t.json {
                return None;
            }
            let mut reads = Vec::new();
            if let (Some(id), Shape::Struct { .. }) = (id, &t.shape) {
                let c = prefix_char_id(t.id_bytes)?;
                reads.push(Read::Fixed(
                    needs(t.order, c),
                    c,
                    "got".into(),
                    vec![format!("if got != 0x{id:x}:"), "    _bad()".into()],
                ));
            }
            // Fields read into `v_<name>`: no temporary of the decoder starts so.
            for (f, n) in fields.iter().zip(names) {
                let rest = f.kind == FieldKind::Rest;
                self.reads(&f.ty, f, &format!("v_{n}"), rest, 0, &mut reads)?;
            }
            Some(self.render(reads))
        })();
        let mut out = String::from("    @staticmethod\n    def _unpack(d, p):\n");
        match fast {
            Some(lines) => {
                for line in lines {
                    let _ = writeln!(out, "        {line}");
                }
                let args: Vec<String> = names.iter().map(|n| format!("v_{n}")).collect();
                let _ = writeln!(out, "        return {cls}({}), p", args.join(", "));
            }
            None => {
                let _ = writeln!(out, "        return _checked_unpack({cls}._read, d, p)");
            }
        }
        out
    }
}

/// The `struct` character of an id of `bytes` bytes.
pub(super) fn prefix_char_id(bytes: u8) -> Option<char> {
    Some(match bytes {
        1 => 'B',
        2 => 'H',
        4 => 'I',
        8 => 'Q',
        _ => return None,
    })
}
