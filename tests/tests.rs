//! kith's integration tests: the real binary, driven as a user drives it.
//! One test binary (see `[[test]]` in Cargo.toml), one module per theme.

mod authoring;
mod backup;
mod conformance;
mod courier;
mod create;
mod credentials;
mod dropin;
mod hardening;
mod harness;
mod hostile;
mod import;
mod invite;
mod languages;
mod library;
mod manage;
mod mapping;
mod migration;
mod page;
mod plugins;
mod readme;
mod remote;
mod schema;
mod serve;
mod store;
mod upsert;
mod verify;
