//! The doorplate token verifier on any text.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|input: (&str, i64)| checks::plate_token(input.0, input.1));
