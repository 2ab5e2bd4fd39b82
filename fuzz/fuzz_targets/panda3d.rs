//! Fuzz target: see `checks::panda3d`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::panda3d(data));
