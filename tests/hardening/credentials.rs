//! Hardening: credentials. A patch to credentials takes the create/update path (cleartext
//! hashed, hashes checked), and no error echoes a submitted secret.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};

const SECRET: &str = "hunter2-correct-horse";

#[test]
fn patch_of_a_cleartext_password_stores_a_hash_never_the_password() -> TestResult {
    let env = Env::new();
    let id = env.create_email("clear@example.org");
    let patch = json!([{"op": "add", "path": "/credentials/password/config",
                        "value": {"password": SECRET}}]);
    let patched = env
        .run_with(&["patch", "identity", &id, "-f", "-"], &patch.to_string())
        .ok();
    assert!(!patched.stdout.contains(SECRET));
    let stored = env.run(&["get", "identity", &id, "-i", "password"]).ok();
    assert!(!stored.stdout.contains(SECRET), "{}", stored.stdout);
    let config = stored.json()["credentials"]["password"]["config"].clone();
    assert!(config.get("password").is_none(), "{config}");
    assert!(
        config["hashed_password"]
            .as_str()
            .unwrap_or_default()
            .starts_with('$'),
        "{config}"
    );
    assert!(
        !env.run(&["export", "identities", "--include-credentials"])
            .ok()
            .stdout
            .contains(SECRET)
    );
    env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "clear@example.org",
            "--password-stdin",
        ],
        &format!("{SECRET}\n"),
    )
    .ok();
    // Unknown fields in a patched config are refused, as on create.
    let typo = json!([{"op": "add", "path": "/credentials/password/config/pasword", "value": "x"}]);
    let run = env.run_with(&["patch", "identity", &id, "-f", "-"], &typo.to_string());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.error()["details"]["pointer"],
        "/credentials/password/config/pasword"
    );
    Ok(())
}

#[test]
fn patch_of_a_hash_past_the_cost_bounds_is_refused() -> TestResult {
    let env = Env::new();
    let id = env.create_email("costly@example.org");
    let hash = "$2a$31$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";
    let patch = json!([{"op": "add", "path": "/credentials/password/config",
                        "value": {"hashed_password": hash}}]);
    let run = env.run_with(&["patch", "identity", &id, "-f", "-"], &patch.to_string());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.error()["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("exceed the bounds"),
        "{}",
        run.stderr
    );
    let stored = env
        .run(&["get", "identity", &id, "-i", "password"])
        .ok()
        .json();
    assert_ne!(
        stored["credentials"]["password"]["config"]["hashed_password"],
        hash
    );
    Ok(())
}

/// Every way a body reaches kith: each must refuse a wrong-type credential config without
/// quoting the submitted value, keeping the pointer.
#[test]
fn body_errors_never_echo_a_submitted_secret() -> TestResult {
    let env = Env::new();
    let id = env.create_email("echo@example.org");
    let bodies: Vec<Value> = vec![
        json!({"schema_id": "preset://email", "traits": {"email": "a@example.org"},
               "credentials": {"password": {"config": SECRET}}}),
        json!({"schema_id": "preset://email", "traits": {"email": "b@example.org"},
               "credentials": {"password": {"config": {"password": 4_242_424_242_u64}}}}),
        json!({"schema_id": "preset://email", "traits": {"email": "c@example.org"},
               "credentials": {"password": {"config": {"hashed_password": true,
                                                       "use_password_migration_hook": SECRET}}}}),
    ];
    let leaks = |text: &str| text.contains(SECRET) || text.contains("4242424242");
    for body in &bodies {
        let text = body.to_string();
        let create = env.run_with(&["create", "identity", "-f", "-"], &text);
        assert_eq!(create.code, 1, "{}", create.stderr);
        assert!(!leaks(&create.stderr), "create: {}", create.stderr);
        let error = create.error();
        assert!(
            error["details"]["pointer"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/credentials/password/config"),
            "{error}"
        );
        assert!(error["details"]["line"].is_number(), "{error}");
        let table = env.run_with(
            &["--format", "table", "create", "identity", "-f", "-"],
            &text,
        );
        assert!(!leaks(&table.stderr), "table: {}", table.stderr);
        let update = env.run_with(&["update", "identity", &id, "-f", "-"], &text);
        assert_eq!(update.code, 1, "{}", update.stderr);
        assert!(!leaks(&update.stderr), "update: {}", update.stderr);
        let import = env.run_with(&["import", "identities", "-"], &text);
        assert_eq!(import.code, 1, "{}", import.stdout);
        assert!(!leaks(&import.stdout), "import: {}", import.stdout);
        assert!(!leaks(&import.stderr), "import: {}", import.stderr);
        let validate = env.file("body.json", &text);
        let validate = env.run(&["validate", "identity", &validate]);
        assert_eq!(validate.code, 1, "{}", validate.stderr);
        assert!(!leaks(&validate.stderr), "validate: {}", validate.stderr);
    }
    let patch = json!([{"op": "add", "path": "/credentials/password/config/password",
                        "value": 4_242_424_242_u64}]);
    let run = env.run_with(&["patch", "identity", &id, "-f", "-"], &patch.to_string());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!leaks(&run.stderr), "patch: {}", run.stderr);
    assert_eq!(
        run.error()["details"]["pointer"],
        "/credentials/password/config/password"
    );
    Ok(())
}
