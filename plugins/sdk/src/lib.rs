//! kith-plugin-sdk: what every kith plugin needs besides its own world's bindings.
//!
//! - [`bindings`]: the host's `kith:plugin/log` import, generated once here so every plugin
//!   shares it (pass it to your `generate!` with `with`, see below);
//! - [`debug!`], [`info!`], [`warn!`], [`error!`]: `format!`-style logging to the host;
//! - [`install_panic_hook`]: sends a panic's message and location to the host before the
//!   plugin traps, so kith's error names what went wrong instead of "unreachable";
//! - [`config`]: look a key up in the call context's config.
//!
//! A validator, start to finish:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "../wit",            // kith's plugins/wit, copied or referenced
//!     world: "trait-validator",
//!     with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
//!     generate_all,
//! });
//! use exports::kith::plugin::validator::Guest;
//! use kith::plugin::types::{CallContext, FieldError};
//!
//! struct Plugin;
//! impl Guest for Plugin {
//!     fn validate(ctx: CallContext, schema_id: String, traits: String) -> Result<(), Vec<FieldError>> {
//!         kith_plugin_sdk::install_panic_hook();
//!         kith_plugin_sdk::info!("checking {schema_id}");
//!         Ok(())
//!     }
//! }
//! export!(Plugin);
//! ```
//!
//! Plugins are pure: no clock (use `now_unix_ms` from the context), no environment, no
//! files, no network. The host gives each call a fresh instance under fuel, memory and time
//! limits; a log flood or an oversized result ends the call with an error.

/// The `kith:plugin/log` import (world `sdk` of `plugins/wit`).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sdk",
        pub_export_macro: false,
    });
}

pub use bindings::kith::plugin::log::Level;

/// Sends one line to the host's log. Long lines are cut by the host, not here.
pub fn log(level: Level, message: &str) {
    bindings::kith::plugin::log::log(level, message);
}

/// The value of `key` in a call context's config, if set.
pub fn config<'a>(config: &'a [(String, String)], key: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// A comma-separated config value as trimmed, non-empty items (`"a.org, b.org"` → both).
pub fn config_list(config: &[(String, String)], key: &str) -> Vec<String> {
    self::config(config, key)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// Routes panics to the host's log at `error` level, as `panic: <message> at <file:line>`.
///
/// Call it first thing in every export; installing it twice is harmless.
pub fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = if let Some(text) = info.payload().downcast_ref::<&str>() {
                (*text).to_string()
            } else if let Some(text) = info.payload().downcast_ref::<String>() {
                text.clone()
            } else {
                "panic with a non-string payload".to_string()
            };
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            log(Level::Error, &format!("panic: {message}{place}"));
        }));
    });
}

/// Logs at `debug` level: `kith_plugin_sdk::debug!("x = {x}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at `info` level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at `warn` level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at `error` level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($arg)*)) };
}
