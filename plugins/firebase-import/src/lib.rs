//! firebase-import: a kith import mapper for the users of a Firebase `auth:export` file.
//!
//! kith streams the `users` array of `{"users": [...]}` and hands over each user as it is.
//! Firebase's password hashes are its own modified scrypt: the hash and salt are per user,
//! and the project's hash parameters (console: Authentication → Users → ⋮ → Password hash
//! parameters) come from this plugin's config. Together they are Kratos' `$firescrypt$`
//! format, which kith verifies itself, so users keep their passwords.

wit_bindgen::generate!({
    path: "../wit",
    world: "import-mapper",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use kith_plugin_sdk::mapper::{Refusal, email_address, refusal, set_pointer};
use kith_plugin_sdk::{config, config_list};
use serde_json::{Map, Value, json};

/// One Firebase user as a createIdentityBody, or every reason it cannot be one.
fn map(settings: &[(String, String)], record: &Value) -> Result<Value, Vec<Refusal>> {
    let Some(user) = record.as_object() else {
        return Err(vec![refusal(
            "",
            "not_object",
            "the record is not a JSON object (a Firebase user is one)",
        )]);
    };
    let mut errors = Vec::new();
    let mut text = |key: &str| match user.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
        Some(_) => {
            errors.push(refusal(
                &format!("/{key}"),
                "bad_type",
                format!("`{key}` is not a string"),
            ));
            None
        }
    };
    let email = text("email");
    let local_id = text("localId");
    let display_name = text("displayName");
    let phone_number = text("phoneNumber");
    let photo_url = text("photoUrl");
    let hash = text("passwordHash");
    let salt = text("salt");
    let flag = |key: &str| user.get(key).and_then(Value::as_bool) == Some(true);
    let created_at = epoch_ms(user.get("createdAt")).map(kith_plugin_sdk::time::rfc3339);
    let last_signed_in = epoch_ms(user.get("lastSignedInAt").or(user.get("lastLoginAt")))
        .map(kith_plugin_sdk::time::rfc3339);

    let mut body = json!({
        "schema_id": config(settings, "schema_id").unwrap_or("preset://email"),
        "traits": {},
        "state": if flag("disabled") { "inactive" } else { "active" },
    });
    let mut place = |pointer: &str, value: &str, body: &mut Value| {
        if let Err(problem) = set_pointer(body, pointer, json!(value)) {
            errors.push(refusal("", "bad_config", problem));
        }
    };
    let email_pointer = setting(settings, "email", "/traits/email");
    if let Some(email) = &email
        && !email_pointer.is_empty()
    {
        place(email_pointer, email, &mut body);
        let verified = flag("emailVerified");
        body["verifiable_addresses"] = json!([email_address(email, verified, created_at.clone())]);
    }
    if let Some(name) = &display_name {
        match setting(settings, "display_name", "split") {
            "" => {}
            "split" => {
                // First word first, the rest last: "Ludwig van Beethoven" keeps "van".
                let mut words = name.splitn(2, char::is_whitespace);
                if let Some(first) = words.next() {
                    place("/traits/name/first", first, &mut body);
                }
                if let Some(last) = words.next().map(str::trim).filter(|l| !l.is_empty()) {
                    place("/traits/name/last", last, &mut body);
                }
            }
            pointer => place(pointer, name, &mut body),
        }
    }
    if let Some(phone) = &phone_number {
        let pointer = setting(settings, "phone_number", "");
        if !pointer.is_empty() {
            place(pointer, phone, &mut body);
        }
    }
    let password = match (hash, salt) {
        (None, _) => None,
        (Some(_), None) => {
            errors.push(refusal(
                "/salt",
                "missing",
                "the user has a passwordHash and no salt",
            ));
            None
        }
        (Some(hash), Some(salt)) => firescrypt(settings, &hash, &salt, &mut errors),
    };
    let providers = linked_providers(user, settings);
    if !errors.is_empty() {
        return Err(errors);
    }

    if let Some(local_id) = &local_id {
        body["external_id"] = json!(local_id);
    }
    let mut credentials = Map::new();
    if let Some(hash) = password {
        credentials.insert(
            "password".into(),
            json!({"config": {"hashed_password": hash}}),
        );
    }
    if !providers.is_empty() {
        credentials.insert("oidc".into(), json!({"config": {"providers": providers}}));
    }
    if !credentials.is_empty() {
        body["credentials"] = Value::Object(credentials);
    }
    let mut firebase = Map::new();
    for (key, value) in [
        ("local_id", local_id),
        ("created_at", created_at),
        ("last_signed_in_at", last_signed_in),
        ("display_name", display_name),
        ("phone_number", phone_number),
        ("photo_url", photo_url),
    ] {
        if let Some(value) = value {
            firebase.insert(key.into(), json!(value));
        }
    }
    // Custom claims travel as a JSON string; kept parsed when they parse.
    if let Some(claims) = user.get("customAttributes") {
        let parsed = claims
            .as_str()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .unwrap_or_else(|| claims.clone());
        firebase.insert("custom_attributes".into(), parsed);
    }
    let admin = body
        .as_object_mut()
        .expect("the body is an object")
        .entry("metadata_admin")
        .or_insert_with(|| json!({}));
    if let Some(admin) = admin.as_object_mut() {
        admin.entry("firebase").or_insert(Value::Object(firebase));
    }
    Ok(body)
}

/// A config value, `default` when unset.
fn setting<'a>(settings: &'a [(String, String)], key: &str, default: &'a str) -> &'a str {
    config(settings, key).map_or(default, str::trim)
}

/// Firebase writes times as epoch milliseconds, as a string or a number.
fn epoch_ms(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The user's hash and salt with the project's parameters, in Kratos' spelling:
/// `$firescrypt$ln=<mem_cost>,r=<rounds>,p=1$<salt>$<hash>$<salt separator>$<signer key>`.
fn firescrypt(
    settings: &[(String, String)],
    hash: &str,
    salt: &str,
    errors: &mut Vec<Refusal>,
) -> Option<String> {
    let before = errors.len();
    let mut needed = |key: &str, what: &str| {
        let value = config(settings, key).map(str::trim).unwrap_or("");
        if value.is_empty() {
            errors.push(refusal(
                "/passwordHash",
                "missing_config",
                format!(
                    "the user has a password hash, and config `{key}` is not set: it is the \
                     project's {what} (Firebase console, Authentication → Users → ⋮ → Password \
                     hash parameters)"
                ),
            ));
        }
        value.to_string()
    };
    let signer_key = needed("signer_key", "base64_signer_key");
    let separator = needed("salt_separator", "base64_salt_separator");
    let rounds = needed("rounds", "rounds");
    let mem_cost = needed("mem_cost", "mem_cost");
    if errors.len() > before {
        return None;
    }
    let mut blob = |pointer: &str, code: &str, text: &str, what: &str| {
        let found = standard_base64(text);
        if found.is_none() {
            errors.push(refusal(
                pointer,
                code,
                format!("{what} is not base64: `{text}`"),
            ));
        }
        found.unwrap_or_default()
    };
    let signer_key = blob("", "bad_config", &signer_key, "config `signer_key`");
    let separator = blob("", "bad_config", &separator, "config `salt_separator`");
    let hash = blob("/passwordHash", "bad_hash", hash, "the passwordHash");
    let salt = blob("/salt", "bad_hash", salt, "the salt");
    // Kratos' bounds (hash_limits.go): ln ≤ 17 (N ≤ 131072) and 1 ≤ r ≤ 8.
    let mut number = |key: &str, text: &str, range: std::ops::RangeInclusive<u32>| match text
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
    {
        Some(n) => n,
        None => {
            errors.push(refusal(
                "",
                "bad_config",
                format!(
                    "config `{key}` is `{text}`: it must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            0
        }
    };
    let rounds = number("rounds", &rounds, 1..=8);
    let mem_cost = number("mem_cost", &mem_cost, 1..=17);
    (errors.len() == before).then(|| {
        format!("$firescrypt$ln={mem_cost},r={rounds},p=1${salt}${hash}${separator}${signer_key}")
    })
}

/// `text` as strict standard base64 with padding, which Kratos' parser demands. Firebase
/// exports standard base64 already; URL-safe or unpadded copies of it are re-encoded.
fn standard_base64(text: &str) -> Option<String> {
    if STANDARD.decode(text).is_ok() {
        return Some(text.to_string());
    }
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| STANDARD.encode(bytes))
}

/// The social sign-ins Firebase exports (`providerUserInfo[]`) as oidc providers, renamed
/// by the `providers` config; `password` and `phone` are not sign-ins of that kind.
fn linked_providers(user: &Map<String, Value>, settings: &[(String, String)]) -> Vec<Value> {
    let renames: Vec<(String, String)> = config_list(settings, "providers")
        .into_iter()
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        })
        .collect();
    user.get("providerUserInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|info| {
            let provider = info.get("providerId").and_then(Value::as_str)?;
            if provider == "password" || provider == "phone" {
                return None;
            }
            let subject = match info.get("rawId")? {
                Value::String(text) if !text.is_empty() => text.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let provider = renames
                .iter()
                .find(|(from, _)| from == provider)
                .map_or(provider.to_string(), |(_, to)| to.clone());
            Some(json!({"provider": provider, "subject": subject}))
        })
        .collect()
}

kith_plugin_sdk::export_mapper!(FirebaseImport, map);

#[cfg(test)]
mod tests {
    use super::*;

    /// The project parameters of Firebase's scrypt README, whose sample user's password is
    /// `user1password` (wave2-facts §5.2 recomputed it).
    const SIGNER_KEY: &str =
        "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";
    const HASH: &str =
        "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==";

    /// `extra` first: the first of two equal keys wins.
    fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = extra.to_vec();
        all.extend([
            ("schema_id", "preset://email"),
            ("signer_key", SIGNER_KEY),
            ("salt_separator", "Bw=="),
            ("rounds", "8"),
            ("mem_cost", "14"),
            (
                "providers",
                "google.com=google,facebook.com=facebook,github.com=github,twitter.com=twitter",
            ),
        ]);
        all.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn user() -> Value {
        json!({
            "localId": "w4PLi2jtgXScO2GBBeTr6G8zMvF3",
            "email": "user1@example.com",
            "emailVerified": true,
            "passwordHash": HASH,
            "salt": "42xEC+ixf3L2lw==",
            "displayName": "Ludwig van Beethoven",
            "photoUrl": "https://example.com/l.png",
            "lastSignedInAt": "1700000000000",
            "createdAt": "1600000000123",
            "phoneNumber": "+15555550100",
            "disabled": false,
            "customAttributes": "{\"role\":\"admin\"}",
            "providerUserInfo": [
                {"providerId": "google.com", "rawId": "108359387000000000000", "email": "user1@example.com"},
                {"providerId": "password", "rawId": "user1@example.com"}
            ]
        })
    }

    #[test]
    fn a_user_becomes_a_body_with_a_firescrypt_hash() {
        let body = map(&settings(&[]), &user()).unwrap();
        assert_eq!(
            body["credentials"]["password"]["config"]["hashed_password"],
            format!("$firescrypt$ln=14,r=8,p=1$42xEC+ixf3L2lw==${HASH}$Bw==${SIGNER_KEY}")
        );
        assert_eq!(
            body["traits"],
            json!({"email": "user1@example.com",
                   "name": {"first": "Ludwig", "last": "van Beethoven"}})
        );
        assert_eq!(body["external_id"], "w4PLi2jtgXScO2GBBeTr6G8zMvF3");
        assert_eq!(body["state"], "active");
        assert_eq!(
            body["verifiable_addresses"],
            json!([{"value": "user1@example.com", "verified": true, "via": "email",
                    "status": "completed", "created_at": "2020-09-13T12:26:40Z"}])
        );
        assert_eq!(
            body["credentials"]["oidc"]["config"]["providers"],
            json!([{"provider": "google", "subject": "108359387000000000000"}])
        );
        assert_eq!(
            body["metadata_admin"]["firebase"],
            json!({"local_id": "w4PLi2jtgXScO2GBBeTr6G8zMvF3",
                   "created_at": "2020-09-13T12:26:40Z",
                   "last_signed_in_at": "2023-11-14T22:13:20Z",
                   "display_name": "Ludwig van Beethoven",
                   "phone_number": "+15555550100",
                   "photo_url": "https://example.com/l.png",
                   "custom_attributes": {"role": "admin"}})
        );
    }

    #[test]
    fn a_user_without_a_hash_gets_no_password_and_needs_no_parameters() {
        let mut record = user();
        let record = record.as_object_mut().unwrap();
        record.remove("passwordHash");
        record.remove("salt");
        record.insert("disabled".into(), json!(true));
        let body = map(&[], &Value::Object(record.clone())).unwrap();
        assert!(body["credentials"].get("password").is_none(), "{body}");
        assert_eq!(body["state"], "inactive");
        // Unrenamed providers keep Firebase's id.
        assert_eq!(
            body["credentials"]["oidc"]["config"]["providers"][0]["provider"],
            "google.com"
        );
    }

    #[test]
    fn a_hash_without_the_project_parameters_names_each_missing_key() {
        let errors = map(&[], &user()).unwrap_err();
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errors.len(), 4, "{messages:?}");
        for (error, key) in
            errors
                .iter()
                .zip(["signer_key", "salt_separator", "rounds", "mem_cost"])
        {
            assert_eq!(error.code, "missing_config");
            assert_eq!(error.pointer, "/passwordHash");
            assert!(
                error.message.contains(&format!("config `{key}`")),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn bad_parameters_and_blobs_are_named() {
        let mut record = user();
        record["salt"] = json!("not base64!");
        let errors = map(
            &settings(&[("rounds", "9"), ("signer_key", "%%%")]),
            &record,
        )
        .unwrap_err();
        let found: Vec<_> = errors
            .iter()
            .map(|e| (e.pointer.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("", "bad_config"),
                ("/salt", "bad_hash"),
                ("", "bad_config")
            ]
        );
        assert!(errors[0].message.contains("`signer_key`"));
        assert!(errors[2].message.contains("`rounds` is `9`"));
        record["salt"] = json!(null);
        assert_eq!(
            map(&settings(&[]), &record).unwrap_err()[0].pointer,
            "/salt"
        );
    }

    #[test]
    fn url_safe_or_unpadded_base64_is_written_standard() {
        assert_eq!(
            standard_base64("42xEC-ixf3L2lw").as_deref(),
            Some("42xEC+ixf3L2lw==")
        );
        assert_eq!(standard_base64("Bw==").as_deref(), Some("Bw=="));
        assert_eq!(standard_base64("Bw").as_deref(), Some("Bw=="));
        assert_eq!(standard_base64("***"), None);
    }

    #[test]
    fn names_and_phone_go_where_the_config_says() {
        let body = map(
            &settings(&[
                ("display_name", "/metadata_public/name"),
                ("phone_number", "/traits/phone"),
                ("email", ""),
            ]),
            &user(),
        )
        .unwrap();
        assert_eq!(body["traits"], json!({"phone": "+15555550100"}));
        assert_eq!(
            body["metadata_public"],
            json!({"name": "Ludwig van Beethoven"})
        );
        assert!(body.get("verifiable_addresses").is_none());
        let mut record = user();
        record["email"] = json!(17);
        assert_eq!(
            map(&settings(&[]), &record).unwrap_err()[0].code,
            "bad_type"
        );
    }
}
