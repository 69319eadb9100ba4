//! The store file: where it lives, WAL, migrations, two processes, audit, output and exit codes.

use crate::harness::{Env, TestResult};
use assert_cmd::Command;
use serde_json::json;

#[test]
fn the_default_store_is_created_in_the_platform_data_dir() -> TestResult {
    let home = tempfile::tempdir()?;
    let output = Command::cargo_bin("kith")?
        .env_clear()
        .env("HOME", home.path())
        .args([
            "--format",
            "json",
            "create",
            "identity",
            "--schema-id",
            "preset://email",
        ])
        .args(["--traits", r#"{"email":"home@example.org"}"#])
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(home.path().join(".local/share/kith/kith.db").exists());

    let elsewhere = home.path().join("other.db");
    let output = Command::cargo_bin("kith")?
        .env_clear()
        .env("HOME", home.path())
        .env("KITH_DB", &elsewhere)
        .args(["--format", "json", "list", "identities"])
        .output()?;
    // A read never creates a store (#10 point 6): KITH_DB names the path it looked at.
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&*elsewhere.to_string_lossy()));
    assert!(!elsewhere.exists());
    Ok(())
}

#[test]
fn the_store_is_wal_with_foreign_keys_and_a_version() -> TestResult {
    let env = Env::new();
    env.create_email("wal@example.org");
    let conn = rusqlite::Connection::open(&env.db)?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    assert_eq!(mode, "wal");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    assert_eq!(version, kith::STORE_FORMAT_VERSION);
    Ok(())
}

#[test]
fn a_store_from_a_newer_kith_is_refused() -> TestResult {
    let env = Env::new();
    env.create_email("old@example.org");
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.pragma_update(None, "user_version", kith::STORE_FORMAT_VERSION + 1)?;
    drop(conn);
    let run = env.run(&["--format", "table", "list", "identities"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("newer kith"), "{}", run.stderr);
    assert!(run.stderr.contains("upgrade kith"), "{}", run.stderr);
    Ok(())
}

#[test]
fn a_file_that_is_not_a_store_is_an_internal_failure() -> TestResult {
    let env = Env::new();
    std::fs::write(&env.db, vec![0x42u8; 8192])?;
    let run = env.run(&["list", "identities"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.error()["code"], 500);
    Ok(())
}

#[test]
fn two_processes_share_one_file() -> TestResult {
    let env = Env::new();
    env.create_email("first@example.org");
    let children: Vec<_> = (0..2)
        .map(|worker| {
            let db = env.db.clone();
            std::thread::spawn(move || {
                (0..15)
                    .map(|n| {
                        Command::cargo_bin("kith")
                            .expect("binary")
                            .args(["--db"])
                            .arg(&db)
                            .args([
                                "--format",
                                "json",
                                "create",
                                "identity",
                                "--schema-id",
                                "preset://email",
                            ])
                            .args([
                                "--traits",
                                &json!({"email": format!("w{worker}-{n}@example.org")}).to_string(),
                            ])
                            .output()
                            .map(|o| o.status.success())
                            .unwrap_or(false)
                    })
                    .filter(|ok| *ok)
                    .count()
            })
        })
        .collect();
    let succeeded: usize = children.into_iter().map(|c| c.join().unwrap_or(0)).sum();
    assert_eq!(succeeded, 30);
    assert_eq!(env.count(), 31);
    Ok(())
}

#[test]
fn every_change_leaves_an_audit_event() -> TestResult {
    let env = Env::new();
    let id = env.create_email("audited@example.org");
    env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        r#"[{"op":"replace","path":"/state","value":"inactive"}]"#,
    )
    .ok();
    env.run(&["delete", "identity", &id]).ok();
    env.run(&["set", "config", "public_url", "https://id.example.org/"])
        .ok();
    let events = env.run(&["list", "events", "--identity", &id]).ok().json();
    let actions: Vec<_> = events
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![
            json!("identity.created"),
            json!("identity.patched"),
            json!("identity.deleted")
        ]
    );
    assert!(
        events
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["actor"] == "cli:tester")
    );
    assert_eq!(
        events[1]["detail"]["state"],
        json!({"from": "active", "to": "inactive"})
    );
    let all = env.run(&["list", "events"]).ok().json();
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(4),
        "the config change is recorded too: {all}"
    );
    Ok(())
}

