//! In-memory indexes built from the store at start-up.

pub mod divisions;
pub mod addresses;
