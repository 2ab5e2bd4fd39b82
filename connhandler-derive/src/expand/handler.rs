//! `#[incoming(...)]` and `#[outgoing(...)]`: a struct holding a handler's own state becomes
//! a declared handler that starts on the central queue in one call.
//!
//! `Args::from_syn` (every key in a typed slot) → `validate` → `expand`.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{meta::ParseNestedMeta, parse::Parser, DeriveInput, LitBool, LitInt, LitStr, Path, Type};

use crate::{
    attr::{self, Slot},
    ctxt::Ctxt,
    symbol::*,
};

/// The incoming handler's protection keys that take a number (0: off), in the order their
/// builder calls come out.
const PROTECTION_KEYS: &[&str] = &[
    MAX_CONNECTIONS_PER_IP,
    FIRST_MESSAGE_TIMEOUT_MS,
    IDLE_TIMEOUT_MS,
    FRAME_TIMEOUT_MS,
    READ_BUDGET,
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Incoming,
    Outgoing,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Incoming => "incoming",
            Kind::Outgoing => "outgoing",
        }
    }

    /// How this kind's keys are called in errors.
    fn setting(self) -> &'static str {
        match self {
            Kind::Incoming => INCOMING_SETTING,
            Kind::Outgoing => OUTGOING_SETTING,
        }
    }

    /// The keys this kind takes.
    fn keys(self) -> Vec<&'static str> {
        let own = match self {
            Kind::Incoming => INCOMING_KEYS,
            Kind::Outgoing => OUTGOING_KEYS,
        };
        HANDLER_KEYS.iter().chain(own).copied().collect()
    }
}

