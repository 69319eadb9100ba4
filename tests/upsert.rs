//! Fixtures: `kith import identities --on-conflict update` (upserts with PUT semantics),
//! `--keep-ids` and `kith export identities --with-ids`.

use crate::harness::{Env, Run, TestResult};
use serde_json::{Value, json};

/// bcrypt (cost 4) of "test", made by Python's bcrypt.
const BCRYPT_TEST: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";

const TOTP_URL: &str =
    "otpauth://totp/kith:ada@example.org?secret=JBSWY3DPEHPK3PXP&issuer=kith&period=30";

/// A fixture as a developer keeps one: cleartext and hashed passwords, an external id, a
/// social link, lookup codes, a totp key, a verified address with no time given.
fn fixture() -> Vec<Value> {
    vec![
        json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"},
               "credentials": {
                   "password": {"config": {"password": "correct horse battery staple"}},
                   "totp": {"config": {"totp_url": TOTP_URL}},
                   "lookup_secret": {"config": {"codes": [{"code": "a1b2c3d4"}, {"code": "e5f6a7b8"}]}}
               },
               "verifiable_addresses": [{"value": "ada@example.org", "via": "email", "verified": true}]}),
        json!({"schema_id": "preset://email", "traits": {"email": "bob@example.org"},
        "external_id": "crm-2",
        "metadata_public": {"plan": "pro"},
        "credentials": {
            "password": {"config": {"hashed_password": BCRYPT_TEST}},
            "oidc": {"config": {"providers": [{"provider": "github", "subject": "4711"}]}}
        }}),
        json!({"schema_id": "preset://username", "traits": {"username": "carol"}}),
    ]
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| r.to_string() + "\n").collect()
}

