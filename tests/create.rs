//! `kith create identity`: Kratos' body, response and errors.

use crate::harness::{Env, TestResult};
use serde_json::json;

#[test]
fn create_with_flags_prints_the_identity_as_kratos_does() -> TestResult {
    let env = Env::new();
    let identity = env
        .run(&[
            "create",
            "identity",
            "--schema-id",
            "preset://email",
            "--traits",
            r#"{"email":"docs@example.org"}"#,
        ])
        .ok()
        .json();
    insta::assert_json_snapshot!("create_identity_response", identity, {
        ".id" => "[uuid]",
        ".**.id" => "[uuid]",
        ".**.created_at" => "[time]",
        ".**.updated_at" => "[time]",
        ".state_changed_at" => "[time]",
    });
    assert!(uuid::Uuid::parse_str(identity["id"].as_str().unwrap_or_default()).is_ok());
    Ok(())
}

#[test]
fn create_from_a_whole_body_keeps_every_field() -> TestResult {
    let env = Env::new();
    let body = json!({
        "schema_id": "preset://email",
        "traits": {"email": "Ada@Example.ORG", "name": {"first": "Ada"}},
        "state": "inactive",
        "metadata_public": {"plan": "pro"},
        "metadata_admin": {"note": "vip"},
        "external_id": "crm-42",
        "verifiable_addresses": [
            {"value": "ADA@example.org", "verified": true, "via": "email", "status": "completed"},
            {"value": "not-in-traits@example.org", "verified": true, "via": "email"}
        ],
        "recovery_addresses": [{"value": "ada@example.org", "via": "email"}],
        "credentials": {
            "password": {"config": {"password": "correct horse battery staple"}},
            "oidc": {"config": {"providers": [{"provider": "google", "subject": "1234"}]}}
        }
    });
    let path = env.file("body.json", &body.to_string());
    let identity = env
        .run(&["create", "identity", "--file", &path])
        .ok()
        .json();
    // Traits are stored as sent; derived values are normalized.
    assert_eq!(identity["traits"]["email"], "Ada@Example.ORG");
    assert_eq!(identity["state"], "inactive");
    assert_eq!(identity["metadata_public"], json!({"plan": "pro"}));
    assert_eq!(identity["metadata_admin"], json!({"note": "vip"}));
    assert_eq!(identity["external_id"], "crm-42");
    let addresses = identity["verifiable_addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        addresses.len(),
        1,
        "an imported address no trait backs is dropped: {addresses:?}"
    );
    assert_eq!(addresses[0]["value"], "ada@example.org");
    assert_eq!(addresses[0]["verified"], true);
    assert_eq!(addresses[0]["status"], "completed");
    assert!(addresses[0]["verified_at"].is_string());
    assert_eq!(
        identity["credentials"]["password"]["identifiers"],
        json!(["ada@example.org"])
    );
    assert_eq!(
        identity["credentials"]["oidc"]["identifiers"],
        json!(["google:1234"])
    );
    assert!(
        identity["credentials"]["password"].get("config").is_none(),
        "config is never in a create response"
    );

    let id = identity["id"].as_str().unwrap_or_default();
    let stored = env
        .run(&["get", "identity", id, "--include-credential", "password"])
        .ok()
        .json();
    let hash = stored["credentials"]["password"]["config"]["hashed_password"]
        .as_str()
        .unwrap_or_default();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "cleartext is hashed with argon2id: {hash}"
    );
    assert!(
        stored["credentials"]["oidc"].get("config").is_none(),
        "only the asked-for config is shown"
    );
    Ok(())
}

#[test]
fn create_reads_the_body_from_stdin() -> TestResult {
    let env = Env::new();
    let run = env.run_with(
        &["create", "identity", "-f", "-"],
        r#"{"schema_id":"preset://username","traits":{"username":"Grace"}}"#,
    );
    let identity = run.ok().json();
    assert_eq!(
        identity["credentials"]["password"]["identifiers"],
        json!(["grace"])
    );
    assert!(
        identity.get("verifiable_addresses").is_none(),
        "the username preset verifies nothing"
    );
    Ok(())
}

