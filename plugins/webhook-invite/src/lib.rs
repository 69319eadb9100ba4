//! webhook-invite: a kith invite-delivery plugin (`kith:plugin@0.2.0`) that plans a JSON POST.
//!
//! The host POSTs the body to the `url` config value (which `courier.http.allowed_urls` must
//! allow), with an `Authorization` header when `authorization` is set. `format = "json"`
//! sends the invite's fields; `format = "slack"` sends `{"text": ...}` rendered from
//! `text_template`, for Slack and Mattermost incoming webhooks.

wit_bindgen::generate!({
    path: "../wit-0.2",
    world: "invite-delivery",
    with: { "kith:plugin/log@0.2.0": kith_plugin_sdk::bindings_v0_2::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::delivery::{Guest, HttpPost, Invite, Plan};
use kith::plugin::types::CallContext;
use kith_plugin_sdk::config;
use kith_plugin_sdk::template::{Escape, single_line};
use serde_json::json;

/// The default of `plugin.toml`'s `text_template`, for a config that leaves it out.
const TEXT_TEMPLATE: &str = "{{traits.name.first|Someone}} ({{recipient}}) is invited: \
    open {{recovery_link}} or enter the code {{recovery_code}}. Both expire at {{expires_at}}.";

struct WebhookInvite;

impl Guest for WebhookInvite {
    fn deliver(ctx: CallContext, invite: Invite) -> Result<Plan, String> {
        kith_plugin_sdk::v0_2::install_panic_hook();
        let post = post(&ctx.config, &invite)?;
        kith_plugin_sdk::v0_2::info!("posting {} bytes of JSON", post.body_json.len());
        Ok(Plan::Http(post))
    }
}

/// The invite as a POST to the configured URL, or why not.
fn post(settings: &[(String, String)], invite: &Invite) -> Result<HttpPost, String> {
    let url = config(settings, "url")
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .ok_or(
            "the config key `url` is not set; install the plugin with --config url=https://...",
        )?;
    let mut headers = Vec::new();
    if let Some(authorization) = config(settings, "authorization").filter(|a| !a.is_empty()) {
        single_line("Authorization", authorization)?;
        headers.push(("Authorization".to_string(), authorization.to_string()));
    }
    let vars = kith_plugin_sdk::invite_vars!(invite);
    let body = match config(settings, "format").unwrap_or("json") {
        "json" => json!({
            "recipient": vars.recipient,
            "recovery_link": vars.recovery_link,
            "recovery_code": vars.recovery_code,
            "expires_at": vars.expires_at,
            "traits": vars.traits,
        }),
        "slack" => json!({
            "text": vars.fill_with_fallbacks(
                config(settings, "text_template").unwrap_or(TEXT_TEMPLATE),
                Escape::Slack,
            ),
        }),
        other => {
            return Err(format!(
                "the config key `format` is `{other}`; it must be `json` or `slack`"
            ));
        }
    };
    Ok(HttpPost {
        url: url.to_string(),
        headers,
        body_json: body.to_string(),
    })
}

export!(WebhookInvite);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn invite() -> Invite {
        Invite {
            recipient: "ada@example.org".into(),
            recovery_link: "https://id.example.org/recovery?token=a&b".into(),
            recovery_code: "042917".into(),
            expires_unix_ms: 1_796_032_289_000,
            traits_json: r#"{"email": "ada@example.org", "name": {"first": "Ada <!channel>"}}"#
                .into(),
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn body(post: &HttpPost) -> Value {
        serde_json::from_str(&post.body_json).unwrap()
    }

    #[test]
    fn json_by_default() {
        let post = post(
            &config(&[("url", "https://hooks.example.org/x")]),
            &invite(),
        )
        .unwrap();
        assert_eq!(post.url, "https://hooks.example.org/x");
        assert!(post.headers.is_empty());
        assert_eq!(
            body(&post),
            json!({
                "recipient": "ada@example.org",
                "recovery_link": "https://id.example.org/recovery?token=a&b",
                "recovery_code": "042917",
                "expires_at": "2026-11-30T09:51:29Z",
                "traits": {"email": "ada@example.org", "name": {"first": "Ada <!channel>"}},
            })
        );
    }

    #[test]
    fn slack_text_and_authorization() {
        let post = post(
            &config(&[
                ("url", "https://hooks.example.org/x"),
                ("format", "slack"),
                ("authorization", "Bearer s3cret"),
            ]),
            &invite(),
        )
        .unwrap();
        assert_eq!(
            post.headers,
            vec![("Authorization".to_string(), "Bearer s3cret".to_string())]
        );
        assert_eq!(
            body(&post),
            json!({"text": "Ada &lt;!channel&gt; (ada@example.org) is invited: open \
                https://id.example.org/recovery?token=a&amp;b or enter the code 042917. \
                Both expire at 2026-11-30T09:51:29Z."})
        );
    }

    #[test]
    fn slack_with_a_template_of_ones_own() {
        let settings = config(&[
            ("url", "https://hooks.example.org/x"),
            ("format", "slack"),
            (
                "text_template",
                "\"{{traits.nick|nobody}}\"\n{{recovery_code}}",
            ),
        ]);
        assert_eq!(
            body(&post(&settings, &invite()).unwrap()),
            json!({"text": "\"nobody\"\n042917"})
        );
    }

    #[test]
    fn refusals() {
        for settings in [config(&[]), config(&[("url", " ")])] {
            let error = post(&settings, &invite()).unwrap_err();
            assert!(error.contains("`url`"), "{error}");
        }
        let error = post(
            &config(&[("url", "https://h.example.org"), ("format", "xml")]),
            &invite(),
        )
        .unwrap_err();
        assert!(
            error.contains("`format`") && error.contains("xml"),
            "{error}"
        );
        assert_eq!(
            post(
                &config(&[
                    ("url", "https://h.example.org"),
                    ("authorization", "a\r\nX: y")
                ]),
                &invite(),
            )
            .unwrap_err(),
            "the Authorization header would contain a line break"
        );
    }
}
