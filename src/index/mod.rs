//! In-memory indexes built from the store at start-up.

pub mod addresses;
pub mod divisions;
pub mod points;
mod polygon_cells;
pub mod polygons;
