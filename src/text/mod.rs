//! Text handling for Chinese addresses.

pub mod address_text;
pub mod lexicon;
pub mod normalize;
pub mod parse;
