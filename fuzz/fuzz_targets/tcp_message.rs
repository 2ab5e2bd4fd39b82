//! Fuzz target: see `checks::tcp_message`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tcp_message(data));
