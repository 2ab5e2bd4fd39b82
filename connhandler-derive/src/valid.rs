//! Rules that look at several parts of a message type at once.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

use crate::{
    ast::{Body, Container, Field, Style},
    attr::{IntWidth, Role},
    ctxt::Ctxt,
};

pub(crate) fn validate(cx: &Ctxt, cont: &Container) {
    conversation(cx, cont);
    let id_type = cont
        .attrs
        .id_type
        .as_ref()
        .map_or(IntWidth::U16, |t| t.value);
    let json = cont.attrs.json.is_some();
    if json && !cont.generics.params.is_empty() {
        cx.error_spanned_by(
            cont.generics,
            "json mode does not support generic message types",
        );
    }
    match &cont.data {
        Body::Enum(variants) => {
            if let Some(id) = &cont.attrs.id {
                cx.error_spanned_by(
                    id,
                    "an enum's ids go on its variants: #[wire(id = ...)] on each variant",
                );
            }
            if variants.is_empty() {
                cx.error_spanned_by(cont.original, "a message enum needs at least one variant");
            }
            let mut seen: HashMap<u64, &syn::Ident> = HashMap::new();
            let mut catch_all: Option<&syn::Ident> = None;
            for v in variants {
                if let Some(flag) = &v.attrs.catch_all {
                    if let Some(first) = catch_all {
                        cx.error_spanned_by(
                            flag,
                            format!(
                                "only one catch_all variant is allowed; `{first}` is one already"
                            ),
                        );
                    }
                    catch_all = Some(v.ident);
                    if let Some(id) = &v.attrs.id {
                        cx.error_spanned_by(
                            id,
                            "the catch_all variant takes every unknown id; it has no id of its own",
                        );
                    }
                    if v.fields.len() != 2 || v.style == Style::Unit {
                        cx.error_spanned_by(
                            v.original,
                            format!(
                                "the catch_all variant must hold the id ({}) and the raw body (`Bytes` or `Vec<u8>`), as `{}({}, Bytes)` or `{} {{ id: {}, body: Bytes }}`",
                                id_type.name(), v.ident, id_type.name(), v.ident, id_type.name()
                            ),
                        );
                    }
                    continue;
                }
                match &v.attrs.id {
                    None => cx.error_spanned_by(
                        v.ident,
                        format!(
                            "variant `{}` needs a message id: #[wire(id = ...)]",
                            v.ident
                        ),
                    ),
                    Some(id) => {
                        if id.value > id_type.max() {
                            cx.error_spanned_by(
                                id,
                                format!(
                                    "message id {} does not fit the id type {}; set #[wire(id_type = {})] on the enum for larger ids",
                                    hex_id(id.value, fitting(id.value)),
                                    id_type.name(),
                                    fitting(id.value).name()
                                ),
                            );
                        }
                        if let Some(first) = seen.insert(id.value, v.ident) {
                            cx.error_spanned_by(
                                id,
                                format!(
                                    "duplicate message id {}: `{}` has it, and `{first}` first",
                                    hex_id(id.value, id_type),
                                    v.ident
                                ),
                            );
                        }
                    }
                }
                if json && v.style == Style::Tuple {
                    cx.error_spanned_by(
                        v.original,
                        "json mode encodes a variant's fields as a JSON object: use named fields",
                    );
                }
                check_fields(cx, &v.fields, json);
            }
        }
        Body::Struct(style, fields) => {
            if let Some(id) = &cont.attrs.id {
                if id.value > id_type.max() {
                    cx.error_spanned_by(
                        id,
                        format!(
                            "message id {} does not fit the id type {}; set #[wire(id_type = {})] for larger ids",
                            hex_id(id.value, fitting(id.value)),
                            id_type.name(),
                            fitting(id.value).name()
                        ),
                    );
                }
            } else if json {
                cx.error_spanned_by(
                    cont.attrs.json.as_ref().map(|j| &j.tokens),
                    "json mode messages start with an id: add #[wire(id = ...)]",
                );
            }
            if json && *style == Style::Tuple {
                cx.error_spanned_by(
                    cont.original,
                    "json mode encodes the fields as a JSON object: use named fields",
                );
            }
            check_fields(cx, fields, json);
        }
    }
}

