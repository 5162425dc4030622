//! The batch reader on any bytes, as CSV and as JSON lines, in either charset.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|input: &[u8]| checks::batch_reader(input));
