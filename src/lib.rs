//! 一址通 (yizhitong): the standard place-name and address registry of civil-affairs
//! departments, with matching, geocoding, digital doorplates and boundary inspection.
//!
//! Data flows one way: reference data and the registry (store) → in-memory indexes →
//! engines → HTTP and CLI.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod batch;
pub mod config;
pub mod domain;
pub mod doorplate;
pub mod error;
pub mod evaluation;
pub mod geo;
pub mod geocoding;
pub mod index;
pub mod inspection;
pub mod limits;
pub mod matching;
mod prefetch;
pub mod reference;
pub mod registry;
pub mod store;
pub mod text;
