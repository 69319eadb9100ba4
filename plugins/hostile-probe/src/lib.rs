//! hostile-probe: a trait validator that misbehaves on request, for kith's hostile tests.
//!
//! The `mode` config picks the misbehaviour; `ok` accepts everything. Each mode tries one
//! thing a plugin must not get away with; kith must end the call in a typed error and stay up.

wit_bindgen::generate!({
    path: "../wit",
    world: "trait-validator",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::validator::Guest;
use kith::plugin::types::{CallContext, FieldError};
use std::hint::black_box;

struct Probe;

impl Guest for Probe {
    fn validate(ctx: CallContext, _schema: String, _traits: String) -> Result<(), Vec<FieldError>> {
        kith_plugin_sdk::install_panic_hook();
        let mode = kith_plugin_sdk::config(&ctx.config, "mode").unwrap_or("ok");
        match mode {
            "ok" => Ok(()),
            "panic" => panic!("the probe panicked on purpose"),
            "stderr-panic" => {
                // Rust's default hook, as a plugin without the SDK has: the message reaches
                // the host only through stderr, one line after another.
                drop(std::panic::take_hook());
                panic!("first line\nsecond line\nthird line")
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                // Capacity only: growing memory is the point, not the fuel spent filling it.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(Vec::with_capacity(1 << 20)));
                }
            }
            "recursion" => {
                // The depth comes from the input so the optimizer cannot bound it.
                black_box(recurse(ctx.now_unix_ms as u32 | 1 << 30, 1));
                Ok(())
            }
            "huge-output" => Err((0..20_000)
                .map(|i| FieldError {
                    pointer: format!("/field{i}"),
                    code: "too_many".into(),
                    message: "x".repeat(64),
                })
                .collect()),
            "many-errors" => Err((0..2_000)
                .map(|i| FieldError {
                    pointer: format!("/f{i}"),
                    code: "x".into(),
                    message: "x".into(),
                })
                .collect()),
            "long-line" => {
                kith_plugin_sdk::warn!("{}", "y".repeat(10_000));
                Ok(())
            }
            "log-flood" => loop {
                kith_plugin_sdk::info!("flooding the host's log");
            },
            "stderr-flood" => loop {
                eprintln!("flooding the host's stderr with a line of text");
            },
            "read-file" => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => Err(leak("/etc/passwd", &text)),
                Err(e) => panic!("reading /etc/passwd was denied: {e}"),
            },
            "read-env" => {
                let vars: Vec<(String, String)> = std::env::vars().collect();
                match std::env::var("HOME") {
                    Ok(home) => Err(leak("$HOME", &home)),
                    Err(e) => panic!("reading $HOME was denied: {e} ({} variables)", vars.len()),
                }
            }
            other => Err(vec![FieldError {
                pointer: String::new(),
                code: "unknown_mode".into(),
                message: format!("unknown mode {other}"),
            }]),
        }
    }
}

fn leak(what: &str, text: &str) -> Vec<FieldError> {
    vec![FieldError {
        pointer: String::new(),
        code: "leaked".into(),
        message: format!(
            "read {what}: {}",
            text.chars().take(200).collect::<String>()
        ),
    }]
}

/// Recursion whose frames live on the wasm stack (no locals in linear memory), and whose
/// result depends on the inner call non-linearly, so it cannot become a loop.
#[inline(never)]
fn recurse(depth: u32, acc: u64) -> u64 {
    if depth == 0 {
        return acc;
    }
    let inner = recurse(
        depth - 1,
        acc.wrapping_mul(31).wrapping_add(u64::from(depth)),
    );
    inner.rotate_left(depth % 7) ^ acc
}

export!(Probe);
