//! The stand-in impls emitted beside the errors of an invalid protocol.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::attr;

/// Impls that compile, so that an invalid protocol yields its own errors and not a flood of
/// "trait not implemented" after them.
pub(super) fn fallback(input: &DeriveInput) -> TokenStream {
    let krate = attr::krate(None);
    let p = quote!(#krate::__private_v0_1);
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
            impl #impl_generics #p::talk::Correlated for #ident #ty_generics #where_clause {
                fn correlation(&self) -> #p::Option<u64> { #p::None }
            }
        };
    }
}
