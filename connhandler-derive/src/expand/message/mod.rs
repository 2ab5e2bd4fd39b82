//! `#[derive(Message)]`: the `Wire`, `Encode` and `Decode` impls.
//!
//! `from_syn` → `validate` → `expand`. Expansion builds one [`Parts`] per type, each piece
//! from its room, then puts the pieces in their places in [`expand`]:
//!
//! | room | makes |
//! | --- | --- |
//! | `binary.rs` | the binary body of a variant or struct: length, check, encode, decode |
//! | `json.rs` | the JSON body mode of a variant or struct, with its serde helpers |
//! | `fixed.rs` | the fast decode path of fixed-size messages |
//! | `fingerprint.rs` | `FINGERPRINT`, `MIN_LEN`, `SELF_DELIMITING` |
//! | `describe.rs` | `Wire::describe`: the type's definition as data, for protocol documents |
//! | `fallback.rs` | stand-in impls emitted beside the errors of an invalid protocol |
//! | `talk.rs` | the conversation impls: `Correlated`, `Request` (`reply = ...`), `Hello`, `Beats` |

mod binary;
mod describe;
mod fallback;
mod fingerprint;
mod fixed;
mod json;
mod talk;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{DeriveInput, Ident, Member};

use crate::{
    ast::{Body, Container, Field, Style, Variant},
    attr::{self, Endian, IntWidth},
    ctxt::Ctxt,
    valid,
};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let cont = from_syn_and_validate(&cx, input);
    match (cx.check(), cont) {
        (Ok(()), Some(cont)) => expand(&cont),
        (Err(e), _) => {
            let errors = e.into_compile_error();
            let fallback = fallback::fallback(input);
            quote!(#errors #fallback)
        }
        (Ok(()), None) => fallback::fallback(input),
    }
}

fn from_syn_and_validate<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
    let cont = Container::from_syn(cx, input)?;
    valid::validate(cx, &cont);
    Some(cont)
}

/// What expansion needs to know about the container's settings.
struct Gen {
    p: TokenStream,
    endian: Endian,
    len: IntWidth,
    id_type: IntWidth,
    json: bool,
    serde_crate: String,
}