fn check_fields(cx: &Ctxt, fields: &[Field], json: bool) {
    let last_encoded = fields.iter().rposition(|f| f.attrs.skip.is_none());
    for (i, f) in fields.iter().enumerate() {
        let a = &f.attrs;
        if let Some(rest) = &a.rest {
            if Some(i) != last_encoded {
                cx.error_spanned_by(
                    rest,
                    format!("`rest` takes the rest of the message: only the last field can have it, not `{}`", f.name()),
                );
            }
            if let Some(len) = &a.len {
                cx.error_spanned_by(len, "`rest` has no length prefix, so `len` does not apply");
            }
            if let Some(with) = &a.with {
                cx.error_spanned_by(
                    with,
                    "`rest` and `with` conflict: a `with` codec decides its own length",
                );
            }
        }
        if let Some(skip) = &a.skip {
            for (conflict, name) in [
                (a.rest.as_ref().map(|x| &x.tokens), "rest"),
                (a.len.as_ref().map(|x| &x.tokens), "len"),
                (a.endian.as_ref().map(|x| &x.tokens), "endian"),
                (a.with.as_ref().map(|x| &x.tokens), "with"),
            ] {
                if let Some(tokens) = conflict {
                    cx.error_spanned_by(
                        tokens,
                        format!("`skip` and `{name}` conflict: a skipped field is not on the wire"),
                    );
                }
            }
            let _ = skip;
        } else if let Some(default) = &a.default {
            cx.error_spanned_by(
                default,
                "`default` goes with `skip`: #[wire(skip, default = path)]",
            );
        }
        if json {
            for (given, name) in [
                (a.rest.as_ref().map(|x| &x.tokens), "rest"),
                (a.len.as_ref().map(|x| &x.tokens), "len"),
                (a.endian.as_ref().map(|x| &x.tokens), "endian"),
                (a.with.as_ref().map(|x| &x.tokens), "with"),
            ] {
                if let Some(tokens) = given {
                    cx.error_spanned_by(
                        tokens,
                        format!("json mode encodes fields with serde: `{name}` does not apply (use serde attributes on the field's type)"),
                    );
                }
            }
        }
        if a.skip.is_none() && a.with.is_none() {
            check_type(cx, f.ty);
        }
    }
}

/// The conversation keys: `reply` paths from one enum, at most one variant per part, the
/// field markers where their part needs them.
fn conversation(cx: &Ctxt, cont: &Container) {
    let variants = match &cont.data {
        Body::Enum(variants) => variants,
        Body::Struct(_, fields) => {
            for f in fields {
                for (given, name) in [
                    (f.attrs.version.as_ref(), "version"),
                    (f.attrs.reason.as_ref(), "reason"),
                    (f.attrs.protocol.as_ref(), "protocol"),
                ] {
                    if let Some(given) = given {
                        cx.error_spanned_by(
                            given,
                            format!("`{name}` marks a field of a `hello` or `reject` variant; a struct message has no variants"),
                        );
                    }
                }
            }
            check_correlation(cx, fields);
            return;
        }
    };
    let mut reply_enum: Option<(String, &syn::Path)> = None;
    let mut parts: HashMap<&'static str, &syn::Ident> = HashMap::new();
    for v in variants {
        for reply in &v.attrs.replies {
            let path = &reply.value;
            if path.segments.len() < 2 {
                cx.error_spanned_by(
                    reply,
                    format!(
                        "`reply` names a variant of the reply enum, as `reply = Replies::{}`",
                        path.to_token_stream()
                    ),
                );
                continue;
            }
            let of: Vec<String> = path
                .segments
                .iter()
                .take(path.segments.len() - 1)
                .map(|s| s.to_token_stream().to_string().replace(' ', ""))
                .collect();
            let of_text = of.join("::");
            match &reply_enum {
                Some((first, _)) if *first != of_text => cx.error_spanned_by(
                    reply,
                    format!("the replies of one message type come from one enum: `{first}` above, `{of_text}` here"),
                ),
                Some(_) => {}
                None => reply_enum = Some((of_text, path)),
            }
        }
        if let Some(catch_all) = &v.attrs.catch_all {
            if let Some(role) = &v.attrs.role {
                cx.error_spanned_by(
                    role,
                    format!("the catch_all variant cannot be `{}`", role.value.name()),
                );
            }
            let _ = catch_all;
        }
        let role = v.attrs.role.as_ref();
        if let Some(role) = role {
            if let Some(first) = parts.insert(role.value.name(), v.ident) {
                cx.error_spanned_by(
                    role,
                    format!(
                        "only one variant can be `{}`; `{first}` is already",
                        role.value.name()
                    ),
                );
            }
            if !v.attrs.replies.is_empty() {
                cx.error_spanned_by(
                    role,
                    format!(
                        "a `{}` variant is not a request: it cannot have `reply`",
                        role.value.name()
                    ),
                );
            }
        }
        let versions: Vec<_> = v
            .fields
            .iter()
            .filter_map(|f| f.attrs.version.as_ref())
            .collect();
        let reasons: Vec<_> = v
            .fields
            .iter()
            .filter_map(|f| f.attrs.reason.as_ref())
            .collect();
        let protocols: Vec<_> = v
            .fields
            .iter()
            .filter_map(|f| f.attrs.protocol.as_ref())
            .collect();
        if !matches!(role.map(|r| r.value), Some(Role::Hello | Role::Reject)) {
            for given in &protocols {
                cx.error_spanned_by(
                    given,
                    format!("`protocol` marks a field of the `hello` or `reject` variant, and `{}` is neither", v.ident),
                );
            }
        }
        match role.map(|r| r.value) {
            Some(Role::Hello) => {
                if versions.is_empty() {
                    cx.error_spanned_by(
                        v.original,
                        format!("the `hello` variant `{}` carries the version: mark its field #[wire(version)]", v.ident),
                    );
                }
            }
            Some(Role::Reject) => {}
            _ => {
                for given in &versions {
                    cx.error_spanned_by(
                        given,
                        format!("`version` marks a field of the `hello` or `reject` variant, and `{}` is neither", v.ident),
                    );
                }
            }
        }
        if role.map(|r| r.value) != Some(Role::Reject) {
            for given in &reasons {
                cx.error_spanned_by(
                    given,
                    format!(
                        "`reason` marks a field of the `reject` variant, and `{}` is not it",
                        v.ident
                    ),
                );
            }
        }
        for (list, name) in [
            (&versions, "version"),
            (&reasons, "reason"),
            (&protocols, "protocol"),
        ] {
            for extra in list.iter().skip(1) {
                cx.error_spanned_by(
                    extra,
                    format!("one field of `{}` can be its `{name}`", v.ident),
                );
            }
        }
        check_correlation(cx, &v.fields);
    }
}

