//! Password migration with no network: identities imported with `use_password_migration_hook`
//! and another system's hash, signed in through a password-migration plugin (`legacy-hashes`,
//! or `hostile-migration` for the faults), and what every write path and view does with the
//! legacy hash.

use crate::harness::{Env, Run, TestResult};
use crate::plugins::plugin_dir;
use serde_json::{Value, json};

/// phpass (`$P$`, 2^13 rounds) of "correct horse battery staple", computed with a Python
/// transcription of WordPress' `crypt_private` over hashlib.md5.
const PHPASS: &str = "$P$BkithSaltr5BVtw9rT4Xodp/X.78w90";
const PHPASS_PASSWORD: &str = "correct horse battery staple";
/// `{SHA}` of "password" (base64 of hashlib.sha1).
const LDAP_SHA: &str = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=";
/// Traditional DES crypt of "password", salt `ab` (Python's crypt.crypt over libxcrypt).
const DES: &str = "abJnggxhB/yWI";
/// yescrypt of "correct horse" at libxcrypt's default cost (Python's crypt.crypt, Debian 12).
const YESCRYPT: &str = "$y$j9T$kithyescryptsalt$H3XsWl332zpBQnPEHYqHIO8E7NrgKj5WkVRfRPT9V3.";
/// bcrypt (cost 4) of "test", made by Python's bcrypt.
const BCRYPT_TEST: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";

/// A createIdentityBody flagged for migration, with `legacy` as its `hashed_password`.
fn flagged(email: &str, legacy: &str) -> Value {
    json!({
        "schema_id": "preset://email",
        "traits": {"email": email},
        "credentials": {"password": {"config": {
            "hashed_password": legacy,
            "use_password_migration_hook": true
        }}}
    })
}

