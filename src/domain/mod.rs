//! Plain domain types with no I/O.

pub mod address;
pub mod boundary;
pub mod code;
pub mod division;
pub mod doorplate;
