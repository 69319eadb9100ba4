//! kith's integration tests: the real binary, driven as a user drives it.
//! One test binary (see `[[test]]` in Cargo.toml), one module per theme.
//! Unix only: they check mode bits, plant symlinks and read /proc (scripts/check-windows
//! checks that the rest of kith builds for Windows).
#![cfg(unix)]

mod authoring;
mod backup;
mod conformance;
mod courier;
mod create;
mod credentials;
mod dist;
mod dropin;
mod hardening;
mod harness;
mod hostile;
mod import;
mod invite;
mod languages;
mod library;
mod manage;
mod mappers;
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
