//! The binary body: each field written and read in order, runs of numbers and `bool`s at
//! once.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{spanned::Spanned, Ident};

use super::{construct, fingerprint, id_literal, Arms, Gen, Parts, StructCtx, VariantCtx};
use crate::{
    ast::{Field, Variant},
    attr::Endian,
};

/// A variant's arms: its length, check, fields written after its id, and read back.
pub(super) fn variant(g: &Gen, vc: &VariantCtx, arms: &mut Arms) {
    let p = &g.p;
    let VariantCtx {
        v,
        id,
        pat,
        accesses,
    } = vc;
    let id_size = g.id_type.bytes();
    let lit = id_literal(*id);
    let ident = v.ident;
    let lens = v
        .fields
        .iter()
        .zip(accesses)
        .map(|(f, a)| field_len(g, f, a));
    arms.len.push(quote!(#pat => #id_size #(+ #lens)*,));
    let checks = v
        .fields
        .iter()
        .zip(accesses)
        .map(|(f, a)| field_check(g, f, a));
    arms.check.push(quote!(#pat => { #(#checks)* #p::Ok(()) }));
    let encodes = fields_encode(g, Some(*id), &v.fields, accesses);
    arms.encode.push(quote!(#pat => { #encodes }));
    let (reads, values) = fields_decode(g, &v.fields, Some(*id));
    let built = construct(quote!(Self::#ident), v.style, &v.fields, &values);
    arms.decode.push(quote!(#lit => { #reads #p::Ok(#built) }));
    let (fp, _, delim) = fingerprint::fields_shape(g, &v.fields);
    arms.fingerprint.extend(fp);
    arms.self_delimiting.extend(delim);
}

/// The catch-all variant (`Unknown(id, body)`), in both modes: the id and the raw rest of
/// the body, kept as they came; it takes every id no other variant has.
pub(super) fn catch_all(
    g: &Gen,
    v: &Variant,
    pat: &TokenStream,
    accesses: &[TokenStream],
    arms: &mut Arms,
) {
    let p = &g.p;
    let ctx = g.container_ctx();
    arms.fingerprint
        .push(quote!(let __h = #p::fingerprint_mix(__h, "catch_all");));
    arms.self_delimiting.push(quote!(false));
    let (Some(idf), Some(bodyf)) = (v.fields.first(), v.fields.get(1)) else {
        return;
    };
    let (id_t, body_t) = (idf.ty, bodyf.ty);
    let (a0, a1) = (&accesses[0], &accesses[1]);
    arms.len.push(quote! {
        #pat => <#id_t as #p::Wire>::wire_len(#a0, #ctx) + <#body_t as #p::WireRest>::rest_len(#a1, #ctx),
    });
    arms.check.push(quote! {
        #pat => {
            <#id_t as #p::Wire>::wire_check(#a0, #ctx)?;
            <#body_t as #p::WireRest>::rest_check(#a1, #ctx)
        }
    });
    arms.encode.push(quote! {
        #pat => {
            <#id_t as #p::Wire>::wire_encode(#a0, #ctx, __dst);
            <#body_t as #p::WireRest>::rest_encode(#a1, #ctx, __dst);
        }
    });
    let values = [
        quote!(__other),
        quote_spanned!(body_t.span()=> <#body_t as #p::WireRest>::rest_read(__src, #ctx)?),
    ];
    let ident = v.ident;
    let built = construct(quote!(Self::#ident), v.style, &v.fields, &values);
    arms.unknown = Some(quote!(__other => #p::Ok(#built),));
}

/// A struct's binary body, after its id if it has one.
pub(super) fn structure(g: &Gen, sc: StructCtx) -> Parts {
    let p = &g.p;
    let StructCtx {
        id,
        style,
        fields,
        accesses,
        read_id,
        shape,
    } = sc;
    let id_size = if id.is_some() { g.id_type.bytes() } else { 0 };
    let lens = fields
        .iter()
        .zip(&accesses)
        .map(|(f, a)| field_len(g, f, a));
    let checks = fields
        .iter()
        .zip(&accesses)
        .map(|(f, a)| field_check(g, f, a));
    let encodes = fields_encode(g, id, fields, &accesses);
    let (reads, values) = fields_decode(g, fields, id);
    let built = construct(quote!(Self), style, fields, &values);
    let (fp, min, delim) = fingerprint::fields_shape(g, fields);
    Parts {
        helpers: quote!(),
        fingerprint: quote!({ let __h = #p::fingerprint_str(#shape); #(#fp)* __h }),
        min_len: quote!(#id_size #(+ #min)*),
        self_delimiting: quote!(true #(&& #delim)*),
        len: quote!(#id_size #(+ #lens)*),
        check: quote!({ #(#checks)* #p::Ok(()) }),
        encode: encodes,
        decode: quote!(#read_id #reads #p::Ok(#built)),
    }
}

fn field_len(g: &Gen, f: &Field, access: &TokenStream) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let ctx = g.field_ctx(f);
    let a = &f.attrs;
    if a.skip.is_some() {
        quote!(0usize)
    } else if let Some(with) = &a.with {
        let with = &with.value;
        quote_spanned!(with.span()=> #with::encoded_len(#access, #ctx))
    } else if a.rest.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::WireRest>::rest_len(#access, #ctx))
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::Wire>::wire_len(#access, #ctx))
    }
}
/// Checks one field's lengths against their prefixes (a statement ending in `?`); nothing
/// for skipped fields and fields encoded `with` the user's own functions.
fn field_check(g: &Gen, f: &Field, access: &TokenStream) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let ctx = g.field_ctx(f);
    let a = &f.attrs;
    let name = f.name();
    if a.skip.is_some() || a.with.is_some() {
        quote!()
    } else if a.rest.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::WireRest>::rest_check(#access, #ctx).map_err(|e| #p::overflow_in(e, #name))?;)
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::Wire>::wire_check(#access, #ctx).map_err(|e| #p::overflow_in(e, #name))?;)
    }
}
fn field_encode(g: &Gen, f: &Field, access: &TokenStream) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let ctx = g.field_ctx(f);
    let a = &f.attrs;
    if a.skip.is_some() {
        quote!()
    } else if let Some(with) = &a.with {
        let with = &with.value;
        quote_spanned!(with.span()=> #with::encode(#access, #ctx, __dst);)
    } else if a.rest.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::WireRest>::rest_encode(#access, #ctx, __dst);)
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::Wire>::wire_encode(#access, #ctx, __dst);)
    }
}
pub(super) fn field_decode(g: &Gen, f: &Field, id: Option<u64>) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let ctx = g.field_ctx(f);
    let a = &f.attrs;
    let name = f.name();
    let id = match id {
        Some(id) => {
            let lit = id_literal(id);
            quote!(#p::Some(#lit))
        }
        None => quote!(#p::None),
    };
    let read = if a.skip.is_some() {
        return match &a.default {
            Some(path) => {
                let path = &path.value;
                quote_spanned!(path.span()=> #path())
            }
            None => quote_spanned!(ty.span()=> <#ty as #p::Default>::default()),
        };
    } else if let Some(with) = &a.with {
        let with = &with.value;
        quote_spanned!(with.span()=> #p::Source::with_bytes(__src, |__b| #with::decode(__b, #ctx)))
    } else if a.rest.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::WireRest>::rest_read(__src, #ctx))
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::Wire>::wire_read(__src, #ctx))
    };
    quote!(#read.map_err(|__e| #p::context(__e, #name, #id))?)
}
/// The size of a field written in runs: a number or `bool` written as itself.
pub(super) fn prim_size(f: &Field) -> Option<usize> {
    let a = &f.attrs;
    if a.skip.is_some() || a.with.is_some() || a.rest.is_some() {
        return None;
    }
    let syn::Type::Path(tp) = f.ty else {
        return None;
    };
    let ident = tp.path.get_ident()?;
    if tp.qself.is_some() {
        return None;
    }
    Some(match ident.to_string().as_str() {
        "u8" | "i8" | "bool" => 1,
        "u16" | "i16" => 2,
        "u32" | "i32" | "f32" => 4,
        "u64" | "i64" | "f64" => 8,
        "u128" | "i128" => 16,
        _ => return None,
    })
}
pub(super) fn id_tokens(g: &Gen, id: Option<u64>) -> TokenStream {
    let p = &g.p;
    match id {
        Some(id) => {
            let lit = id_literal(id);
            quote!(#p::Some(#lit))
        }
        None => quote!(#p::None),
    }
}
pub(super) fn big_endian(g: &Gen, f: &Field) -> bool {
    f.attrs.endian.as_ref().map_or(g.endian, |e| e.value) == Endian::Big
}
/// Writes the message id (if any) and the fields. Consecutive numbers and `bool`s (the id
/// among them) are put into one array and appended at once: one capacity check per run
/// instead of one per field.
fn fields_encode(
    g: &Gen,
    id: Option<u64>,
    fields: &[Field],
    accesses: &[TokenStream],
) -> TokenStream {
    let p = &g.p;
    let mut out = Vec::new();
    // (type, size, big endian, value)
    let mut run: Vec<(TokenStream, usize, bool, TokenStream)> = Vec::new();
    let flush = |run: &mut Vec<(TokenStream, usize, bool, TokenStream)>,
                 out: &mut Vec<TokenStream>| {
        if run.is_empty() {
            return;
        }
        let total: usize = run.iter().map(|r| r.1).sum();
        let mut at = 0usize;
        let puts = run.drain(..).map(|(ty, size, big, value)| {
            let put = quote!(#p::put_prim::<#ty>(&mut __run, #at, #value, #big););
            at += size;
            put
        });
        let puts: Vec<TokenStream> = puts.collect();
        out.push(quote! {{
            let mut __run = [0u8; #total];
            #(#puts)*
            __dst.extend_from_slice(&__run);
        }});
    };
    if let Some(id) = id {
        let lit = id_literal(id);
        let id_ty = g.id_ty();
        run.push((
            quote!(#id_ty),
            g.id_type.bytes(),
            g.endian == Endian::Big,
            quote!(#lit),
        ));
    }
    for (f, access) in fields.iter().zip(accesses) {
        if let Some(size) = prim_size(f) {
            let ty = f.ty;
            run.push((
                quote!(#ty),
                size,
                big_endian(g, f),
                quote_spanned!(ty.span()=> *(#access)),
            ));
        } else {
            flush(&mut run, &mut out);
            out.push(field_encode(g, f, access));
        }
    }
    flush(&mut run, &mut out);
    quote!(#(#out)*)
}
/// Reads the fields in order into `__v0`, `__v1`...: statements, and the values to build
/// with. Runs of two or more numbers and `bool`s are read after one length check; a run cut
/// short reports the field reading one by one would have.
fn fields_decode(g: &Gen, fields: &[Field], id: Option<u64>) -> (TokenStream, Vec<TokenStream>) {
    let p = &g.p;
    let id_toks = id_tokens(g, id);
    let vars: Vec<Ident> = (0..fields.len())
        .map(|i| format_ident!("__v{}", i))
        .collect();
    let mut stmts = Vec::new();
    let mut i = 0;
    while i < fields.len() {
        let mut j = i;
        while j < fields.len() && prim_size(&fields[j]).is_some() {
            j += 1;
        }
        if j - i >= 2 {
            let mut at = 0usize;
            let mut gets = Vec::new();
            let mut ends = Vec::new();
            for f in &fields[i..j] {
                gets.push(prim_get(g, f, quote!(__run), at, &id_toks));
                at += prim_size(f).unwrap_or(0);
                let name = f.name();
                ends.push(quote!((#name, #at)));
            }
            let run_vars = &vars[i..j];
            stmts.push(quote! {
                let (#(#run_vars,)*) = match #p::take_run::<#at>(__src) {
                    #p::Some(__run) => (#(#gets,)*),
                    #p::None => {
                        return #p::Err(#p::short_run(
                            #p::Source::rest(__src).len(), &[#(#ends),*], #id_toks,
                        ));
                    }
                };
            });
            i = j;
        } else {
            let v = &vars[i];
            let read = field_decode(g, &fields[i], id);
            stmts.push(quote!(let #v = #read;));
            i += 1;
        }
    }
    (
        quote!(#(#stmts)*),
        vars.iter().map(|v| quote!(#v)).collect(),
    )
}
/// Reads the number or `bool` field `f` at offset `at` of the array `bytes`, its error
/// naming the field and the message id.
pub(super) fn prim_get(
    g: &Gen,
    f: &Field,
    bytes: TokenStream,
    at: usize,
    id: &TokenStream,
) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let big = big_endian(g, f);
    let name = f.name();
    quote_spanned!(ty.span()=>
        #p::get_prim::<#ty>(&#bytes[..], #at, #big)
            .map_err(|__e| #p::context(__e, #name, #id))?
    )
}
