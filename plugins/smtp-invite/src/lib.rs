//! smtp-invite: a kith invite-delivery plugin (`kith:plugin@0.2.0`) that plans an e-mail.
//!
//! The message is rendered from the `subject`, `text_template` and `html_template` config
//! values and sent by the host through its SMTP relay; `sender` (empty: the host's
//! `courier.smtp.from_address`) and `reply_to` (a `Reply-To` header when set) are taken as
//! they are. Every header value is checked for line breaks, so traits cannot inject headers.

wit_bindgen::generate!({
    path: "../wit-0.2",
    world: "invite-delivery",
    with: { "kith:plugin/log@0.2.0": kith_plugin_sdk::bindings_v0_2::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::delivery::{EmailMessage, Guest, Invite, Plan};
use kith::plugin::types::CallContext;
use kith_plugin_sdk::config;
use kith_plugin_sdk::template::{Escape, single_line};

/// The defaults of `plugin.toml`'s `[config]`, for a config that leaves a template out.
const SUBJECT: &str = "You are invited";
const TEXT_TEMPLATE: &str = "\
Hello {{traits.name.first|there}},

you have been invited. Open this link to set your password:

{{recovery_link}}

or enter the code {{recovery_code}}. Both expire at {{expires_at}}.
";
const HTML_TEMPLATE: &str = r#"<p>Hello {{traits.name.first|there}},</p>
<p>you have been invited. <a href="{{recovery_link}}">Set your password</a>,
or enter the code <strong>{{recovery_code}}</strong>.</p>
<p>Both expire at {{expires_at}}.</p>
"#;

struct SmtpInvite;

impl Guest for SmtpInvite {
    fn deliver(ctx: CallContext, invite: Invite) -> Result<Plan, String> {
        kith_plugin_sdk::v0_2::install_panic_hook();
        let message = email(&ctx.config, &invite)?;
        kith_plugin_sdk::v0_2::info!(
            "rendered a message of {} + {} bytes",
            message.text.len(),
            message.html.as_ref().map_or(0, String::len)
        );
        Ok(Plan::Email(message))
    }
}

/// The invite as a message to its recipient, or why not.
fn email(settings: &[(String, String)], invite: &Invite) -> Result<EmailMessage, String> {
    let setting = |key, default| config(settings, key).unwrap_or(default);
    let vars = kith_plugin_sdk::invite_vars!(invite);
    let sender = setting("sender", "");
    let reply_to = setting("reply_to", "");
    let subject = vars.fill_with_fallbacks(setting("subject", SUBJECT), Escape::None);
    for (header, value) in [
        ("From", sender),
        ("To", invite.recipient.as_str()),
        ("Subject", subject.as_str()),
        ("Reply-To", reply_to),
    ] {
        single_line(header, value)?;
    }
    let html_template = setting("html_template", HTML_TEMPLATE);
    Ok(EmailMessage {
        sender: sender.to_string(),
        to: invite.recipient.clone(),
        subject,
        text: vars.fill_with_fallbacks(setting("text_template", TEXT_TEMPLATE), Escape::None),
        html: (!html_template.is_empty())
            .then(|| vars.fill_with_fallbacks(html_template, Escape::Html)),
        headers: if reply_to.is_empty() {
            Vec::new()
        } else {
            vec![("Reply-To".to_string(), reply_to.to_string())]
        },
    })
}

export!(SmtpInvite);

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(traits_json: &str) -> Invite {
        Invite {
            recipient: "ada@example.org".into(),
            recovery_link: "https://id.example.org/recovery?token=a&b".into(),
            recovery_code: "042917".into(),
            expires_unix_ms: 1_796_032_289_000,
            traits_json: traits_json.into(),
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_greet_by_first_name() {
        let message = email(&[], &invite(r#"{"name": {"first": "Ada & <Bo>"}}"#)).unwrap();
        assert_eq!(message.sender, "");
        assert_eq!(message.to, "ada@example.org");
        assert_eq!(message.subject, "You are invited");
        assert!(message.headers.is_empty());
        assert!(
            message.text.starts_with("Hello Ada & <Bo>,\n"),
            "{}",
            message.text
        );
        for part in [
            "https://id.example.org/recovery?token=a&b",
            "042917",
            "2026-11-30T09:51:29Z",
        ] {
            assert!(message.text.contains(part), "{part}: {}", message.text);
        }
        let html = message.html.unwrap();
        assert!(
            html.starts_with("<p>Hello Ada &amp; &lt;Bo&gt;,</p>"),
            "{html}"
        );
        assert!(html.contains("href=\"https://id.example.org/recovery?token=a&amp;b\""));
        assert!(html.contains("<strong>042917</strong>"), "{html}");
    }

    #[test]
    fn no_first_name_greets_all_the_same() {
        let message = email(&[], &invite("{}")).unwrap();
        assert!(
            message.text.starts_with("Hello there,\n"),
            "{}",
            message.text
        );
    }

    #[test]
    fn config_templates_sender_and_reply_to() {
        let message = email(
            &config(&[
                ("sender", "Example <no-reply@example.org>"),
                ("reply_to", "help@example.org"),
                ("subject", "Welcome, {{traits.name.first}}"),
                ("text_template", "{{recovery_code}}"),
                ("html_template", ""),
            ]),
            &invite(r#"{"name": {"first": "Ada"}}"#),
        )
        .unwrap();
        assert_eq!(message.sender, "Example <no-reply@example.org>");
        assert_eq!(message.subject, "Welcome, Ada");
        assert_eq!(message.text, "042917");
        assert_eq!(message.html, None);
        assert_eq!(
            message.headers,
            vec![("Reply-To".to_string(), "help@example.org".to_string())]
        );
    }

    #[test]
    fn line_breaks_in_headers_are_refused() {
        let traits = r#"{"name": {"first": "Ada\r\nBcc: all@example.org"}}"#;
        let subject = config(&[("subject", "Hi {{traits.name.first}}")]);
        assert_eq!(
            email(&subject, &invite(traits)).unwrap_err(),
            "the Subject header would contain a line break"
        );
        for (key, header) in [("sender", "From"), ("reply_to", "Reply-To")] {
            assert_eq!(
                email(&config(&[(key, "a@example.org\nX: y")]), &invite("{}")).unwrap_err(),
                format!("the {header} header would contain a line break")
            );
        }
        // In the body a line break is only text.
        assert!(email(&[], &invite(traits)).is_ok());
    }
}
