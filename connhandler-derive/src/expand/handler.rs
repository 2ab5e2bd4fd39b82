//! `#[incoming(...)]` and `#[outgoing(...)]`: a struct holding a handler's own state becomes
//! a declared handler that starts on the central queue in one call.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{meta::ParseNestedMeta, parse::Parser, DeriveInput, LitBool, LitInt, LitStr, Path, Type};

use crate::{attr, ctxt::Ctxt, symbol::list};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Incoming,
    Outgoing,
}

const COMMON_KEYS: &[&str] = &[
    "peer",
    "tcp_message",
    "panda3d",
    "framing",
    "make_peer",
    "name",
    "crate",
];
const INCOMING_KEYS: &[&str] = &["backlog", "max_connections"];
const OUTGOING_KEYS: &[&str] = &[
    "connect_timeout_ms",
    "retry_ms",
    "backoff_max_ms",
    "max_attempts",
    "reconnect",
];

enum Framing {
    TcpMessage(Vec<(String, TokenStream)>),
    Panda3d(Vec<(String, TokenStream)>),
    Custom(Path),
}

#[derive(Default)]
struct Args {
    peer: Option<Type>,
    framing: Option<(Framing, TokenStream)>,
    make_peer: Option<Path>,
    name: Option<LitStr>,
    krate: Option<Path>,
    /// Settings passed on to the builder as `.key(value)`, in order.
    settings: Vec<(String, TokenStream)>,
    retry_ms: Option<LitInt>,
    backoff_max_ms: Option<LitInt>,
    max_attempts: Option<LitInt>,
}

