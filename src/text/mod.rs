//! Text handling for Chinese addresses.

pub mod address_text;
pub mod normalize;
pub mod lexicon;
pub mod parse;
