//! The fingerprint of a protocol (`Wire::FINGERPRINT`), and the `MIN_LEN` and
//! `SELF_DELIMITING` terms that come from the same walk over the fields.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::Gen;
use crate::ast::{Field, Style, Variant};

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
