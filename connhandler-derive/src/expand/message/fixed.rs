//! The fast path of fixed-size messages: a frame of exactly a fixed-size message's length
//! (the id and numbers and `bool`s only) is decoded straight from an array, with no cursor
//! and no trailing-bytes check; every other frame, and every error, goes the general way.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    binary::{id_tokens, prim_get, prim_size},
    construct, id_literal, Gen,
};
use crate::{
    ast::{Field, Style, Variant},
    attr::Endian,
};

/// The start of a struct's `Decode::decode`: a frame of exactly its size, with its id,
/// decoded from an array. Nothing for a struct that is not of fixed size.
pub(super) fn struct_fast_decode(
    g: &Gen,
    id: Option<u64>,
    fields: &[Field],
    style: Style,
) -> TokenStream {
    let p = &g.p;
    let Some((n, built)) = fixed_decode(g, id, fields, quote!(Self), style) else {
        return quote!();
    };
    let id_ok = match id {
        Some(id) => {
            let (lit, id_ty) = (id_literal(id), g.id_ty());
            let big = g.endian == Endian::Big;
            quote!(#p::get_prim::<#id_ty>(&__all[..], 0, #big).ok() == #p::Some(#lit))
        }
        None => quote!(true),
    };
    quote! {
        if let #p::Some(__all) = __frame.first_chunk::<#n>() {
            if __frame.len() == #n && #id_ok {
                return #built;
            }
        }
    }
}

/// A message of fixed size (the id, if any, and numbers and `bool`s only): its size, and the
/// expression that decodes its fields from `__all`, an array of exactly that many bytes
/// whose id the caller has checked. `None` for any other layout.
fn fixed_decode(
    g: &Gen,
    id: Option<u64>,
    fields: &[Field],
    path: TokenStream,
    style: Style,
) -> Option<(usize, TokenStream)> {
    let p = &g.p;
    let id_toks = id_tokens(g, id);
    let mut at = if id.is_some() { g.id_type.bytes() } else { 0 };
    let mut values = Vec::new();
    for f in fields {
        let size = prim_size(f)?;
        values.push(prim_get(g, f, quote!(__all), at, &id_toks));
        at += size;
    }
    let built = construct(path, style, fields, &values);
    // A closure so that `?` inside returns from it, not from `decode`.
    let body = quote! {
        (|| -> #p::Result<Self, #p::DecodeError> { #p::Ok(#built) })()
    };
    Some((at, body))
}
/// The start of an enum's `Decode::decode`: a frame of exactly the size of a fixed-size
/// variant (see [`fixed_decode`]) with that variant's id is read straight from an array, with
/// no cursor and no trailing-bytes check; every other frame goes the general way.
pub(super) fn enum_fast_decode(g: &Gen, variants: &[Variant]) -> TokenStream {
    let p = &g.p;
    let id_ty = g.id_ty();
    let id_size = g.id_type.bytes();
    let big = g.endian == Endian::Big;
    let arms: Vec<TokenStream> = variants
        .iter()
        .filter(|v| v.attrs.catch_all.is_none())
        .filter_map(|v| {
            let id = v.attrs.id.as_ref()?.value;
            let ident = v.ident;
            let (n, built) = fixed_decode(g, Some(id), &v.fields, quote!(Self::#ident), v.style)?;
            let lit = id_literal(id);
            Some(quote! {
                #lit => {
                    if let #p::Some(__all) = __frame.first_chunk::<#n>() {
                        if __frame.len() == #n {
                            return #built;
                        }
                    }
                }
            })
        })
        .collect();
    if arms.is_empty() {
        return quote!();
    }
    quote! {
        if let #p::Some(__head) = __frame.first_chunk::<#id_size>() {
            if let #p::Ok(__id) = #p::get_prim::<#id_ty>(&__head[..], 0, #big) {
                match __id {
                    #(#arms)*
                    _ => {}
                }
            }
        }
    }
}
