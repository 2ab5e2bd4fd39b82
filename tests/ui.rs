//! Compile-checked protocols: every bad protocol is a compile error with a span and a fix,
//! and the macros work with no imports, under a renamed crate and with generics.
//!
//! The `.stderr` files follow the compiler version CI uses; regenerate them with
//! `TRYBUILD=overwrite cargo test --test ui` after a toolchain update, and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/message/*.rs");
    t.compile_fail("tests/ui/peer/*.rs");
    t.compile_fail("tests/ui/handler/*.rs");
    t.compile_fail("tests/ui/talk/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
