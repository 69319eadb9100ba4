//! A kith import mapper: `kith import identities --mapper` hands it each record of a foreign
//! export, and it answers with a Kratos createIdentityBody (or field errors, which make that
//! record's error, never the run's). This one maps `{"email": ..., "name": ...}` records.

wit_bindgen::generate!({
    path: "wit",
    world: "import-mapper",
    generate_all,
});

mod kit;

use exports::kith::plugin::mapper::Guest;
use kith::plugin::types::{CallContext, FieldError};
use serde_json::{Value, json};

struct Plugin;

fn refusal(pointer: &str, code: &str, message: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError {
        // An RFC 6901 pointer into the record.
        pointer: pointer.into(),
        code: code.into(),
        message: message.into(),
    }]
}

impl Guest for Plugin {
    fn map_record(ctx: CallContext, record_json: String) -> Result<String, Vec<FieldError>> {
        kit::install_panic_hook();
        let record: Value = serde_json::from_str(&record_json)
            .map_err(|e| refusal("", "not_json", format!("the record is not JSON: {e}")))?;
        let email = record
            .get("email")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|email| email.contains('@'))
            .ok_or_else(|| {
                refusal(
                    "/email",
                    "missing_email",
                    "the record has no e-mail address",
                )
            })?;
        let schema_id = kit::config(&ctx.config, "schema_id").unwrap_or("preset://email");
        let mut traits = json!({ "email": email });
        if let Some(name) = record.get("name").and_then(Value::as_str) {
            kit::debug!("{email} is named {name}");
        }
        if let Some(extra) = kit::config(&ctx.config, "name_trait").filter(|t| !t.is_empty())
            && let Some(name) = record.get("name")
        {
            traits[extra] = name.clone();
        }
        let body = json!({
            "schema_id": schema_id,
            "traits": traits,
            "state": "active",
        });
        Ok(body.to_string())
    }
}

export!(Plugin);
