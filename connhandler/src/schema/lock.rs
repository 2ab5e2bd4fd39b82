//! The breaking-change check: the current protocol against the document committed as its
//! lock (what the peers already deployed were generated from).
//!
//! Each change is reported with the direction it breaks: **old → new** (bytes written by a
//! side built from the old protocol, read by one built from the new) and **new → old**.
//!
//! | change | old → new | new → old | verdict |
//! | --- | --- | --- | --- |
//! | a message type's framing, id width, byte order, prefix width or body mode | breaks | breaks | breaking |
//! | a variant removed | breaks (unless the new side has a catch-all variant) | | breaking, or compatible with a catch-all |
//! | a variant added | | breaks (unless the old side has a catch-all variant) | breaking, or compatible with a catch-all |
//! | a variant's id changed | breaks | breaks | breaking |
//! | a field added, removed, or its type, order, prefix or byte order changed | breaks | breaks | breaking |
//! | a struct's id changed | breaks | breaks | breaking |
//! | a variant's role (hello, reject, ping, pong) or replies changed | conversations differ | conversations differ | breaking |
//! | fields renamed, or fields of one type swapped | same bytes | same bytes | compatible on the wire, breaking for generated peers |
//! | ids swapped between variants of one shape | same bytes | same bytes | compatible on the wire, breaking for generated peers |
//! | a type added or removed (not on the wire by itself) | | | compatible (its uses are reported where they change) |
//!
//! "Breaking for generated peers" is reported as breaking: a peer generated from the old
//! document reads the same bytes with another meaning.

use std::{fmt, path::Path};

use super::{json::simple_name, Protocol};
use crate::describe::{FieldDef, Shape, Ty, TypeDef, VariantDef};

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Peers of both versions keep talking.
    Compatible,
    /// Peers of the two versions misread or refuse each other's messages.
    Breaking,
}

/// One change between two protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Where: `Type`, `Type.Variant`, `Type.Variant.field`.
    pub path: String,
    /// What changed, as a sentence.
    pub what: String,
    /// Whether bytes written by the old protocol fail (or are misread) under the new one.
    pub breaks_old_to_new: bool,
    /// Whether bytes written by the new protocol fail (or are misread) under the old one.
    pub breaks_new_to_old: bool,
    /// The verdict, and why.
    pub verdict: Verdict,
    /// Why the verdict.
    pub reason: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match (self.breaks_old_to_new, self.breaks_new_to_old) {
            (true, true) => "breaks old -> new and new -> old",
            (true, false) => "breaks old -> new",
            (false, true) => "breaks new -> old",
            (false, false) => "both directions read it",
        };
        let verdict = match self.verdict {
            Verdict::Compatible => "compatible",
            Verdict::Breaking => "BREAKING",
        };
        write!(
            f,
            "{verdict}: {}: {} ({dir}; {})",
            self.path, self.what, self.reason
        )
    }
}

/// The changes from `old` to `new`, in document order.
///
/// # Examples
///
/// ```
/// use connhandler::schema::{lock, FramingSpec, Protocol};
/// # use connhandler::{Message, Peer};
/// # #[derive(Message)] #[wire(id = 1)] struct Say { text: String }
/// # #[derive(Peer, Default)] #[peer(recv = Say, send = Say)] struct Echo;
/// let p = Protocol::of::<Echo>(FramingSpec::tcp_message());
/// assert!(lock::compare(&p, &p).is_empty());
/// ```
pub fn compare(old: &Protocol, new: &Protocol) -> Vec<Change> {
    let mut out = Vec::new();
    if old.framing != new.framing {
        out.push(both(
            "framing".into(),
            format!("{:?} became {:?}", old.framing, new.framing),
            "the bytes around every message differ",
        ));
    }
    for (side, o, n) in [
        ("recv", &old.recv, &new.recv),
        ("send", &old.send, &new.send),
    ] {
        if o != n {
            out.push(both(
                side.into(),
                format!(
                    "the peer kind's `{side}` type {} became {}",
                    ty_text(o),
                    ty_text(n)
                ),
                "another message type entirely",
            ));
        }
    }
    for n in &new.types {
        match old.get(&n.name) {
            Some(o) => compare_type(o, n, &mut out),
            None => out.push(Change {
                path: n.name.clone(),
                what: "a new type".into(),
                breaks_old_to_new: false,
                breaks_new_to_old: false,
                verdict: Verdict::Compatible,
                reason: "a type is on the wire only through the fields that use it, reported where they change".into(),
            }),
        }
    }
    for o in &old.types {
        if new.get(&o.name).is_none() {
            out.push(Change {
                path: o.name.clone(),
                what: "type removed".into(),
                breaks_old_to_new: false,
                breaks_new_to_old: false,
                verdict: Verdict::Compatible,
                reason: "a type is on the wire only through the fields that use it, reported where they change".into(),
            });
        }
    }
    out
}

