//! auth0-import: a kith import mapper for Auth0 user exports.
//!
//! One record in (Auth0's user-export JSON, or its password-hash export with `passwordHash`
//! and a Mongo-style `_id`), one createIdentityBody out. Only bcrypt hashes exist in Auth0
//! exports; any other `custom_password_hash` algorithm is refused with a field error rather
//! than imported as a credential nobody could log in with.

wit_bindgen::generate!({
    path: "../wit",
    world: "import-mapper",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use exports::kith::plugin::mapper::Guest;
use kith::plugin::types::{CallContext, FieldError};
use kith_plugin_sdk::{config, config_list};
use serde_json::{Map, Value, json};

struct Auth0;

fn error(pointer: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        pointer: pointer.into(),
        code: code.into(),
        message: message.into(),
    }
}

impl Guest for Auth0 {
    fn map_record(ctx: CallContext, record_json: String) -> Result<String, Vec<FieldError>> {
        kith_plugin_sdk::install_panic_hook();
        let record: Value = serde_json::from_str(&record_json).map_err(|e| {
            vec![error(
                "",
                "not_json",
                format!("the record is not JSON: {e}"),
            )]
        })?;
        let Some(record) = record.as_object() else {
            return Err(vec![error(
                "",
                "not_object",
                "the record is not a JSON object",
            )]);
        };
        let mut errors = Vec::new();
        let email = record.get("email").and_then(Value::as_str).map(str::trim);
        let email = match email {
            Some(email) if email.contains('@') => email.to_string(),
            _ => {
                errors.push(error(
                    "/email",
                    "missing",
                    "the record has no e-mail address",
                ));
                String::new()
            }
        };
        let verified = record
            .get("email_verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let user_id = record
            .get("user_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                record
                    .get("_id")
                    .and_then(|id| id.get("$oid").or(Some(id)))
                    .and_then(Value::as_str)
                    .map(|oid| format!("auth0|{oid}"))
            });
        let hash = password_hash(record, &mut errors);
        let providers = linked_providers(record, &ctx.config);
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut traits = Map::new();
        traits.insert("email".into(), json!(email));
        if config(&ctx.config, "names") != Some("false") {
            let mut name = Map::new();
            for (from, to) in [("given_name", "first"), ("family_name", "last")] {
                if let Some(value) = record.get(from).and_then(Value::as_str) {
                    name.insert(to.into(), json!(value));
                }
            }
            if !name.is_empty() {
                traits.insert("name".into(), Value::Object(name));
            }
        }
        let mut credentials = Map::new();
        if let Some(hash) = hash {
            credentials.insert(
                "password".into(),
                json!({"config": {"hashed_password": hash}}),
            );
        }
        if !providers.is_empty() {
            credentials.insert("oidc".into(), json!({"config": {"providers": providers}}));
        }
        let blocked = record.get("blocked").and_then(Value::as_bool) == Some(true);
        let mut body = json!({
            "schema_id": config(&ctx.config, "schema_id").unwrap_or("preset://email"),
            "traits": traits,
            "state": if blocked { "inactive" } else { "active" },
            "verifiable_addresses": [{
                "value": email,
                "verified": verified,
                "via": "email",
                "status": if verified { "completed" } else { "pending" },
            }],
            "metadata_admin": {"auth0": {
                "user_id": user_id,
                "app_metadata": record.get("app_metadata"),
                "created_at": record.get("created_at"),
            }},
        });
        if let Some(user_id) = &user_id {
            body["external_id"] = json!(user_id);
        }
        if let Some(public) = record.get("user_metadata").filter(|m| m.is_object()) {
            body["metadata_public"] = public.clone();
        }
        if !credentials.is_empty() {
            body["credentials"] = Value::Object(credentials);
        }
        kith_plugin_sdk::debug!("mapped {}", user_id.as_deref().unwrap_or("a record"));
        Ok(body.to_string())
    }
}

/// The bcrypt hash, from `passwordHash` (hash export) or `custom_password_hash`.
fn password_hash(record: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    if let Some(hash) = record.get("passwordHash").and_then(Value::as_str) {
        return check_bcrypt("/passwordHash", hash, errors);
    }
    let custom = record.get("custom_password_hash")?;
    let algorithm = custom
        .get("algorithm")
        .and_then(Value::as_str)
        .unwrap_or("");
    if algorithm != "bcrypt" {
        errors.push(error(
            "/custom_password_hash/algorithm",
            "unsupported_hash",
            format!("only bcrypt hashes are imported, not `{algorithm}`"),
        ));
        return None;
    }
    let hash = custom
        .get("hash")
        .and_then(|h| h.get("value"))
        .and_then(Value::as_str)
        .unwrap_or("");
    check_bcrypt("/custom_password_hash/hash/value", hash, errors)
}

fn check_bcrypt(pointer: &str, hash: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60 {
        Some(hash.to_string())
    } else {
        errors.push(error(
            pointer,
            "bad_hash",
            "not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)",
        ));
        None
    }
}

/// Social identities (`identities[]` other than Auth0's own database) as oidc providers.
fn linked_providers(record: &Map<String, Value>, cfg: &[(String, String)]) -> Vec<Value> {
    let map: Vec<(String, String)> = config_list(cfg, "providers")
        .into_iter()
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        })
        .collect();
    record
        .get("identities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|identity| identity.get("provider").and_then(Value::as_str) != Some("auth0"))
        .filter_map(|identity| {
            let provider = identity
                .get("connection")
                .or_else(|| identity.get("provider"))
                .and_then(Value::as_str)?;
            let subject = match identity.get("user_id")? {
                Value::String(text) => text.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let provider = map
                .iter()
                .find(|(from, _)| from == provider)
                .map_or(provider.to_string(), |(_, to)| to.clone());
            Some(json!({"provider": provider, "subject": subject}))
        })
        .collect()
}

export!(Auth0);
