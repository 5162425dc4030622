//! The integration test binary: the service in-process, on both backends.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod api_addresses;
mod api_compare;
mod api_divisions;
mod api_matching;
mod api_suggest;
mod backup;
mod boundaries;
mod cli;
mod conformance;
mod crash;
mod doorplate_browser;
mod doorplate_scans;
mod doorplates;
mod evaluation;
mod fuzz_checks;
mod geocoding;
mod import_lookahead;
mod inspect;
mod inspection_browser;
mod inspections;
mod limits;
mod live_index;
mod schemathesis;
mod serve;