fn both(path: String, what: String, reason: &str) -> Change {
    Change {
        path,
        what,
        breaks_old_to_new: true,
        breaks_new_to_old: true,
        verdict: Verdict::Breaking,
        reason: reason.into(),
    }
}

fn ty_text(t: &Ty) -> String {
    if let Some(s) = simple_name(t) {
        return s;
    }
    match t {
        Ty::Vec(i) => format!("vec<{}>", ty_text(i)),
        Ty::Option(i) => format!("option<{}>", ty_text(i)),
        Ty::Array(n, i) => format!("[{}; {n}]", ty_text(i)),
        Ty::Tuple(ts) => format!(
            "({})",
            ts.iter().map(ty_text).collect::<Vec<_>>().join(", ")
        ),
        Ty::Named(n) => n.clone(),
        Ty::Opaque(n) => format!("opaque {n}"),
        _ => "?".into(),
    }
}

fn compare_type(o: &TypeDef, n: &TypeDef, out: &mut Vec<Change>) {
    let path = &n.name;
    for (what, a, b) in [
        ("id width", o.id_bytes.to_string(), n.id_bytes.to_string()),
        (
            "byte order",
            o.order.name().to_owned(),
            n.order.name().to_owned(),
        ),
        ("length prefix width", o.len.to_string(), n.len.to_string()),
        ("JSON body", o.json.to_string(), n.json.to_string()),
    ] {
        if a != b {
            out.push(both(
                path.clone(),
                format!("{what} {a} became {b}"),
                "every message of the type is written differently",
            ));
        }
    }
    match (&o.shape, &n.shape) {
        (Shape::Struct { id: oi, fields: of }, Shape::Struct { id: ni, fields: nf }) => {
            if oi != ni {
                out.push(both(
                    path.clone(),
                    format!("id {oi:?} became {ni:?}"),
                    "the id is written first",
                ));
            }
            compare_fields(path, of, nf, out);
        }
        (Shape::Enum { variants: ov }, Shape::Enum { variants: nv }) => {
            compare_variants(path, ov, nv, out);
        }
        _ => out.push(both(
            path.clone(),
            "a struct became an enum, or an enum a struct".into(),
            "another layout",
        )),
    }
}

/// Two field lists of the same wire shape (types and settings), names aside.
fn same_shape(a: &[FieldDef], b: &[FieldDef]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.ty == y.ty && x.order == y.order && x.len == y.len && x.kind == y.kind)
}