fn report(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn actions(run: &Run) -> Vec<String> {
    report(run)
        .iter()
        .map(|line| line["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn summary(run: &Run) -> Value {
    let last = run.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("summary not JSON ({e}): {}", run.stderr))
}

fn upsert(env: &Env, path: &str, extra: &[&str]) -> Run {
    let mut args = vec!["import", "identities", path, "--on-conflict", "update"];
    args.extend(extra);
    env.run(&args)
}

fn events(env: &Env) -> Vec<Value> {
    env.run(&["list", "events"])
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every identity with every credential config, as `kith export` shows them.
fn exported(env: &Env, extra: &[&str]) -> String {
    let mut args = vec!["export", "identities", "--include-credentials"];
    args.extend(extra);
    env.run(&args).ok().stdout
}

#[test]
fn applying_the_same_fixture_twice_changes_nothing_the_second_time() -> TestResult {
    let env = Env::new();
    let path = env.file("fixture.ndjson", &ndjson(&fixture()));
    let first = upsert(&env, &path, &[]).ok();
    assert_eq!(
        actions(&first),
        ["create", "create", "create"],
        "{}",
        first.stdout
    );
    let before = exported(&env, &["--with-ids"]);
    let events_before = events(&env).len();

    let second = upsert(&env, &path, &[]).ok();
    assert_eq!(
        actions(&second),
        ["unchanged", "unchanged", "unchanged"],
        "{}",
        second.stdout
    );
    let ids: Vec<Value> = report(&first)
        .iter()
        .map(|l| l["identity"].clone())
        .collect();
    let again: Vec<Value> = report(&second)
        .iter()
        .map(|l| l["identity"].clone())
        .collect();
    assert_eq!(ids, again, "each record matched the identity it created");
    assert_eq!(summary(&second)["unchanged"], 3, "{}", second.stderr);
    // Not one byte differs: the cleartext password kept its hash (no re-hash with a new
    // salt), the lookup codes and the social link were not appended again, the verified
    // address kept its time.
    assert_eq!(exported(&env, &["--with-ids"]), before);
    let written: Vec<Value> = events(&env)
        .into_iter()
        .skip(events_before)
        .filter(|e| {
            e["action"].as_str() != Some("import.started")
                && e["action"].as_str() != Some("import.finished")
        })
        .collect();
    assert!(
        written.is_empty(),
        "an unchanged record writes no event: {written:?}"
    );
    assert_eq!(
        env.verify_password("ada@example.org", "correct horse battery staple")
            .code,
        0
    );
    Ok(())
}

#[test]
fn an_upsert_updates_what_changed_with_put_semantics_and_records_each_update() -> TestResult {
    let env = Env::new();
    let path = env.file("fixture.ndjson", &ndjson(&fixture()));
    let created = upsert(&env, &path, &[]).ok();
    let ids: Vec<String> = report(&created)
        .iter()
        .map(|l| l["identity"].as_str().unwrap_or_default().to_string())
        .collect();

    let mut changed = fixture();
    // Matched by external_id although the e-mail changed.
    changed[1]["traits"]["email"] = json!("robert@example.org");
    // PUT semantics: metadata not sent is cleared.
    if let Some(fields) = changed[1].as_object_mut() {
        fields.remove("metadata_public");
    }
    // Matched by its credential identifier; a new password replaces the old.
    changed[0]["credentials"]["password"]["config"]["password"] = json!("a whole new passphrase");
    if let Some(codes) =
        changed[0]["credentials"]["lookup_secret"]["config"]["codes"].as_array_mut()
    {
        codes.push(json!({"code": "c9d0e1f2"}));
    }
    // A new record is still created.
    changed.push(json!({"schema_id": "preset://email", "traits": {"email": "dan@example.org"}}));
    let path = env.file("changed.ndjson", &ndjson(&changed));
    let run = upsert(&env, &path, &[]).ok();
    assert_eq!(
        actions(&run),
        ["update", "update", "unchanged", "create"],
        "{}",
        run.stdout
    );
    let lines = report(&run);
    assert_eq!(lines[0]["identity"], ids[0].as_str());
    assert_eq!(lines[1]["identity"], ids[1].as_str());
    assert_eq!(lines[1]["source"], format!("{path}:2"));
    let totals = summary(&run);
    assert_eq!(
        (&totals["created"], &totals["updated"], &totals["unchanged"]),
        (&json!(1), &json!(2), &json!(1)),
        "{totals}"
    );

    let bob = env
        .run(&["get", "identity", &ids[1], "--include-credential", "oidc"])
        .ok()
        .json();
    assert_eq!(bob["traits"]["email"], "robert@example.org");
    assert_eq!(bob["metadata_public"], Value::Null, "{bob}");
    assert_eq!(bob["external_id"], "crm-2");
    assert_eq!(
        bob["credentials"]["oidc"]["config"]["providers"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the provider link is not doubled: {bob}"
    );
    assert_eq!(
        env.verify_password("robert@example.org", "test").code,
        0,
        "the hash stayed"
    );
    assert_eq!(
        env.verify_password("ada@example.org", "a whole new passphrase")
            .code,
        0
    );
    let ada = env
        .run(&[
            "get",
            "identity",
            &ids[0],
            "--include-credential",
            "lookup_secret",
        ])
        .ok()
        .json();
    let codes: Vec<&str> = ada["credentials"]["lookup_secret"]["config"]["recovery_codes"]
        .as_array()
        .map(|codes| codes.iter().filter_map(|c| c["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes, ["a1b2c3d4", "e5f6a7b8", "c9d0e1f2"], "{ada}");

    // Each update is in the audit trail, naming its run and record.
    let updates: Vec<Value> = events(&env)
        .into_iter()
        .filter(|e| e["action"] == "identity.updated")
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(updates[1]["identity_id"], ids[1].as_str(), "{updates:?}");
    assert_eq!(
        updates[1]["detail"]["source"],
        format!("{path}:2"),
        "{updates:?}"
    );
    assert!(
        updates[1]["detail"]["import_run"].is_string(),
        "{updates:?}"
    );
    Ok(())
}

#[test]
fn a_dry_run_upsert_reports_would_be_updates_and_writes_nothing() -> TestResult {
    let env = Env::new();
    let path = env.file("fixture.ndjson", &ndjson(&fixture()));
    upsert(&env, &path, &[]).ok();
    let before = exported(&env, &["--with-ids"]);
    let events_before = events(&env).len();
    let mut changed = fixture();
    changed[2]["traits"]["username"] = json!("caroline");
    changed[1]["metadata_public"] = json!({"plan": "team"});
    // Twice in one input: the second would update what the first creates.
    let dan = json!({"schema_id": "preset://email", "traits": {"email": "dan@example.org"}});
    changed.push(dan.clone());
    changed.push(dan);
    let path = env.file("changed.ndjson", &ndjson(&changed));
    let run = upsert(&env, &path, &["--dry-run", "--chunk-size", "2"]).ok();
    assert_eq!(
        actions(&run),
        ["unchanged", "update", "create", "create", "update"],
        "{}",
        run.stdout
    );
    let lines = report(&run);
    assert_eq!(lines[4]["identity"], lines[3]["identity"], "{}", run.stdout);
    assert_eq!(summary(&run)["dry_run"], true);
    assert_eq!(
        exported(&env, &["--with-ids"]),
        before,
        "a dry run writes nothing"
    );
    assert_eq!(events(&env).len(), events_before);
    Ok(())
}

#[test]
fn an_upsert_whose_identifiers_belong_to_two_identities_is_a_conflict() -> TestResult {
    let env = Env::new();
    env.create_email("one@example.org");
    env.create(
        &json!({"schema_id": "preset://email", "traits": {"email": "two@example.org"},
                       "external_id": "crm-2"}),
    );
    // Identifiers of a custom schema with two identifier traits.
    let schema = json!({
        "$id": "https://example.org/two.json",
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email",
                      "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
            "backup": {"type": "string", "format": "email",
                       "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
        }}}
    });
    let schema_path = env.file("two.json", &schema.to_string());
    env.run(&["add", "schema", "two", &schema_path]).ok();
    let records = [
        json!({"schema_id": "two", "traits": {"email": "one@example.org", "backup": "two@example.org"}}),
        // An identity with another external_id is another person: a conflict, not an update.
        json!({"schema_id": "preset://email", "traits": {"email": "two@example.org"},
               "external_id": "crm-9"}),
    ];
    let path = env.file("both.ndjson", &ndjson(&records));
    let run = upsert(&env, &path, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(actions(&run), ["error", "error"], "{}", run.stdout);
    for line in &lines {
        assert_eq!(line["error"]["code"], 409, "{line}");
        assert!(
            line["error"]["details"]["conflicting_identity"].is_string(),
            "{line}"
        );
    }
    assert_eq!(env.count(), 2, "nothing was written");
    Ok(())
}

#[test]
fn an_id_is_refused_without_keep_ids_and_kept_with_it() -> TestResult {
    let env = Env::new();
    let id = "0193e7a8-5b1c-7d2e-8f3a-4b5c6d7e8f90";
    let record =
        json!({"id": id, "schema_id": "preset://email", "traits": {"email": "ada@example.org"}});
    let path = env.file("with-id.ndjson", &ndjson(std::slice::from_ref(&record)));

    // Kratos refuses `id`, and so does kith unless asked.
    let refused = env.run(&["import", "identities", &path]);
    assert_eq!(refused.code, 1);
    let line = &report(&refused)[0];
    assert_eq!(
        line["error"]["message"], "json: unknown field \"id\"",
        "{line}"
    );

    let kept = env.run(&["import", "identities", &path, "--keep-ids"]).ok();
    assert_eq!(report(&kept)[0]["identity"], id, "{}", kept.stdout);
    assert_eq!(env.run(&["get", "identity", id]).ok().json()["id"], id);

    // A taken id is a 409, a skip, or (upserting) the identity to update.
    let taken = env.run(&["import", "identities", &path, "--keep-ids"]);
    assert_eq!(taken.code, 1);
    let line = &report(&taken)[0];
    assert_eq!(line["error"]["code"], 409, "{line}");
    assert_eq!(
        line["error"]["details"]["conflicting_identity"], id,
        "{line}"
    );
    let skipped = env
        .run(&[
            "import",
            "identities",
            &path,
            "--keep-ids",
            "--on-conflict",
            "skip",
        ])
        .ok();
    assert_eq!(actions(&skipped), ["skip"]);
    let mut renamed = record.clone();
    renamed["traits"]["email"] = json!("ada.lovelace@example.org");
    let path = env.file("renamed.ndjson", &ndjson(&[renamed]));
    let updated = upsert(&env, &path, &["--keep-ids"]).ok();
    assert_eq!(actions(&updated), ["update"], "matched by its id first");
    assert_eq!(report(&updated)[0]["identity"], id);

    // A kept id must be a UUID, and not the nil one.
    for bad in [json!("nope"), json!("00000000-0000-0000-0000-000000000000")] {
        let record =
            json!({"id": bad, "schema_id": "preset://email", "traits": {"email": "x@example.org"}});
        let path = env.file("bad.ndjson", &ndjson(&[record]));
        let run = env.run(&["import", "identities", &path, "--keep-ids"]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert_eq!(report(&run)[0]["error"]["code"], 400, "{}", run.stdout);
    }
    Ok(())
}

#[test]
fn export_with_ids_round_trips_through_import_keep_ids() -> TestResult {
    let env = Env::new();
    let path = env.file("fixture.ndjson", &ndjson(&fixture()));
    env.run(&["import", "identities", &path]).ok();
    let exported_once = exported(&env, &["--with-ids"]);
    assert!(
        exported_once.lines().all(|l| l.starts_with("{\"id\":")),
        "{exported_once}"
    );

    let other = Env::new();
    let path = other.file("export.ndjson", &exported_once);
    other
        .run(&["import", "identities", &path, "--keep-ids"])
        .ok();
    assert_eq!(exported(&other, &["--with-ids"]), exported_once);
    // Without --with-ids, no id: what Kratos takes.
    assert!(!exported(&other, &[]).contains("\"id\":\""));
    Ok(())
}

#[test]
fn an_imported_totp_key_is_identified_by_its_identity_id() -> TestResult {
    let env = Env::new();
    let path = env.file("fixture.ndjson", &ndjson(&fixture()[..1]));
    let run = env.run(&["import", "identities", &path]).ok();
    let id = report(&run)[0]["identity"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shown = env
        .run(&[
            "get",
            "identity",
            &id,
            "--include-credential",
            "totp",
            "--include-credential",
            "lookup_secret",
        ])
        .ok()
        .json();
    // Kratos' persister keys second factors on the identity's own id; an import gave them
    // an id of its own that no identity had.
    assert_eq!(
        shown["credentials"]["totp"]["identifiers"],
        json!([id]),
        "{shown}"
    );
    assert_eq!(
        shown["credentials"]["lookup_secret"]["identifiers"],
        json!([id]),
        "{shown}"
    );
    Ok(())
}
