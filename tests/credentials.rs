//! Every credential kind Kratos imports: totp, lookup secrets, webauthn and passkeys, created,
//! shown, updated and exported exactly as Kratos does.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};

const TOTP_URL: &str =
    "otpauth://totp/kith:ada@example.org?secret=JBSWY3DPEHPK3PXP&issuer=kith&period=30";

/// One authenticator in Kratos' JSON, as its own responses write it.
fn authenticator(id: &str, passwordless: bool) -> Value {
    json!({
        "id": id,
        "public_key": "pQECAyYgASFYIJ2d",
        "attestation_type": "none",
        "authenticator": {"aaguid": "AAAAAAAAAAAAAAAAAAAAAA==", "sign_count": 3, "clone_warning": false},
        "display_name": "YubiKey 5",
        "added_at": "2025-03-04T05:06:07Z",
        "is_passwordless": passwordless,
        "flags": {"user_present": true, "user_verified": true, "backup_eligible": false, "backup_state": false},
        "transport": ["usb"]
    })
}

/// A body with every second-factor kind Kratos imports, beside a password.
fn body_with_every_kind(email: &str, handle: &str) -> Value {
    json!({
        "schema_id": "preset://email",
        "traits": {"email": email},
        "credentials": {
            "password": {"config": {"password": "correct horse battery staple"}},
            "totp": {"config": {"totp_url": TOTP_URL}},
            "lookup_secret": {"config": {"codes": [
                {"code": "a1b2c3d4"},
                {"code": "e5f6a7b8", "used_at": "2025-01-02T03:04:05Z"}
            ]}},
            "webauthn": {"config": {"credentials": [authenticator("AQID", false)], "user_handle": "d2ViYXV0aG4taGFuZGxl"}},
            "passkey": {"config": {"credentials": [authenticator("BAUG", true)], "user_handle": handle}}
        }
    })
}

fn get_with(env: &Env, id: &str, kinds: &[&str]) -> Value {
    let mut args = vec!["get", "identity", id];
    for kind in kinds {
        args.extend(["--include-credential", kind]);
    }
    env.run(&args).ok().json()
}

