//! Text handling for Chinese addresses.

pub mod normalize;
