//! hostile-delivery: an invite-delivery plugin that fails on request, for kith's tests.
//!
//! `mode = "trap"` panics (the call traps), `fail` returns an error, and `file` plans one
//! outbox file named by the `name` config, which the tests set to path tricks.

wit_bindgen::generate!({
    path: "../wit",
    world: "invite-delivery",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::delivery::{Guest, Invite, OutboxFile, Plan};
use kith::plugin::types::CallContext;
use kith_plugin_sdk::config;

struct Hostile;

impl Guest for Hostile {
    fn deliver(ctx: CallContext, invite: Invite) -> Result<Plan, String> {
        kith_plugin_sdk::install_panic_hook();
        match config(&ctx.config, "mode").unwrap_or("trap") {
            "fail" => Err("the mail relay is down (on purpose)".into()),
            "file" => Ok(Plan::Outbox(vec![OutboxFile {
                name: config(&ctx.config, "name")
                    .unwrap_or("invite.eml")
                    .to_string(),
                content_type: "message/rfc822".into(),
                body: invite.recovery_link.into_bytes(),
            }])),
            _ => panic!("the delivery plugin trapped on purpose"),
        }
    }
}

export!(Hostile);
