//! Collects errors so that the user sees every bad attribute at once. Checked on drop: a
//! context whose errors were never looked at is a bug in this crate (as serde_derive's).

use std::{cell::RefCell, fmt::Display, thread};

use quote::ToTokens;

pub(crate) struct Ctxt {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    fn push(&self, err: syn::Error) {
        match self.errors.borrow_mut().as_mut() {
            Some(errors) => errors.push(err),
            None => unreachable!("an error added to a context already checked"),
        }
    }

    /// An error pointing at `tokens`.
    pub(crate) fn error_spanned_by<A: ToTokens, T: Display>(&self, tokens: A, msg: T) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), msg));
    }

    pub(crate) fn syn_error(&self, err: syn::Error) {
        self.push(err);
    }

    /// All errors combined, if any. Consumes the context.
    pub(crate) fn check(self) -> Result<(), syn::Error> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            // A bug of this crate, not of the user's code: errors would be lost.
            panic!("connhandler-derive: an error context was dropped without being checked");
        }
    }
}