/// Imports `bodies` (NDJSON through a file) and returns the ids in order.
fn import(env: &Env, bodies: &[Value]) -> Vec<String> {
    let text: String = bodies.iter().map(|b| format!("{b}\n")).collect();
    let path = env.file("flagged.ndjson", &text);
    env.run(&["import", "identities", &path]).ok();
    bodies
        .iter()
        .map(|body| {
            let email = body["traits"]["email"].as_str().unwrap_or_default();
            let found = env
                .run(&["list", "identities", "--identifier", email])
                .ok()
                .json();
            found[0]["id"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn install(env: &Env, name: &str, config: &[&str]) -> Run {
    let dir = plugin_dir(name);
    let mut args = vec!["install", "plugin", dir.as_str()];
    for pair in config {
        args.extend(["--config", pair]);
    }
    env.run(&args)
}

/// The stored password config, as `get identity --include-credential password` shows it.
fn password_config(env: &Env, id: &str) -> Value {
    env.run(&["get", "identity", id, "--include-credential", "password"])
        .ok()
        .json()["credentials"]["password"]["config"]
        .clone()
}

fn events(env: &Env, action: &str) -> Vec<Value> {
    env.run(&["list", "events"])
        .ok()
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn flagged_phpass_ldap_sha_and_des_identities_sign_in_through_legacy_hashes_once() -> TestResult {
    let env = Env::new();
    let ids = import(
        &env,
        &[
            flagged("wp@example.org", PHPASS),
            flagged("ldap@example.org", LDAP_SHA),
            flagged("unix@example.org", DES),
        ],
    );
    install(&env, "legacy-hashes", &[]).ok();
    for (id, (email, password)) in ids.iter().zip([
        ("wp@example.org", PHPASS_PASSWORD),
        ("LDAP@example.org", "password"),
        ("unix@example.org", "password"),
    ]) {
        let matched = env.verify_password(email, password).ok().json();
        assert_eq!(matched["identity_id"], id.as_str());
        assert_eq!(matched["migrated_by"], "legacy-hashes", "{email}");
        // kith's own hash now, and the flag gone: the plugin is never asked again.
        let config = password_config(&env, id);
        assert!(
            config["hashed_password"]
                .as_str()
                .is_some_and(|h| h.starts_with("$argon2id$")),
            "{config}"
        );
        assert_eq!(config.get("use_password_migration_hook"), None, "{config}");
    }
    env.run(&["disable", "plugin", "legacy-hashes"]).ok();
    for (email, password) in [
        ("wp@example.org", PHPASS_PASSWORD),
        ("ldap@example.org", "password"),
        ("unix@example.org", "password"),
    ] {
        let matched = env.verify_password(email, password).ok().json();
        assert_eq!(matched.get("migrated_by"), None, "{matched}");
    }
    let migrated = events(&env, "identity.password_migrated");
    assert_eq!(migrated.len(), 3, "{migrated:?}");
    for event in &migrated {
        assert_eq!(event["detail"]["verified_by"], "legacy-hashes", "{event}");
        assert_eq!(event["detail"]["version"], "0.1.0", "{event}");
    }
    Ok(())
}

#[test]
fn a_wrong_password_on_a_flagged_identity_reads_as_any_wrong_password_and_keeps_the_flag()
-> TestResult {
    let env = Env::new();
    let ids = import(&env, &[flagged("wp@example.org", PHPASS)]);
    install(&env, "legacy-hashes", &[]).ok();
    let wrong = env.verify_password("wp@example.org", "not it");
    let unknown = env.verify_password("nobody@example.org", "not it");
    assert_eq!((wrong.code, unknown.code), (1, 1), "{}", wrong.stderr);
    assert_eq!(wrong.stderr, unknown.stderr);
    assert_eq!(
        password_config(&env, &ids[0]),
        json!({"use_password_migration_hook": true})
    );
    // Still migratable with the right one.
    env.verify_password("wp@example.org", PHPASS_PASSWORD).ok();
    Ok(())
}

#[test]
fn a_flagged_identity_with_no_migration_plugin_enabled_is_a_configuration_error() -> TestResult {
    let env = Env::new();
    let ids = import(&env, &[flagged("wp@example.org", PHPASS)]);
    let check = |run: Run| {
        assert_eq!(run.code, 2, "{}", run.stderr);
        let error = run.error();
        assert_eq!(error["code"], 500);
        assert_eq!(
            error["reason"],
            "Password migration hook is not enabled but password migration is requested."
        );
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("kith install plugin")),
            "{error}"
        );
    };
    check(env.verify_password("wp@example.org", PHPASS_PASSWORD));
    install(&env, "legacy-hashes", &[]).ok();
    env.run(&["disable", "plugin", "legacy-hashes"]).ok();
    check(env.verify_password("wp@example.org", PHPASS_PASSWORD));
    assert_eq!(
        password_config(&env, &ids[0]),
        json!({"use_password_migration_hook": true})
    );
    Ok(())
}

#[test]
fn a_migration_plugin_that_traps_errs_or_runs_out_of_fuel_exits_2_keeps_the_flag_and_is_audited_without_the_secrets()
-> TestResult {
    let env = Env::new();
    let secret_password = "pw-that-must-not-leak";
    let ids = import(&env, &[flagged("wp@example.org", PHPASS)]);
    install(&env, "hostile-migration", &["mode=panic"]).ok();
    for (mode, fault) in [
        ("panic", "panic"),
        ("error", "failed"),
        ("loop", "out_of_fuel"),
    ] {
        env.run(&["remove", "plugin", "hostile-migration"]).ok();
        install(&env, "hostile-migration", &[&format!("mode={mode}")]).ok();
        let run = env.verify_password("wp@example.org", secret_password);
        assert_eq!(run.code, 2, "{mode}: {}", run.stderr);
        let error = run.error();
        assert_eq!(error["code"], 502, "{mode}: {error}");
        assert_eq!(
            error["reason"],
            "A third-party upstream service responded improperly. Please try again later."
        );
        assert_eq!(error["details"]["plugin"], "hostile-migration");
        assert_eq!(error["details"]["fault"], fault, "{mode}: {error}");
        for secret in [secret_password, PHPASS] {
            assert!(
                !run.stderr.contains(secret),
                "{mode} leaked: {}",
                run.stderr
            );
        }
    }
    assert_eq!(
        password_config(&env, &ids[0]),
        json!({"use_password_migration_hook": true})
    );
    let failed = events(&env, "identity.password_migration_failed");
    assert_eq!(failed.len(), 3, "{failed:?}");
    for event in &failed {
        assert_eq!(event["detail"]["plugin"], "hostile-migration", "{event}");
        assert_eq!(event["identity_id"], ids[0].as_str(), "{event}");
    }
    let audit = env.run(&["list", "events"]).ok().stdout;
    for secret in [secret_password, PHPASS] {
        assert!(!audit.contains(secret), "the audit log holds {secret}");
    }
    // A plugin that says no is a wrong password, and a yes migrates.
    env.run(&["remove", "plugin", "hostile-migration"]).ok();
    install(&env, "hostile-migration", &["mode=no-match"]).ok();
    assert_eq!(env.verify_password("wp@example.org", "x").code, 1);
    env.run(&["remove", "plugin", "hostile-migration"]).ok();
    install(&env, "hostile-migration", &["mode=match"]).ok();
    let matched = env.verify_password("wp@example.org", "x").ok().json();
    assert_eq!(matched["migrated_by"], "hostile-migration");
    Ok(())
}

#[test]
fn an_unknown_legacy_format_is_a_fault_not_a_wrong_password() -> TestResult {
    let env = Env::new();
    let ids = import(
        &env,
        &[flagged("old@example.org", "$whirlpool$c2FsdA$aGFzaA")],
    );
    install(&env, "legacy-hashes", &[]).ok();
    let run = env.verify_password("old@example.org", "anything");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unsupported legacy hash format"),
        "{}",
        run.stderr
    );
    assert_eq!(
        password_config(&env, &ids[0]),
        json!({"use_password_migration_hook": true})
    );
    Ok(())
}

#[test]
fn the_legacy_hash_is_shown_nowhere_kratos_shows_only_the_flag() -> TestResult {
    let env = Env::new();
    let ids = import(&env, &[flagged("wp@example.org", PHPASS)]);
    let shown = env
        .run(&[
            "get",
            "identity",
            &ids[0],
            "--include-credential",
            "password",
        ])
        .ok();
    // Kratos stores only the flag for such a body (identity/handler_import.go).
    assert_eq!(
        shown.json()["credentials"]["password"]["config"],
        json!({"use_password_migration_hook": true})
    );
    let listed = env
        .run(&[
            "list",
            "identities",
            "--identifier",
            "wp@example.org",
            "--include-credential",
            "password",
        ])
        .ok();
    for text in [&shown.stdout, &listed.stdout] {
        assert!(!text.contains(PHPASS), "{text}");
    }
    // An export with credentials is an import body: the hash rides beside the flag (Kratos
    // ignores it there), so another kith can still migrate the identity.
    let exported = env
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    let body: Value = serde_json::from_str(exported.trim())?;
    assert_eq!(
        body["credentials"]["password"]["config"],
        json!({"hashed_password": PHPASS, "use_password_migration_hook": true})
    );
    let other = Env::new();
    let path = other.file("export.ndjson", &exported);
    other.run(&["import", "identities", &path]).ok();
    install(&other, "legacy-hashes", &[]).ok();
    other
        .verify_password("wp@example.org", PHPASS_PASSWORD)
        .ok();
    Ok(())
}

#[test]
fn every_write_path_keeps_or_replaces_the_legacy_hash_as_its_body_says() -> TestResult {
    let env = Env::new();
    install(&env, "legacy-hashes", &[]).ok();
    // create
    let created = env.create(&flagged("create@example.org", LDAP_SHA));
    let id = created["id"].as_str().unwrap_or_default().to_string();
    // update (PUT) without credentials keeps it, as it keeps the flag
    let put = env.file(
        "put.json",
        &json!({"schema_id": "preset://email", "traits": {"email": "create@example.org"},
                "metadata_public": {"plan": "pro"}, "state": "active"})
        .to_string(),
    );
    env.run(&["update", "identity", &id, "--file", &put]).ok();
    // patch of something else keeps it too
    let patch = env.file(
        "patch.json",
        &json!([{"op": "add", "path": "/metadata_admin", "value": {"note": "x"}}]).to_string(),
    );
    env.run(&["patch", "identity", &id, "--file", &patch]).ok();
    assert_eq!(
        password_config(&env, &id),
        json!({"use_password_migration_hook": true})
    );
    // an upsert with a new legacy hash replaces the old one
    let upsert = env.file(
        "upsert.ndjson",
        &format!("{}\n", flagged("create@example.org", DES)),
    );
    env.run(&["import", "identities", &upsert, "--on-conflict", "update"])
        .ok();
    let run = env.verify_password("create@example.org", "password");
    assert_eq!(run.ok().json()["migrated_by"], "legacy-hashes");

    // A PUT that sets a password ends the migration: the legacy hash goes with the flag.
    let second = env.create(&flagged("second@example.org", LDAP_SHA));
    let second = second["id"].as_str().unwrap_or_default().to_string();
    let put = env.file(
        "put2.json",
        &json!({"schema_id": "preset://email", "traits": {"email": "second@example.org"},
                "state": "active",
                "credentials": {"password": {"config": {"password": "brand new one"}}}})
        .to_string(),
    );
    env.run(&["update", "identity", &second, "--file", &put])
        .ok();
    assert_eq!(
        env.verify_password("second@example.org", "password").code,
        1
    );
    let matched = env
        .verify_password("second@example.org", "brand new one")
        .ok()
        .json();
    assert_eq!(matched.get("migrated_by"), None);

    // The batch (PATCH /admin/identities) keeps it like a create.
    let kith = kith::Kith::open(&env.db)?;
    let batch: kith::model::BatchPatchBody = serde_json::from_value(json!({
        "identities": [{"create": flagged("batch@example.org", PHPASS)}]
    }))?;
    kith::Admin::batch_patch_identities(&kith, batch, false)?;
    drop(kith);
    let run = env.verify_password("batch@example.org", PHPASS_PASSWORD);
    assert_eq!(run.ok().json()["migrated_by"], "legacy-hashes");
    Ok(())
}

#[test]
fn an_oversized_legacy_hash_is_refused_naming_the_field_not_the_hash() -> TestResult {
    let env = Env::new();
    let huge = format!("$P$B{}", "x".repeat(5000));
    let run = env.run_with(
        &["create", "identity", "--file", "-"],
        &flagged("big@example.org", &huge).to_string(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let reason = run.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("hashed_password") && reason.contains("4096"),
        "{reason}"
    );
    assert!(!run.stderr.contains(&huge));
    Ok(())
}

#[test]
fn a_kratos_format_beside_the_flag_is_verified_by_kith_itself() -> TestResult {
    let env = Env::new();
    let ids = import(&env, &[flagged("b@example.org", BCRYPT_TEST)]);
    // No plugin at all: kith knows bcrypt.
    assert_eq!(env.verify_password("b@example.org", "nope").code, 1);
    let matched = env.verify_password("b@example.org", "test").ok().json();
    assert_eq!(matched["migrated_by"], "kith");
    assert_eq!(
        password_config(&env, &ids[0]).get("use_password_migration_hook"),
        None
    );
    Ok(())
}

#[test]
fn only_one_password_migration_plugin_may_be_enabled() -> TestResult {
    let env = Env::new();
    install(&env, "legacy-hashes", &[]).ok();
    let second = install(&env, "hostile-migration", &[]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    let error = second.error();
    assert_eq!(error["code"], 409);
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("kith disable plugin legacy-hashes")),
        "{error}"
    );
    env.run(&["disable", "plugin", "legacy-hashes"]).ok();
    install(&env, "hostile-migration", &[]).ok();
    let enable = env.run(&["enable", "plugin", "legacy-hashes"]);
    assert_eq!(enable.error()["code"], 409, "{}", enable.stderr);
    let listed = env.run(&["list", "plugins"]).ok().json();
    let kinds: Vec<_> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["name"].clone(), p["kind"].clone(), p["enabled"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                json!("hostile-migration"),
                json!("password-migration"),
                json!(true)
            ),
            (
                json!("legacy-hashes"),
                json!("password-migration"),
                json!(false)
            ),
        ]
    );
    Ok(())
}

