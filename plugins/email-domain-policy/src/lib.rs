//! email-domain-policy: a kith trait validator that allows or denies e-mail domains.
//!
//! Every string in the traits that looks like an e-mail address (`local@domain`) is checked:
//! a domain in `denied_domains` (or under one) is refused with `domain_denied`; when
//! `allowed_domains` is set, a domain not in it (nor under one) is refused with
//! `domain_not_allowed`. Both config values are comma-separated lists.

wit_bindgen::generate!({
    path: "../wit",
    world: "trait-validator",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::validator::Guest;
use kith::plugin::types::{CallContext, FieldError};
use serde_json::Value;

struct Policy;

impl Guest for Policy {
    fn validate(
        ctx: CallContext,
        schema_id: String,
        traits_json: String,
    ) -> Result<(), Vec<FieldError>> {
        kith_plugin_sdk::install_panic_hook();
        let allowed = lowercase(kith_plugin_sdk::config_list(&ctx.config, "allowed_domains"));
        let denied = lowercase(kith_plugin_sdk::config_list(&ctx.config, "denied_domains"));
        let traits: Value = serde_json::from_str(&traits_json).map_err(|e| {
            vec![FieldError {
                pointer: String::new(),
                code: "traits_not_json".into(),
                message: format!("traits are not JSON: {e}"),
            }]
        })?;
        let mut errors = Vec::new();
        let mut addresses = Vec::new();
        collect_addresses(&traits, String::new(), &mut addresses);
        for (pointer, address) in addresses {
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            if denied.iter().any(|d| covers(d, &domain)) {
                errors.push(FieldError {
                    pointer,
                    code: "domain_denied".into(),
                    message: format!("e-mail addresses at {domain} are not accepted"),
                });
            } else if !allowed.is_empty() && !allowed.iter().any(|d| covers(d, &domain)) {
                errors.push(FieldError {
                    pointer,
                    code: "domain_not_allowed".into(),
                    message: format!(
                        "e-mail addresses must be at {}, not {domain}",
                        allowed.join(", ")
                    ),
                });
            }
        }
        kith_plugin_sdk::debug!("{schema_id}: {} refusal(s)", errors.len());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn lowercase(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(|d| d.to_ascii_lowercase()).collect()
}

/// True when `rule` is `domain` or a parent of it (`example.org` covers `a.example.org`).
fn covers(rule: &str, domain: &str) -> bool {
    let rule = rule.trim_start_matches("*.").trim_start_matches('.');
    domain == rule
        || domain
            .strip_suffix(rule)
            .is_some_and(|head| head.ends_with('.'))
}

/// Every string under `value` that looks like `local@domain`, with its RFC 6901 pointer.
fn collect_addresses(value: &Value, pointer: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            if let Some((local, domain)) = text.rsplit_once('@')
                && !local.is_empty()
                && domain.contains('.')
                && !text.contains(char::is_whitespace)
            {
                out.push((pointer, text.clone()));
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_addresses(item, format!("{pointer}/{index}"), out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_addresses(item, format!("{pointer}/{escaped}"), out);
            }
        }
        _ => {}
    }
}

export!(Policy);
