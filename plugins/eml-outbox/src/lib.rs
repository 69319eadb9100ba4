//! eml-outbox: a kith invite-delivery plugin that writes the invite as an `.eml` file.
//!
//! The message is RFC 5322 with a `multipart/alternative` body (text and HTML parts, each
//! UTF-8 in base64), rendered from the `text_template`, `html_template` and `subject` config
//! values. Headers are checked for line breaks so traits cannot inject headers.

wit_bindgen::generate!({
    path: "../wit",
    world: "invite-delivery",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

mod render;

use exports::kith::plugin::delivery::{Guest, Invite, OutboxFile, Plan};
use kith::plugin::types::CallContext;
use kith_plugin_sdk::config;
use kith_plugin_sdk::template::{Escape, single_line};
use kith_plugin_sdk::time::rfc5322_date;

struct EmlOutbox;

impl Guest for EmlOutbox {
    fn deliver(ctx: CallContext, invite: Invite) -> Result<Plan, String> {
        kith_plugin_sdk::install_panic_hook();
        let from = config(&ctx.config, "from").unwrap_or("kith <no-reply@example.invalid>");
        let vars = kith_plugin_sdk::invite_vars!(invite);
        let subject = vars.fill(
            config(&ctx.config, "subject").unwrap_or("You are invited"),
            Escape::None,
        );
        for (header, value) in [
            ("From", from),
            ("To", invite.recipient.as_str()),
            ("Subject", subject.as_str()),
        ] {
            single_line(header, value)?;
        }
        let text = vars.fill(
            config(&ctx.config, "text_template").unwrap_or("{{recovery_link}}"),
            Escape::None,
        );
        let html = vars.fill(
            config(&ctx.config, "html_template")
                .unwrap_or("<a href=\"{{recovery_link}}\">{{recovery_link}}</a>"),
            Escape::Html,
        );
        let boundary = format!("kith-{:x}", ctx.now_unix_ms);
        let message = render::message(&render::Message {
            from,
            to: &invite.recipient,
            subject: &subject,
            date: rfc5322_date(ctx.now_unix_ms),
            message_id: format!(
                "<{}.{}@kith.invalid>",
                ctx.now_unix_ms,
                render::fnv(&invite.recipient)
            ),
            boundary: &boundary,
            text: &text,
            html: &html,
        });
        let name = format!(
            "invite-{}-{}.eml",
            ctx.now_unix_ms,
            render::safe_name(&invite.recipient)
        );
        kith_plugin_sdk::info!("rendered {} bytes for {name}", message.len());
        Ok(Plan::Outbox(vec![OutboxFile {
            name,
            content_type: "message/rfc822".into(),
            body: message.into_bytes(),
        }]))
    }
}

export!(EmlOutbox);
