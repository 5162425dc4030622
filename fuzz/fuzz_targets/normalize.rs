//! The address normaliser and the component canonicaliser on any text.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|text: &str| checks::normalize(text));
