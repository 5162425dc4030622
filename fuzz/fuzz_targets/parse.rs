//! The address parser with the national lexicon and the shipped model, on any text.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|text: &str| checks::parse(text));