impl Gen {
    fn ctx(&self, endian: Endian, len: IntWidth) -> TokenStream {
        let p = &self.p;
        let endian = match endian {
            Endian::Little => quote!(#p::Endian::Little),
            Endian::Big => quote!(#p::Endian::Big),
        };
        let len = match len {
            IntWidth::U8 => quote!(#p::LenWidth::U8),
            IntWidth::U16 => quote!(#p::LenWidth::U16),
            IntWidth::U32 => quote!(#p::LenWidth::U32),
        };
        quote!(#p::Ctx { endian: #endian, len: #len })
    }

    fn container_ctx(&self) -> TokenStream {
        self.ctx(self.endian, self.len)
    }

    fn field_ctx(&self, f: &Field) -> TokenStream {
        self.ctx(
            f.attrs.endian.as_ref().map_or(self.endian, |e| e.value),
            f.attrs.len.as_ref().map_or(self.len, |l| l.value),
        )
    }

    fn id_ty(&self) -> Ident {
        Ident::new(self.id_type.name(), Span::call_site())
    }
}

/// The generated pieces of one message type, each named for where [`expand`] puts it (a
/// struct, not a tuple: two pieces swapped would still compile and generate wrong impls).
struct Parts {
    /// Items beside the impls (the JSON mode's serde helpers).
    helpers: TokenStream,
    /// `Wire::FINGERPRINT`.
    fingerprint: TokenStream,
    /// `Wire::MIN_LEN`.
    min_len: TokenStream,
    /// `Wire::SELF_DELIMITING`.
    self_delimiting: TokenStream,
    /// The body of `Wire::wire_len`.
    len: TokenStream,
    /// The body of `Wire::wire_check`.
    check: TokenStream,
    /// The body of `Wire::wire_encode`.
    encode: TokenStream,
    /// The body of `Wire::wire_decode`.
    decode: TokenStream,
}

/// The match arms of an enum's bodies, and its shape, collected variant by variant.
#[derive(Default)]
struct Arms {
    helpers: Vec<TokenStream>,
    len: Vec<TokenStream>,
    check: Vec<TokenStream>,
    encode: Vec<TokenStream>,
    decode: Vec<TokenStream>,
    /// Fingerprint steps.
    fingerprint: Vec<TokenStream>,
    /// `SELF_DELIMITING` terms.
    self_delimiting: Vec<TokenStream>,
    /// The arm for ids no variant has: an error, or the catch-all variant.
    unknown: Option<TokenStream>,
}

/// One variant's pieces, for [`Arms`]: the pattern binding its fields and their accesses.
struct VariantCtx<'a> {
    v: &'a Variant<'a>,
    id: u64,
    pat: TokenStream,
    accesses: Vec<TokenStream>,
}

/// A struct's pieces, for the binary or the JSON room.
struct StructCtx<'a> {
    id: Option<u64>,
    style: Style,
    fields: &'a [Field<'a>],
    /// `&self.field` for each field.
    accesses: Vec<TokenStream>,
    /// Reads and checks the id (nothing for a struct without one).
    read_id: TokenStream,
    /// The fingerprint's start.
    shape: String,
}

fn expand(cont: &Container) -> TokenStream {
    let krate = attr::krate(cont.attrs.krate.as_ref());
    let p = quote!(#krate::__private_v0_1);
    let g = Gen {
        serde_crate: format!(
            "{}::__private_v0_1::serde",
            krate.to_string().replace(' ', "")
        ),
        p: p.clone(),
        endian: cont
            .attrs
            .endian
            .as_ref()
            .map_or(Endian::Little, |e| e.value),
        len: cont.attrs.len.as_ref().map_or(IntWidth::U16, |l| l.value),
        id_type: cont
            .attrs
            .id_type
            .as_ref()
            .map_or(IntWidth::U16, |t| t.value),
        json: cont.attrs.json.is_some(),
    };
    let ident = cont.ident;
    let mut generics = cont.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#p::Wire));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ctx = g.container_ctx();

    let Parts {
        helpers,
        fingerprint,
        min_len,
        self_delimiting,
        len: len_body,
        check: check_body,
        encode: encode_body,
        decode: decode_body,
    } = match &cont.data {
        Body::Enum(variants) => expand_enum(&g, variants),
        Body::Struct(style, fields) => expand_struct(&g, cont, *style, fields),
    };
    let message_id = message_id_of(&g, cont);
    let fast_decode = match &cont.data {
        _ if g.json => quote!(),
        Body::Enum(variants) => fixed::enum_fast_decode(&g, variants),
        Body::Struct(style, fields) => {
            let id = cont.attrs.id.as_ref().map(|i| i.value);
            fixed::struct_fast_decode(&g, id, fields, *style)
        }
    };
    // Every valid frame taken by the fast path: the general one only says why a frame
    // failed, out of line.
    let general = |source: TokenStream| {
        if !g.json && fixed::covers_every_frame(&g, cont) {
            quote! {
                #p::Err(#p::decode_whole_error::<Self, #source>(
                    __frame, #ctx, |__value: &Self| #message_id,
                ))
            }
        } else {
            quote! {
                #p::decode_whole_with_id::<Self, #source>(
                    __frame, #ctx, |__value: &Self| #message_id,
                )
            }
        }
    };
    let (general_bytes, general_slice) = (general(quote!(#p::Bytes)), general(quote!(&[u8])));
    let fast_vec = match &cont.data {
        Body::Struct(style, fields) if !g.json => {
            let id = cont.attrs.id.as_ref().map(|i| i.value);
            fixed::struct_fast_vec(&g, id, fields, *style)
        }
        _ => quote!(),
    };
    let fast_array = match &cont.data {
        Body::Struct(style, fields) if !g.json => {
            let id = cont.attrs.id.as_ref().map(|i| i.value);
            fixed::struct_fast_array(&g, id, fields, *style)
        }
        _ => quote!(),
    };
    let in_place = fingerprint::in_place(&g, cont);
    let describe_body = describe::describe(&g, cont);
    let talk = talk::impls(cont, &p);
    let frame_status_body = match &cont.data {
        Body::Enum(variants) => enum_frame_status(&g, variants),
        Body::Struct(..) => quote!(#p::frame_status::<Self>(__bytes, #ctx)),
    };

    quote! {
        const _: () = {
            #helpers

            #[automatically_derived]
            impl #impl_generics #p::Wire for #ident #ty_generics #where_clause {
                const FINGERPRINT: u64 = #fingerprint;
                const MIN_LEN: usize = #min_len;
                const SELF_DELIMITING: bool = #self_delimiting;
                const READS_IN_PLACE: bool = #in_place;

                #[inline]
                fn wire_len(&self, _: #p::Ctx) -> usize {
                    #len_body
                }

                #[inline]
                #[allow(unused_variables)]
                fn wire_check(&self, _: #p::Ctx) -> #p::Result<(), #p::LengthOverflow> {
                    #check_body
                }

                #[inline]
                fn wire_encode(&self, _: #p::Ctx, __dst: &mut #p::BytesMut) {
                    #encode_body
                }

                #[inline]
                fn wire_decode(
                    __src: &mut #p::Bytes,
                    __ctx: #p::Ctx,
                ) -> #p::Result<Self, #p::DecodeError> {
                    <Self as #p::Wire>::wire_read(__src, __ctx)
                }

                #[inline]
                fn wire_read<__S: #p::Source>(
                    __src: &mut __S,
                    _: #p::Ctx,
                ) -> #p::Result<Self, #p::DecodeError> {
                    #decode_body
                }

                fn describe(__types: &mut #p::describe::Types) -> #p::describe::Ty {
                    #describe_body
                }

                #fast_vec
                #fast_array
            }

            #[automatically_derived]
            impl #impl_generics #p::Encode for #ident #ty_generics #where_clause {
                #[inline]
                fn encoded_len(&self) -> usize {
                    <Self as #p::Wire>::wire_len(self, #ctx)
                }

                #[inline]
                fn encode(&self, __dst: &mut #p::BytesMut) {
                    <Self as #p::Wire>::wire_encode(self, #ctx, __dst)
                }

                #[inline]
                fn encodable(&self) -> #p::Result<(), #p::LengthOverflow> {
                    <Self as #p::Wire>::wire_check(self, #ctx)
                }
            }

            #[automatically_derived]
            impl #impl_generics #p::Decode for #ident #ty_generics #where_clause {
                const IN_PLACE: bool = <Self as #p::Wire>::READS_IN_PLACE;

                #[inline]
                fn decode(__frame: #p::Bytes) -> #p::Result<Self, #p::DecodeError> {
                    #fast_decode
                    #general_bytes
                }

                #[inline]
                fn decode_slice(__frame: &[u8]) -> #p::Result<Self, #p::DecodeError> {
                    if !<Self as #p::Wire>::READS_IN_PLACE {
                        // A field read from `Bytes` only: one copy of the frame, not one of
                        // the rest for each such field.
                        return <Self as #p::Decode>::decode(#p::Bytes::copy_from_slice(__frame));
                    }
                    #fast_decode
                    #general_slice
                }

                fn frame_status(__bytes: &[u8]) -> #p::FrameStatus {
                    #frame_status_body
                }
            }

            #talk
        };
    }
}