#[test]
fn prehashed_bcrypt_and_argon2id_passwords_are_accepted() -> TestResult {
    let env = Env::new();
    for (user, hash) in [
        (
            "b",
            "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2",
        ),
        (
            "a",
            "$argon2id$v=19$m=64,t=1,p=1$4DFgh4qvja26OnAKx/Z9AQ$OmOL3Mtej9svTGVA89R9Dlf6HxyvbWlGjG+2Ea0tKOU",
        ),
    ] {
        env.create(&json!({
            "schema_id": "preset://username",
            "traits": {"username": user},
            "credentials": {"password": {"config": {"hashed_password": hash}}}
        }));
    }
    assert_eq!(env.count(), 2);
    Ok(())
}

#[test]
fn refusals_carry_kratos_errors_and_write_nothing() -> TestResult {
    let env = Env::new();
    env.create_email("taken@example.org");
    let cases = [
        (
            "unknown field",
            json!({"schema_id": "preset://email", "traits": {"email": "a@x.org"}, "schema_url": "x"}).to_string(),
            400,
            json!({"message": "json: unknown field \"schema_url\""}),
        ),
        (
            "unknown nested field",
            json!({"schema_id": "preset://email", "traits": {"email": "a@x.org"},
                   "credentials": {"password": {"config": {"pasword": "x"}}}})
            .to_string(),
            400,
            json!({"message": "json: unknown field \"pasword\""}),
        ),
        (
            "unknown schema",
            json!({"schema_id": "does-not-exist", "traits": {}}).to_string(),
            400,
            json!({"reason": "Unable to find JSON Schema ID: does-not-exist"}),
        ),
        (
            "duplicate in another letter case",
            json!({"schema_id": "preset://email", "traits": {"email": "TAKEN@Example.org"}}).to_string(),
            409,
            json!({"reason": "This identity conflicts with another identity that already exists.",
                   "message": "The resource could not be created due to a conflict"}),
        ),
        (
            "invalid state",
            json!({"schema_id": "preset://email", "traits": {"email": "s@x.org"}, "state": "asleep"}).to_string(),
            400,
            json!({"reason": "identity state is not valid"}),
        ),
        (
            "unknown hash format",
            json!({"schema_id": "preset://email", "traits": {"email": "h@x.org"},
                   "credentials": {"password": {"config": {"hashed_password": "$unknown$12$abc"}}}})
            .to_string(),
            400,
            json!({"reason": "The imported password does not match any known hash format. For more information see https://www.ory.sh/dr/2"}),
        ),
        (
            "malformed JSON",
            "{\"schema_id\": \"preset://email\",\n \"traits\": {\"email\": }".to_string(),
            400,
            json!({}),
        ),
    ];
    for (name, body, code, expected) in cases {
        let run = env.run_with(&["create", "identity", "-f", "-"], &body);
        assert_eq!(run.code, 1, "{name}: exit code; stderr {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}: nothing on stdout");
        let error = run.error();
        assert_eq!(error["code"], code, "{name}: {error}");
        for (key, value) in expected.as_object().into_iter().flatten() {
            assert_eq!(&error[key], value, "{name}: {key} in {error}");
        }
    }
    assert_eq!(env.count(), 1, "no refused body left anything behind");
    Ok(())
}

