//! hostile-migration: a password-migration plugin that answers or misbehaves on request,
//! for kith's tests. The `mode` config picks what it does; the panic and the error repeat
//! the secrets on purpose, so the tests can check that kith never shows them.

wit_bindgen::generate!({
    path: "../wit",
    world: "password-migration",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::migration::{Attempt, Guest, Verdict};
use kith::plugin::types::CallContext;
use std::hint::black_box;

struct Probe;

impl Guest for Probe {
    fn verify(ctx: CallContext, attempt: Attempt) -> Result<Verdict, String> {
        kith_plugin_sdk::install_panic_hook();
        match kith_plugin_sdk::config(&ctx.config, "mode").unwrap_or("match") {
            "match" => Ok(Verdict::PasswordMatch),
            "no-match" => Ok(Verdict::NoMatch),
            "panic" => panic!(
                "the probe panicked holding the password {}",
                attempt.password
            ),
            "error" => Err(format!(
                "cannot read the legacy hash {}",
                attempt.legacy_hash
            )),
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            other => Err(format!("unknown mode {other}")),
        }
    }
}

export!(Probe);