#[test]
fn run_plugin_checks_a_password_against_a_legacy_hash() -> TestResult {
    let env = Env::new();
    env.create_email("someone@example.org");
    let dir = plugin_dir("legacy-hashes");
    let run = |password: &str, legacy_hash: &str| {
        let input = json!({"identifier": "wp@example.org", "password": password,
                           "legacy_hash": legacy_hash});
        let path = env.file("attempt.json", &input.to_string());
        env.run(&["run", "plugin", &dir, "--input", &path])
            .ok()
            .json()
    };
    let yes = run(PHPASS_PASSWORD, PHPASS);
    assert_eq!(yes["output"], json!({"verdict": "password_match"}));
    let no = run("nope", PHPASS);
    assert_eq!(no["output"], json!({"verdict": "no_match"}));
    // yescrypt at libxcrypt's default cost (N = 4096, r = 32: 16 MiB) fits the kind's limits.
    let yescrypt = run("correct horse", YESCRYPT);
    assert_eq!(
        yescrypt["output"],
        json!({"verdict": "password_match"}),
        "{yescrypt}"
    );
    eprintln!(
        "yescrypt $y$j9T$: {} fuel of {}, {} bytes of memory, {} ms",
        yescrypt["fuel_used"],
        yescrypt["fuel_limit"],
        yescrypt["peak_memory_bytes"],
        yescrypt["duration_ms"]
    );
    Ok(())
}
