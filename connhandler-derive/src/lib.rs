//! Derives and attribute macros for [connhandler](https://docs.rs/connhandler): use them
//! through `connhandler` (`connhandler::Message`, `connhandler::Peer`,
//! `#[connhandler::incoming]`, `#[connhandler::outgoing]`), where they are documented.

#![forbid(unsafe_code)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod symbol;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives the wire codec of a message type; see `connhandler::Message`.
#[proc_macro_derive(Message, attributes(wire))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::message::derive(&input).into()
}

/// Derives `connhandler::Peer` for a peer marker type; see `connhandler::Peer`.
#[proc_macro_derive(Peer, attributes(peer))]
pub fn derive_peer(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::peer::derive(&input).into()
}

/// Declares an incoming handler; see `connhandler::incoming`.
#[proc_macro_attribute]
pub fn incoming(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler::attribute(expand::handler::Kind::Incoming, args.into(), item.into()).into()
}

/// Declares an outgoing handler; see `connhandler::outgoing`.
#[proc_macro_attribute]
pub fn outgoing(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler::attribute(expand::handler::Kind::Outgoing, args.into(), item.into()).into()
}
