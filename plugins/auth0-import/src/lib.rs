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
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

struct Auth0;

fn error(pointer: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        pointer: pointer.into(),
        code: code.into(),
        message: message.into(),
    }
}

/// The fields of an Auth0 record the mapping reads, each kept as its raw JSON text and read
/// as the type it should have only when used: a field of another type counts as missing, as
/// it would in a loosely typed lookup, and nothing else of the record is built at all (a
/// record is read once per import, so this is the mapper's whole cost).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    email: Option<&'a RawValue>,
    #[serde(borrow)]
    email_verified: Option<&'a RawValue>,
    #[serde(borrow)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, rename = "_id")]
    mongo_id: Option<&'a RawValue>,
    #[serde(borrow)]
    given_name: Option<&'a RawValue>,
    #[serde(borrow)]
    family_name: Option<&'a RawValue>,
    #[serde(borrow)]
    blocked: Option<&'a RawValue>,
    #[serde(borrow, rename = "passwordHash")]
    password_hash: Option<&'a RawValue>,
    #[serde(borrow)]
    custom_password_hash: Option<&'a RawValue>,
    #[serde(borrow)]
    identities: Option<&'a RawValue>,
    #[serde(borrow)]
    user_metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    app_metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    created_at: Option<&'a RawValue>,
}

/// `raw` read as `T`, or `None` when it is absent or of another type.
fn read<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

fn string(raw: Option<&RawValue>) -> Option<String> {
    read(raw)
}

/// What the mapper writes: a createIdentityBody.
#[derive(Serialize)]
struct Body<'a> {
    schema_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    traits: Traits,
    state: &'static str,
    verifiable_addresses: [Address<'a>; 1],
    metadata_admin: AdminMetadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata_public: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<Value>,
}

#[derive(Serialize)]
struct Traits {
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Name>,
}

#[derive(Serialize)]
struct Name {
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<String>,
}

#[derive(Serialize)]
struct Address<'a> {
    value: &'a str,
    verified: bool,
    via: &'static str,
    status: &'static str,
}

#[derive(Serialize)]
struct AdminMetadata<'a> {
    auth0: Auth0Ids<'a>,
}

/// Auth0's own ids, kept for the operator (`null` where the record has none).
#[derive(Serialize)]
struct Auth0Ids<'a> {
    user_id: Option<&'a str>,
    app_metadata: Option<&'a RawValue>,
    created_at: Option<&'a RawValue>,
}

impl Guest for Auth0 {
    fn map_record(ctx: CallContext, record_json: String) -> Result<String, Vec<FieldError>> {
        kith_plugin_sdk::install_panic_hook();
        if !record_json.trim_start().starts_with('{') {
            let (code, message) = match serde_json::from_str::<serde::de::IgnoredAny>(&record_json)
            {
                Ok(_) => ("not_object", "the record is not a JSON object".to_string()),
                Err(e) => ("not_json", format!("the record is not JSON: {e}")),
            };
            return Err(vec![error("", code, message)]);
        }
        let record: Record<'_> = serde_json::from_str(&record_json).map_err(|e| {
            vec![error(
                "",
                "not_json",
                format!("the record is not JSON: {e}"),
            )]
        })?;
        let mut errors = Vec::new();
        let email = string(record.email).map(|email| email.trim().to_string());
        let email = match email {
            Some(email) if email.contains('@') => email,
            _ => {
                errors.push(error(
                    "/email",
                    "missing",
                    "the record has no e-mail address",
                ));
                String::new()
            }
        };
        let verified = read::<bool>(record.email_verified).unwrap_or(false);
        let user_id = string(record.user_id).or_else(|| {
            let id: Value = read(record.mongo_id)?;
            id.get("$oid")
                .or(Some(&id))
                .and_then(Value::as_str)
                .map(|oid| format!("auth0|{oid}"))
        });
        let hash = password_hash(&record, &mut errors);
        let providers = linked_providers(&record, &ctx.config);
        if !errors.is_empty() {
            return Err(errors);
        }

        let name = (config(&ctx.config, "names") != Some("false"))
            .then(|| Name {
                first: string(record.given_name),
                last: string(record.family_name),
            })
            .filter(|name| name.first.is_some() || name.last.is_some());
        let mut credentials = serde_json::Map::new();
        if let Some(hash) = hash {
            credentials.insert(
                "password".into(),
                json!({"config": {"hashed_password": hash}}),
            );
        }
        if !providers.is_empty() {
            credentials.insert("oidc".into(), json!({"config": {"providers": providers}}));
        }
        let blocked = read::<bool>(record.blocked) == Some(true);
        let body = Body {
            schema_id: config(&ctx.config, "schema_id").unwrap_or("preset://email"),
            external_id: user_id.as_deref(),
            traits: Traits {
                email: email.clone(),
                name,
            },
            state: if blocked { "inactive" } else { "active" },
            verifiable_addresses: [Address {
                value: &email,
                verified,
                via: "email",
                status: if verified { "completed" } else { "pending" },
            }],
            metadata_admin: AdminMetadata {
                auth0: Auth0Ids {
                    user_id: user_id.as_deref(),
                    app_metadata: record.app_metadata,
                    created_at: record.created_at,
                },
            },
            metadata_public: record
                .user_metadata
                .filter(|metadata| metadata.get().starts_with('{')),
            credentials: (!credentials.is_empty()).then_some(Value::Object(credentials)),
        };
        kith_plugin_sdk::debug!("mapped {}", user_id.as_deref().unwrap_or("a record"));
        serde_json::to_string(&body).map_err(|e| {
            vec![error(
                "",
                "unwritable",
                format!("could not write the body: {e}"),
            )]
        })
    }
}

/// The bcrypt hash, from `passwordHash` (hash export) or `custom_password_hash`.
fn password_hash(record: &Record<'_>, errors: &mut Vec<FieldError>) -> Option<String> {
    if let Some(hash) = string(record.password_hash) {
        return check_bcrypt("/passwordHash", &hash, errors);
    }
    let custom: Value = read(record.custom_password_hash)?;
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
fn linked_providers(record: &Record<'_>, cfg: &[(String, String)]) -> Vec<Value> {
    let identities = read::<Vec<Value>>(record.identities);
    let linked: Vec<(&str, String)> = identities
        .iter()
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
            Some((provider, subject))
        })
        .collect();
    if linked.is_empty() {
        // Most users only have Auth0's own database: the config is not even read.
        return Vec::new();
    }
    let renamed = config_list(cfg, "providers");
    let renamed: Vec<(&str, &str)> = renamed
        .iter()
        .filter_map(|pair| pair.split_once('=').map(|(a, b)| (a.trim(), b.trim())))
        .collect();
    linked
        .into_iter()
        .map(|(provider, subject)| {
            let provider = renamed
                .iter()
                .find(|(from, _)| *from == provider)
                .map_or(provider, |(_, to)| to);
            json!({"provider": provider, "subject": subject})
        })
        .collect()
}

export!(Auth0);
