//! `#[derive(Message)]`: the `Wire`, `Encode` and `Decode` impls.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, DeriveInput, Ident, Member};

use crate::{
    ast::{Body, Container, Field, Style, Variant},
    attr::{self, Endian, IntWidth},
    ctxt::Ctxt,
    valid,
};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let cont = ast_and_validate(&cx, input);
    match (cx.check(), cont) {
        (Ok(()), Some(cont)) => expand(&cont),
        (Err(e), _) => {
            let errors = e.into_compile_error();
            let fallback = fallback(input);
            quote!(#errors #fallback)
        }
        (Ok(()), None) => fallback(input),
    }
}

fn ast_and_validate<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
    let cont = Container::from_syn(cx, input)?;
    valid::validate(cx, &cont);
    Some(cont)
}

/// Impls that compile, so that an invalid protocol yields its own errors and not a flood of
/// "trait not implemented" after them.
fn fallback(input: &DeriveInput) -> TokenStream {
    let krate = attr::krate(None);
    let p = quote!(#krate::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics #p::Wire for #ident #ty_generics #where_clause {
                const FINGERPRINT: u64 = 0;
                const MIN_LEN: usize = 0;
                fn wire_len(&self, _: #p::Ctx) -> usize { 0 }
                fn wire_encode(&self, _: #p::Ctx, _: &mut #p::BytesMut) {}
                fn wire_decode(_: &mut #p::Bytes, _: #p::Ctx) -> #p::Result<Self, #p::DecodeError> {
                    #p::Err(#p::DecodeError::other("invalid protocol definition"))
                }
            }
            impl #impl_generics #p::Encode for #ident #ty_generics #where_clause {
                fn encoded_len(&self) -> usize { 0 }
                fn encode(&self, _: &mut #p::BytesMut) {}
            }
            impl #impl_generics #p::Decode for #ident #ty_generics #where_clause {
                fn decode(_: #p::Bytes) -> #p::Result<Self, #p::DecodeError> {
                    #p::Err(#p::DecodeError::other("invalid protocol definition"))
                }
            }
        };
    }
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

    /// The settings of a field, for the fingerprint.
    fn field_shape(&self, f: &Field) -> String {
        let a = &f.attrs;
        let mut s = format!(
            "field endian={} len={}",
            a.endian.as_ref().map_or(self.endian, |e| e.value).name(),
            a.len.as_ref().map_or(self.len, |l| l.value).name()
        );
        if a.skip.is_some() {
            s = "field skip".to_owned();
        } else if let Some(with) = &a.with {
            s.push_str(&format!(" with={}", with.value.to_token_stream()));
        } else if a.rest.is_some() {
            s.push_str(&format!(" rest={}", f.ty.to_token_stream()));
        }
        if self.json {
            s.push_str(&format!(" name={}", f.name()));
        }
        s
    }
}

fn expand(cont: &Container) -> TokenStream {
    let krate = attr::krate(cont.attrs.krate.as_ref());
    let p = quote!(#krate::__private);
    let g = Gen {
        serde_crate: format!("{}::__private::serde", krate.to_string().replace(' ', "")),
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

    let (
        helpers,
        fingerprint,
        min_len,
        self_delimiting,
        len_body,
        check_body,
        encode_body,
        decode_body,
    ) = match &cont.data {
        Body::Enum(variants) => expand_enum(&g, variants),
        Body::Struct(style, fields) => expand_struct(&g, cont, *style, fields),
    };
    let fast_decode = match &cont.data {
        _ if g.json => quote!(),
        Body::Enum(variants) => enum_fast_decode(&g, variants),
        Body::Struct(style, fields) => {
            let id = cont.attrs.id.as_ref().map(|i| i.value);
            match fixed_decode(&g, id, fields, quote!(Self), *style) {
                Some((n, built)) => {
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
                None => quote!(),
            }
        }
    };
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
                    _: #p::Ctx,
                ) -> #p::Result<Self, #p::DecodeError> {
                    #decode_body
                }
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
                #[inline]
                fn decode(__frame: #p::Bytes) -> #p::Result<Self, #p::DecodeError> {
                    #fast_decode
                    #p::decode_whole::<Self>(__frame, #ctx)
                }

                fn frame_status(__bytes: &[u8]) -> #p::FrameStatus {
                    #frame_status_body
                }
            }
        };
    }
}