#[test]
fn malformed_json_names_the_line_and_column() -> TestResult {
    let env = Env::new();
    let path = env.file(
        "broken.json",
        "{\"schema_id\": \"preset://email\",\n \"traits\": {\"email\": }}",
    );
    let run = env.run(&["--format", "table", "create", "identity", "--file", &path]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("broken.json:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("expected value"), "{}", run.stderr);
    Ok(())
}

#[test]
fn schema_violations_are_all_reported_with_pointers() -> TestResult {
    let env = Env::new();
    let run = env.run_with(
        &["create", "identity", "-f", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": 5, "name": {"first": 1}, "extra": true}}).to_string(),
    );
    assert_eq!(run.code, 1);
    let error = run.error();
    let violations = error["details"]["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found: Vec<(String, String)> = violations
        .iter()
        .map(|v| {
            (
                v["instance_ptr"].as_str().unwrap_or("").into(),
                v["message"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    for expected in [
        ("#/traits/email", "expected string, but got number"),
        ("#/traits/name/first", "expected string, but got number"),
        ("#/traits", "additionalProperties \"extra\" not allowed"),
    ] {
        assert!(
            found
                .iter()
                .any(|(p, m)| p == expected.0 && m == expected.1),
            "missing {expected:?} in {found:?}"
        );
    }
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or("")
            .contains("I[#/traits/email] S[#/properties/traits/properties/email/type]"),
        "{error}"
    );
    let table = env.run_with(
        &["--format", "table", "create", "identity", "-f", "-"],
        &json!({"schema_id": "preset://email", "traits": {}}).to_string(),
    );
    insta::assert_snapshot!("schema_violation_table", table.stderr);
    Ok(())
}

#[test]
fn conflicts_cover_addresses_and_external_ids() -> TestResult {
    let env = Env::new();
    env.create(&json!({"schema_id": "preset://email", "traits": {"email": "one@example.org"}, "external_id": "ext-1"}));
    let run = env.run_with(
        &["create", "identity", "-f", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "two@example.org"}, "external_id": "ext-1"}).to_string(),
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.error()["code"], 409);
    assert_eq!(run.error()["details"]["conflicting_field"], "external_id");
    assert_eq!(env.count(), 1);
    Ok(())
}

/// Terminal errors on a typo'd schema id name the nearest known id, list the known ones and
/// the command that shows them; programs get the list in `details`, the reason word for word.
#[test]
fn an_unknown_schema_id_suggests_the_nearest_and_lists_the_known_ones() -> TestResult {
    let env = Env::new();
    let args = [
        "create",
        "identity",
        "--schema-id",
        "preset://emial",
        "--traits",
        "{}",
    ];
    let mut table = vec!["--format", "table"];
    table.extend(args);
    let run = env.run(&table);
    assert_eq!(run.code, 1);
    for expected in [
        "Unable to find JSON Schema ID: preset://emial",
        "did you mean `preset://email`?",
        "known schema ids: preset://email, preset://username",
        "`kith list schemas`",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
    let error = env.run(&args).error();
    assert_eq!(
        error["reason"],
        "Unable to find JSON Schema ID: preset://emial"
    );
    assert_eq!(
        error["details"]["known_schema_ids"],
        json!(["preset://email", "preset://username"])
    );
    Ok(())
}

/// Each terminal error says each thing once: no `--traits: --traits ...`, no
/// `nope.json: could not read nope.json`, one line per broken rule, and a bad schema's
/// problems listed once.
#[test]
fn terminal_errors_say_nothing_twice() -> TestResult {
    let env = Env::new();
    let table = |args: &[&str]| {
        let mut all = vec!["--format", "table"];
        all.extend_from_slice(args);
        let run = env.run(&all);
        assert_eq!(run.code, 1, "{run:?}");
        run.stderr
    };
    let bad_json = table(&[
        "create",
        "identity",
        "--schema-id",
        "preset://email",
        "--traits",
        "nope",
    ]);
    assert!(
        bad_json.starts_with("error: --traits is not valid JSON"),
        "{bad_json}"
    );
    let missing = table(&["create", "identity", "-f", "nope.json"]);
    assert_eq!(missing.matches("nope.json").count(), 1, "{missing}");
    let bad_email = table(&[
        "create",
        "identity",
        "--schema-id",
        "preset://email",
        "--traits",
        r#"{"email":"bad"}"#,
    ]);
    assert_eq!(
        bad_email.matches("is not valid \"email\"").count(),
        1,
        "{bad_email}"
    );
    let schema = env.file(
        "bad.schema.json",
        r#"{"type":"object","properties":{"traits":{"type":"object","minLength":"x"}}}"#,
    );
    let bad_schema = table(&["add", "schema", "s1", &schema]);
    assert_eq!(
        bad_schema.matches("is not of type \"integer\"").count(),
        1,
        "{bad_schema}"
    );
    Ok(())
}

#[test]
fn a_schema_id_without_traits_says_traits_is_missing() -> TestResult {
    let env = Env::new();
    let run = env.run(&["create", "identity", "--schema-id", "preset://email"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--traits"), "{}", run.stderr);
    assert!(!run.stderr.contains("missing properties"), "{}", run.stderr);
    assert!(!env.db.exists(), "a refused command line makes no store");
    Ok(())
}

/// A conflict names the value that collided and the identity holding it: in `details` for
/// programs (Kratos' reason word for word) and in the terminal's rendering.
#[test]
fn a_conflict_names_the_colliding_value_and_its_holder() -> TestResult {
    let env = Env::new();
    let holder = env.create_email("taken@example.org");
    let body = json!({"schema_id": "preset://email", "traits": {"email": "taken@example.org"}});
    let run = env.run_with(&["create", "identity", "-f", "-"], &body.to_string());
    assert_eq!(run.code, 1);
    let error = run.error();
    assert_eq!(
        error["reason"],
        "This identity conflicts with another identity that already exists."
    );
    assert_eq!(
        error["details"]["conflicting_field"],
        "credential identifier"
    );
    assert_eq!(error["details"]["conflicting_value"], "taken@example.org");
    assert_eq!(error["details"]["conflicting_identity"], holder.as_str());
    let table = env.run_with(
        &["--format", "table", "create", "identity", "-f", "-"],
        &body.to_string(),
    );
    assert!(
        table.stderr.contains(&format!(
            "the credential identifier `taken@example.org` is held by identity {holder}"
        )),
        "{}",
        table.stderr
    );
    // A PUT that takes another identity's address names it the same way.
    let other = env.create_email("other@example.org");
    let put = env.run_with(
        &["update", "identity", &other, "-f", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "taken@example.org"}, "state": "active"}).to_string(),
    );
    assert_eq!(put.code, 1, "{}", put.stderr);
    assert_eq!(
        put.error()["details"]["conflicting_identity"],
        holder.as_str()
    );
    Ok(())
}

/// An unknown field suggests the known one it most likely meant, and says where it is
/// typed (file, line and column); Kratos' message stays word for word.
#[test]
fn an_unknown_field_suggests_the_nearest_and_gives_its_line_and_column() -> TestResult {
    let env = Env::new();
    let body = env.file(
        "body.json",
        "{\n  \"schema_id\": \"preset://email\",\n  \"traits\": {\"email\": \"a@example.org\"},\n  \"stat\": \"active\"\n}\n",
    );
    let run = env.run(&["create", "identity", "--file", &body]);
    assert_eq!(run.code, 1);
    let error = run.error();
    assert_eq!(error["message"], "json: unknown field \"stat\"");
    assert_eq!(error["details"]["did_you_mean"], "state");
    assert_eq!(error["details"]["line"], 4);
    assert_eq!(error["details"]["column"], 3);
    let table = env.run(&["--format", "table", "create", "identity", "--file", &body]);
    assert!(
        table
            .stderr
            .contains(&format!("{body}:4:3: json: unknown field \"stat\"")),
        "{}",
        table.stderr
    );
    assert!(
        table.stderr.contains("did you mean `state`?"),
        "{}",
        table.stderr
    );
    // Nested: a slip inside the password's config.
    let nested = env.run_with(
        &["create", "identity", "-f", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "b@example.org"},
                "credentials": {"password": {"config": {"pasword": "x"}}}})
        .to_string(),
    );
    assert_eq!(nested.error()["details"]["did_you_mean"], "password");
    Ok(())
}

/// On a terminal kith's own errors start with a red `error:`; `NO_COLOR` (and a dumb
/// terminal) turn the colour off, and a pipe never gets it.
#[test]
fn errors_are_coloured_on_a_terminal_unless_no_color_is_set() -> TestResult {
    let env = Env::new();
    let args = ["get", "identity", "00000000-0000-0000-0000-000000000001"];
    let red = "\x1b[1;31merror:\x1b[0m";
    let coloured = env.on_a_terminal(&args, &[]);
    assert!(coloured.contains(red), "{coloured:?}");
    for vars in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
        let plain = env.on_a_terminal_with(100, &args, &[], &vars);
        assert!(plain.contains("error:"), "{plain:?}");
        assert!(!plain.contains('\x1b'), "{vars:?}: {plain:?}");
    }
    let piped = env.run(&["--format", "table", "get", "identity", args[2]]);
    assert!(piped.stderr.starts_with("error:"), "{}", piped.stderr);
    Ok(())
}
