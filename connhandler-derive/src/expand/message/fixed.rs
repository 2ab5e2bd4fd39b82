//! The fast paths of fixed-size layouts (the id and numbers and `bool`s only):
//!
//! | step | what | else |
//! | --- | --- | --- |
//! | a whole frame | a frame of exactly a fixed-size message's length is decoded straight from an array, with no cursor and no trailing-bytes check | the general way, errors included |
//! | a run in a sequence | `Vec<T>` of a fixed-size struct without an id: one length check for the whole run, then a tight loop over its items' arrays, the cursor advanced once | the general way (a run cut short reports what reading item by item would) |
//! | a run in an array | `[T; N]` of such a struct of numbers only: the same, into the array | item by item |

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    binary::{big_endian, id_tokens, prim_get, prim_size},
    construct, id_literal, Gen,
};
use crate::{
    ast::{Body, Container, Field, Style, Variant},
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

/// Whether the whole-frame fast path takes every valid frame of the type: a struct of fixed
/// size, or an enum whose variants all are (no catch-all). The general path is then only
/// for frames that fail, and is kept out of line.
pub(super) fn covers_every_frame(g: &Gen, cont: &Container) -> bool {
    match &cont.data {
        Body::Struct(style, fields) => {
            let id = cont.attrs.id.as_ref().map(|i| i.value);
            fixed_decode(g, id, fields, quote!(Self), *style).is_some()
        }
        Body::Enum(variants) => variants.iter().all(|v| {
            v.attrs.catch_all.is_none()
                && v.attrs.id.as_ref().is_some_and(|id| {
                    fixed_decode(g, Some(id.value), &v.fields, quote!(Self), v.style).is_some()
                })
        }),
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
    let numbers_only = fields.iter().all(|f| !is_bool(f));
    let mut values = Vec::new();
    for f in fields {
        let size = prim_size(f)?;
        values.push(if numbers_only {
            num_get(g, f, at)
        } else {
            prim_get(g, f, quote!(__all), at, &id_toks)
        });
        at += size;
    }
    let built = construct(path, style, fields, &values);
    let body = if numbers_only {
        quote!(#p::Ok::<Self, #p::DecodeError>(#built))
    } else {
        // A closure so that `?` inside returns from it, not from `decode`.
        quote! {
            (|| -> #p::Result<Self, #p::DecodeError> { #p::Ok(#built) })()
        }
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

/// `Wire::wire_read_vec` for a struct of fixed size without an id: the run of `n` items is
/// checked once and read in a tight loop over arrays. Nothing for any other struct.
pub(super) fn struct_fast_vec(
    g: &Gen,
    id: Option<u64>,
    fields: &[Field],
    style: Style,
) -> TokenStream {
    if id.is_some() || fields.is_empty() {
        return quote!();
    }
    let p = &g.p;
    let Some((n, built)) = fixed_decode(g, None, fields, quote!(Self), style) else {
        return quote!();
    };
    // Numbers only: reading cannot fail, so each item is built with no `Result`.
    let collect = if let Some((_, item)) = numbers_item(g, fields, style) {
        // No `Result` per item: the collect writes in place (its length is known).
        quote!(#p::Ok(__items.map(|__all| #item).collect::<#p::Vec<Self>>()))
    } else {
        quote!(__items.map(|__all| #built).collect::<#p::Result<#p::Vec<Self>, #p::DecodeError>>())
    };
    quote! {
        #[inline]
        fn wire_read_vec<__S: #p::Source>(
            __src: &mut __S,
            __n: usize,
            __ctx: #p::Ctx,
        ) -> #p::Result<#p::Vec<Self>, #p::DecodeError> {
            match __n.checked_mul(#n) {
                #p::Some(__total) if __total <= #p::Source::rest(__src).len() => {
                    // chunks_exact gives whole items: the zeros are never read.
                    let __run = &#p::Source::rest(__src)[..__total];
                    let __items = __run.chunks_exact(#n).map(|__item| {
                        __item.first_chunk::<#n>().unwrap_or(&[0u8; #n])
                    });
                    let __out = #collect;
                    #p::advance(__src, __total);
                    __out
                }
                // Short: item by item, so that the error is the one that reading says.
                _ => {
                    let mut __out = #p::Vec::with_capacity(
                        __n.min(#p::Source::rest(__src).len() / #n + 1),
                    );
                    for _ in 0..__n {
                        __out.push(<Self as #p::Wire>::wire_read(__src, __ctx)?);
                    }
                    #p::Ok(__out)
                }
            }
        }
    }
}

/// `Wire::wire_read_array` for a struct of fixed size without an id, of numbers only: one
/// length check for the whole array, then each item built from its bytes, with no `Result`
/// per item. Nothing for any other struct (they read item by item).
pub(super) fn struct_fast_array(
    g: &Gen,
    id: Option<u64>,
    fields: &[Field],
    style: Style,
) -> TokenStream {
    if id.is_some() || fields.is_empty() {
        return quote!();
    }
    let p = &g.p;
    let Some((n, item)) = numbers_item(g, fields, style) else {
        return quote!();
    };
    quote! {
        #[inline]
        fn wire_read_array<__S: #p::Source, const __N: usize>(
            __src: &mut __S,
            __ctx: #p::Ctx,
        ) -> #p::Result<[Self; __N], #p::DecodeError> {
            let __total = __N * #n;
            if #p::Source::rest(__src).len() < __total {
                // Short: item by item, so that the error is the one that reading says.
                return #p::read_items(__src, __ctx);
            }
            let __run = &#p::Source::rest(__src)[..__total];
            let __items = #p::array_from_fn(|__i| {
                // Whole items: the zeros are never read.
                let __all = __run[__i * #n..(__i + 1) * #n]
                    .first_chunk::<#n>()
                    .unwrap_or(&[0u8; #n]);
                #item
            });
            #p::advance(__src, __total);
            #p::Ok(__items)
        }
    }
}

/// A struct of numbers only, without an id: its size, and the expression building one value
/// from `__all`, an array of that many bytes (reading numbers cannot fail: no `Result`).
/// `None` for any other layout.
fn numbers_item(g: &Gen, fields: &[Field], style: Style) -> Option<(usize, TokenStream)> {
    if fields.iter().any(is_bool) {
        return None;
    }
    let mut at = 0;
    let mut values = Vec::new();
    for f in fields {
        let size = prim_size(f)?;
        values.push(num_get(g, f, at));
        at += size;
    }
    Some((at, construct(quote!(Self), style, fields, &values)))
}

/// Whether a field is a `bool` (the one fixed-size type whose reading can fail).
fn is_bool(f: &Field) -> bool {
    matches!(f.ty, syn::Type::Path(tp) if tp.path.is_ident("bool"))
}

/// Reads a number field at `at` in `__all`: reading a number cannot fail, so no `Result`.
fn num_get(g: &Gen, f: &Field, at: usize) -> TokenStream {
    let p = &g.p;
    let (ty, big) = (f.ty, big_endian(g, f));
    quote!(#p::get_num::<#ty>(&__all[..], #at, #big))
}
