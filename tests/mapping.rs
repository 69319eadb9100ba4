//! `kith import identities --mapper`: another system's export, in its own container (NDJSON,
//! gzip, CSV, LDIF, Firebase's `{"users": [...]}`), through an import mapper into the store,
//! with the import's results, positions, dry runs and undo; Auth0's password hashes joined
//! by e-mail.

use crate::harness::{Env, TestResult};
use crate::plugins::{plugin_dir, wasm};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::Write;

fn env_with_auth0() -> Env {
    let env = Env::new();
    wasm("auth0_import.wasm");
    env.run(&["install", "plugin", &plugin_dir("auth0-import")])
        .ok();
    env
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// The JSON lines a piped import prints, one per record.
fn results(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON result line"))
        .collect()
}

fn auth0_user(n: usize) -> Value {
    json!({
        "user_id": format!("auth0|{n:024x}"),
        "email": format!("user{n}@example.org"),
        "email_verified": n.is_multiple_of(2),
        "given_name": "User",
        "family_name": format!("Number {n}"),
        "identities": [{"provider": "auth0", "user_id": format!("{n:024x}"),
                        "connection": "Username-Password-Authentication"}],
    })
}

#[test]
fn an_auth0_export_imports_through_its_mapper_with_hashes_joined_by_email() -> TestResult {
    let env = env_with_auth0();
    let users: Vec<Value> = (0..4).map(auth0_user).collect();
    let users_path = env.dir.path().join("users_nd.json.gz");
    std::fs::write(&users_path, gzip(&ndjson(&users)))?;
    let hash =
        bcrypt::hash_with_result("correct horse", 4)?.format_for_version(bcrypt::Version::TwoB);
    // Auth0's hash export: e-mail at the root or only in identifiers[], in any case; one hash
    // for an address no user has.
    let hashes = ndjson(&[
        json!({"_id": {"$oid": "1"}, "email": "USER0@example.org", "passwordHash": hash}),
        json!({"_id": {"$oid": "2"}, "identifiers": [{"type": "email", "value": "user1@example.org"}],
               "passwordHash": hash}),
        json!({"_id": {"$oid": "3"}, "email": "nobody@example.org", "passwordHash": hash}),
        json!({"_id": {"$oid": "4"}, "email": "user2@example.org"}),
    ]);
    let hashes_path = env.file("hashes.ndjson", &hashes);
    let run = env.run(&[
        "import",
        "identities",
        users_path.to_str().unwrap_or_default(),
        "--mapper",
        "auth0-import",
        "--password-hashes",
        &hashes_path,
    ]);
    assert_eq!(
        run.code, 1,
        "the leftover hashes are errors: {}",
        run.stderr
    );
    let results = results(&run.stdout);
    let sources: Vec<&str> = results
        .iter()
        .map(|r| r["source"].as_str().unwrap_or(""))
        .collect();
    let users_name = users_path.to_string_lossy();
    assert_eq!(
        sources,
        [
            format!("{users_name}:1"),
            format!("{users_name}:2"),
            format!("{users_name}:3"),
            format!("{users_name}:4"),
            format!("{hashes_path}:4"),
            format!("{hashes_path}:3"),
        ]
    );
    for created in &results[..4] {
        assert_eq!(created["action"], "create", "{created}");
    }
    // Users 2 and 3 have no hash to join: imported without a password, and said so.
    assert!(results[0].get("warning").is_none());
    assert!(
        results[2]["warning"]
            .as_str()
            .unwrap_or("")
            .contains("no password hash")
    );
    assert!(
        results[3]["warning"]
            .as_str()
            .unwrap_or("")
            .contains("no password hash")
    );
    assert!(
        results[4]["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no passwordHash")
    );
    assert!(
        results[5]["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no user record has this password hash")
    );
    let summary: Value = serde_json::from_str(run.stderr.trim())?;
    assert_eq!(summary["created"], 4);
    assert_eq!(summary["failed"], 2);

    // The joined hashes sign in; the mapped traits and ids are what the mapper made.
    env.verify_password("user0@example.org", "correct horse")
        .ok();
    env.verify_password("user1@example.org", "correct horse")
        .ok();
    assert_ne!(
        env.verify_password("user2@example.org", "correct horse")
            .code,
        0
    );
    let identity = env
        .run(&[
            "get",
            "identity",
            results[1]["identity"].as_str().unwrap_or(""),
        ])
        .ok()
        .json();
    assert_eq!(identity["external_id"], format!("auth0|{:024x}", 1));
    assert_eq!(identity["traits"]["name"]["last"], "Number 1");

    // Undo takes back exactly what the run created.
    let run_id = summary["import_run"].as_str().unwrap_or("");
    env.run(&["delete", "identities", "--import-run", run_id])
        .ok();
    assert_eq!(env.count(), 0);
    Ok(())
}

#[test]
fn a_mapper_refusal_or_fault_is_that_records_error_and_the_rest_import() -> TestResult {
    let env = env_with_auth0();
    let mut huge = auth0_user(3);
    // Past the 1 MiB a mapper takes: a fault of that record's call, not of the run.
    huge["user_metadata"] = json!({"blob": "x".repeat(1 << 20)});
    let input = ndjson(&[
        auth0_user(1),
        json!({"user_id": "auth0|2", "email_verified": true}),
        huge,
        auth0_user(4),
    ]);
    let path = env.file("users.ndjson", &input);
    let run = env.run(&["import", "identities", &path, "--mapper", "auth0-import"]);
    assert_eq!(run.code, 1);
    let results = results(&run.stdout);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["action"], "create");
    assert_eq!(results[3]["action"], "create");
    let refused = &results[1];
    assert_eq!(refused["source"], format!("{path}:2"));
    assert_eq!(refused["error"]["code"], 400);
    assert_eq!(refused["error"]["details"]["plugin"], "auth0-import");
    assert_eq!(
        refused["error"]["details"]["errors"][0]["pointer"],
        "/email"
    );
    assert!(
        refused["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("refused the record")
    );
    let faulted = &results[2];
    assert_eq!(faulted["source"], format!("{path}:3"));
    assert_eq!(faulted["error"]["code"], 500);
    assert_eq!(faulted["error"]["details"]["fault"], "input_too_large");
    assert_eq!(env.count(), 2);
    Ok(())
}

#[test]
fn a_mapped_body_kith_cannot_take_names_the_mapper() -> TestResult {
    let env = env_with_auth0();
    // auth0-import's schema_id config names a schema the store does not have.
    env.run(&[
        "import",
        "identities",
        &env.file("u.ndjson", &ndjson(&[auth0_user(1)])),
        "--mapper",
        "auth0-import",
        "--dry-run",
    ])
    .ok();
    let dir = env.dir.path().join("odd-auth0");
    std::fs::create_dir(&dir)?;
    let manifest = std::fs::read_to_string(format!("{}/plugin.toml", plugin_dir("auth0-import")))?
        .replace(
            "schema_id = \"preset://email\"",
            "schema_id = \"no-such-schema\"",
        );
    std::fs::write(dir.join("plugin.toml"), manifest)?;
    std::fs::copy(wasm("auth0_import.wasm"), dir.join("auth0_import.wasm"))?;
    // A plugin folder serves as the mapper without being installed.
    let run = env.run(&[
        "validate",
        "identity",
        &env.file("v.ndjson", &ndjson(&[auth0_user(1)])),
        "--mapper",
        dir.to_str().unwrap_or_default(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line: Value = serde_json::from_str(run.stdout.trim())?;
    assert_eq!(line["valid"], false);
    assert!(
        line["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-schema"),
        "{line}"
    );
    Ok(())
}

#[test]
fn csv_rows_and_ldif_entries_reach_the_mapper_with_their_line_numbers() -> TestResult {
    let env = env_with_auth0();
    // Auth0's CSV export: every cell a string; a quoted cell runs over a line break.
    let csv = "user_id,email,given_name,family_name\n\
               auth0|1,ada@example.org,Ada,\"Lovelace,\nCountess\"\n\
               auth0|2,,Bob,Builder\n\
               auth0|3,carol@example.org,Carol,C\n";
    let csv_path = env.file("users.csv", csv);
    let run = env.run(&[
        "import",
        "identities",
        &csv_path,
        "--mapper",
        "auth0-import",
    ]);
    let results = results(&run.stdout);
    let sources: Vec<&str> = results
        .iter()
        .map(|r| r["source"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        sources,
        [
            format!("{csv_path}:2"),
            format!("{csv_path}:4"),
            format!("{csv_path}:5")
        ]
    );
    assert_eq!(results[0]["action"], "create");
    assert_eq!(
        results[1]["error"]["details"]["errors"][0]["pointer"],
        "/email"
    );
    let ada = env
        .run(&[
            "get",
            "identity",
            results[0]["identity"].as_str().unwrap_or(""),
        ])
        .ok()
        .json();
    assert_eq!(ada["traits"]["name"]["last"], "Lovelace,\nCountess");

    // An LDIF entry is an object of attribute lists: auth0-import finds no `email` in it,
    // and says so at the entry's dn line.
    let ldif = "version: 1\n\n# people\ndn: uid=dan,ou=people,dc=example,dc=org\nuid: dan\n\
                mail: dan@example.org\n";
    let ldif_path = env.file("people.ldif", ldif);
    let run = env.run(&[
        "validate",
        "identity",
        &ldif_path,
        "--mapper",
        "auth0-import",
    ]);
    assert_eq!(run.code, 1);
    let line: Value = serde_json::from_str(run.stdout.trim())?;
    assert_eq!(line["source"], format!("{ldif_path}:4"));
    assert_eq!(line["error"]["details"]["errors"][0]["pointer"], "/email");
    Ok(())
}

#[test]
fn foreign_containers_without_a_mapper_are_refused_with_the_mapper_to_use() -> TestResult {
    let env = Env::new();
    let csv = env.file("users.csv", "email\nada@example.org\n");
    let run = env.run(&["import", "identities", &csv]);
    assert_eq!(run.code, 1);
    assert!(
        run.error()["reason"]
            .as_str()
            .unwrap_or("")
            .contains("--mapper csv-import"),
        "{}",
        run.stderr
    );
    let run = env.run(&[
        "import",
        "identities",
        &env.file("users.json", "{}"),
        "--password-hashes",
        &env.file("h.ndjson", "{}"),
    ]);
    // A usage error: --password-hashes is joined to a mapper's records.
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--mapper"), "{}", run.stderr);
    // A Firebase export is told by its content: each user says which mapper takes it.
    let firebase = env.file(
        "export.json",
        "{\"users\": [{\"localId\": \"a1\", \"email\": \"ada@example.org\"}]}",
    );
    let run = env.run(&["import", "identities", &firebase]);
    assert_eq!(run.code, 1);
    let line: Value = serde_json::from_str(run.stdout.trim())?;
    assert_eq!(line["source"], format!("{firebase}:users[0]"));
    assert!(
        line["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("--mapper firebase-import")
    );
    assert_eq!(env.count(), 0);
    Ok(())
}

#[test]
fn a_mapper_must_be_an_enabled_import_mapper() -> TestResult {
    let env = env_with_auth0();
    let input = env.file("u.ndjson", &ndjson(&[auth0_user(1)]));
    let run = env.run(&["import", "identities", &input, "--mapper", "no-such-plugin"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.error()["code"], 404);
    env.run(&["disable", "plugin", "auth0-import"]).ok();
    let run = env.run(&["import", "identities", &input, "--mapper", "auth0-import"]);
    assert!(
        run.error()["reason"]
            .as_str()
            .unwrap_or("")
            .contains("kith enable plugin auth0-import")
    );
    wasm("email_domain_policy.wasm");
    env.run(&["install", "plugin", &plugin_dir("email-domain-policy")])
        .ok();
    let run = env.run(&[
        "import",
        "identities",
        &input,
        "--mapper",
        "email-domain-policy",
    ]);
    assert!(
        run.error()["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not an import-mapper"),
        "{}",
        run.stderr
    );
    assert_eq!(env.count(), 0);
    Ok(())
}

#[test]
fn gzip_inputs_of_create_identity_bodies_import_without_a_mapper() -> TestResult {
    let env = Env::new();
    let bodies = ndjson(&[
        json!({"schema_id": "preset://email", "traits": {"email": "a@example.org"}}),
        json!({"schema_id": "preset://email", "traits": {"email": "b@example.org"}}),
    ]);
    // Named without .gz: gzip is told by its bytes.
    let path = env.dir.path().join("bodies.ndjson");
    std::fs::write(&path, gzip(&bodies))?;
    env.run(&["import", "identities", path.to_str().unwrap_or_default()])
        .ok();
    assert_eq!(env.count(), 2);
    // A gzip stream cut short is an error at the line it broke, and what came before stays.
    let mut cut = gzip(&bodies.repeat(2000));
    cut.truncate(cut.len() / 2);
    let cut_path = env.dir.path().join("cut.ndjson.gz");
    std::fs::write(&cut_path, cut)?;
    let run = env.run(&[
        "import",
        "identities",
        cut_path.to_str().unwrap_or_default(),
        "--on-conflict",
        "skip",
    ]);
    assert_eq!(run.code, 1);
    let last = results(&run.stdout).pop().unwrap_or_default();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("the rest of this input was not read"),
        "{last}"
    );
    Ok(())
}