#[test]
fn totp_lookup_secret_webauthn_and_passkey_bodies_are_created_as_kratos_creates_them() -> TestResult
{
    let env = Env::new();
    let created = env.create(&body_with_every_kind(
        "ada@example.org",
        "cGFzc2tleS1oYW5kbGU=",
    ));
    let id = created["id"].as_str().unwrap_or_default();
    // Configs are secrets: the create answer lists the kinds without them.
    for kind in ["password", "totp", "lookup_secret", "webauthn", "passkey"] {
        assert_eq!(created["credentials"][kind]["type"], kind, "{created}");
        assert!(created["credentials"][kind].get("config").is_none());
    }

    let shown = get_with(&env, id, &["totp", "lookup_secret", "webauthn", "passkey"]);
    let credentials = &shown["credentials"];
    assert_eq!(credentials["totp"]["config"], json!({"totp_url": TOTP_URL}));
    // Kratos' persister keys totp and lookup secrets on the identity's own id.
    assert_eq!(credentials["totp"]["identifiers"], json!([id]));
    assert_eq!(credentials["lookup_secret"]["identifiers"], json!([id]));
    assert_eq!(
        credentials["lookup_secret"]["config"],
        json!({"recovery_codes": [
            {"code": "a1b2c3d4", "used_at": null},
            {"code": "e5f6a7b8", "used_at": "2025-01-02T03:04:05Z"}
        ]})
    );
    assert_eq!(
        credentials["webauthn"]["config"],
        json!({"credentials": [authenticator("AQID", false)], "user_handle": "d2ViYXV0aG4taGFuZGxl"})
    );
    // A passkey is found by its user handle, taken as text.
    assert_eq!(
        credentials["passkey"]["identifiers"],
        json!(["passkey-handle"])
    );
    assert!(credentials["password"].get("config").is_none(), "{shown}");

    // Field order is Kratos' (Go's struct order), not alphabetical.
    let text = env
        .run(&["get", "identity", id, "-i", "webauthn"])
        .ok()
        .stdout;
    let order: Vec<usize> = [
        "\"id\"",
        "\"public_key\"",
        "\"attestation_type\"",
        "\"authenticator\"",
        "\"display_name\"",
        "\"added_at\"",
        "\"is_passwordless\"",
        "\"flags\"",
        "\"transport\"",
    ]
    .iter()
    .map(|key| text.find(key).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    Ok(())
}

#[test]
fn a_passkey_without_a_user_handle_is_refused_in_kratos_words() -> TestResult {
    let env = Env::new();
    let mut body = body_with_every_kind("bo@example.org", "");
    body["credentials"]["passkey"]["config"]
        .as_object_mut()
        .map(|config| config.remove("user_handle"));
    let refused = env.run_with(&["create", "identity", "--file", "-"], &body.to_string());
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(
        refused.error()["reason"],
        "Passkey credential import requires a non-empty user_handle. It must match the WebAuthn user handle stored on the authenticator."
    );

    let mut body = body_with_every_kind("bo@example.org", "aGFuZGxl");
    body["credentials"]["passkey"]["config"]["credentials"] = json!([]);
    let refused = env.run_with(&["create", "identity", "--file", "-"], &body.to_string());
    assert_eq!(
        refused.error()["reason"],
        "Passkey credential import requires at least one entry in credentials.passkey.config.credentials."
    );

    // Go's base64 error, naming the byte and never the value.
    let mut body = body_with_every_kind("bo@example.org", "aGFuZGxl");
    body["credentials"]["webauthn"]["config"]["credentials"][0]["public_key"] = json!("se!cret");
    let refused = env.run_with(&["create", "identity", "--file", "-"], &body.to_string());
    let error = refused.error();
    assert_eq!(
        error["message"], "json: illegal base64 data at input byte 2",
        "{error}"
    );
    assert_eq!(
        error["details"]["pointer"],
        "/credentials/webauthn/config/credentials/0/public_key"
    );
    assert_eq!(env.count(), 0, "nothing is written on a refusal");
    Ok(())
}

#[test]
fn an_update_appends_lookup_codes_and_merges_authenticators_by_id() -> TestResult {
    let env = Env::new();
    let created = env.create(&body_with_every_kind("cy@example.org", "aGFuZGxl"));
    let id = created["id"].as_str().unwrap_or_default();
    let mut replaced = authenticator("AQID", false);
    replaced["display_name"] = json!("YubiKey 5 (renamed)");
    let update = json!({
        "schema_id": "preset://email",
        "traits": {"email": "cy@example.org"},
        "credentials": {
            "lookup_secret": {"config": {"codes": [{"code": "c9d0e1f2"}]}},
            "webauthn": {"config": {"credentials": [replaced, authenticator("CQoL", false)]}},
            "totp": {"config": {"totp_url": "otpauth://totp/kith:cy?secret=NEWSECRET"}}
        }
    });
    env.run_with(
        &["update", "identity", id, "--file", "-"],
        &update.to_string(),
    )
    .ok();
    let shown = get_with(&env, id, &["totp", "lookup_secret", "webauthn", "passkey"]);
    let credentials = &shown["credentials"];
    let codes: Vec<&str> = credentials["lookup_secret"]["config"]["recovery_codes"]
        .as_array()
        .map(|codes| codes.iter().filter_map(|c| c["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes, ["a1b2c3d4", "e5f6a7b8", "c9d0e1f2"]);
    let authenticators = &credentials["webauthn"]["config"]["credentials"];
    assert_eq!(authenticators.as_array().map(Vec::len), Some(2), "{shown}");
    assert_eq!(authenticators[0]["display_name"], "YubiKey 5 (renamed)");
    assert_eq!(authenticators[1]["id"], "CQoL");
    // No user handle in the update: the stored one stays.
    assert_eq!(
        credentials["webauthn"]["config"]["user_handle"],
        "d2ViYXV0aG4taGFuZGxl"
    );
    assert_eq!(
        credentials["totp"]["config"]["totp_url"],
        "otpauth://totp/kith:cy?secret=NEWSECRET"
    );
    // The passkey was not in the update and is carried over.
    assert_eq!(credentials["passkey"]["identifiers"], json!(["handle"]));
    Ok(())
}

#[test]
fn every_kind_exports_and_imports_back_byte_for_byte() -> TestResult {
    let first = Env::new();
    first.create(&body_with_every_kind("di@example.org", "aGFuZGxlLTE="));
    first.create(&body_with_every_kind("ed@example.org", "aGFuZGxlLTI="));
    let exported = first
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    for kind in ["totp", "lookup_secret", "webauthn", "passkey"] {
        assert!(
            exported.contains(&format!("\"{kind}\"")),
            "{kind}: {exported}"
        );
    }
    let second = Env::new();
    let file = second.file("export.ndjson", &exported);
    second.run(&["import", "identities", &file]).ok();
    let again = second
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    assert_eq!(again, exported);
    Ok(())
}