fn check_correlation(cx: &Ctxt, fields: &[Field]) {
    let marked: Vec<_> = fields
        .iter()
        .filter(|f| f.attrs.correlation.is_some())
        .collect();
    for extra in marked.iter().skip(1) {
        cx.error_spanned_by(
            extra.attrs.correlation.as_ref(),
            "one field carries the correlation id",
        );
    }
    for f in marked {
        if let Some(skip) = &f.attrs.skip {
            cx.error_spanned_by(
                skip,
                "the correlation id travels on the wire: it cannot be `skip`",
            );
        }
    }
}

/// Refuses field types with no fixed wire form, pointing at the type with a hint.
fn check_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(_) => cx.error_spanned_by(
            ty,
            "a message field cannot be a reference: decoding makes owned values; use `String`, `Vec<T>` or `Bytes`",
        ),
        Type::Ptr(_) | Type::BareFn(_) | Type::TraitObject(_) | Type::ImplTrait(_) | Type::Never(_) => {
            cx.error_spanned_by(
                ty,
                format!(
                    "`{}` has no wire encoding; implement `connhandler::wire::Wire` for a type of your own, or use #[wire(with = path)]",
                    ty.to_token_stream()
                ),
            )
        }
        Type::Slice(_) => cx.error_spanned_by(ty, "a slice cannot be a message field: use `Vec<T>`"),
        Type::Array(a) => check_type(cx, &a.elem),
        Type::Tuple(t) => t.elems.iter().for_each(|e| check_type(cx, e)),
        Type::Paren(p) => check_type(cx, &p.elem),
        Type::Group(g) => check_type(cx, &g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else { return };
            let name = last.ident.to_string();
            let hint = match name.as_str() {
                "usize" | "isize" => Some(format!(
                    "`{name}` has no fixed size on the wire: use `u32`/`u64` (or `i32`/`i64`)"
                )),
                "char" => Some("`char` has no wire encoding: use `u32` or `String`".to_owned()),
                "str" => Some("use `String` for a text field".to_owned()),
                "HashMap" | "BTreeMap" | "HashSet" | "BTreeSet" => Some(format!(
                    "`{name}` has no wire encoding: use `Vec<(K, V)>` or `Vec<T>`, or #[wire(with = path)]"
                )),
                _ => None,
            };
            if let Some(hint) = hint {
                cx.error_spanned_by(ty, hint);
                return;
            }
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                for arg in &args.args {
                    if let GenericArgument::Type(inner) = arg {
                        check_type(cx, inner);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The smallest id type that holds `id`.
fn fitting(id: u64) -> IntWidth {
    if id <= u64::from(u16::MAX) {
        IntWidth::U16
    } else {
        IntWidth::U32
    }
}

/// An id in hex, as wide as its id type (`0x0001` for a u16 id).
fn hex_id(id: u64, width: IntWidth) -> String {
    format!("{id:#0w$x}", w = 2 + 2 * width.bytes())
}
