//! `kith verify password`: matches, mismatches, disabled identities and hash upgrades.

use crate::harness::{Env, TestResult};
use serde_json::json;

/// bcrypt (cost 4) of "test", made by Python's bcrypt.
const BCRYPT_TEST: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";

fn user_with_password(env: &Env, username: &str, config: serde_json::Value) -> String {
    let identity = env.create(&json!({
        "schema_id": "preset://username",
        "traits": {"username": username},
        "credentials": {"password": {"config": config}}
    }));
    identity["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_match_exits_zero_and_a_mismatch_or_unknown_identifier_reads_the_same() -> TestResult {
    let env = Env::new();
    let id = user_with_password(&env, "Alice", json!({"password": "s3cret pass"}));
    let matched = env
        .run_with(
            &[
                "verify",
                "password",
                "--identifier",
                "ALICE",
                "--password-stdin",
            ],
            "s3cret pass\n",
        )
        .ok()
        .json();
    assert_eq!(matched["identity_id"], id.as_str());
    assert_eq!(matched["rehashed"], false);

    let wrong = env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "alice",
            "--password-stdin",
        ],
        "nope\n",
    );
    let unknown = env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "bob",
            "--password-stdin",
        ],
        "nope\n",
    );
    assert_eq!((wrong.code, unknown.code), (1, 1));
    assert_eq!(
        wrong.stderr, unknown.stderr,
        "a wrong password and an unknown user read the same"
    );
    assert!(
        wrong
            .stderr
            .contains("The provided credentials are invalid"),
        "{}",
        wrong.stderr
    );
    Ok(())
}

#[test]
fn the_password_is_never_taken_from_an_argument() -> TestResult {
    let env = Env::new();
    let run = env.run(&["verify", "password", "--identifier", "x", "--password", "y"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--password"), "{}", run.stderr);
    Ok(())
}

#[test]
fn an_inactive_identity_is_refused_as_disabled() -> TestResult {
    let env = Env::new();
    let identity = env.create(&json!({
        "schema_id": "preset://username", "traits": {"username": "sleepy"}, "state": "inactive",
        "credentials": {"password": {"config": {"hashed_password": BCRYPT_TEST}}}
    }));
    let run = env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "sleepy",
            "--password-stdin",
        ],
        "test\n",
    );
    assert_eq!(run.code, 1);
    let error = run.error();
    assert_eq!(error["id"], "identity_disabled");
    assert_eq!(error["reason"], "This account was disabled.");
    assert_eq!(error["message"], "identity is disabled");
    assert_eq!(error["details"]["identity_id"], identity["id"]);
    Ok(())
}

/// `kith verify password` for `identifier` with `password` on stdin; must succeed.
fn verified(env: &Env, identifier: &str, password: &str) -> serde_json::Value {
    env.verify_password(identifier, password).ok().json()
}

/// The stored password hash of an identity.
fn stored_hash(env: &Env, id: &str) -> String {
    let stored = env
        .run(&["get", "identity", id, "-i", "password"])
        .ok()
        .json();
    stored["credentials"]["password"]["config"]["hashed_password"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_match_on_another_algorithm_upgrades_the_hash() -> TestResult {
    let env = Env::new();
    let id = user_with_password(&env, "legacy", json!({"hashed_password": BCRYPT_TEST}));
    assert_eq!(verified(&env, "legacy", "test")["rehashed"], true);
    let hash = stored_hash(&env, &id);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(
        verified(&env, "legacy", "test")["rehashed"],
        false,
        "an up-to-date hash is left alone"
    );
    let events = env.run(&["list", "events", "--identity", &id]).ok().json();
    assert!(events.to_string().contains("password.rehashed"), "{events}");
    Ok(())
}

#[test]
fn a_weaker_cost_of_the_configured_algorithm_is_upgraded_too() -> TestResult {
    let env = Env::new();
    env.run(&["set", "config", "hashers.algorithm", "bcrypt"])
        .ok();
    env.run(&["set", "config", "hashers.bcrypt.cost", "5"]).ok();
    let id = user_with_password(&env, "weak", json!({"hashed_password": BCRYPT_TEST}));
    assert_eq!(verified(&env, "weak", "test")["rehashed"], true);
    let hash = stored_hash(&env, &id);
    assert!(
        hash.starts_with("$2b$05$") || hash.starts_with("$2a$05$"),
        "{hash}"
    );
    Ok(())
}
