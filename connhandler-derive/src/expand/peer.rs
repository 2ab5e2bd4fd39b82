//! `#[derive(Peer)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{spanned::Spanned, DeriveInput};

use crate::{
    attr::{self, PeerAttrs},
    ctxt::Ctxt,
};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = PeerAttrs::from_attrs(&cx, &input.attrs);
    let ident = &input.ident;
    let krate = attr::krate(attrs.krate.as_ref());
    if attrs.recv.is_none() || attrs.send.is_none() {
        let missing = match (&attrs.recv, &attrs.send) {
            (None, None) => "`recv` and `send`",
            (None, Some(_)) => "`recv`",
            _ => "`send`",
        };
        cx.error_spanned_by(
            ident,
            format!(
                "#[derive(Peer)] needs {missing}: #[peer(recv = MessageIn, send = MessageOut)], the message types this kind of connection receives and sends"
            ),
        );
    }
    let bytes = quote!(#krate::__private_v0_1::Bytes);
    let recv = attrs
        .recv
        .as_ref()
        .map_or(bytes.clone(), |t| quote_spanned!(t.span()=> #t));
    let send = attrs
        .send
        .as_ref()
        .map_or(bytes, |t| quote_spanned!(t.span()=> #t));
    let name = match &attrs.name {
        Some(lit) => quote!(#lit),
        None => {
            let s = ident.to_string();
            quote!(#s)
        }
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let errors = cx.check().err().map(syn::Error::into_compile_error);
    quote! {
        #errors
        #[automatically_derived]
        impl #impl_generics #krate::__private_v0_1::Peer for #ident #ty_generics #where_clause {
            type Recv = #recv;
            type Send = #send;
            const NAME: &'static str = #name;
        }
    }
}
