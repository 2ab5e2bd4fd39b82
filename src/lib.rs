//! The workspace root package: it owns the workspace-level `tests/` and `examples/`, and
//! compiles README.md's code blocks as doctests so that the README stays true.

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
