//! kith: an offline identity store in one SQLite file that speaks Ory Kratos' admin API.
//!
//! It runs Kratos' identity administration flows — create identities whose traits are
//! checked against an identity schema, and manage, list and verify them — with Kratos' JSON
//! bodies, responses and errors, on a single file instead of a server farm.
//!
//! Every operation is a method of one trait, [`Admin`]; [`Kith`] implements it on a store,
//! and [`remote::Remote`] on a remote Kratos-compatible admin API (a Kratos, Ory Network, or
//! a `kith serve`).
//! The `cli` and `server` cargo features (on by default) add the `kith` binary and
//! [`http`]; without them the library brings no command-line or HTTP crates.
//!
//! ```
//! use kith::{Admin, Kith, model::CreateIdentityBody};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kith = Kith::open_in_memory()?;
//! let body: CreateIdentityBody = serde_json::from_str(r#"{
//!     "schema_id": "preset://email",
//!     "traits": {"email": "Docs@Example.org"},
//!     "credentials": {"password": {"config": {"password": "correct horse battery staple"}}}
//! }"#)?;
//! let identity = kith.create_identity(body)?;
//! assert_eq!(identity.state.as_str(), "active");
//! assert!(identity.schema_url.ends_with("/schemas/cHJlc2V0Oi8vZW1haWw"));
//!
//! // Identifiers are normalized: any letter case finds the identity.
//! let matched = kith.verify_password("DOCS@example.org", "correct horse battery staple")?;
//! assert_eq!(matched.identity_id, identity.id);
//! # Ok(()) }
//! ```

mod api;
pub mod clock;
mod courier;
pub mod error;
pub mod flows;
mod hex;
#[cfg(feature = "server")]
pub mod http;
pub mod model;
pub mod password;
mod plugin_host;
pub mod remote;
pub mod scaffold;
mod schema;
mod store;

pub use api::Admin;
pub use error::{Error, Result};
pub use flows::Kith;

/// The version of the store's file format this build writes (SQLite's `user_version`).
pub use store::SCHEMA_VERSION as STORE_FORMAT_VERSION;

/// Plugin-host internals for kith's own benchmarks (`benches/plugins.rs`): calling a plugin
/// without a store around it. Not part of the library's interface; it may change at any time.
#[doc(hidden)]
pub mod bench_internals {
    pub use crate::plugin_host::{Kind, Manifest, Plugin, PluginHost, sha256_hex};
}
