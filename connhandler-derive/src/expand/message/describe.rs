//! `Wire::describe` of a derived type: its definition as data (`connhandler::describe`),
//! added to the document's types once, for protocol documents and the peers generated from
//! them.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::Gen;
use crate::{
    ast::{Body, Container, Field, Variant},
    attr::Endian,
};

/// The body of `Wire::describe`.
pub(super) fn describe(g: &Gen, cont: &Container) -> TokenStream {
    let p = &g.p;
    let d = quote!(#p::describe);
    let order = order(g, g.endian);
    let id_bytes = g.id_type.bytes() as u8;
    let len = g.len.bytes() as u8;
    let json = g.json;
    let shape = match &cont.data {
        Body::Struct(_, fields) => {
            let id = match cont.attrs.id.as_ref().map(|i| i.value) {
                Some(id) => quote!(#p::Some(#id)),
                None => quote!(#p::None),
            };
            let fields = fields.iter().map(|f| field(g, f));
            quote!(#d::Shape::Struct { id: #id, fields: #p::Vec::from([#(#fields),*]) })
        }
        Body::Enum(variants) => {
            // In id order, the catch-all last: the Rust source's order is not the protocol's.
            let mut sorted: Vec<&Variant> = variants.iter().collect();
            sorted.sort_by_key(|v| {
                (
                    v.attrs.catch_all.is_some(),
                    v.attrs.id.as_ref().map(|i| i.value),
                )
            });
            let variants = sorted.iter().map(|v| variant(g, v));
            quote!(#d::Shape::Enum { variants: #p::Vec::from([#(#variants),*]) })
        }
    };
    quote! {
        __types.define(#d::short_type_name::<Self>(), |__types| #d::TypeDef {
            name: #d::short_type_name::<Self>(),
            id_bytes: #id_bytes,
            order: #order,
            len: #len,
            json: #json,
            shape: #shape,
        })
    }
}

fn order(g: &Gen, endian: Endian) -> TokenStream {
    let p = &g.p;
    match endian {
        Endian::Little => quote!(#p::describe::ByteOrder::Little),
        Endian::Big => quote!(#p::describe::ByteOrder::Big),
    }
}

fn variant(g: &Gen, v: &Variant) -> TokenStream {
    let p = &g.p;
    let d = quote!(#p::describe);
    let name = v.ident.to_string();
    let (id, fields): (TokenStream, Vec<TokenStream>) = if v.attrs.catch_all.is_some() {
        // The id it came with, and the raw rest of the body.
        let fields = match (v.fields.first(), v.fields.get(1)) {
            (Some(idf), Some(body)) => vec![
                field_def(
                    g,
                    idf,
                    g.endian,
                    g.len.bytes() as u8,
                    quote!(#d::FieldKind::Plain),
                    {
                        let ty = idf.ty;
                        quote!(<#ty as #p::Wire>::describe(__types))
                    },
                ),
                field_def(
                    g,
                    body,
                    g.endian,
                    g.len.bytes() as u8,
                    quote!(#d::FieldKind::Rest),
                    {
                        let ty = body.ty;
                        quote!(<#ty as #p::WireRest>::describe_rest(__types))
                    },
                ),
            ],
            _ => Vec::new(),
        };
        (quote!(#p::None), fields)
    } else {
        let id = v.attrs.id.as_ref().map_or(0, |i| i.value);
        (
            quote!(#p::Some(#id)),
            v.fields.iter().map(|f| field(g, f)).collect(),
        )
    };
    let role = match &v.attrs.role {
        Some(r) => {
            let r = r.value.name();
            quote!(#p::Some(::std::string::String::from(#r)))
        }
        None => quote!(#p::None),
    };
    let replies = v.attrs.replies.iter().map(|r| {
        let text = r.value.to_token_stream().to_string().replace(' ', "");
        quote!(::std::string::String::from(#text))
    });
    quote! {
        #d::VariantDef {
            name: ::std::string::String::from(#name),
            id: #id,
            fields: #p::Vec::from([#(#fields),*]),
            role: #role,
            replies: #p::Vec::from([#(#replies),*]),
        }
    }
}

/// A field's definition, by its attributes.
fn field(g: &Gen, f: &Field) -> TokenStream {
    let p = &g.p;
    let d = quote!(#p::describe);
    let a = &f.attrs;
    let endian = a.endian.as_ref().map_or(g.endian, |e| e.value);
    let len = a.len.as_ref().map_or(g.len, |l| l.value).bytes() as u8;
    let ty = f.ty;
    let (kind, described) = if a.skip.is_some() {
        (quote!(#d::FieldKind::Skip), quote!(#d::Ty::Unit))
    } else if let Some(with) = &a.with {
        let path = with.value.to_token_stream().to_string().replace(' ', "");
        (
            quote!(#d::FieldKind::Plain),
            quote!(#d::Ty::Opaque(::std::string::String::from(#path))),
        )
    } else if a.rest.is_some() {
        (
            quote!(#d::FieldKind::Rest),
            quote!(<#ty as #p::WireRest>::describe_rest(__types)),
        )
    } else {
        (
            quote!(#d::FieldKind::Plain),
            quote!(<#ty as #p::Wire>::describe(__types)),
        )
    };
    field_def(g, f, endian, len, kind, described)
}

fn field_def(
    g: &Gen,
    f: &Field,
    endian: Endian,
    len: u8,
    kind: TokenStream,
    described: TokenStream,
) -> TokenStream {
    let p = &g.p;
    let d = quote!(#p::describe);
    let a = &f.attrs;
    let name = f.name();
    let order = order(g, endian);
    let role = if a.correlation.is_some() {
        quote!(#p::Some(#d::FieldRole::Correlation))
    } else if a.version.is_some() {
        quote!(#p::Some(#d::FieldRole::Version))
    } else if a.reason.is_some() {
        quote!(#p::Some(#d::FieldRole::Reason))
    } else if a.protocol.is_some() {
        quote!(#p::Some(#d::FieldRole::Protocol))
    } else {
        quote!(#p::None)
    };
    let rust = f.ty.to_token_stream().to_string().replace(' ', "");
    quote! {
        #d::FieldDef {
            name: ::std::string::String::from(#name),
            ty: #described,
            order: #order,
            len: #len,
            kind: #kind,
            role: #role,
            rust: ::std::string::String::from(#rust),
        }
    }
}