#[test]
fn settings_are_checked_and_shape_schema_urls() -> TestResult {
    let env = Env::new();
    env.create_email("first@example.org");
    let config = env.run(&["get", "config"]).ok().json();
    assert_eq!(config[0]["key"], "public_url");
    assert_eq!(config[0]["value"], "http://127.0.0.1:4433");
    env.run(&["set", "config", "public_url", "https://id.example.org/"])
        .ok();
    let identity =
        env.create(&json!({"schema_id": "preset://email", "traits": {"email": "u@example.org"}}));
    assert_eq!(
        identity["schema_url"],
        "https://id.example.org/schemas/cHJlc2V0Oi8vZW1haWw"
    );
    for (key, value) in [
        ("public_url", "ftp://x"),
        ("no.such.key", "1"),
        ("hashers.algorithm", "md5"),
        ("hashers.bcrypt.cost", "many"),
    ] {
        let run = env.run(&["set", "config", key, value]);
        assert_eq!(run.code, 1, "{key}={value}");
        assert!(
            run.error()["reason"].as_str().unwrap_or("").contains(key),
            "{}",
            run.stderr
        );
    }
    Ok(())
}

#[test]
fn output_formats() -> TestResult {
    let env = Env::new();
    let id = env.create_email("fmt@example.org");
    let pretty = env
        .run(&["--format", "json-pretty", "get", "identity", &id])
        .ok();
    assert!(
        pretty.stdout.lines().count() > 10,
        "json-pretty spans lines"
    );
    let table = env.run(&["--format", "table", "get", "identity", &id]).ok();
    assert!(
        table.stdout.contains("SCHEMA ID") && table.stdout.contains("preset://email"),
        "{}",
        table.stdout
    );
    let quiet = env.run(&["-q", "list", "identities"]).ok();
    assert_eq!(quiet.stdout.trim(), id);
    // Without --format, output that is not a terminal is JSON.
    let output = Command::cargo_bin("kith")?
        .arg("--db")
        .arg(&env.db)
        .args(["list", "identities"])
        .output()?;
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(listed[0]["id"], id.as_str());
    let human = env.run(&["--format", "table", "get", "identity", "nope"]);
    assert_eq!(human.code, 1);
    insta::assert_snapshot!("bad_id_table", human.stderr);
    Ok(())
}

/// cron and systemd run commands with neither USER nor LOGNAME set: the audit trail names
/// the uid's account instead of `cli:unknown`.
#[test]
fn the_actor_is_the_uids_account_when_user_and_logname_are_unset() -> TestResult {
    let env = Env::new();
    let expected = std::process::Command::new("id").arg("-un").output()?;
    let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();
    assert!(!expected.is_empty(), "id -un names this account");
    let output = env
        .cmd()
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["--format", "json", "create", "identity", "--schema-id"])
        .args([
            "preset://email",
            "--traits",
            r#"{"email":"cron@example.org"}"#,
        ])
        .output()?;
    assert!(output.status.success(), "{output:?}");
    let events = env.run(&["list", "events"]).ok().json();
    assert_eq!(events[0]["actor"], format!("cli:{expected}"));
    Ok(())
}

/// `kith unset config KEY` restores the default, `get config` marks it as one again, and the
/// audit trail records the value that was forgotten.
#[test]
fn unset_config_restores_the_default() -> TestResult {
    let env = Env::new();
    env.create_email("someone@example.org");
    let value_of = |key: &str| {
        let all = env.run(&["get", "config"]).ok().json();
        all.as_array()
            .into_iter()
            .flatten()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_default()
    };
    let default = value_of("invite.lifespan");
    assert_eq!(default["default"], true);
    env.run(&["set", "config", "invite.lifespan", "24h"]).ok();
    assert_eq!(value_of("invite.lifespan")["value"], "24h");
    assert_eq!(value_of("invite.lifespan")["default"], false);
    let unset = env.run(&["unset", "config", "invite.lifespan"]).ok().json();
    assert_eq!(unset["value"], default["value"]);
    assert_eq!(value_of("invite.lifespan"), default);
    let events = env.run(&["list", "events"]).ok().json();
    let last = events.as_array().and_then(|all| all.last()).cloned();
    let last = last.unwrap_or_default();
    assert_eq!(last["action"], "config.unset");
    assert_eq!(last["detail"]["previous"], "24h");
    let unknown = env.run(&["unset", "config", "invite.lifespn"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("known keys are"),
        "{}",
        unknown.stderr
    );
    Ok(())
}

#[test]
fn a_misspelled_setting_suggests_the_nearest_key() -> TestResult {
    let env = Env::new();
    env.create_email("someone@example.org");
    let told = env.run(&[
        "--format",
        "table",
        "set",
        "config",
        "courier.smtp.conection_uri",
        "smtp://relay",
    ]);
    assert_eq!(told.code, 1);
    assert!(
        told.stderr
            .contains("did you mean `courier.smtp.connection_uri`?"),
        "{}",
        told.stderr
    );
    let envelope = env
        .run(&["set", "config", "public_ulr", "http://x"])
        .error();
    assert!(
        envelope["details"]["known_keys"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k == "public_url")),
        "{envelope}"
    );
    Ok(())
}
