//! Hardening: no request, file or plugin can crash kith, exhaust it, or leak a secret.
//! One module per class of fault; each test drives the real binary or server and is named
//! after the defect it pins.

mod credentials;
mod documents;
mod hashes;
mod import;
mod open;
mod plugins;
mod schemas;
mod secrets;
mod server;