fn int_in(lit: &LitInt, what: &str, range: std::ops::RangeInclusive<u64>) -> syn::Result<u64> {
    let v: u64 = lit
        .base10_parse()
        .map_err(|_| syn::Error::new_spanned(lit, format!("{what} must be a whole number")))?;
    if !range.contains(&v) {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "{what} must be in {}..={}, got {v}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(v)
}

/// `tcp_message(max_message_size = N, max_frame_length = N)`, checked here.
fn tcp_message_args(meta: &ParseNestedMeta) -> syn::Result<Vec<(String, TokenStream)>> {
    let mut out = Vec::new();
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(out);
    }
    meta.parse_nested_meta(|inner| {
        let key = inner.path.to_token_stream().to_string();
        match key.as_str() {
            "max_message_size" => {
                let lit: LitInt = inner.value()?.parse()?;
                int_in(&lit, "max_message_size", 1..=65535)?;
                out.push((key, lit.into_token_stream()));
            }
            "max_frame_length" => {
                let lit: LitInt = inner.value()?.parse()?;
                int_in(&lit, "max_frame_length", 1..=u32::MAX.into())?;
                out.push((key, lit.into_token_stream()));
            }
            "reassemble" | "explicit_final_chunk" => {
                let lit: LitBool = inner.value()?.parse()?;
                out.push((key, lit.into_token_stream()));
            }
            _ => {
                return Err(inner.error(format!(
                    "unknown tcp_message setting `{key}`; expected {}",
                    list(&[
                        "max_message_size",
                        "max_frame_length",
                        "reassemble",
                        "explicit_final_chunk"
                    ])
                )))
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// `panda3d(header_size = 0|2|4, max_frame_length = N)`, checked here.
fn panda3d_args(meta: &ParseNestedMeta) -> syn::Result<Vec<(String, TokenStream)>> {
    let mut out = Vec::new();
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(out);
    }
    meta.parse_nested_meta(|inner| {
        let key = inner.path.to_token_stream().to_string();
        let lit: LitInt = inner.value()?.parse()?;
        match key.as_str() {
            "header_size" => {
                let v: u64 = lit.base10_parse()?;
                if ![0, 2, 4].contains(&v) {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!(
                            "header_size must be 0, 2 or 4 (Panda3D's tcp_header_size), got {v}"
                        ),
                    ));
                }
            }
            "max_frame_length" => {
                int_in(&lit, "max_frame_length", 1..=u32::MAX.into())?;
            }
            _ => {
                return Err(inner.error(format!(
                    "unknown panda3d setting `{key}`; expected {}",
                    list(&["header_size", "max_frame_length"])
                )))
            }
        }
        out.push((key, lit.into_token_stream()));
        Ok(())
    })?;
    Ok(out)
}

fn parse_args(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> Args {
    let mut args = Args::default();
    let valid: Vec<&str> = COMMON_KEYS
        .iter()
        .chain(match kind {
            Kind::Incoming => INCOMING_KEYS,
            Kind::Outgoing => OUTGOING_KEYS,
        })
        .copied()
        .collect();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.to_token_stream().to_string();
        let set_framing = |args: &mut Args, f: Framing, tokens: TokenStream| {
            if let Some((_, first)) = &args.framing {
                let first = first.to_string();
                Err(syn::Error::new_spanned(
                    tokens,
                    format!("conflicting framings: `{first}` is given already"),
                ))
            } else {
                args.framing = Some((f, tokens));
                Ok(())
            }
        };
        match key.as_str() {
            "peer" => {
                if args.peer.is_some() {
                    return Err(meta.error("duplicate `peer`"));
                }
                args.peer = Some(meta.value()?.parse()?);
            }
            "tcp_message" => {
                let settings = tcp_message_args(&meta)?;
                set_framing(
                    &mut args,
                    Framing::TcpMessage(settings),
                    meta.path.to_token_stream(),
                )?;
            }
            "panda3d" => {
                let settings = panda3d_args(&meta)?;
                set_framing(
                    &mut args,
                    Framing::Panda3d(settings),
                    meta.path.to_token_stream(),
                )?;
            }
            "framing" => {
                let path: Path = meta.value()?.parse()?;
                let tokens = path.to_token_stream();
                set_framing(&mut args, Framing::Custom(path), tokens)?;
            }
            "make_peer" => args.make_peer = Some(meta.value()?.parse()?),
            "name" => args.name = Some(meta.value()?.parse()?),
            "crate" => {
                let lit: LitStr = meta.value()?.parse()?;
                let path: Path = lit.parse()?;
                args.krate = Some(syn::parse2(attr::respan(
                    path.into_token_stream(),
                    lit.span(),
                ))?);
            }
            "backlog" if kind == Kind::Incoming => {
                let lit: LitInt = meta.value()?.parse()?;
                int_in(&lit, "backlog", 0..=u32::MAX.into())?;
                args.settings
                    .push(("backlog".into(), lit.into_token_stream()));
            }
            "max_connections" if kind == Kind::Incoming => {
                let lit: LitInt = meta.value()?.parse()?;
                int_in(&lit, "max_connections", 1..=u32::MAX.into())?;
                args.settings
                    .push(("max_connections".into(), lit.into_token_stream()));
            }
            "connect_timeout_ms" if kind == Kind::Outgoing => {
                let lit: LitInt = meta.value()?.parse()?;
                int_in(&lit, "connect_timeout_ms", 1..=u64::MAX)?;
                args.settings.push((
                    "connect_timeout".into(),
                    quote!(::core::time::Duration::from_millis(#lit)),
                ));
            }
            "retry_ms" if kind == Kind::Outgoing => args.retry_ms = Some(meta.value()?.parse()?),
            "backoff_max_ms" if kind == Kind::Outgoing => {
                args.backoff_max_ms = Some(meta.value()?.parse()?)
            }
            "max_attempts" if kind == Kind::Outgoing => {
                let lit: LitInt = meta.value()?.parse()?;
                int_in(&lit, "max_attempts", 1..=u32::MAX.into())?;
                args.max_attempts = Some(lit);
            }
            "reconnect" if kind == Kind::Outgoing => {
                args.settings.push(("reconnect".into(), quote!(true)));
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown {} handler setting `{key}`; expected {}",
                    match kind {
                        Kind::Incoming => "incoming",
                        Kind::Outgoing => "outgoing",
                    },
                    list(&valid)
                )))
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        cx.syn_error(e);
    }
    if args.backoff_max_ms.is_some() && args.retry_ms.is_none() {
        if let Some(b) = &args.backoff_max_ms {
            cx.error_spanned_by(b, "`backoff_max_ms` goes with `retry_ms`, the first delay");
        }
    }
    args
}

pub(crate) fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let input: DeriveInput = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(e) => {
            let e = e.into_compile_error();
            return quote!(#e #item);
        }
    };
    let args = parse_args(&cx, kind, args);
    if args.peer.is_none() {
        let attr = match kind {
            Kind::Incoming => "incoming",
            Kind::Outgoing => "outgoing",
        };
        cx.error_spanned_by(
            &input.ident,
            format!("a handler needs its peer kind: #[{attr}(peer = MyPeer, ...)]"),
        );
    }
    if let Err(e) = cx.check() {
        let e = e.into_compile_error();
        return quote!(#e #item);
    }
    let expanded = expand(kind, &input, &args);
    quote!(#item #expanded)
}

fn expand(kind: Kind, input: &DeriveInput, args: &Args) -> TokenStream {
    let k = attr::krate(args.krate.as_ref());
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let Some(peer) = &args.peer else {
        return quote!();
    };
    let (framing_ty, framing_expr) = match &args.framing {
        None => (
            quote!(#k::codec::TcpMessageCodec),
            quote!(#k::codec::TcpMessageCodec::new()),
        ),
        Some((Framing::TcpMessage(settings), _)) => {
            let calls = settings.iter().map(|(key, v)| {
                let key = syn::Ident::new(key, proc_macro2::Span::call_site());
                quote!(.#key(#v))
            });
            (
                quote!(#k::codec::TcpMessageCodec),
                quote!(#k::__private::checked_codec(#k::codec::TcpMessageCodec::builder() #(#calls)* .new_codec())),
            )
        }
        Some((Framing::Panda3d(settings), _)) => {
            let calls = settings.iter().map(|(key, v)| {
                let key = syn::Ident::new(key, proc_macro2::Span::call_site());
                quote!(.#key(#v))
            });
            (
                quote!(#k::codec::Panda3dCodec),
                quote!(#k::__private::checked_codec(#k::codec::Panda3dCodec::builder() #(#calls)* .new_codec())),
            )
        }
        Some((Framing::Custom(path), _)) => (quote!(impl #k::codec::Framing), quote!(#path())),
    };
    let make_peer = match &args.make_peer {
        Some(path) => quote!(move |__addr| #path(&*__state, __addr)),
        None => quote!({
            let _ = __state;
            |_| <#peer as ::core::default::Default>::default()
        }),
    };
    let mut calls: Vec<TokenStream> = args
        .settings
        .iter()
        .map(|(key, v)| {
            let key = syn::Ident::new(key, proc_macro2::Span::call_site());
            quote!(.#key(#v))
        })
        .collect();
    if let Some(name) = &args.name {
        calls.push(quote!(.name(#name)));
    }
    if let Some(first) = &args.retry_ms {
        let retry = match &args.backoff_max_ms {
            Some(max) => quote!(#k::Retry::backoff(
                ::core::time::Duration::from_millis(#first),
                ::core::time::Duration::from_millis(#max)
            )),
            None => quote!(#k::Retry::fixed(::core::time::Duration::from_millis(#first))),
        };
        let retry = match &args.max_attempts {
            Some(n) => quote!(#retry.max_attempts(#n)),
            None => retry,
        };
        calls.push(quote!(.retry(#retry)));
    } else if let Some(n) = &args.max_attempts {
        calls.push(quote!(.retry(#k::Retry::default().max_attempts(#n))));
    }
    let addr = quote!(impl ::core::convert::Into<#k::Address>);
    let state_bound = quote!(Self: ::core::marker::Send + ::core::marker::Sync + 'static);
    let where_clause = match where_clause {
        Some(w) => quote!(#w, #state_bound),
        None => quote!(where #state_bound),
    };
    match kind {
        Kind::Incoming => quote! {
            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                /// The declared incoming handler's builder, listening on `addr`, with this value
                /// as the handler's own state.
                pub fn incoming_builder(self, addr: #addr) -> #k::IncomingBuilder<#peer, #framing_ty> {
                    let __state = ::std::sync::Arc::new(self);
                    #k::IncomingBuilder::new(addr, #make_peer)
                        .framing(#framing_expr)
                        #(#calls)*
                }

                /// Starts the declared incoming handler on `addr`, feeding `central`.
                pub async fn start<E>(
                    self,
                    addr: #addr,
                    central: &#k::CentralSender<E>,
                ) -> ::core::result::Result<#k::Incoming<#peer, #framing_ty>, #k::BindError>
                where
                    E: ::core::convert::From<#k::Event<#peer>> + ::core::marker::Send + 'static,
                {
                    self.incoming_builder(addr).start(central).await
                }
            }
        },
        Kind::Outgoing => quote! {
            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                /// The declared outgoing handler's builder, connecting to `addr`, with this
                /// value as the handler's own state.
                pub fn outgoing_builder(self, addr: #addr) -> #k::OutgoingBuilder<#peer, #framing_ty> {
                    let __state = ::std::sync::Arc::new(self);
                    #k::OutgoingBuilder::new(addr, #make_peer)
                        .framing(#framing_expr)
                        #(#calls)*
                }

                /// Starts the declared outgoing handler, feeding `central`.
                pub fn start<E>(self, addr: #addr, central: &#k::CentralSender<E>) -> #k::Outgoing<#peer>
                where
                    E: ::core::convert::From<#k::Event<#peer>> + ::core::marker::Send + 'static,
                {
                    self.outgoing_builder(addr).start(central)
                }

                /// Starts the declared outgoing handler and waits for its first connection.
                pub async fn connect<E>(
                    self,
                    addr: #addr,
                    central: &#k::CentralSender<E>,
                ) -> ::core::result::Result<(#k::Outgoing<#peer>, #k::PeerHandle<#peer>), #k::ConnectError>
                where
                    E: ::core::convert::From<#k::Event<#peer>> + ::core::marker::Send + 'static,
                {
                    self.outgoing_builder(addr).connect(central).await
                }
            }
        },
    }
}
