//! One expand module per macro; each sees only validated input.

pub(crate) mod handler;
pub(crate) mod message;
pub(crate) mod peer;
