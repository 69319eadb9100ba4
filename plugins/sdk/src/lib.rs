//! kith-plugin-sdk: what every kith plugin needs besides its own world's bindings.
//!
//! - [`bindings`]: the host's `kith:plugin/log@0.1.0` import, generated once here so every
//!   plugin shares it (pass it to your `generate!` with `with`, see below); [`bindings_v0_2`]
//!   and [`v0_2`] are the same for the 0.2.0 contract (see the end of this page);
//! - [`debug!`], [`info!`], [`warn!`], [`error!`]: `format!`-style logging to the host;
//! - [`install_panic_hook`]: sends a panic's message and location to the host before the
//!   plugin traps, so kith's error names what went wrong instead of "unreachable";
//! - [`config`]: look a key up in the call context's config;
//! - [`mapper`]: for import mappers, config keys that map a source field to a body pointer
//!   (`"/traits/email" = "Email"`), a JSON-pointer writer and yes/no cells;
//! - [`template`] and [`time`]: an invite's `{{placeholders}}` filled into templates (HTML
//!   escaped where asked), header checks, RFC 3339 and RFC 5322 dates, for delivery plugins.
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
//!
//! ## `kith:plugin@0.2.0` (`api = "0.2"`): e-mail and HTTP delivery
//!
//! Contract 0.2.0 (`plugins/wit-0.2`) lets an invite-delivery plugin's plan also be
//! `email(email-message)`, which the host sends through its SMTP relay (capability
//! `email:send`; an empty `sender` is the host's `courier.smtp.from_address`), or
//! `http(http-post)`, a JSON POST the host makes to a URL `courier.http.allowed_urls`
//! allows (capability `http:post`; the host sets `Content-Type`). The rest is as in 0.1.0,
//! and 0.1.0 plugins keep loading. A 0.2.0 plugin binds the 0.2.0 world and takes its log
//! from [`bindings_v0_2`], and logs with [`v0_2`]'s macros and panic hook (the 0.1.0 ones
//! above would import `kith:plugin/log@0.1.0` as well):
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "../wit-0.2",
//!     world: "invite-delivery",
//!     with: { "kith:plugin/log@0.2.0": kith_plugin_sdk::bindings_v0_2::kith::plugin::log },
//!     generate_all,
//! });
//! use exports::kith::plugin::delivery::{EmailMessage, Guest, Invite, Plan};
//! use kith_plugin_sdk::template::Escape;
//!
//! struct Plugin;
//! impl Guest for Plugin {
//!     fn deliver(ctx: kith::plugin::types::CallContext, invite: Invite) -> Result<Plan, String> {
//!         kith_plugin_sdk::v0_2::install_panic_hook();
//!         let vars = kith_plugin_sdk::invite_vars!(invite);
//!         kith_plugin_sdk::v0_2::info!("mailing {}", invite.recipient);
//!         Ok(Plan::Email(EmailMessage {
//!             sender: String::new(),
//!             to: invite.recipient.clone(),
//!             subject: "You are invited".into(),
//!             text: vars.fill("Open {{recovery_link}} or enter {{recovery_code}}.", Escape::None),
//!             html: None,
//!             headers: Vec::new(),
//!         }))
//!     }
//! }
//! export!(Plugin);
//! ```

/// The `kith:plugin/log@0.1.0` import (world `sdk` of `plugins/wit`).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sdk",
        pub_export_macro: false,
    });
}

/// The `kith:plugin/log@0.2.0` import (world `sdk` of `plugins/wit-0.2`), for plugins of
/// the 0.2.0 contract: pass it to your `generate!` with `with`, and log through [`v0_2`].
pub mod bindings_v0_2 {
    wit_bindgen::generate!({
        path: "../wit-0.2",
        world: "sdk",
        pub_export_macro: false,
    });
}

pub mod mapper;
pub mod template;
pub mod time;

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
    route_panics(&INSTALLED, |line| log(Level::Error, line));
}

/// Sets, once, a panic hook that hands `report` the line `panic: <message> at <file:line>`.
fn route_panics(once: &'static std::sync::Once, report: fn(&str)) {
    once.call_once(|| {
        std::panic::set_hook(Box::new(move |info| {
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
            report(&format!("panic: {message}{place}"));
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

/// Logging for plugins of the `kith:plugin@0.2.0` contract, through
/// `kith:plugin/log@0.2.0` ([`bindings_v0_2`]): the same calls as the crate root's.
///
/// ```ignore
/// kith_plugin_sdk::v0_2::install_panic_hook();
/// kith_plugin_sdk::v0_2::info!("rendered {} bytes", text.len());
/// ```
pub mod v0_2 {
    pub use crate::bindings_v0_2::kith::plugin::log::Level;
    #[doc(inline)]
    pub use crate::{
        __debug_v0_2 as debug, __error_v0_2 as error, __info_v0_2 as info, __warn_v0_2 as warn,
    };

    /// Sends one line to the host's log. Long lines are cut by the host, not here.
    pub fn log(level: Level, message: &str) {
        crate::bindings_v0_2::kith::plugin::log::log(level, message);
    }

    /// Routes panics to the host's log at `error` level, as the crate root's
    /// [`install_panic_hook`](crate::install_panic_hook) does.
    pub fn install_panic_hook() {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        crate::route_panics(&INSTALLED, |line| log(Level::Error, line));
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __debug_v0_2 {
    ($($arg:tt)*) => { $crate::v0_2::log($crate::v0_2::Level::Debug, &::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __info_v0_2 {
    ($($arg:tt)*) => { $crate::v0_2::log($crate::v0_2::Level::Info, &::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __warn_v0_2 {
    ($($arg:tt)*) => { $crate::v0_2::log($crate::v0_2::Level::Warn, &::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __error_v0_2 {
    ($($arg:tt)*) => { $crate::v0_2::log($crate::v0_2::Level::Error, &::std::format!($($arg)*)) };
}
