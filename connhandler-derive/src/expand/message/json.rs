//! The JSON body mode (`#[wire(json)]`): `<id><UTF-8 JSON object of the fields>`, through
//! serde helper structs generated beside the impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, Member};

use super::{binary, construct, fingerprint, id_literal, Arms, Gen, Parts, StructCtx, VariantCtx};
use crate::ast::Field;

/// A variant's arms: its id, then its fields as one JSON object.
pub(super) fn variant(g: &Gen, vc: &VariantCtx, arms: &mut Arms) {
    let p = &g.p;
    let VariantCtx {
        v,
        id,
        pat,
        accesses,
    } = vc;
    let ctx = g.container_ctx();
    let id_ty = g.id_ty();
    let id_size = g.id_type.bytes();
    let lit = id_literal(*id);
    let ident = v.ident;
    let write_id = quote!(<#id_ty as #p::Wire>::wire_encode(&#lit, #ctx, __dst););
    let body = json_body(g, &ident.to_string(), &v.fields);
    let value = json_ser_value(&body, &v.fields, accesses);
    arms.len
        .push(quote!(#pat => #id_size + #p::json_len(&#value),));
    arms.check.push(quote!(#pat => #p::Ok(()),));
    arms.encode
        .push(quote!(#pat => { #write_id #p::json_encode(&#value, __dst); }));
    let (read, values) = json_values(g, &body, &v.fields, Some(*id));
    let built = construct(quote!(Self::#ident), v.style, &v.fields, &values);
    arms.decode.push(quote!(#lit => { #read #p::Ok(#built) }));
    arms.helpers.push(body.helpers);
    arms.fingerprint
        .extend(fingerprint::settings_steps(g, &v.fields));
}

/// A struct's JSON body, after its id if it has one.
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
    let ctx = g.container_ctx();
    let id_ty = g.id_ty();
    let id_size = if id.is_some() { g.id_type.bytes() } else { 0 };
    let write_id = match id {
        Some(id) => {
            let lit = id_literal(id);
            quote!(<#id_ty as #p::Wire>::wire_encode(&#lit, #ctx, __dst);)
        }
        None => quote!(),
    };
    let body = json_body(g, "Struct", fields);
    let value = json_ser_value(&body, fields, &accesses);
    let (read, values) = json_values(g, &body, fields, id);
    let built = construct(quote!(Self), style, fields, &values);
    let fp_steps = fingerprint::settings_steps(g, fields);
    Parts {
        helpers: body.helpers,
        fingerprint: quote!({ let __h = #p::fingerprint_str(#shape); #(#fp_steps)* __h }),
        min_len: quote!(#id_size + 2),
        self_delimiting: quote!(true),
        len: quote!(#id_size + #p::json_len(&#value)),
        check: quote!(#p::Ok(())),
        encode: quote!(#write_id #p::json_encode(&#value, __dst);),
        decode: quote!(#read_id #read #p::Ok(#built)),
    }
}

/// JSON mode: the helper structs of one variant (or the struct), and the expressions that
/// measure, write and read its body.
struct JsonBody {
    helpers: TokenStream,
    /// `(len_expr, encode_stmt)` given the field accesses.
    ser: Ident,
    de: Ident,
}
fn json_body(g: &Gen, name: &str, fields: &[Field]) -> JsonBody {
    let p = &g.p;
    let serde_crate = &g.serde_crate;
    let ser = format_ident!("__JsonSer{}", name);
    let de = format_ident!("__JsonDe{}", name);
    let on_wire: Vec<&Field> = fields.iter().filter(|f| f.attrs.skip.is_none()).collect();
    let names: Vec<&Member> = on_wire.iter().map(|f| &f.member).collect();
    let tys: Vec<&syn::Type> = on_wire.iter().map(|f| f.ty).collect();
    // Errors name the message, not the helper ("expected an object with the fields of
    // `Leave`").
    let expecting = format!("an object with the fields of `{name}`");
    let name = name.to_string();
    let helpers = if on_wire.is_empty() {
        quote! {
            #[derive(#p::serde::Serialize)]
            #[serde(crate = #serde_crate, rename = #name)]
            struct #ser {}
            #[derive(#p::serde::Deserialize)]
            #[serde(crate = #serde_crate, rename = #name, expecting = #expecting)]
            struct #de {}
        }
    } else {
        quote! {
            #[derive(#p::serde::Serialize)]
            #[serde(crate = #serde_crate, rename = #name)]
            struct #ser<'__a> { #(#names: &'__a #tys),* }
            #[derive(#p::serde::Deserialize)]
            #[serde(crate = #serde_crate, rename = #name, expecting = #expecting)]
            struct #de { #(#names: #tys),* }
        }
    };
    JsonBody { helpers, ser, de }
}
fn json_ser_value(body: &JsonBody, fields: &[Field], accesses: &[TokenStream]) -> TokenStream {
    let ser = &body.ser;
    let inits = fields
        .iter()
        .zip(accesses)
        .filter(|(f, _)| f.attrs.skip.is_none())
        .map(|(f, a)| {
            let m = &f.member;
            quote!(#m: #a)
        });
    quote!(#ser { #(#inits),* })
}
fn json_values(
    g: &Gen,
    body: &JsonBody,
    fields: &[Field],
    id: Option<u64>,
) -> (TokenStream, Vec<TokenStream>) {
    let p = &g.p;
    let de = &body.de;
    let read = match id {
        Some(id) => {
            let lit = id_literal(id);
            quote!(let __body: #de = #p::json_decode(__src).map_err(|__e| #p::in_message(__e, #lit))?;)
        }
        None => quote!(let __body: #de = #p::json_decode(__src)?;),
    };
    let values = fields
        .iter()
        .map(|f| {
            if f.attrs.skip.is_some() {
                binary::field_decode(g, f, None)
            } else {
                let m = &f.member;
                quote!(__body.#m)
            }
        })
        .collect();
    (read, values)
}