enum Framing {
    TcpMessage(Vec<(&'static str, TokenStream)>),
    Panda3d(Vec<(&'static str, TokenStream)>),
    Custom(Path),
}

/// The arguments of `#[incoming(...)]` / `#[outgoing(...)]`, each key in its slot (a
/// repeated key is an error naming it).
struct Args {
    peer: Option<Type>,
    framing: Option<(Framing, TokenStream)>,
    make_peer: Option<Path>,
    name: Option<LitStr>,
    krate: Option<Path>,
    backlog: Option<LitInt>,
    max_connections: Option<LitInt>,
    /// Protection: `unprotected` first, then each key given (0: off), in this order.
    unprotected: bool,
    protection: Vec<(&'static str, LitInt)>,
    queue_bytes: Option<LitInt>,
    /// WebSocket on this path, and the origins it lets in (incoming).
    websocket: Option<LitStr>,
    allow_origins: Vec<LitStr>,
    proxy_protocol: bool,
    handshake_timeout_ms: Option<LitInt>,
    connect_timeout_ms: Option<LitInt>,
    retry_ms: Option<LitInt>,
    backoff_max_ms: Option<LitInt>,
    max_attempts: Option<LitInt>,
    reconnect: bool,
    /// The version handshake: our version (checked to parse), the rule, the time-out.
    version: Option<(LitStr, [u32; 3])>,
    agree: Option<(LitStr, Agree)>,
    version_timeout_ms: Option<LitInt>,
    heartbeat_ms: Option<LitInt>,
    heartbeat_allowance_ms: Option<LitInt>,
    request_timeout_ms: Option<LitInt>,
    max_pending: Option<LitInt>,
    tcp_keepalive_ms: Option<LitInt>,
}

/// The handshake's rule, as the attribute names it.
#[derive(Clone, Copy)]
enum Agree {
    Exact,
    SameMajor,
}

/// `major[.minor[.patch]]`, as the runtime's `Version` parses it.
fn parse_version(lit: &LitStr) -> syn::Result<[u32; 3]> {
    let text = lit.value();
    let bad = || {
        syn::Error::new_spanned(
            lit,
            format!("version takes \"major.minor.patch\" (such as \"2.1.0\"), got {text:?}"),
        )
    };
    let digits = text.strip_prefix('v').unwrap_or(&text);
    let parts: Vec<&str> = digits.split('.').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let mut v = [0u32; 3];
    for (slot, part) in v.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = part.parse().map_err(|_| bad())?;
    }
    Ok(v)
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

/// An integer key's value, checked to lie in `range`.
fn int_value(
    meta: &ParseNestedMeta,
    what: &str,
    range: std::ops::RangeInclusive<u64>,
) -> syn::Result<LitInt> {
    let lit: LitInt = meta.value()?.parse()?;
    int_in(&lit, what, range)?;
    Ok(lit)
}

/// The settings inside `tcp_message(...)` or `panda3d(...)`, each in its slot, in the
/// order given.
fn framing_settings(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    what: &'static str,
    keys: &[&'static str],
    mut parse: impl FnMut(&ParseNestedMeta, &'static str) -> syn::Result<TokenStream>,
) -> syn::Result<Vec<(&'static str, TokenStream)>> {
    let mut out = Vec::new();
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(out);
    }
    let mut slots: Vec<Slot<'_, ()>> = keys.iter().map(|k| Slot::new(cx, what, k)).collect();
    meta.parse_nested_meta(|inner| {
        let Some(i) = keys.iter().position(|k| inner.path.is_ident(k)) else {
            let key = inner.path.to_token_stream().to_string();
            return Err(inner.error(format!("unknown {what} `{key}`; expected {}", list(keys))));
        };
        let value = parse(&inner, keys[i])?;
        if !slots[i].is_set() {
            out.push((keys[i], value.clone()));
        }
        slots[i].set(&inner.path, ());
        Ok(())
    })?;
    Ok(out)
}

/// `tcp_message(max_message_size = N, max_frame_length = N, ...)`, checked here.
fn tcp_message_args(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
) -> syn::Result<Vec<(&'static str, TokenStream)>> {
    framing_settings(
        cx,
        meta,
        TCP_MESSAGE_SETTING,
        TCP_MESSAGE_KEYS,
        |inner, key| {
            Ok(match key {
                MAX_MESSAGE_SIZE => int_value(inner, key, 1..=65535)?.into_token_stream(),
                MAX_FRAME_LENGTH => int_value(inner, key, 1..=u32::MAX.into())?.into_token_stream(),
                _ => inner.value()?.parse::<LitBool>()?.into_token_stream(),
            })
        },
    )
}

/// `panda3d(header_size = 0|2|4, max_frame_length = N)`, checked here.
fn panda3d_args(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
) -> syn::Result<Vec<(&'static str, TokenStream)>> {
    framing_settings(cx, meta, PANDA3D_SETTING, PANDA3D_KEYS, |inner, key| {
        let lit: LitInt = inner.value()?.parse()?;
        if key == HEADER_SIZE {
            let v: u64 = lit.base10_parse()?;
            if ![0, 2, 4].contains(&v) {
                return Err(syn::Error::new_spanned(
                    &lit,
                    format!("header_size must be 0, 2 or 4 (Panda3D's tcp_header_size), got {v}"),
                ));
            }
        } else {
            int_in(&lit, key, 1..=u32::MAX.into())?;
        }
        Ok(lit.into_token_stream())
    })
}

impl Args {
    /// Parses the attribute's arguments: step one of `from_syn` → `validate` → `expand`.
    fn from_syn(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> Args {
        let what = kind.setting();
        let mut peer = Slot::new(cx, what, PEER);
        let mut framing: Option<(Framing, TokenStream)> = None;
        let mut make_peer = Slot::new(cx, what, MAKE_PEER);
        let mut name = Slot::new(cx, what, NAME);
        let mut krate = Slot::new(cx, what, CRATE);
        let mut backlog = Slot::new(cx, what, BACKLOG);
        let mut max_connections = Slot::new(cx, what, MAX_CONNECTIONS);
        let mut unprotected = Slot::new(cx, what, UNPROTECTED);
        let mut queue_bytes = Slot::new(cx, what, QUEUE_BYTES);
        let mut websocket = Slot::new(cx, what, WEBSOCKET);
        let mut allow_origins: Vec<LitStr> = Vec::new();
        let mut proxy_protocol = Slot::new(cx, what, PROXY_PROTOCOL);
        let mut handshake_timeout_ms = Slot::new(cx, what, HANDSHAKE_TIMEOUT_MS);
        let mut protection: Vec<Slot<'_, LitInt>> = PROTECTION_KEYS
            .iter()
            .map(|k| Slot::new(cx, what, k))
            .collect();
        let mut connect_timeout_ms = Slot::new(cx, what, CONNECT_TIMEOUT_MS);
        let mut retry_ms = Slot::new(cx, what, RETRY_MS);
        let mut backoff_max_ms = Slot::new(cx, what, BACKOFF_MAX_MS);
        let mut max_attempts = Slot::new(cx, what, MAX_ATTEMPTS);
        let mut reconnect = Slot::new(cx, what, RECONNECT);
        let mut version = Slot::new(cx, what, VERSION_KEY);
        let mut agree = Slot::new(cx, what, AGREE);
        let mut version_timeout_ms = Slot::new(cx, what, VERSION_TIMEOUT_MS);
        let mut heartbeat_ms = Slot::new(cx, what, HEARTBEAT_MS);
        let mut heartbeat_allowance_ms = Slot::new(cx, what, HEARTBEAT_ALLOWANCE_MS);
        let mut request_timeout_ms = Slot::new(cx, what, REQUEST_TIMEOUT_MS);
        let mut max_pending = Slot::new(cx, what, MAX_PENDING);
        let mut tcp_keepalive_ms = Slot::new(cx, what, TCP_KEEPALIVE_MS);
        let incoming = kind == Kind::Incoming;
        let parser = syn::meta::parser(|meta| {
            let path = &meta.path;
            // One framing at most; the error points at the second (the key, or a custom path).
            let mut set_framing = |f: Framing, tokens: TokenStream| {
                if let Some((_, first)) = &framing {
                    let first = first.to_string();
                    cx.error_spanned_by(
                        tokens,
                        format!("conflicting framings: `{first}` is given already"),
                    );
                } else {
                    framing = Some((f, tokens));
                }
            };
            if path.is_ident(PEER) {
                let ty: Type = meta.value()?.parse()?;
                peer.set(path, ty);
            } else if path.is_ident(TCP_MESSAGE) {
                let settings = tcp_message_args(cx, &meta)?;
                set_framing(Framing::TcpMessage(settings), path.to_token_stream());
            } else if path.is_ident(PANDA3D) {
                let settings = panda3d_args(cx, &meta)?;
                set_framing(Framing::Panda3d(settings), path.to_token_stream());
            } else if path.is_ident(FRAMING) {
                let custom: Path = meta.value()?.parse()?;
                let tokens = custom.to_token_stream();
                set_framing(Framing::Custom(custom), tokens);
            } else if path.is_ident(MAKE_PEER) {
                let hook: Path = meta.value()?.parse()?;
                make_peer.set(path, hook);
            } else if path.is_ident(NAME) {
                let lit: LitStr = meta.value()?.parse()?;
                name.set(path, lit);
            } else if path.is_ident(CRATE) {
                let lit: LitStr = meta.value()?.parse()?;
                krate.set(path, attr::parse_path_str(&lit)?);
            } else if incoming && path.is_ident(BACKLOG) {
                backlog.set(path, int_value(&meta, BACKLOG, 0..=u32::MAX.into())?);
            } else if incoming && path.is_ident(MAX_CONNECTIONS) {
                let lit = int_value(&meta, MAX_CONNECTIONS, 1..=u32::MAX.into())?;
                max_connections.set(path, lit);
            } else if incoming && path.is_ident(UNPROTECTED) {
                unprotected.set(path, ());
            } else if let Some(i) = PROTECTION_KEYS
                .iter()
                .position(|k| incoming && path.is_ident(k))
            {
                let key = PROTECTION_KEYS[i];
                protection[i].set(path, int_value(&meta, key, 0..=u64::from(u32::MAX))?);
            } else if path.is_ident(QUEUE_BYTES) {
                let lit = int_value(&meta, QUEUE_BYTES, 1..=u64::from(u32::MAX))?;
                queue_bytes.set(path, lit);
            } else if path.is_ident(WEBSOCKET) {
                let lit: LitStr = meta.value()?.parse()?;
                let v = lit.value();
                if !v.starts_with('/') || v.contains(char::is_whitespace) || v.contains('?') {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!("websocket takes a path such as \"/game\" (a `/` first, no spaces or query), got {v:?}"),
                    ));
                }
                websocket.set(path, lit);
            } else if incoming && path.is_ident(ALLOW_ORIGIN) {
                // Repeatable: one origin each.
                let lit: LitStr = meta.value()?.parse()?;
                let v = lit.value();
                let rest = v
                    .strip_prefix("https://")
                    .or_else(|| v.strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!("allow_origin takes an origin as browsers send it, such as \"https://play.example.com\" (scheme and host, no path), got {v:?}"),
                    ));
                }
                allow_origins.push(lit);
            } else if incoming && path.is_ident(PROXY_PROTOCOL) {
                proxy_protocol.set(path, ());
            } else if incoming && path.is_ident(HANDSHAKE_TIMEOUT_MS) {
                let lit = int_value(&meta, HANDSHAKE_TIMEOUT_MS, 1..=u64::from(u32::MAX))?;
                handshake_timeout_ms.set(path, lit);
            } else if !incoming && path.is_ident(CONNECT_TIMEOUT_MS) {
                let lit = int_value(&meta, CONNECT_TIMEOUT_MS, 1..=u64::MAX)?;
                connect_timeout_ms.set(path, lit);
            } else if !incoming && path.is_ident(RETRY_MS) {
                retry_ms.set(path, meta.value()?.parse::<LitInt>()?);
            } else if !incoming && path.is_ident(BACKOFF_MAX_MS) {
                backoff_max_ms.set(path, meta.value()?.parse::<LitInt>()?);
            } else if !incoming && path.is_ident(MAX_ATTEMPTS) {
                let lit = int_value(&meta, MAX_ATTEMPTS, 1..=u32::MAX.into())?;
                max_attempts.set(path, lit);
            } else if !incoming && path.is_ident(RECONNECT) {
                reconnect.set(path, ());
            } else if path.is_ident(VERSION_KEY) {
                let lit: LitStr = meta.value()?.parse()?;
                let v = parse_version(&lit)?;
                version.set(path, (lit, v));
            } else if path.is_ident(AGREE) {
                let lit: LitStr = meta.value()?.parse()?;
                let rule = match lit.value().as_str() {
                    "exact" => Agree::Exact,
                    "same_major" => Agree::SameMajor,
                    other => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!("agree takes \"exact\" or \"same_major\" (a rule of your own goes to the builder's `handshake`), got {other:?}"),
                        ))
                    }
                };
                agree.set(path, (lit, rule));
            } else if path.is_ident(VERSION_TIMEOUT_MS) {
                let lit = int_value(&meta, VERSION_TIMEOUT_MS, 1..=u64::from(u32::MAX))?;
                version_timeout_ms.set(path, lit);
            } else if path.is_ident(HEARTBEAT_MS) {
                let lit = int_value(&meta, HEARTBEAT_MS, 1..=u64::from(u32::MAX))?;
                heartbeat_ms.set(path, lit);
            } else if path.is_ident(HEARTBEAT_ALLOWANCE_MS) {
                let lit = int_value(&meta, HEARTBEAT_ALLOWANCE_MS, 1..=u64::from(u32::MAX))?;
                heartbeat_allowance_ms.set(path, lit);
            } else if path.is_ident(REQUEST_TIMEOUT_MS) {
                let lit = int_value(&meta, REQUEST_TIMEOUT_MS, 1..=u64::from(u32::MAX))?;
                request_timeout_ms.set(path, lit);
            } else if path.is_ident(MAX_PENDING) {
                let lit = int_value(&meta, MAX_PENDING, 1..=u64::from(u32::MAX))?;
                max_pending.set(path, lit);
            } else if path.is_ident(TCP_KEEPALIVE_MS) {
                let lit = int_value(&meta, TCP_KEEPALIVE_MS, 1000..=u64::from(u32::MAX))?;
                tcp_keepalive_ms.set(path, lit);
            } else {
                let key = path.to_token_stream().to_string();
                return Err(meta.error(format!(
                    "unknown {} `{key}`; expected {}",
                    kind.setting(),
                    list(&kind.keys())
                )));
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            cx.syn_error(e);
        }
        Args {
            peer: peer.value(),
            framing,
            make_peer: make_peer.value(),
            name: name.value(),
            krate: krate.value(),
            backlog: backlog.value(),
            max_connections: max_connections.value(),
            unprotected: unprotected.get().is_some(),
            protection: PROTECTION_KEYS
                .iter()
                .zip(protection)
                .filter_map(|(k, slot)| slot.value().map(|v| (*k, v)))
                .collect(),
            queue_bytes: queue_bytes.value(),
            websocket: websocket.value(),
            allow_origins,
            proxy_protocol: proxy_protocol.get().is_some(),
            handshake_timeout_ms: handshake_timeout_ms.value(),
            connect_timeout_ms: connect_timeout_ms.value(),
            retry_ms: retry_ms.value(),
            backoff_max_ms: backoff_max_ms.value(),
            max_attempts: max_attempts.value(),
            reconnect: reconnect.get().is_some(),
            version: version.value(),
            agree: agree.value(),
            version_timeout_ms: version_timeout_ms.value(),
            heartbeat_ms: heartbeat_ms.value(),
            heartbeat_allowance_ms: heartbeat_allowance_ms.value(),
            request_timeout_ms: request_timeout_ms.value(),
            max_pending: max_pending.value(),
            tcp_keepalive_ms: tcp_keepalive_ms.value(),
        }
    }
}

/// The rules that look at several keys at once.
fn validate(cx: &Ctxt, kind: Kind, input: &DeriveInput, args: &Args) {
    if args.peer.is_none() {
        cx.error_spanned_by(
            &input.ident,
            format!(
                "a handler needs its peer kind: #[{}(peer = MyPeer, ...)]",
                kind.attr()
            ),
        );
    }
    if let (Some(first), None) = (args.allow_origins.first(), &args.websocket) {
        cx.error_spanned_by(first, "`allow_origin` goes with `websocket = \"/path\"`");
    }
    if let (Some(b), None) = (&args.backoff_max_ms, &args.retry_ms) {
        cx.error_spanned_by(b, "`backoff_max_ms` goes with `retry_ms`, the first delay");
    }
    if args.version.is_none() {
        if let Some((lit, _)) = &args.agree {
            cx.error_spanned_by(lit, "`agree` goes with `version = \"major.minor.patch\"`");
        }
        if let Some(ms) = &args.version_timeout_ms {
            cx.error_spanned_by(
                ms,
                "`version_timeout_ms` goes with `version = \"major.minor.patch\"`",
            );
        }
    }
    match (&args.heartbeat_allowance_ms, &args.heartbeat_ms) {
        (Some(a), None) => cx.error_spanned_by(
            a,
            "`heartbeat_allowance_ms` goes with `heartbeat_ms`, the quiet time before a ping",
        ),
        (Some(a), Some(every)) => {
            let (a_ms, every_ms) = (a.base10_parse::<u64>(), every.base10_parse::<u64>());
            if let (Ok(a_ms), Ok(every_ms)) = (a_ms, every_ms) {
                if a_ms < every_ms {
                    cx.error_spanned_by(
                        a,
                        format!("the allowance ({a_ms} ms) must be at least `heartbeat_ms` ({every_ms} ms): the peer needs a ping to answer"),
                    );
                }
            }
        }
        _ => {}
    }
}

pub(crate) fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let input: DeriveInput = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(e) => {
            let _ = cx.check();
            let e = e.into_compile_error();
            return quote!(#e #item);
        }
    };
    let args = Args::from_syn(&cx, kind, args);
    validate(&cx, kind, &input, &args);
    if let Err(e) = cx.check() {
        // The item stays as written, so that its other uses do not fail too.
        let e = e.into_compile_error();
        return quote!(#e #item);
    }
    let expanded = expand(kind, &input, &args);
    quote!(#item #expanded)
}

fn expand(kind: Kind, input: &DeriveInput, args: &Args) -> TokenStream {
    // Every path into the runtime goes through its private module.
    let krate = attr::krate(args.krate.as_ref());
    let k = quote!(#krate::__private_v0_1);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let Some(peer) = &args.peer else {
        return quote!();
    };
    let (framing_ty, framing_expr) = match &args.framing {
        None => (
            quote!(#k::TcpMessageCodec),
            quote!(#k::TcpMessageCodec::new()),
        ),
        Some((Framing::TcpMessage(settings), _)) => {
            let calls = settings.iter().map(|(key, v)| {
                let key = syn::Ident::new(key, proc_macro2::Span::call_site());
                quote!(.#key(#v))
            });
            (
                quote!(#k::TcpMessageCodec),
                quote!(#k::checked_codec(#k::TcpMessageCodec::builder() #(#calls)* .new_codec())),
            )
        }
        Some((Framing::Panda3d(settings), _)) => {
            let calls = settings.iter().map(|(key, v)| {
                let key = syn::Ident::new(key, proc_macro2::Span::call_site());
                quote!(.#key(#v))
            });
            (
                quote!(#k::Panda3dCodec),
                quote!(#k::checked_codec(#k::Panda3dCodec::builder() #(#calls)* .new_codec())),
            )
        }
        Some((Framing::Custom(path), _)) => (quote!(impl #k::Framing), quote!(#path())),
    };
    let make_peer = match &args.make_peer {
        Some(path) => quote!(move |__addr| #path(&*__state, __addr)),
        None => quote!({
            let _ = __state;
            |_| <#peer as ::core::default::Default>::default()
        }),
    };
    // Builder calls in a fixed order, one per key given.
    let mut calls: Vec<TokenStream> = Vec::new();
    if let Some(n) = &args.backlog {
        calls.push(quote!(.backlog(#n)));
    }
    if let Some(n) = &args.max_connections {
        calls.push(quote!(.max_connections(#n)));
    }
    if args.unprotected {
        calls.push(quote!(.unprotected()));
    }
    for (key, v) in &args.protection {
        // 0 turns it off (the value was checked to parse when it was read).
        let off = v.base10_parse::<u64>().is_ok_and(|n| n == 0);
        let on = |value: TokenStream| match off {
            true => quote!(::core::option::Option::None),
            false => quote!(::core::option::Option::Some(#value)),
        };
        calls.push(match *key {
            FIRST_MESSAGE_TIMEOUT_MS => {
                let d = on(quote!(::core::time::Duration::from_millis(#v)));
                quote!(.first_message_timeout(#d))
            }
            IDLE_TIMEOUT_MS => {
                let d = on(quote!(::core::time::Duration::from_millis(#v)));
                quote!(.idle_timeout(#d))
            }
            FRAME_TIMEOUT_MS => {
                let d = on(quote!(::core::time::Duration::from_millis(#v)));
                quote!(.frame_timeout(#d))
            }
            MAX_CONNECTIONS_PER_IP => {
                let n = on(quote!(#v as usize));
                quote!(.max_connections_per_ip(#n))
            }
            _ => {
                let n = on(quote!(#v as usize));
                quote!(.read_budget(#n))
            }
        });
    }
    if let Some(n) = &args.queue_bytes {
        calls.push(quote!(.queue_bytes(#n)));
    }
    if let Some(ws_path) = &args.websocket {
        let origins = &args.allow_origins;
        calls.push(
            quote!(.websocket(#k::WebSocket::new().path(#ws_path) #(.allow_origin(#origins))*)),
        );
    }
    if args.proxy_protocol {
        calls.push(quote!(.proxy_protocol(true)));
    }
    if let Some(ms) = &args.handshake_timeout_ms {
        calls.push(quote!(.handshake_timeout(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(ms) = &args.connect_timeout_ms {
        calls.push(quote!(.connect_timeout(::core::time::Duration::from_millis(#ms))));
    }
    if let Some((_, [major, minor, patch])) = &args.version {
        let t = quote!(#k::talk);
        let mut handshake = quote!(#t::Handshake::new(#t::Version::new(#major, #minor, #patch)));
        match args.agree.as_ref().map(|(_, a)| *a) {
            Some(Agree::Exact) => handshake.extend(quote!(.agree(#t::Agree::Exact))),
            Some(Agree::SameMajor) | None => {}
        }
        if let Some(ms) = &args.version_timeout_ms {
            handshake.extend(quote!(.timeout(::core::time::Duration::from_millis(#ms))));
        }
        calls.push(quote!(.handshake(#handshake)));
    }
    if let Some(every) = &args.heartbeat_ms {
        let t = quote!(#k::talk);
        let mut beat = quote!(#t::Heartbeat::every(::core::time::Duration::from_millis(#every)));
        if let Some(a) = &args.heartbeat_allowance_ms {
            beat.extend(quote!(.allowance(::core::time::Duration::from_millis(#a))));
        }
        calls.push(quote!(.heartbeat(#beat)));
    }
    if let Some(ms) = &args.request_timeout_ms {
        calls.push(quote!(.request_timeout(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(n) = &args.max_pending {
        calls.push(quote!(.max_pending(#n)));
    }
    if let Some(ms) = &args.tcp_keepalive_ms {
        calls.push(quote!(.tcp_keepalive(::core::time::Duration::from_millis(#ms))));
    }
    if args.reconnect {
        calls.push(quote!(.reconnect(true)));
    }
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
                pub fn incoming_builder(self, addr: #addr) -> #k::IncomingBuilder<#peer, #framing_ty, #k::WithHook<#peer>> {
                    let __state = ::std::sync::Arc::new(self);
                    #k::IncomingBuilder::new(addr, #make_peer)
                        .framing(#framing_expr)
                        #(#calls)*
                }

                /// Listens on `addr` with the declared incoming handler, feeding `central`.
                pub async fn listen<E>(
                    self,
                    addr: #addr,
                    central: &#k::CentralSender<E>,
                ) -> ::core::result::Result<#k::Incoming<#peer, #framing_ty>, #k::BindError>
                where
                    E: ::core::convert::From<#k::Event<#peer>> + ::core::marker::Send + 'static,
                {
                    self.incoming_builder(addr).listen(central).await
                }
            }
        },
        Kind::Outgoing => quote! {
            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                /// The declared outgoing handler's builder, connecting to `addr`, with this
                /// value as the handler's own state.
                pub fn outgoing_builder(self, addr: #addr) -> #k::OutgoingBuilder<#peer, #framing_ty, #k::WithHook<#peer>> {
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