fn compare_fields(path: &str, o: &[FieldDef], n: &[FieldDef], out: &mut Vec<Change>) {
    if same_shape(o, n) {
        let renamed: Vec<String> = o
            .iter()
            .zip(n)
            .filter(|(a, b)| a.name != b.name)
            .map(|(a, b)| format!("`{}` is now `{}`", a.name, b.name))
            .collect();
        if !renamed.is_empty() {
            let swapped = o
                .iter()
                .zip(n)
                .any(|(a, b)| a.name != b.name && o.iter().any(|c| c.name == b.name));
            out.push(Change {
                path: path.to_owned(),
                what: if swapped {
                    format!("fields swapped or renamed: {}", renamed.join(", "))
                } else {
                    format!("fields renamed: {}", renamed.join(", "))
                },
                breaks_old_to_new: false,
                breaks_new_to_old: false,
                verdict: Verdict::Breaking,
                reason: "the same bytes on the wire, read with another meaning by every peer generated from the old document".into(),
            });
        }
        return;
    }
    // Field by field, by name where both have it, for a readable diff.
    for (i, f) in n.iter().enumerate() {
        match o.iter().position(|x| x.name == f.name) {
            Some(j) => {
                let g = &o[j];
                let mut diffs = Vec::new();
                if j != i {
                    diffs.push(format!("moved from place {j} to {i}"));
                }
                if g.ty != f.ty {
                    diffs.push(format!("type {} became {}", ty_text(&g.ty), ty_text(&f.ty)));
                }
                if g.order != f.order {
                    diffs.push(format!("byte order {} became {}", g.order.name(), f.order.name()));
                }
                if g.len != f.len {
                    diffs.push(format!("length prefix {} became {} bytes", g.len, f.len));
                }
                if g.kind != f.kind {
                    diffs.push(format!("kind {:?} became {:?}", g.kind, f.kind));
                }
                if !diffs.is_empty() {
                    out.push(both(
                        format!("{path}.{}", f.name),
                        diffs.join(", "),
                        "the message's bytes change from this field on",
                    ));
                }
            }
            None => out.push(both(
                format!("{path}.{}", f.name),
                format!("field added ({}) at place {i}", ty_text(&f.ty)),
                "the layout has no room for it: the old side's decoder sees bytes it does not expect, the new one misses them",
            )),
        }
    }
    for g in o {
        if !n.iter().any(|f| f.name == g.name) {
            out.push(both(
                format!("{path}.{}", g.name),
                format!("field removed ({})", ty_text(&g.ty)),
                "the layout has no room for it: one side reads bytes the other does not write",
            ));
        }
    }
}

fn compare_variants(path: &str, o: &[VariantDef], n: &[VariantDef], out: &mut Vec<Change>) {
    let catch = |vs: &[VariantDef]| vs.iter().any(|v| v.id.is_none());
    let (old_catch, new_catch) = (catch(o), catch(n));
    for v in n.iter().filter(|v| v.id.is_some()) {
        let here = format!("{path}.{}", v.name);
        match o.iter().find(|x| x.name == v.name) {
            Some(w) => {
                if w.id != v.id {
                    // Swapped with another variant of the same shape: the same bytes, other
                    // meanings.
                    let swapped = o.iter().any(|x| {
                        x.id == v.id && x.name != v.name && same_shape(&x.fields, &v.fields)
                    });
                    if swapped {
                        out.push(Change {
                            path: here.clone(),
                            what: format!("id {:#x} became {:#x}, another variant's of the same shape", w.id.unwrap_or(0), v.id.unwrap_or(0)),
                            breaks_old_to_new: false,
                            breaks_new_to_old: false,
                            verdict: Verdict::Breaking,
                            reason: "the same bytes on the wire, read as the other message by every peer generated from the old document".into(),
                        });
                    } else {
                        out.push(both(
                            here.clone(),
                            format!("id {:#x} became {:#x}", w.id.unwrap_or(0), v.id.unwrap_or(0)),
                            "the id is how a message is told apart",
                        ));
                    }
                }
                if w.role != v.role || w.replies != v.replies {
                    out.push(both(
                        here.clone(),
                        format!(
                            "conversation role {:?} -> {:?}, replies {:?} -> {:?}",
                            w.role, v.role, w.replies, v.replies
                        ),
                        "the handshake, heartbeat or request pairing works differently",
                    ));
                }
                compare_fields(&here, &w.fields, &v.fields, out);
            }
            None => out.push(Change {
                path: here.clone(),
                what: format!("variant added (id {:#x})", v.id.unwrap_or(0)),
                breaks_old_to_new: false,
                breaks_new_to_old: !old_catch,
                verdict: if old_catch { Verdict::Compatible } else { Verdict::Breaking },
                reason: if old_catch {
                    "the old side's catch-all variant takes an id it does not know".into()
                } else {
                    "the old side refuses an id it does not know (a catch-all variant would take it)".into()
                },
            }),
        }
    }
    for w in o.iter().filter(|w| w.id.is_some()) {
        if !n.iter().any(|v| v.name == w.name) {
            out.push(Change {
                path: format!("{path}.{}", w.name),
                what: format!("variant removed (id {:#x})", w.id.unwrap_or(0)),
                breaks_old_to_new: !new_catch,
                breaks_new_to_old: false,
                verdict: if new_catch {
                    Verdict::Compatible
                } else {
                    Verdict::Breaking
                },
                reason: if new_catch {
                    "the new side's catch-all variant takes the old id".into()
                } else {
                    "the new side refuses the old id (a catch-all variant would take it)".into()
                },
            });
        }
    }
    if old_catch != new_catch {
        out.push(Change {
            path: path.to_owned(),
            what: if new_catch {
                "catch-all variant added".into()
            } else {
                "catch-all variant removed".into()
            },
            breaks_old_to_new: !new_catch,
            breaks_new_to_old: false,
            verdict: if new_catch {
                Verdict::Compatible
            } else {
                Verdict::Breaking
            },
            reason: "what takes the ids no variant has".into(),
        });
    }
}

