//! Parsing of `#[wire(...)]` and `#[peer(...)]` attributes, by hand with
//! `parse_nested_meta`: a typed slot per option that reports duplicates.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{meta::ParseNestedMeta, Attribute, LitInt, LitStr, Path, Type};

use crate::{ctxt::Ctxt, symbol::*};

/// One option's value and where it was written; a second setting is reported, worded for
/// the attribute it is in (`what`: "wire attribute", "peer attribute", "incoming handler
/// setting"...).
pub(crate) struct Slot<'c, T> {
    cx: &'c Ctxt,
    what: &'static str,
    name: &'static str,
    value: Option<(T, TokenStream)>,
}

impl<'c, T> Slot<'c, T> {
    pub(crate) fn new(cx: &'c Ctxt, what: &'static str, name: &'static str) -> Self {
        Slot {
            cx,
            what,
            name,
            value: None,
        }
    }

    pub(crate) fn set<A: ToTokens>(&mut self, tokens: A, value: T) {
        let tokens = tokens.into_token_stream();
        if self.value.is_some() {
            self.cx
                .error_spanned_by(tokens, format!("duplicate {} `{}`", self.what, self.name));
        } else {
            self.value = Some((value, tokens));
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.value.is_some()
    }

    /// The value alone, without the tokens it was written as.
    pub(crate) fn value(self) -> Option<T> {
        self.value.map(|(value, _)| value)
    }

    pub(crate) fn get(self) -> Option<Given<T>> {
        self.value.map(|(value, tokens)| Given { value, tokens })
    }
}

/// A value with the tokens it was written as, for error spans.
#[derive(Clone)]
pub(crate) struct Given<T> {
    pub(crate) value: T,
    pub(crate) tokens: TokenStream,
}

impl<T> ToTokens for Given<T> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.tokens.to_tokens(tokens)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntWidth {
    U8,
    U16,
    U32,
}

impl IntWidth {
    pub(crate) fn bytes(self) -> usize {
        match self {
            IntWidth::U8 => 1,
            IntWidth::U16 => 2,
            IntWidth::U32 => 4,
        }
    }

