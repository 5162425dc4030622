//! Plain domain types with no I/O.

pub mod address;
pub mod code;
pub mod division;
pub mod doorplate;
