//! A kith invite-delivery plugin: kith calls `deliver` for each invite and carries out the
//! plan it returns. This one plans one text file for kith's outbox folder (the capability
//! `outbox:write`, granted at install), holding the link and the code.

wit_bindgen::generate!({
    path: "wit",
    world: "invite-delivery",
    generate_all,
});

mod kit;

use exports::kith::plugin::delivery::{Guest, Invite, OutboxFile, Plan};
use kith::plugin::types::CallContext;

struct Plugin;

impl Guest for Plugin {
    fn deliver(ctx: CallContext, invite: Invite) -> Result<Plan, String> {
        kit::install_panic_hook();
        if invite.recipient.trim().is_empty() {
            // An error is a failed delivery: kith records it and the invite can be resent.
            return Err("the invite has no recipient".into());
        }
        let greeting = kit::config(&ctx.config, "greeting").unwrap_or("Hello");
        let body = format!(
            "To: {}\n\n{greeting},\n\nopen {} to set your password, or enter the code {}.\n",
            invite.recipient, invite.recovery_link, invite.recovery_code
        );
        // A bare file name: no separators, no leading dot (kith refuses anything else).
        let name = format!("invite-{}-{}.txt", ctx.now_unix_ms, safe(&invite.recipient));
        kit::info!("planned {name} for {}", invite.recipient);
        Ok(Plan::Outbox(vec![OutboxFile {
            name,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into_bytes(),
        }]))
    }
}

/// `text` with anything but letters, digits, `@`, `.`, `-` and `_` replaced by `_`.
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '@' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

export!(Plugin);
