//! `kith import identities`, `export identities` and `delete identities --import-run`.

use crate::harness::{Env, Run, TestResult};
use serde_json::{Value, json};

/// bcrypt (cost 4) of "test", made by Python's bcrypt.
const BCRYPT_TEST: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";

fn lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("report line is not JSON ({e}): {l}"))
        })
        .collect()
}

fn summary(run: &Run) -> Value {
    let last = run.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {}", run.stderr))
}

fn email_record(email: &str) -> Value {
    json!({"schema_id": "preset://email", "traits": {"email": email}})
}

#[test]
fn mixed_input_reports_every_record_and_keeps_the_good_ones() -> TestResult {
    let env = Env::new();
    env.create_email("stored@example.org");
    let records = [
        email_record("good1@example.org").to_string(),
        "{\"schema_id\":\"preset://email\",\"traits\":{\"email\":".to_string(),
        json!({"schema_id": "preset://email", "traits": {"email": "u@example.org"}, "surprise": 1}).to_string(),
        json!({"schema_id": "preset://email", "traits": {"email": 42}}).to_string(),
        email_record("GOOD1@example.org").to_string(),
        email_record("Stored@Example.org").to_string(),
        json!({"schema_id": "preset://email", "traits": {"email": "h1@example.org"},
               "credentials": {"password": {"config": {"hashed_password": "$whirlpool$abc"}}}})
        .to_string(),
        json!({"schema_id": "preset://email", "traits": {"email": "h2@example.org"},
               "credentials": {"password": {"config": {"hashed_password": "$2a$31$qgMY2x0ZvUDI4w3Blj.wq.w63APqAKOUkYfhLturbrY0Ob24CFegC"}}}})
        .to_string(),
        json!({"schema_id": "preset://email", "traits": {"email": "good2@example.org"},
               "credentials": {"password": {"config": {"hashed_password": BCRYPT_TEST}}}})
        .to_string(),
    ];
    let path = env.file("users.ndjson", &(records.join("\n") + "\n"));
    let run = env.run(&["import", "identities", &path]);
    assert_eq!(
        run.code, 1,
        "any failed record makes the exit 1: {}",
        run.stderr
    );
    let report = lines(&run);
    assert_eq!(report.len(), records.len(), "{}", run.stdout);
    let expect = [
        ("create", None, ""),
        ("error", Some(400), "json: EOF while parsing"),
        ("error", Some(400), "json: unknown field \"surprise\""),
        ("error", Some(400), "expected string, but got number"),
        ("error", Some(409), "This identity conflicts"),
        ("error", Some(409), "This identity conflicts"),
        ("error", Some(400), "does not match any known hash format"),
        ("error", Some(400), "exceed the bounds"),
        ("create", None, ""),
    ];
    for (index, (line, (action, code, text))) in report.iter().zip(expect).enumerate() {
        assert_eq!(line["source"], format!("{path}:{}", index + 1), "{line}");
        assert_eq!(line["action"], action, "line {}: {line}", index + 1);
        if let Some(code) = code {
            assert_eq!(line["error"]["code"], code, "line {}: {line}", index + 1);
            let said = format!(
                "{} {}",
                line["error"]["reason"].as_str().unwrap_or(""),
                line["error"]["message"].as_str().unwrap_or("")
            );
            assert!(said.contains(text), "line {}: {line}", index + 1);
        } else {
            assert!(uuid::Uuid::parse_str(line["identity"].as_str().unwrap_or_default()).is_ok());
        }
    }
    let totals = summary(&run);
    assert_eq!(
        (totals["created"].clone(), totals["failed"].clone()),
        (json!(2), json!(7))
    );
    assert_eq!(env.count(), 3, "the stored one and two created");
    let found = env
        .run(&["list", "identities", "--identifier", "good2@example.org"])
        .ok()
        .json();
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn arrays_single_objects_and_stdin_are_all_inputs() -> TestResult {
    let env = Env::new();
    let array = env.file(
        "users.json",
        &serde_json::to_string_pretty(&json!([
            email_record("a@example.org"),
            email_record("b@example.org")
        ]))?,
    );
    let single = env.file(
        "one.json",
        &serde_json::to_string_pretty(&email_record("c@example.org"))?,
    );
    let run = env.run_with(
        &["import", "identities", &array, &single, "-"],
        &(email_record("d@example.org").to_string() + "\n"),
    );
    let report = lines(&run.ok());
    let sources: Vec<_> = report
        .iter()
        .map(|l| l["source"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        sources,
        vec![
            format!("{array}[0]"),
            format!("{array}[1]"),
            single,
            "<stdin>:1".to_string()
        ]
    );
    assert_eq!(env.count(), 4);
    Ok(())
}

#[test]
fn a_dry_run_checks_everything_and_writes_nothing() -> TestResult {
    let env = Env::new();
    env.create_email("stored@example.org");
    let events_before = env.run(&["list", "events"]).ok().json();
    let input = [
        email_record("new@example.org"),
        email_record("NEW@example.org"),
        email_record("stored@example.org"),
        json!({"schema_id": "nope", "traits": {}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let run = env.run_with(&["import", "identities", "--dry-run"], &input);
    assert_eq!(run.code, 1);
    let actions: Vec<_> = lines(&run).iter().map(|l| l["action"].clone()).collect();
    assert_eq!(
        actions,
        vec![
            json!("create"),
            json!("error"),
            json!("error"),
            json!("error")
        ]
    );
    assert_eq!(summary(&run)["dry_run"], true);
    assert_eq!(env.count(), 1, "a dry run writes nothing");
    assert_eq!(
        env.run(&["list", "events"]).ok().json(),
        events_before,
        "not even audit events"
    );
    Ok(())
}

#[test]
fn on_conflict_skip_makes_a_rerun_idempotent_and_undo_removes_one_run() -> TestResult {
    let env = Env::new();
    let earlier = env.create_email("earlier@example.org");
    let records: Vec<String> = (0..30)
        .map(|n| email_record(&format!("u{n}@example.org")).to_string())
        .collect();
    let first_half = env.file("half.ndjson", &records[..15].join("\n"));
    let all = env.file("all.ndjson", &records.join("\n"));
    let first = env.run(&["import", "identities", &first_half]).ok();
    let first_run = summary(&first)["import_run"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let again = env.run(&["import", "identities", &all]);
    assert_eq!(
        again.code, 1,
        "without --on-conflict skip, stored records are 409s"
    );
    let conflicts = lines(&again)
        .iter()
        .filter(|l| l["error"]["code"] == 409)
        .count();
    assert_eq!(conflicts, 15);

    let second = env
        .run(&["import", "identities", "--on-conflict", "skip", &all])
        .ok();
    let report = lines(&second);
    let skipped: Vec<_> = report.iter().filter(|l| l["action"] == "skip").collect();
    assert_eq!(skipped.len(), 30, "everything was stored by now");
    let first_ids: Vec<_> = lines(&first)
        .iter()
        .map(|l| l["identity"].clone())
        .collect();
    assert_eq!(
        skipped[..15]
            .iter()
            .map(|l| l["identity"].clone())
            .collect::<Vec<_>>(),
        first_ids
    );
    assert_eq!(env.count(), 31);

    let undone = env
        .run(&["delete", "identities", "--import-run", &first_run])
        .ok();
    assert_eq!(undone.stdout.lines().count(), 15);
    assert_eq!(env.count(), 16, "only the first run's identities are gone");
    env.run(&["get", "identity", &earlier]).ok();
    let unknown = env.run(&[
        "delete",
        "identities",
        "--import-run",
        "01900000-0000-7000-8000-000000000000",
    ]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.error()["code"], 404);
    let events = env.run(&["list", "events"]).ok().json().to_string();
    assert!(
        events.contains(&first_run) && events.contains("import.undone"),
        "{events}"
    );
    Ok(())
}

#[test]
fn a_killed_import_leaves_only_whole_identities_and_a_rerun_completes_it() -> TestResult {
    let env = Env::new();
    let total = 30_000;
    let body: String = (0..total)
        .map(|n| {
            json!({"schema_id": "preset://email", "traits": {"email": format!("k{n}@example.org")},
                   "external_id": format!("ext-{n}")})
            .to_string()
                + "\n"
        })
        .collect();
    let path = env.file("big.ndjson", &body);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kith"))
        .arg("--db")
        .arg(&env.db)
        .args(["--format", "json", "import", "identities", &path])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Kill it once some chunks are committed but (almost surely) not all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    loop {
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))
            .unwrap_or(0);
        if stored > 0 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1) };
    let identities = count("SELECT COUNT(*) FROM identities");
    assert!(identities > 0, "the import got somewhere before the kill");
    for table in [
        "credentials",
        "credential_identifiers",
        "verifiable_addresses",
        "recovery_addresses",
    ] {
        assert_eq!(
            count(&format!("SELECT COUNT(*) FROM {table}")),
            identities,
            "{table} matches identities"
        );
    }
    assert_eq!(
        identities % 1000,
        0,
        "only whole chunks were committed: {identities}"
    );

    let rerun = env
        .run(&["import", "identities", "--on-conflict", "skip", &path])
        .ok();
    let totals = summary(&rerun);
    assert_eq!(totals["skipped"], identities);
    assert_eq!(totals["created"], total - identities);
    assert_eq!(count("SELECT COUNT(*) FROM identities"), total);
    Ok(())
}

#[test]
fn export_writes_bodies_that_import_reads_back() -> TestResult {
    let source = Env::new();
    source.create(&json!({
        "schema_id": "preset://email",
        "traits": {"email": "Ex@Example.org", "name": {"first": "Ex"}},
        "state": "inactive",
        "external_id": "x-1",
        "metadata_public": {"a": 1},
        "metadata_admin": {"b": [1, 2]},
        "verifiable_addresses": [{"value": "ex@example.org", "verified": true, "via": "email",
                                  "verified_at": "2024-01-02T03:04:05Z"}],
        "credentials": {"password": {"config": {"hashed_password": BCRYPT_TEST}},
                        "oidc": {"config": {"providers": [{"provider": "github", "subject": "77"}]}}}
    }));
    let exported = source
        .run(&["export", "identities", "--include-credentials"])
        .ok();
    let record: Value = serde_json::from_str(exported.stdout.trim())?;
    assert_eq!(
        record["credentials"]["password"]["config"]["hashed_password"],
        BCRYPT_TEST
    );
    assert_eq!(
        record["credentials"]["oidc"]["config"]["providers"][0]["subject"],
        "77"
    );
    assert_eq!(
        record["verifiable_addresses"][0]["verified_at"],
        "2024-01-02T03:04:05Z"
    );
    let without = source.run(&["export", "identities"]).ok();
    assert!(
        !without.stdout.contains("hashed_password"),
        "credentials only when asked for"
    );

    let target = Env::new();
    target
        .run_with(&["import", "identities"], &exported.stdout)
        .ok();
    let again = target
        .run(&["export", "identities", "--include-credentials"])
        .ok();
    assert_eq!(again.stdout, exported.stdout);
    target
        .run_with(
            &[
                "verify",
                "password",
                "--identifier",
                "ex@example.org",
                "--password-stdin",
            ],
            "test\n",
        )
        .code
        .eq(&1)
        .then_some(())
        .ok_or("an inactive identity is refused")?;
    Ok(())
}

#[test]
fn validator_plugins_check_imported_records_too() -> TestResult {
    let env = Env::new();
    env.run(&[
        "install",
        "plugin",
        &crate::plugins::plugin_dir("email-domain-policy"),
        "--config",
        "denied_domains=blocked.example",
    ])
    .ok();
    let input = [
        email_record("fine@example.org"),
        email_record("nope@blocked.example"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let run = env.run_with(&["import", "identities"], &input);
    assert_eq!(run.code, 1);
    let report = lines(&run);
    assert_eq!(report[0]["action"], "create");
    assert_eq!(report[1]["action"], "error");
    assert!(
        report[1]["error"]
            .to_string()
            .contains("email-domain-policy"),
        "{}",
        report[1]
    );
    assert_eq!(env.count(), 1);
    Ok(())
}

/// `kith import identities big.ndjson | head -1`: the reader leaving must not cut the import
/// off between chunks; every record is imported and kith still ends in success. A guard for
/// the closed-pipe handling, which no longer ends the process from below `main`.
#[test]
fn an_import_whose_reader_leaves_still_imports_every_record() -> TestResult {
    let env = Env::new();
    let records: Vec<String> = (0..2500)
        .map(|i| email_record(&format!("pipe{i}@example.org")).to_string())
        .collect();
    let file = env.file("many.ndjson", &records.join("\n"));
    let mut child = env
        .std_cmd()
        .args(["--format", "json", "import", "identities", &file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // The reader goes before kith writes its first line.
    drop(child.stdout.take());
    let output = child.wait_with_output()?;
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.count_all(), 2500);
    Ok(())
}

/// An input without records (an empty file, stdin closed at once) imports nothing and
/// leaves no import run behind to list or undo.
#[test]
fn an_empty_input_records_no_import_run() -> TestResult {
    let env = Env::new();
    env.create_email("before@example.org");
    let empty = env.file("empty.ndjson", "");
    let run = env.run(&["import", "identities", &empty]).ok();
    let run_id = summary(&run)["import_run"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(summary(&run)["created"], 0);
    let events = env.run(&["list", "events"]).ok().json();
    assert!(
        !events.as_array().into_iter().flatten().any(|e| e["action"]
            .as_str()
            .unwrap_or_default()
            .starts_with("import.")),
        "{events}"
    );
    let undo = env.run(&["delete", "identities", "--import-run", &run_id]);
    assert_eq!(undo.error()["code"], 404);
    Ok(())
}

#[test]
fn a_terminal_summary_names_the_undo_command() -> TestResult {
    let env = Env::new();
    let file = env.file("one.json", &email_record("undo@example.org").to_string());
    let run = env
        .run(&["--format", "table", "import", "identities", &file])
        .ok();
    let undo = run
        .stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("undo: "))
        .unwrap_or_else(|| panic!("no undo hint: {}", run.stderr));
    let command: Vec<&str> = undo.split_whitespace().skip(1).collect();
    env.run(&command).ok();
    assert_eq!(env.count(), 0, "the hinted command undoes the import");
    Ok(())
}

#[test]
fn an_import_from_a_terminal_says_it_reads_stdin() -> TestResult {
    let env = Env::new();
    // One Ctrl-D ends an empty input: a terminal's end-of-file is not sticky, and a reader
    // that looks twice would wait for more typing.
    let shown = env.on_a_terminal(&["import", "identities"], &[("Ctrl-D", "\x04")]);
    assert!(shown.contains("reading stdin (Ctrl-D to end"), "{shown}");
    assert!(
        shown.contains("[ended]"),
        "one Ctrl-D ends the input: {shown}"
    );
    Ok(())
}

/// A record that collides with an earlier record of the same import is told which one:
/// its source position and the identity it became, in a real run and in a dry run.
#[test]
fn a_conflict_within_one_import_names_the_earlier_record() -> TestResult {
    let env = Env::new();
    let file = env.file(
        "more.json",
        &json!([
            {"schema_id": "preset://email", "traits": {"email": "twice@example.org"}},
            {"schema_id": "preset://email", "traits": {"email": "twice@example.org"}}
        ])
        .to_string(),
    );
    for dry_run in [true, false] {
        let mut args = vec!["import", "identities", file.as_str()];
        if dry_run {
            args.push("--dry-run");
        }
        let run = env.run(&args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let lines: Vec<Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        let first = lines[0]["identity"].as_str().expect("the first is created");
        let details = &lines[1]["error"]["details"];
        assert_eq!(details["conflicting_value"], "twice@example.org", "{run:?}");
        assert_eq!(details["conflicting_identity"], first, "{run:?}");
        assert_eq!(
            details["conflicting_source"],
            format!("{file}[0]"),
            "dry run {dry_run}: {run:?}"
        );
    }
    Ok(())
}

/// On a terminal an import prints each error for a person and a summary, not a JSON line
/// per record; `--report FILE` keeps every record's line, readable by its owner only.
#[test]
fn an_import_on_a_terminal_prints_errors_and_a_summary_and_report_keeps_all() -> TestResult {
    let env = Env::new();
    env.create_email("held@example.org");
    let records: String = (0..3)
        .map(|i| {
            json!({"schema_id": "preset://email", "traits": {"email": format!("new{i}@example.org")}})
                .to_string()
                + "\n"
        })
        .chain(std::iter::once(
            json!({"schema_id": "preset://email", "traits": {"email": "held@example.org"}})
                .to_string()
                + "\n",
        ))
        .collect();
    let file = env.file("users.ndjson", &records);
    let report = env.dir.path().join("report.ndjson");
    let report_arg = report.to_string_lossy().into_owned();
    let shown = env.on_a_terminal(
        &["import", "identities", &file, "--report", &report_arg],
        &[],
    );
    assert!(
        shown.contains(&format!("{file}:4: This identity conflicts")),
        "{shown}"
    );
    assert!(
        shown.contains("the credential identifier `held@example.org` is held by identity"),
        "{shown}"
    );
    assert!(shown.contains("3 created, 0 skipped, 1 failed"), "{shown}");
    assert!(
        !shown.contains("{\""),
        "no JSON lines on a terminal: {shown}"
    );
    let written = std::fs::read_to_string(&report)?;
    let lines: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 4, "{written}");
    assert_eq!(lines[0]["action"], "create");
    assert_eq!(lines[3]["action"], "error");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&report)?.permissions().mode() & 0o777,
            0o600
        );
    }
    Ok(())
}

#[test]
fn foreign_spellings_of_kratos_hashes_are_imported_as_kratos_spells_them() -> TestResult {
    let env = Env::new();
    // Django, a Linux shadow file, OpenLDAP: each a Kratos format under another spelling.
    let cases = [
        (
            "django@example.org",
            "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
            "lètmein",
            "$pbkdf2-sha256$i=10000,l=32$c2Vhc2FsdA$",
        ),
        (
            "shadow@example.org",
            "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0",
            "correct horse",
            "$sha512-crypt$rounds=5000$saltsalt$",
        ),
        (
            "ldap@example.org",
            "{PBKDF2-SHA256}10000$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw",
            "password",
            "$pbkdf2-sha256$i=10000,l=32$henZGfPWw79Cs8ORDeVNrQ$",
        ),
    ];
    let records: String = cases
        .iter()
        .map(|(email, hash, _, _)| {
            json!({"schema_id": "preset://email", "traits": {"email": email},
                   "credentials": {"password": {"config": {"hashed_password": hash}}}})
            .to_string()
                + "\n"
        })
        .collect();
    let path = env.file("foreign.ndjson", &records);
    let run = env.run(&["import", "identities", &path]).ok();
    for (line, (email, _, password, kratos_prefix)) in lines(&run).iter().zip(cases) {
        let id = line["identity"].as_str().unwrap_or_default();
        let shown = env
            .run(&["get", "identity", id, "--include-credential", "password"])
            .ok()
            .json();
        let stored = shown["credentials"]["password"]["config"]["hashed_password"]
            .as_str()
            .unwrap_or_default();
        assert!(stored.starts_with(kratos_prefix), "{email}: {stored}");
        assert_eq!(env.verify_password(email, password).code, 0, "{email}");
    }
    Ok(())
}