    pub(crate) fn max(self) -> u64 {
        match self {
            IntWidth::U8 => u8::MAX.into(),
            IntWidth::U16 => u16::MAX.into(),
            IntWidth::U32 => u32::MAX.into(),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            IntWidth::U8 => "u8",
            IntWidth::U16 => "u16",
            IntWidth::U32 => "u32",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

/// `#[wire(...)]` on the enum or struct.
pub(crate) struct Container {
    pub(crate) id_type: Option<Given<IntWidth>>,
    pub(crate) endian: Option<Given<Endian>>,
    pub(crate) len: Option<Given<IntWidth>>,
    pub(crate) id: Option<Given<u64>>,
    pub(crate) json: Option<Given<()>>,
    pub(crate) krate: Option<Path>,
}

/// `#[wire(...)]` on a variant.
pub(crate) struct Variant {
    pub(crate) id: Option<Given<u64>>,
    pub(crate) catch_all: Option<Given<()>>,
    /// `reply = Other::Variant`, repeatable: the messages that answer this request.
    pub(crate) replies: Vec<Given<Path>>,
    /// The conversation role this variant plays, if any (`hello`, `reject`, `ping`, `pong`).
    pub(crate) role: Option<Given<Role>>,
}

/// What a variant is in the conversation features.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Hello,
    Reject,
    Ping,
    Pong,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Hello => HELLO,
            Role::Reject => REJECT,
            Role::Ping => PING,
            Role::Pong => PONG,
        }
    }
}

/// `#[wire(...)]` on a field.
pub(crate) struct Field {
    pub(crate) endian: Option<Given<Endian>>,
    pub(crate) len: Option<Given<IntWidth>>,
    pub(crate) rest: Option<Given<()>>,
    pub(crate) skip: Option<Given<()>>,
    pub(crate) default: Option<Given<Path>>,
    pub(crate) with: Option<Given<Path>>,
    /// The correlation id of a request or reply.
    pub(crate) correlation: Option<Given<()>>,
    /// The version a hello or rejection carries.
    pub(crate) version: Option<Given<()>>,
    /// The reason text a rejection carries.
    pub(crate) reason: Option<Given<()>>,
    /// The protocol's messages hash a hello or rejection carries.
    pub(crate) protocol: Option<Given<()>>,
}

fn unknown(meta: &ParseNestedMeta, valid: &[&str]) -> syn::Error {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    meta.error(format!(
        "unknown wire attribute `{key}`; expected {}",
        list(valid)
    ))
}

/// Runs `f` on every key of every `#[name(...)]` attribute in `attrs`.
fn each_key(
    cx: &Ctxt,
    attrs: &[Attribute],
    name: &str,
    mut f: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs {
        if !attr.path().is_ident(name) {
            continue;
        }
        if let syn::Meta::Path(_) = attr.meta {
            cx.error_spanned_by(attr, format!("expected `#[{name}(...)]`"));
            continue;
        }
        if let Err(e) = attr.parse_nested_meta(|meta| f(&meta)) {
            cx.syn_error(e);
        }
    }
}

fn parse_width(meta: &ParseNestedMeta, what: &str) -> syn::Result<(IntWidth, TokenStream)> {
    let value = meta.value()?;
    let ty: Type = value.parse()?;
    let width = match ty.to_token_stream().to_string().as_str() {
        "u8" => IntWidth::U8,
        "u16" => IntWidth::U16,
        "u32" => IntWidth::U32,
        other => {
            return Err(syn::Error::new_spanned(
                &ty,
                format!("{what} must be `u8`, `u16` or `u32`, not `{other}`"),
            ))
        }
    };
    Ok((width, ty.into_token_stream()))
}

fn parse_endian(meta: &ParseNestedMeta) -> syn::Result<(Endian, TokenStream)> {
    let lit: LitStr = meta.value()?.parse()?;
    let endian = match lit.value().as_str() {
        "little" => Endian::Little,
        "big" => Endian::Big,
        other => {
            return Err(syn::Error::new_spanned(
                &lit,
                format!("endian must be \"little\" or \"big\", not \"{other}\""),
            ))
        }
    };
    Ok((endian, lit.into_token_stream()))
}

fn parse_id(meta: &ParseNestedMeta) -> syn::Result<(u64, TokenStream)> {
    let lit: LitInt = meta.value()?.parse()?;
    let id = lit.base10_parse::<u64>().map_err(|_| {
        syn::Error::new_spanned(&lit, "a message id must be a non-negative integer")
    })?;
    Ok((id, lit.into_token_stream()))
}

/// A path given as a string, with the literal's span re-applied to every token.
pub(crate) fn parse_path_str(lit: &LitStr) -> syn::Result<Path> {
    let path: Path = lit.parse()?;
    syn::parse2(respan(path.into_token_stream(), lit.span()))
}

/// Gives every token of `tokens` the span `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                t = proc_macro2::TokenTree::Group(group);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

impl Container {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut id_type = Slot::new(cx, WIRE_ATTR, ID_TYPE);
        let mut endian = Slot::new(cx, WIRE_ATTR, ENDIAN);
        let mut len = Slot::new(cx, WIRE_ATTR, LEN);
        let mut id = Slot::new(cx, WIRE_ATTR, ID);
        let mut json = Slot::new(cx, WIRE_ATTR, JSON);
        let mut krate = Slot::new(cx, WIRE_ATTR, CRATE);
        each_key(cx, attrs, WIRE, |meta| {
            if meta.path.is_ident(ID_TYPE) {
                let (w, t) = parse_width(meta, "the id type")?;
                id_type.set(t, w);
            } else if meta.path.is_ident(ENDIAN) {
                let (e, t) = parse_endian(meta)?;
                endian.set(t, e);
            } else if meta.path.is_ident(LEN) {
                let (w, t) = parse_width(meta, "a length prefix")?;
                len.set(t, w);
            } else if meta.path.is_ident(ID) {
                let (v, t) = parse_id(meta)?;
                id.set(t, v);
            } else if meta.path.is_ident(JSON) {
                json.set(&meta.path, ());
            } else if meta.path.is_ident(CRATE) {
                let lit: LitStr = meta.value()?.parse()?;
                krate.set(&lit, parse_path_str(&lit)?);
            } else {
                return Err(unknown(meta, CONTAINER_KEYS));
            }
            Ok(())
        });
        Container {
            id_type: id_type.get(),
            endian: endian.get(),
            len: len.get(),
            id: id.get(),
            json: json.get(),
            krate: krate.get().map(|k| k.value),
        }
    }
}

impl Variant {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut id = Slot::new(cx, WIRE_ATTR, ID);
        let mut catch_all = Slot::new(cx, WIRE_ATTR, CATCH_ALL);
        let mut replies = Vec::new();
        let mut role: Option<Given<Role>> = None;
        each_key(cx, attrs, WIRE, |meta| {
            if meta.path.is_ident(ID) {
                let (v, t) = parse_id(meta)?;
                id.set(t, v);
            } else if meta.path.is_ident(CATCH_ALL) {
                catch_all.set(&meta.path, ());
            } else if meta.path.is_ident(REPLY) {
                let path: Path = meta.value()?.parse()?;
                replies.push(Given {
                    tokens: path.to_token_stream(),
                    value: path,
                });
            } else if let Some(r) = [Role::Hello, Role::Reject, Role::Ping, Role::Pong]
                .into_iter()
                .find(|r| meta.path.is_ident(r.name()))
            {
                match &role {
                    Some(first) => cx.error_spanned_by(
                        &meta.path,
                        if first.value == r {
                            format!("duplicate wire attribute `{}`", r.name())
                        } else {
                            format!(
                                "a variant plays one part: it is `{}` already, so it cannot be `{}` too",
                                first.value.name(),
                                r.name()
                            )
                        },
                    ),
                    None => {
                        role = Some(Given {
                            value: r,
                            tokens: meta.path.to_token_stream(),
                        })
                    }
                }
            } else {
                return Err(unknown(meta, VARIANT_KEYS));
            }
            Ok(())
        });
        Variant {
            id: id.get(),
            catch_all: catch_all.get(),
            replies,
            role,
        }
    }
}

