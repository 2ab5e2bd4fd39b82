//! The fingerprint of a protocol (`Wire::FINGERPRINT`), and the `MIN_LEN`,
//! `SELF_DELIMITING` and `READS_IN_PLACE` terms that come from walks over the fields.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::Gen;
use crate::ast::{Body, Container, Field, Style, Variant};

/// `Wire::READS_IN_PLACE`: every field read where it lies (no `Bytes` sharing the frame, no `with`
/// codec, which reads from `Bytes`). A JSON body is parsed from the slice either way.
pub(super) fn in_place(g: &Gen, cont: &Container) -> TokenStream {
    let p = &g.p;
    let field_terms = |fields: &[Field]| -> Vec<TokenStream> {
        fields
            .iter()
            .filter(|f| f.attrs.skip.is_none() && !g.json)
            .map(|f| {
                let ty = f.ty;
                if f.attrs.with.is_some() {
                    quote!(false)
                } else if f.attrs.rest.is_some() {
                    quote!(<#ty as #p::WireRest>::REST_READS_IN_PLACE)
                } else {
                    quote!(<#ty as #p::Wire>::READS_IN_PLACE)
                }
            })
            .collect()
    };
    let terms: Vec<TokenStream> = match &cont.data {
        Body::Struct(_, fields) => field_terms(fields),
        Body::Enum(variants) => variants
            .iter()
            .flat_map(|v| {
                if v.attrs.catch_all.is_none() {
                    return field_terms(&v.fields);
                }
                // The catch-all's id and the raw body, read as the rest in both modes.
                match (v.fields.first(), v.fields.get(1)) {
                    (Some(id), Some(body)) => {
                        let (id_t, body_t) = (id.ty, body.ty);
                        vec![
                            quote!(<#id_t as #p::Wire>::READS_IN_PLACE),
                            quote!(<#body_t as #p::WireRest>::REST_READS_IN_PLACE),
                        ]
                    }
                    _ => Vec::new(),
                }
            })
            .collect(),
    };
    quote!(true #(&& #terms)*)
}

/// The settings of a field, for the fingerprint.
pub(super) fn field_shape(g: &Gen, f: &Field) -> String {
    let a = &f.attrs;
    let mut s = format!(
        "field endian={} len={}",
        a.endian.as_ref().map_or(g.endian, |e| e.value).name(),
        a.len.as_ref().map_or(g.len, |l| l.value).name()
    );
    if a.skip.is_some() {
        s = "field skip".to_owned();
    } else if let Some(with) = &a.with {
        s.push_str(&format!(" with={}", with.value.to_token_stream()));
    } else if a.rest.is_some() {
        s.push_str(&format!(" rest={}", f.ty.to_token_stream()));
    }
    if g.json {
        s.push_str(&format!(" name={}", f.name()));
    }
    s
}

/// The fingerprint steps and MIN_LEN / SELF_DELIMITING terms of a run of fields.
pub(super) fn fields_shape(
    g: &Gen,
    fields: &[Field],
) -> (Vec<TokenStream>, Vec<TokenStream>, Vec<TokenStream>) {
    let p = &g.p;
    let mut fp = Vec::new();
    let mut min = Vec::new();
    let mut delim = Vec::new();
    for f in fields {
        let shape = field_shape(g, f);
        fp.push(quote!(let __h = #p::fingerprint_mix(__h, #shape);));
        let a = &f.attrs;
        if a.skip.is_none() && a.with.is_none() && a.rest.is_none() && !g.json {
            let ty = f.ty;
            fp.push(
                quote!(let __h = #p::fingerprint_combine(__h, <#ty as #p::Wire>::FINGERPRINT);),
            );
            min.push(quote!(<#ty as #p::Wire>::MIN_LEN));
            delim.push(quote!(<#ty as #p::Wire>::SELF_DELIMITING));
        }
        if a.rest.is_some() {
            delim.push(quote!(false));
        }
    }
    (fp, min, delim)
}

/// The fingerprint's start for an enum: its settings.
pub(super) fn enum_shape(g: &Gen) -> String {
    format!(
        "connhandler:v1 enum id={} endian={} len={}{}",
        g.id_type.name(),
        g.endian.name(),
        g.len.name(),
        if g.json { " json" } else { "" }
    )
}

/// The fingerprint's start for a struct: its style, id and settings.
pub(super) fn struct_shape(g: &Gen, style: Style, id: Option<u64>) -> String {
    format!(
        "connhandler:v1 struct {} id={} endian={} len={}{}",
        style.name(),
        id.map_or("none".to_owned(), |i| format!(
            "{}:{i:#x}",
            g.id_type.name()
        )),
        g.endian.name(),
        g.len.name(),
        if g.json { " json" } else { "" }
    )
}

/// The fingerprint step of one variant: its id, style and (JSON mode) name.
pub(super) fn variant_step(g: &Gen, v: &Variant, id: u64) -> TokenStream {
    let p = &g.p;
    let variant_shape = format!(
        "variant id={id:#x} {}{}",
        v.style.name(),
        if g.json {
            format!(" name={}", v.ident)
        } else {
            String::new()
        }
    );
    quote!(let __h = #p::fingerprint_mix(__h, #variant_shape);)
}

/// The fingerprint steps of fields whose types do not take part (JSON mode: only the
/// settings and names).
pub(super) fn settings_steps(g: &Gen, fields: &[Field]) -> Vec<TokenStream> {
    let p = &g.p;
    fields
        .iter()
        .map(|f| {
            let shape = field_shape(g, f);
            quote!(let __h = #p::fingerprint_mix(__h, #shape);)
        })
        .collect()
}