/// Checks `protocol` against the lock committed at `path`: the one line of a user's test
/// that catches breaking changes before they ship.
///
/// - No lock yet: it is written, and the check fails so that it gets committed.
/// - Only compatible changes (or none): the lock is written anew and the changes returned.
/// - A breaking change: the check fails with every change, the direction each breaks and
///   why; the lock is left as it was. Accept the break (peers will be regenerated) by
///   running once with `CONNHANDLER_ACCEPT_PROTOCOL=1`, which writes the new lock.
///
/// # Errors
///
/// A breaking change, or a lock that was missing, unreadable or unwritable, as text.
///
/// # Examples
///
/// ```no_run
/// # use connhandler::schema::{lock, FramingSpec, Protocol};
/// # #[derive(connhandler::Message)] #[wire(id = 1)] struct Say { text: String }
/// # #[derive(connhandler::Peer, Default)] #[peer(recv = Say, send = Say)] struct Echo;
/// // In a test of the program's own:
/// lock::check(&Protocol::of::<Echo>(FramingSpec::tcp_message()), "protocol.lock.json").unwrap();
/// ```
pub fn check(protocol: &Protocol, path: impl AsRef<Path>) -> Result<Vec<Change>, String> {
    let path = path.as_ref();
    let write = || {
        std::fs::write(path, protocol.to_json())
            .map_err(|e| format!("{}: cannot write the lock: {e}", path.display()))
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(_) => {
            write()?;
            return Err(format!(
                "{} was missing: the protocol's lock is written now; commit it",
                path.display()
            ));
        }
    };
    let old = Protocol::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let changes = compare(&old, protocol);
    let breaking: Vec<&Change> = changes
        .iter()
        .filter(|c| c.verdict == Verdict::Breaking)
        .collect();
    let accept = std::env::var_os("CONNHANDLER_ACCEPT_PROTOCOL").is_some_and(|v| v == "1");
    if !breaking.is_empty() && !accept {
        let mut report = format!(
            "the protocol `{}` changed in ways that break peers built from {} (hash {} -> {}):",
            protocol.name,
            path.display(),
            old.hash(),
            protocol.hash()
        );
        for c in &changes {
            report.push_str("\n  ");
            report.push_str(&c.to_string());
        }
        report.push_str(
            "\nregenerate the peers and run once with CONNHANDLER_ACCEPT_PROTOCOL=1 to accept it",
        );
        return Err(report);
    }
    if !changes.is_empty() {
        write()?;
    }
    Ok(changes)
}
