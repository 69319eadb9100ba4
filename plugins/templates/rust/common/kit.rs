//! What every kith plugin needs besides its world's bindings: logging to kith, a panic hook
//! that tells kith what went wrong, and config lookups. (kith's own plugins get the same from
//! its plugin SDK, which is not published; this file is that SDK's core, yours to change.)

use crate::kith::plugin::log::{Level, log};

/// Sends one line to kith's log (`kith run plugin` shows it). Long lines are cut by kith.
pub fn log_line(level: Level, message: &str) {
    log(level, message);
}

/// Logs at `debug` level, `format!`-style: `debug!("x = {x}")`.
#[allow(unused_macros)]
macro_rules! log_debug {
    ($($arg:tt)*) => { $crate::kit::log_line($crate::kith::plugin::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at `info` level.
#[allow(unused_macros)]
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::kit::log_line($crate::kith::plugin::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at `warn` level.
#[allow(unused_macros)]
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::kit::log_line($crate::kith::plugin::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at `error` level.
#[allow(unused_macros)]
macro_rules! log_error {
    ($($arg:tt)*) => { $crate::kit::log_line($crate::kith::plugin::log::Level::Error, &::std::format!($($arg)*)) };
}

// Renamed on the way out: a macro defined as `warn` or `error` clashes with the attributes.
#[allow(unused_imports)]
pub(crate) use {log_debug as debug, log_error as error, log_info as info, log_warn as warn};

/// Routes panics to kith's log at `error` level, as `panic: <message> at <file:line>`, so
/// kith's error names what went wrong instead of "unreachable". Call it first thing in every
/// export; calling it again is harmless.
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

/// The value of `key` in the call's config (plugin.toml's `[config]`, as changed with
/// `kith install plugin --config KEY=VALUE` or `kith configure plugin`), if set.
#[allow(dead_code)]
pub fn config<'a>(config: &'a [(String, String)], key: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// A comma-separated config value as trimmed, non-empty items (`"a, b"` → `a`, `b`).
#[allow(dead_code)]
pub fn config_list(config: &[(String, String)], key: &str) -> Vec<String> {
    self::config(config, key)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}