/// An enum: each variant's arms from the binary or the JSON room (the catch-all variant's
/// from the binary room in both modes), then the match of each body.
fn expand_enum(g: &Gen, variants: &[Variant]) -> Parts {
    let p = &g.p;
    let id_ty = g.id_ty();
    let ctx = g.container_ctx();
    let id_size = g.id_type.bytes();
    let mut arms = Arms {
        self_delimiting: vec![quote!(true)],
        ..Arms::default()
    };
    for v in variants {
        let pat = pattern(v);
        let accesses: Vec<TokenStream> = (0..v.fields.len())
            .map(|i| binding(i).to_token_stream())
            .collect();
        if v.attrs.catch_all.is_some() {
            binary::catch_all(g, v, &pat, &accesses, &mut arms);
            continue;
        }
        let Some(id) = v.attrs.id.as_ref().map(|i| i.value) else {
            continue;
        };
        arms.fingerprint.push(fingerprint::variant_step(g, v, id));
        let vc = VariantCtx {
            v,
            id,
            pat,
            accesses,
        };
        if g.json {
            json::variant(g, &vc, &mut arms);
        } else {
            binary::variant(g, &vc, &mut arms);
        }
    }

    let Arms {
        helpers,
        len,
        check,
        encode,
        decode,
        fingerprint,
        self_delimiting,
        unknown,
    } = arms;
    let unknown = unknown.unwrap_or_else(
        || quote!(__other => #p::Err(#p::DecodeError::unknown_id(u32::from(__other))),),
    );
    let shape = fingerprint::enum_shape(g);
    Parts {
        helpers: quote!(#(#helpers)*),
        fingerprint: quote!({
            let __h = #p::fingerprint_str(#shape);
            #(#fingerprint)*
            __h
        }),
        min_len: quote!(#id_size),
        self_delimiting: quote!(#(#self_delimiting)&&*),
        len: quote!(match self { #(#len)* }),
        check: quote!(match self { #(#check)* }),
        encode: quote!(match self { #(#encode)* }),
        decode: quote! {
            let __id = #p::Source::read::<#id_ty>(__src, #ctx)?;
            match __id {
                #(#decode)*
                #unknown
            }
        },
    }
}

/// A struct: its body from the binary or the JSON room, behind its id if it has one.
fn expand_struct(g: &Gen, cont: &Container, style: Style, fields: &[Field]) -> Parts {
    let p = &g.p;
    let id_ty = g.id_ty();
    let ctx = g.container_ctx();
    let id = cont.attrs.id.as_ref().map(|i| i.value);
    let accesses: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let m = &f.member;
            quote!(&self.#m)
        })
        .collect();
    let read_id = match id {
        Some(id) => {
            let lit = id_literal(id);
            quote! {
                let __id = #p::Source::read::<#id_ty>(__src, #ctx)?;
                if __id != #lit {
                    return #p::Err(#p::DecodeError::unknown_id(u32::from(__id)));
                }
            }
        }
        None => quote!(),
    };
    let sc = StructCtx {
        id,
        style,
        fields,
        accesses,
        read_id,
        shape: fingerprint::struct_shape(g, style, id),
    };
    if g.json {
        json::structure(g, sc)
    } else {
        binary::structure(g, sc)
    }
}

/// An enum's `frame_status`: decided per variant, so that a `rest` field or a catch-all
/// variant elsewhere does not stop the self-delimiting variants from telling their end.
fn enum_frame_status(g: &Gen, variants: &[Variant]) -> TokenStream {
    let p = &g.p;
    let id_ty = g.id_ty();
    let id_size = g.id_type.bytes();
    let ctx = g.container_ctx();
    let arms = variants.iter().filter_map(|v| {
        let id = v.attrs.id.as_ref()?.value;
        let lit = id_literal(id);
        let delim: Vec<TokenStream> = if g.json {
            Vec::new()
        } else {
            fingerprint::fields_shape(g, &v.fields).2
        };
        Some(quote! {
            #lit => if true #(&& #delim)* {
                #p::frame_status_decoding::<Self>(__bytes, #ctx)
            } else {
                #p::FrameStatus::Unknown
            },
        })
    });
    quote! {
        if __bytes.len() < #id_size {
            return #p::FrameStatus::Incomplete;
        }
        let mut __head: &[u8] = &__bytes[..#id_size];
        let #p::Ok(__id) = #p::Source::read::<#id_ty>(&mut __head, #ctx) else {
            return #p::FrameStatus::Unknown;
        };
        match __id {
            #(#arms)*
            _ => #p::FrameStatus::Unknown,
        }
    }
}

/// An expression of `__value: &Self` giving its message id (`Option<u32>`), so that an
/// error found after the value decoded (trailing bytes) names it.
fn message_id_of(g: &Gen, cont: &Container) -> TokenStream {
    let p = &g.p;
    match &cont.data {
        Body::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let ident = v.ident;
                match (&v.attrs.id, &v.attrs.catch_all) {
                    (Some(id), _) => {
                        let lit = id_literal(id.value);
                        quote!(Self::#ident { .. } => #p::Some(#lit),)
                    }
                    (None, Some(_)) if !v.fields.is_empty() => {
                        let pat = pattern(v);
                        let first = binding(0);
                        quote!(#pat => #p::Some(*#first as u32),)
                    }
                    _ => quote!(Self::#ident { .. } => #p::None,),
                }
            });
            quote!(match __value { #(#arms)* })
        }
        Body::Struct(..) => match &cont.attrs.id {
            Some(id) => {
                let lit = id_literal(id.value);
                quote!({ let _ = __value; #p::Some(#lit) })
            }
            None => quote!({ let _ = __value; #p::None }),
        },
    }
}

fn binding(i: usize) -> Ident {
    format_ident!("__f{}", i)
}

/// The pattern that binds every field of a variant to `__f0`, `__f1`...
fn pattern(v: &Variant) -> TokenStream {
    let ident = v.ident;
    let binds = v.fields.iter().enumerate().map(|(i, f)| {
        let b = binding(i);
        match &f.member {
            Member::Named(name) => quote!(#name: #b),
            Member::Unnamed(_) => quote!(#b),
        }
    });
    match v.style {
        Style::Named => quote!(Self::#ident { #(#binds),* }),
        Style::Tuple => quote!(Self::#ident ( #(#binds),* )),
        Style::Unit => quote!(Self::#ident),
    }
}

/// Builds `Self::V { a: <expr>, .. }` (or the struct's own constructor) from field values.
fn construct(
    path: TokenStream,
    style: Style,
    fields: &[Field],
    values: &[TokenStream],
) -> TokenStream {
    match style {
        Style::Named => {
            let members = fields.iter().map(|f| &f.member);
            quote!(#path { #(#members: #values),* })
        }
        Style::Tuple => quote!(#path ( #(#values),* )),
        Style::Unit => path,
    }
}

fn id_literal(id: u64) -> Literal {
    Literal::u64_unsuffixed(id)
}