type Parts = (
    TokenStream,
    TokenStream,
    TokenStream,
    TokenStream,
    TokenStream,
    TokenStream,
    TokenStream,
    TokenStream,
);

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

fn field_decode(g: &Gen, f: &Field, id: Option<u64>) -> TokenStream {
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
        quote_spanned!(with.span()=> #with::decode(__src, #ctx))
    } else if a.rest.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::WireRest>::rest_decode(__src, #ctx))
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::Wire>::wire_decode(__src, #ctx))
    };
    quote!(#read.map_err(|__e| #p::context(__e, #name, #id))?)
}

/// The size of a field written in runs: a number or `bool` written as itself.
fn prim_size(f: &Field) -> Option<usize> {
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

fn id_tokens(g: &Gen, id: Option<u64>) -> TokenStream {
    let p = &g.p;
    match id {
        Some(id) => {
            let lit = id_literal(id);
            quote!(#p::Some(#lit))
        }
        None => quote!(#p::None),
    }
}

fn big_endian(g: &Gen, f: &Field) -> bool {
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
                        return #p::Err(#p::short_run(__src.len(), &[#(#ends),*], #id_toks));
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
fn prim_get(g: &Gen, f: &Field, bytes: TokenStream, at: usize, id: &TokenStream) -> TokenStream {
    let p = &g.p;
    let ty = f.ty;
    let big = big_endian(g, f);
    let name = f.name();
    quote_spanned!(ty.span()=>
        #p::get_prim::<#ty>(&#bytes[..], #at, #big)
            .map_err(|__e| #p::context(__e, #name, #id))?
    )
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
fn enum_fast_decode(g: &Gen, variants: &[Variant]) -> TokenStream {
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

/// The fingerprint steps and MIN_LEN / SELF_DELIMITING terms of a run of fields.
fn fields_shape(
    g: &Gen,
    fields: &[Field],
) -> (Vec<TokenStream>, Vec<TokenStream>, Vec<TokenStream>) {
    let p = &g.p;
    let mut fp = Vec::new();
    let mut min = Vec::new();
    let mut delim = Vec::new();
    for f in fields {
        let shape = g.field_shape(f);
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
    let helpers = if on_wire.is_empty() {
        quote! {
            #[derive(#p::serde::Serialize)]
            #[serde(crate = #serde_crate)]
            struct #ser {}
            #[derive(#p::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
            struct #de {}
        }
    } else {
        quote! {
            #[derive(#p::serde::Serialize)]
            #[serde(crate = #serde_crate)]
            struct #ser<'__a> { #(#names: &'__a #tys),* }
            #[derive(#p::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
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
                field_decode(g, f, None)
            } else {
                let m = &f.member;
                quote!(__body.#m)
            }
        })
        .collect();
    (read, values)
}

fn expand_enum(g: &Gen, variants: &[Variant]) -> Parts {
    let p = &g.p;
    let id_ty = g.id_ty();
    let ctx = g.container_ctx();
    let id_size = g.id_type.bytes();
    let json = g.json;

    let mut helpers = Vec::new();
    let mut len_arms = Vec::new();
    let mut check_arms = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut fp = Vec::new();
    let mut delim = vec![quote!(true)];
    let mut fallback_arm =
        quote!(__other => #p::Err(#p::DecodeError::unknown_id(u32::from(__other))),);
    let shape = format!(
        "connhandler:v1 enum id={} endian={} len={}{}",
        g.id_type.name(),
        g.endian.name(),
        g.len.name(),
        if json { " json" } else { "" }
    );
    for v in variants {
        let pat = pattern(v);
        let accesses: Vec<TokenStream> = (0..v.fields.len())
            .map(|i| binding(i).to_token_stream())
            .collect();
        if v.attrs.catch_all.is_some() {
            fp.push(quote!(let __h = #p::fingerprint_mix(__h, "catch_all");));
            delim.push(quote!(false));
            let (Some(idf), Some(bodyf)) = (v.fields.first(), v.fields.get(1)) else {
                continue;
            };
            let (id_t, body_t) = (idf.ty, bodyf.ty);
            let (a0, a1) = (&accesses[0], &accesses[1]);
            len_arms.push(quote! {
                #pat => <#id_t as #p::Wire>::wire_len(#a0, #ctx) + <#body_t as #p::WireRest>::rest_len(#a1, #ctx),
            });
            check_arms.push(quote! {
                #pat => {
                    <#id_t as #p::Wire>::wire_check(#a0, #ctx)?;
                    <#body_t as #p::WireRest>::rest_check(#a1, #ctx)
                }
            });
            encode_arms.push(quote! {
                #pat => {
                    <#id_t as #p::Wire>::wire_encode(#a0, #ctx, __dst);
                    <#body_t as #p::WireRest>::rest_encode(#a1, #ctx, __dst);
                }
            });
            let values = [
                quote!(__other),
                quote_spanned!(body_t.span()=> <#body_t as #p::WireRest>::rest_decode(__src, #ctx)?),
            ];
            let built = construct(
                {
                    let ident = v.ident;
                    quote!(Self::#ident)
                },
                v.style,
                &v.fields,
                &values,
            );
            fallback_arm = quote!(__other => #p::Ok(#built),);
            continue;
        }
        let Some(id) = v.attrs.id.as_ref().map(|i| i.value) else {
            continue;
        };
        let lit = id_literal(id);
        let ident = v.ident;
        let variant_shape = format!(
            "variant id={id:#x} {}{}",
            v.style.name(),
            if json {
                format!(" name={ident}")
            } else {
                String::new()
            }
        );
        fp.push(quote!(let __h = #p::fingerprint_mix(__h, #variant_shape);));
        let write_id = quote!(<#id_ty as #p::Wire>::wire_encode(&#lit, #ctx, __dst););
        if json {
            let body = json_body(g, &ident.to_string(), &v.fields);
            let value = json_ser_value(&body, &v.fields, &accesses);
            len_arms.push(quote!(#pat => #id_size + #p::json_len(&#value),));
            check_arms.push(quote!(#pat => #p::Ok(()),));
            encode_arms.push(quote!(#pat => { #write_id #p::json_encode(&#value, __dst); }));
            let (read, values) = json_values(g, &body, &v.fields, Some(id));
            let built = construct(quote!(Self::#ident), v.style, &v.fields, &values);
            decode_arms.push(quote!(#lit => { #read #p::Ok(#built) }));
            helpers.push(body.helpers);
            for f in &v.fields {
                let shape = g.field_shape(f);
                fp.push(quote!(let __h = #p::fingerprint_mix(__h, #shape);));
            }
            continue;
        }
        let lens = v
            .fields
            .iter()
            .zip(&accesses)
            .map(|(f, a)| field_len(g, f, a));
        len_arms.push(quote!(#pat => #id_size #(+ #lens)*,));
        let checks = v
            .fields
            .iter()
            .zip(&accesses)
            .map(|(f, a)| field_check(g, f, a));
        check_arms.push(quote!(#pat => { #(#checks)* #p::Ok(()) }));
        let encodes = fields_encode(g, Some(id), &v.fields, &accesses);
        encode_arms.push(quote!(#pat => { #encodes }));
        let (reads, values) = fields_decode(g, &v.fields, Some(id));
        let built = construct(quote!(Self::#ident), v.style, &v.fields, &values);
        decode_arms.push(quote!(#lit => { #reads #p::Ok(#built) }));
        let (f_fp, _, f_delim) = fields_shape(g, &v.fields);
        fp.extend(f_fp);
        delim.extend(f_delim);
    }

    let fingerprint = quote!({
        let __h = #p::fingerprint_str(#shape);
        #(#fp)*
        __h
    });
    let len_body = quote!(match self { #(#len_arms)* });
    let check_body = quote!(match self { #(#check_arms)* });
    let encode_body = quote!(match self { #(#encode_arms)* });
    let decode_body = quote! {
        let __id = <#id_ty as #p::Wire>::wire_decode(__src, #ctx)?;
        match __id {
            #(#decode_arms)*
            #fallback_arm
        }
    };
    (
        quote!(#(#helpers)*),
        fingerprint,
        quote!(#id_size),
        quote!(#(#delim)&&*),
        len_body,
        check_body,
        encode_body,
        decode_body,
    )
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
            fields_shape(g, &v.fields).2
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
        let mut __head = #p::Bytes::copy_from_slice(&__bytes[..#id_size]);
        let #p::Ok(__id) = <#id_ty as #p::Wire>::wire_decode(&mut __head, #ctx) else {
            return #p::FrameStatus::Unknown;
        };
        match __id {
            #(#arms)*
            _ => #p::FrameStatus::Unknown,
        }
    }
}

fn expand_struct(g: &Gen, cont: &Container, style: Style, fields: &[Field]) -> Parts {
    let p = &g.p;
    let id_ty = g.id_ty();
    let ctx = g.container_ctx();
    let id = cont.attrs.id.as_ref().map(|i| i.value);
    let id_size = if id.is_some() { g.id_type.bytes() } else { 0 };
    let accesses: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let m = &f.member;
            quote!(&self.#m)
        })
        .collect();
    let shape = format!(
        "connhandler:v1 struct {} id={} endian={} len={}{}",
        style.name(),
        id.map_or("none".to_owned(), |i| format!(
            "{}:{i:#x}",
            g.id_type.name()
        )),
        g.endian.name(),
        g.len.name(),
        if g.json { " json" } else { "" }
    );
    let (write_id, read_id) = match id {
        Some(id) => {
            let lit = id_literal(id);
            (
                quote!(<#id_ty as #p::Wire>::wire_encode(&#lit, #ctx, __dst);),
                quote! {
                    let __id = <#id_ty as #p::Wire>::wire_decode(__src, #ctx)?;
                    if __id != #lit {
                        return #p::Err(#p::DecodeError::unknown_id(u32::from(__id)));
                    }
                },
            )
        }
        None => (quote!(), quote!()),
    };
    let path = quote!(Self);
    if g.json {
        let body = json_body(g, "Struct", fields);
        let value = json_ser_value(&body, fields, &accesses);
        let (read, values) = json_values(g, &body, fields, id);
        let built = construct(path, style, fields, &values);
        let fp_steps = fields.iter().map(|f| {
            let s = g.field_shape(f);
            quote!(let __h = #p::fingerprint_mix(__h, #s);)
        });
        return (
            body.helpers.clone(),
            quote!({ let __h = #p::fingerprint_str(#shape); #(#fp_steps)* __h }),
            quote!(#id_size + 2),
            quote!(true),
            quote!(#id_size + #p::json_len(&#value)),
            quote!(#p::Ok(())),
            quote!(#write_id #p::json_encode(&#value, __dst);),
            quote!(#read_id #read #p::Ok(#built)),
        );
    }
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
    let built = construct(path, style, fields, &values);
    let (fp, min, delim) = fields_shape(g, fields);
    (
        quote!(),
        quote!({ let __h = #p::fingerprint_str(#shape); #(#fp)* __h }),
        quote!(#id_size #(+ #min)*),
        quote!(true #(&& #delim)*),
        quote!(#id_size #(+ #lens)*),
        quote!({ #(#checks)* #p::Ok(()) }),
        encodes,
        quote!(#read_id #reads #p::Ok(#built)),
    )
}