impl Field {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut endian = Slot::new(cx, WIRE_ATTR, ENDIAN);
        let mut len = Slot::new(cx, WIRE_ATTR, LEN);
        let mut rest = Slot::new(cx, WIRE_ATTR, REST);
        let mut skip = Slot::new(cx, WIRE_ATTR, SKIP);
        let mut default = Slot::new(cx, WIRE_ATTR, DEFAULT);
        let mut with = Slot::new(cx, WIRE_ATTR, WITH);
        let mut correlation = Slot::new(cx, WIRE_ATTR, CORRELATION);
        let mut version = Slot::new(cx, WIRE_ATTR, VERSION);
        let mut reason = Slot::new(cx, WIRE_ATTR, REASON);
        let mut protocol = Slot::new(cx, WIRE_ATTR, PROTOCOL);
        each_key(cx, attrs, WIRE, |meta| {
            if meta.path.is_ident(ENDIAN) {
                let (e, t) = parse_endian(meta)?;
                endian.set(t, e);
            } else if meta.path.is_ident(LEN) {
                let (w, t) = parse_width(meta, "a length prefix")?;
                len.set(t, w);
            } else if meta.path.is_ident(REST) {
                rest.set(&meta.path, ());
            } else if meta.path.is_ident(SKIP) {
                skip.set(&meta.path, ());
            } else if meta.path.is_ident(DEFAULT) {
                let path: Path = meta.value()?.parse()?;
                default.set(&path, path.clone());
            } else if meta.path.is_ident(WITH) {
                let path: Path = meta.value()?.parse()?;
                with.set(&path, path.clone());
            } else if meta.path.is_ident(CORRELATION) {
                correlation.set(&meta.path, ());
            } else if meta.path.is_ident(VERSION) {
                version.set(&meta.path, ());
            } else if meta.path.is_ident(REASON) {
                reason.set(&meta.path, ());
            } else if meta.path.is_ident(PROTOCOL) {
                protocol.set(&meta.path, ());
            } else {
                return Err(unknown(meta, FIELD_KEYS));
            }
            Ok(())
        });
        Field {
            endian: endian.get(),
            len: len.get(),
            rest: rest.get(),
            skip: skip.get(),
            default: default.get(),
            with: with.get(),
            correlation: correlation.get(),
            version: version.get(),
            reason: reason.get(),
            protocol: protocol.get(),
        }
    }
}

/// `#[peer(recv = T, send = U, name = "...", crate = "...")]`.
pub(crate) struct PeerAttrs {
    pub(crate) recv: Option<Type>,
    pub(crate) send: Option<Type>,
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<Path>,
}

impl PeerAttrs {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut recv = Slot::new(cx, PEER_ATTR, RECV);
        let mut send = Slot::new(cx, PEER_ATTR, SEND);
        let mut name = Slot::new(cx, PEER_ATTR, NAME);
        let mut krate = Slot::new(cx, PEER_ATTR, CRATE);
        each_key(cx, attrs, PEER, |meta| {
            if meta.path.is_ident(RECV) {
                let ty: Type = meta.value()?.parse()?;
                recv.set(&ty, ty.clone());
            } else if meta.path.is_ident(SEND) {
                let ty: Type = meta.value()?.parse()?;
                send.set(&ty, ty.clone());
            } else if meta.path.is_ident(NAME) {
                let lit: LitStr = meta.value()?.parse()?;
                name.set(&lit, lit.clone());
            } else if meta.path.is_ident(CRATE) {
                let lit: LitStr = meta.value()?.parse()?;
                krate.set(&lit, parse_path_str(&lit)?);
            } else {
                let key = meta.path.to_token_stream().to_string();
                return Err(meta.error(format!(
                    "unknown peer attribute `{key}`; expected {}",
                    list(PEER_KEYS)
                )));
            }
            Ok(())
        });
        PeerAttrs {
            recv: recv.get().map(|s| s.value),
            send: send.get().map(|s| s.value),
            name: name.get().map(|s| s.value),
            krate: krate.get().map(|s| s.value),
        }
    }
}

/// The runtime crate's path: `::connhandler` unless `crate = "..."` says otherwise.
pub(crate) fn krate(path: Option<&Path>) -> TokenStream {
    match path {
        Some(p) => p.to_token_stream(),
        None => quote::quote!(::connhandler),
    }
}
