//! The conversation impls of a message type: `Correlated` (always), `Request<R>` (when a
//! variant declares `reply = ...`), `Hello` (a `hello` variant) and `Beats` (a `ping` or
//! `pong` variant), each from the validated representation.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::construct;
use crate::{
    ast::{Body, Container, Field, Variant},
    attr::Role,
};

/// Every conversation impl the type declares.
pub(super) fn impls(cont: &Container, p: &TokenStream) -> TokenStream {
    let ident = cont.ident;
    let (impl_generics, ty_generics, where_clause) = cont.generics.split_for_impl();
    let head = |tr: TokenStream| quote!(#[automatically_derived] impl #impl_generics #tr for #ident #ty_generics #where_clause);
    let correlated = head(quote!(#p::talk::Correlated));
    let correlation = correlation_body(cont, p);
    let mut out = quote! {
        #correlated {
            #[allow(unused_variables)]
            fn correlation(&self) -> #p::Option<u64> {
                #correlation
            }
        }
    };
    let Body::Enum(variants) = &cont.data else {
        return out;
    };
    out.extend(correlation_marks(cont, variants, p));
    out.extend(request(ident, variants, p, head));
    out.extend(hello(variants, p, head));
    out.extend(beats(variants, p, head));
    out
}

/// For each variant, whether it carries a correlation id, as a hidden constant function of
/// the enum (by the variant's name), so that a request declared elsewhere can check its
/// replies at compile time; a name it does not have is "unknown", which the request's own
/// code reports as a missing variant.
fn correlation_marks(cont: &Container, variants: &[Variant], p: &TokenStream) -> TokenStream {
    let ident = cont.ident;
    let (impl_generics, ty_generics, where_clause) = cont.generics.split_for_impl();
    let arms = variants.iter().map(|v| {
        let name = v.ident.to_string();
        let mark = if correlation_field(&v.fields).is_some() {
            quote!(#p::CORRELATION_SOME)
        } else {
            quote!(#p::CORRELATION_NONE)
        };
        quote! {
            if #p::str_eq(__variant, #name) {
                return #mark;
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics #ident #ty_generics #where_clause {
            #[doc(hidden)]
            pub const fn __connhandler_correlation_of(__variant: &str) -> u8 {
                #(#arms)*
                #p::CORRELATION_UNKNOWN
            }
        }
    }
}

/// The field marked `#[wire(correlation)]`, if any.
fn correlation_field<'a>(fields: &'a [Field<'a>]) -> Option<&'a Field<'a>> {
    fields.iter().find(|f| f.attrs.correlation.is_some())
}

fn correlation_body(cont: &Container, p: &TokenStream) -> TokenStream {
    match &cont.data {
        Body::Struct(_, fields) => match correlation_field(fields) {
            Some(f) => {
                let (m, ty) = (&f.member, f.ty);
                quote_spanned!(ty.span()=> #p::Some(<#ty as #p::talk::CorrelationField>::id(&self.#m)))
            }
            None => quote!(#p::None),
        },
        Body::Enum(variants) => {
            let arms = variants.iter().filter_map(|v| {
                let f = correlation_field(&v.fields)?;
                let (ident, m, ty) = (v.ident, &f.member, f.ty);
                Some(quote_spanned!(ty.span()=> Self::#ident { #m: __c, .. } => #p::Some(<#ty as #p::talk::CorrelationField>::id(__c)),))
            });
            quote! {
                #[allow(unreachable_patterns)]
                match self {
                    #(#arms)*
                    _ => #p::None,
                }
            }
        }
    }
}

fn request(
    enum_ident: &syn::Ident,
    variants: &[Variant],
    p: &TokenStream,
    head: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let requests: Vec<&Variant> = variants
        .iter()
        .filter(|v| !v.attrs.replies.is_empty())
        .collect();
    let Some(first) = requests.first() else {
        return quote!();
    };
    // Validated: every reply path names a variant of one enum; that enum is the path
    // without its last segment (keeping the user's spans).
    let full = &first.attrs.replies[0].value;
    let mut reply_enum = full.clone();
    reply_enum.segments = full
        .segments
        .iter()
        .take(full.segments.len() - 1)
        .cloned()
        .collect();
    let pairing_arms = requests.iter().map(|v| {
        let ident = v.ident;
        let pats = v.attrs.replies.iter().map(|r| {
            let path = &r.value;
            quote_spanned!(r.tokens.span()=> #path { .. })
        });
        let by = if correlation_field(&v.fields).is_some() {
            quote!(#p::talk::By::Correlation)
        } else {
            quote!(#p::talk::By::Order)
        };
        quote! {
            Self::#ident { .. } => #p::Some(#p::talk::Pairing {
                answers: |__r: &#reply_enum| ::core::matches!(__r, #(#pats)|*),
                by: #by,
            }),
        }
    });
    let set_arms = requests.iter().filter_map(|v| {
        let f = correlation_field(&v.fields)?;
        let (ident, m, ty) = (v.ident, &f.member, f.ty);
        Some(quote_spanned! {ty.span()=>
            Self::#ident { #m: __c, .. } => {
                *__c = <#ty as #p::talk::CorrelationField>::from_id(__id);
                #p::talk::CorrelationField::id(__c)
            }
        })
    });
    // A request and its replies carry a correlation id together, or none of them does:
    // checked against the reply enum's marks, at compile time.
    let checks = requests.iter().flat_map(|v| {
        let correlated = correlation_field(&v.fields).is_some();
        let request = format!("{enum_ident}::{}", v.ident);
        v.attrs.replies.iter().map(move |r| {
            let path = &r.value;
            let Some(last) = path.segments.last() else {
                return quote!();
            };
            let mut enum_path = path.clone();
            enum_path.segments = path
                .segments
                .iter()
                .take(path.segments.len() - 1)
                .cloned()
                .collect();
            let variant = last.ident.to_string();
            let reply = quote!(#path).to_string().replace(' ', "");
            let (refused, why) = if correlated {
                (
                    quote!(#p::CORRELATION_NONE),
                    format!(
                        "the request `{request}` carries a correlation id (a `#[wire(correlation)]` field), \
                         but its reply `{reply}` has none: add a `#[wire(correlation)]` field to the reply \
                         (the peer copies the request's into it), or drop the request's"
                    ),
                )
            } else {
                (
                    quote!(#p::CORRELATION_SOME),
                    format!(
                        "the reply `{reply}` carries a correlation id (a `#[wire(correlation)]` field), \
                         but its request `{request}` has none: add a `#[wire(correlation)]` field to the \
                         request (`request` writes it), or drop the reply's"
                    ),
                )
            };
            quote_spanned! {r.tokens.span()=>
                const _: () = ::core::assert!(
                    #enum_path::__connhandler_correlation_of(#variant) != #refused,
                    #why
                );
            }
        })
    });
    let checks: Vec<TokenStream> = checks.collect();
    let imp = head(quote!(#p::talk::Request<#reply_enum>));
    quote! {
        #(#checks)*
        #imp {
            fn pairing(&self) -> #p::Option<#p::talk::Pairing<#reply_enum>> {
                #[allow(unreachable_patterns)]
                match self {
                    #(#pairing_arms)*
                    _ => #p::None,
                }
            }

            fn set_correlation(&mut self, __id: u64) -> u64 {
                #[allow(unreachable_patterns)]
                match self {
                    #(#set_arms)*
                    _ => __id,
                }
            }
        }
    }
}

/// The variant that plays `role`, if one does.
fn playing<'a>(variants: &'a [Variant<'a>], role: Role) -> Option<&'a Variant<'a>> {
    variants
        .iter()
        .find(|v| v.attrs.role.as_ref().map(|r| r.value) == Some(role))
}

/// `Self::V { .. }` with each field's value from `value` (a marked field) or its default.
fn build(
    v: &Variant,
    p: &TokenStream,
    value: impl Fn(&Field) -> Option<TokenStream>,
) -> TokenStream {
    let ident = v.ident;
    let values: Vec<TokenStream> = v
        .fields
        .iter()
        .map(|f| value(f).unwrap_or_else(|| quote!(#p::Default::default())))
        .collect();
    construct(quote!(Self::#ident), v.style, &v.fields, &values)
}

fn hello(
    variants: &[Variant],
    p: &TokenStream,
    head: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let Some(hello) = playing(variants, Role::Hello) else {
        return quote!();
    };
    // A field marked `#[wire(protocol)]` gets the messages hash.
    let protocol_value = |f: &Field| {
        let ty = f.ty;
        f.attrs.protocol.as_ref().map(|_| {
            quote_spanned!(ty.span()=> <#ty as #p::talk::ProtocolField>::from_protocol(__protocol))
        })
    };
    let make = build(hello, p, |f| {
        let ty = f.ty;
        f.attrs
            .version
            .as_ref()
            .map(|_| {
                quote_spanned!(ty.span()=> <#ty as #p::talk::VersionField>::from_version(__version))
            })
            .or_else(|| protocol_value(f))
    });
    let ident = hello.ident;
    let version_of = hello.fields.iter().find(|f| f.attrs.version.is_some()).map(|f| {
        let (m, ty) = (&f.member, f.ty);
        quote!(Self::#ident { #m: __v, .. } => #p::Some(<#ty as #p::talk::VersionField>::to_version(__v)),)
    });
    let protocol_arm = |v: &Variant| {
        let f = v.fields.iter().find(|f| f.attrs.protocol.is_some())?;
        let (ident, m, ty) = (v.ident, &f.member, f.ty);
        Some(
            quote!(Self::#ident { #m: __h, .. } => <#ty as #p::talk::ProtocolField>::to_protocol(__h),),
        )
    };
    let mut protocol_of: Vec<TokenStream> = protocol_arm(hello).into_iter().collect();
    let (reject, is_rejection) = match playing(variants, Role::Reject) {
        Some(rejection) => {
            protocol_of.extend(protocol_arm(rejection));
            let make = build(rejection, p, |f| {
                let ty = f.ty;
                if f.attrs.version.is_some() {
                    Some(
                        quote_spanned!(ty.span()=> <#ty as #p::talk::VersionField>::from_version(__ours)),
                    )
                } else if f.attrs.reason.is_some() {
                    Some(
                        quote_spanned!(ty.span()=> <#ty as ::core::convert::From<::std::string::String>>::from(#p::talk::rejection_reason(__ours, __theirs))),
                    )
                } else {
                    protocol_value(f)
                }
            });
            let ident = rejection.ident;
            (
                quote!(#p::Some(#make)),
                quote!(::core::matches!(self, Self::#ident { .. })),
            )
        }
        None => (quote!(#p::None), quote!(false)),
    };
    let imp = head(quote!(#p::talk::Hello));
    quote! {
        #imp {
            fn hello(__version: &#p::talk::Version) -> Self {
                <Self as #p::talk::Hello>::hello_with(__version, 0)
            }

            #[allow(unused_variables)]
            fn hello_with(__version: &#p::talk::Version, __protocol: u64) -> Self {
                #make
            }

            fn hello_version(&self) -> #p::Option<#p::Result<#p::talk::Version, #p::talk::VersionError>> {
                #[allow(unreachable_patterns)]
                match self {
                    #version_of
                    _ => #p::None,
                }
            }

            fn protocol_of(&self) -> #p::Option<u64> {
                #[allow(unreachable_patterns)]
                match self {
                    #(#protocol_of)*
                    _ => #p::None,
                }
            }

            fn reject(__ours: &#p::talk::Version, __theirs: &str) -> #p::Option<Self> {
                <Self as #p::talk::Hello>::reject_with(__ours, __theirs, 0)
            }

            #[allow(unused_variables, clippy::useless_conversion)]
            fn reject_with(__ours: &#p::talk::Version, __theirs: &str, __protocol: u64) -> #p::Option<Self> {
                #reject
            }

            fn is_rejection(&self) -> bool {
                #is_rejection
            }

            fn describe_messages(__types: &mut #p::describe::Types) -> #p::Option<#p::describe::Ty> {
                #p::Some(<Self as #p::Wire>::describe(__types))
            }
        }
    }
}

fn beats(
    variants: &[Variant],
    p: &TokenStream,
    head: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let ping = playing(variants, Role::Ping);
    let pong = playing(variants, Role::Pong);
    if ping.is_none() && pong.is_none() {
        return quote!();
    }
    let make = |v: Option<&Variant>| match v {
        Some(v) => {
            let built = build(v, p, |_| None);
            quote!(#p::Some(#built))
        }
        None => quote!(#p::None),
    };
    let (make_ping, make_pong) = (make(ping), make(pong));
    let arm = |v: Option<&Variant>, beat: TokenStream| {
        v.map(|v| {
            let ident = v.ident;
            quote!(Self::#ident { .. } => #p::Some(#p::talk::Beat::#beat),)
        })
    };
    let (ping_arm, pong_arm) = (arm(ping, quote!(Ping)), arm(pong, quote!(Pong)));
    let imp = head(quote!(#p::talk::Beats));
    quote! {
        #imp {
            fn ping() -> #p::Option<Self> {
                #make_ping
            }

            fn pong() -> #p::Option<Self> {
                #make_pong
            }

            fn beat(&self) -> #p::Option<#p::talk::Beat> {
                #[allow(unreachable_patterns)]
                match self {
                    #ping_arm
                    #pong_arm
                    _ => #p::None,
                }
            }
        }
    }
}
