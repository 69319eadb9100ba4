//! The library, embedded as a Rust program would: round trips and hash upgrades.

use kith::Admin as _;
use kith::Kith;
use kith::flows::{ImportOptions, ImportSource, OnConflict};
use kith::model::CreateIdentityBody;
use proptest::prelude::*;
use serde_json::{Value, json};

/// bcrypt (cost 4) of "test", made by Python's bcrypt.
const BCRYPT_TEST: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";

fn export(kith: &Kith) -> Vec<String> {
    let mut lines = Vec::new();
    kith.export_identities(true, &mut |_, body| {
        lines.push(serde_json::to_string(body).expect("a body serializes"));
        true
    })
    .expect("export works");
    lines
}

fn import(kith: &Kith, ndjson: String) -> u64 {
    let source = ImportSource {
        name: "export".into(),
        reader: Box::new(std::io::Cursor::new(ndjson.into_bytes())),
        format: kith::flows::SourceFormat::Json,
    };
    let options = ImportOptions {
        on_conflict: OnConflict::Fail,
        ..ImportOptions::default()
    };
    let mut failures = Vec::new();
    let summary = kith
        .import_identities(vec![source], &options, &mut |result| {
            if result.source.is_empty()
                || matches!(result.outcome, kith::flows::ImportOutcome::Error { .. })
            {
                failures.push(serde_json::to_string(result).unwrap_or_default());
            }
        })
        .expect("import runs");
    assert!(failures.is_empty(), "{failures:?}");
    summary.created
}

fn record(
    index: usize,
    local: String,
    inactive: bool,
    verified: bool,
    extras: (bool, bool, bool, Option<i64>),
) -> Value {
    let (name, external, oidc, metadata) = extras;
    let email = format!("{local}.{index}@Example.org");
    let mut body = json!({
        "schema_id": "preset://email",
        "traits": {"email": email},
        "state": if inactive { "inactive" } else { "active" },
        "credentials": {"password": {"config": {"hashed_password": BCRYPT_TEST}}},
    });
    if name {
        body["traits"]["name"] = json!({"first": local, "last": "Tester"});
    }
    if external {
        body["external_id"] = json!(format!("ext-{index}"));
    }
    if oidc {
        body["credentials"]["oidc"] = json!({"config": {"providers": [{"provider": "github", "subject": index.to_string()}]}});
    }
    if let Some(n) = metadata {
        body["metadata_public"] = json!({"n": n, "tags": ["a", local]});
        body["metadata_admin"] = json!({"note": format!("#{index}")});
    }
    if verified {
        body["verifiable_addresses"] = json!([{"value": email.to_lowercase(), "verified": true, "via": "email",
                                               "verified_at": "2025-06-01T12:00:00Z"}]);
    }
    body
}

fn records() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            "[a-z]{1,8}",
            any::<bool>(),
            any::<bool>(),
            (
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                prop::option::of(-1000i64..1000),
            ),
        ),
        0..8,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(index, (local, inactive, verified, extras))| {
                record(index, local, inactive, verified, extras)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Export, import into an empty store, export again: identical.
    #[test]
    fn export_import_export_is_identical(bodies in records()) {
        let original = Kith::open_in_memory().expect("a store");
        for body in &bodies {
            let body: CreateIdentityBody = serde_json::from_value(body.clone()).expect("a body");
            original.create_identity(body).expect("created");
        }
        let first = export(&original);
        prop_assert_eq!(first.len(), bodies.len());
        let copy = Kith::open_in_memory().expect("a store");
        prop_assert_eq!(import(&copy, first.join("\n")), bodies.len() as u64);
        prop_assert_eq!(export(&copy), first);
    }
}

#[derive(serde::Deserialize)]
struct HashFixture {
    format: String,
    password: String,
    wrong: String,
    hash: String,
}

/// Every imported format verifies, and a match upgrades it to the configured hasher.
#[test]
fn every_imported_hash_format_verifies_and_is_upgraded_on_use()
-> Result<(), Box<dyn std::error::Error>> {
    let fixtures: Vec<HashFixture> =
        serde_json::from_str(include_str!("fixtures/password-hashes.json"))?;
    let kith = Kith::open_in_memory()?;
    for (index, fixture) in fixtures.iter().enumerate() {
        let username = format!("user{index}");
        let body = json!({"schema_id": "preset://username", "traits": {"username": username},
                          "credentials": {"password": {"config": {"hashed_password": fixture.hash}}}});
        let identity = kith.create_identity(serde_json::from_value(body)?)?;
        assert!(
            matches!(
                kith.verify_password(&username, &fixture.wrong),
                Err(kith::Error::InvalidCredentials)
            ),
            "{}: a wrong password must not match",
            fixture.format
        );
        let first = kith.verify_password(&username, &fixture.password)?;
        assert!(
            first.rehashed,
            "{}: a match upgrades the hash",
            fixture.format
        );
        let stored = kith.get_identity(identity.id, &["password".to_string()])?;
        let hash = stored.password_hash().unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$"),
            "{}: now {hash}",
            fixture.format
        );
        let second = kith.verify_password(&username, &fixture.password)?;
        assert!(!second.rehashed, "{}: upgraded once", fixture.format);
    }
    assert!(
        fixtures.len() >= 30,
        "the fixture table covers every family"
    );
    Ok(())
}

/// An expired code is refused, and counts as a wrong one only if it is wrong.
#[test]
fn expired_invites_are_refused() -> Result<(), Box<dyn std::error::Error>> {
    use kith::clock::ManualClock;
    use kith::flows::{InviteRequest, Redemption};
    use std::sync::Arc;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let kith = Kith::open_in_memory()?.with_clock(clock.clone());
    let invitation = kith.invite(&InviteRequest {
        email: Some("late@example.org".into()),
        expires_in: Some("10m".into()),
        ..InviteRequest::default()
    })?;
    clock.advance(chrono::Duration::minutes(11));
    let flow = invitation
        .recovery_link
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("flow="))
        .unwrap_or_default()
        .parse()?;
    let expired = kith.redeem(
        &Redemption::Code {
            flow,
            code: invitation.recovery_code.clone(),
        },
        "pass phrase",
    );
    match expired {
        Err(error @ kith::Error::RecoveryCodeInvalid) => assert_eq!(
            error.to_string(),
            "The recovery code is invalid or has already been used. Please try again."
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let listed = kith.list_invites(None)?;
    assert_eq!(serde_json::to_value(listed[0].status)?, "expired");
    Ok(())
}

/// Found by `scripts/fuzz import_reader` (fuzz/regressions/import_reader/bom-split-across-reads):
/// a byte-order mark is stripped only when it arrives in one read, so the same file piped in
/// small reads (as a pipe may deliver it) imports differently from the same file read whole.
#[test]
fn a_byte_order_mark_split_across_reads_is_still_stripped() -> crate::harness::TestResult {
    struct OneByte(std::io::Cursor<Vec<u8>>);
    impl std::io::Read for OneByte {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let end = buf.len().min(1);
            std::io::Read::read(&mut self.0, &mut buf[..end])
        }
    }
    let file = "\u{feff}{\n  \"schema_id\": \"preset://email\",\n  \"traits\": {\"email\": \"bom@example.org\"}\n}\n";
    let options = ImportOptions {
        dry_run: true,
        ..ImportOptions::default()
    };
    let mut actions = Vec::new();
    for reader in [
        Box::new(std::io::Cursor::new(file.as_bytes().to_vec()))
            as Box<dyn std::io::BufRead + Send>,
        Box::new(std::io::BufReader::with_capacity(
            64,
            OneByte(std::io::Cursor::new(file.as_bytes().to_vec())),
        )) as Box<dyn std::io::BufRead + Send>,
    ] {
        let kith = Kith::open_in_memory()?;
        let source = ImportSource {
            name: "bom.json".into(),
            reader,
            format: kith::flows::SourceFormat::Json,
        };
        let mut seen = Vec::new();
        kith.import_identities(vec![source], &options, &mut |result| {
            seen.push(serde_json::to_value(&result.outcome).map(|v| v["action"].clone()));
        })?;
        actions.push(seen.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    assert_eq!(actions[0], vec![json!("create")]);
    assert_eq!(
        actions[1], actions[0],
        "read a byte at a time, the import differs"
    );
    Ok(())
}

/// An import run through a handle lent by `acting_as` credits that actor everywhere: the
/// import run, its start, and each identity it creates. It used to credit the lending
/// handle's actor on the worker threads.
#[test]
fn an_import_credits_the_actor_it_runs_as() -> crate::harness::TestResult {
    let kith = Kith::open_in_memory()?.with_actor("library:owner");
    let records = (0..40)
        .map(|i| json!({"schema_id": "preset://email", "traits": {"email": format!("act{i}@example.org")}}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let summary = kith.acting_as("http:ci", |kith| {
        kith.import_identities(
            vec![ImportSource {
                name: "actors.ndjson".into(),
                reader: Box::new(std::io::Cursor::new(records.into_bytes())),
                format: kith::flows::SourceFormat::Json,
            }],
            &ImportOptions {
                chunk_size: 7,
                ..ImportOptions::default()
            },
            &mut |_| {},
        )
    })?;
    assert_eq!(summary.created, 40);
    let events = kith.list_events(None, 0, 1000)?;
    let created = events
        .iter()
        .filter(|e| e.action == "identity.created")
        .count();
    assert_eq!(created, 40);
    assert!(events.iter().any(|e| e.action == "import.started"));
    let actors: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["http:ci"].into());
    Ok(())
}

/// Many threads creating at once share commits: every caller is answered (created, or a
/// conflict of its own), no one waits forever, and each created identity has its one event.
#[test]
fn threads_creating_at_once_are_each_answered_once() -> crate::harness::TestResult {
    let dir = tempfile::tempdir()?;
    let kith = Kith::open(dir.path().join("kith.db"))?;
    const THREADS: usize = 16;
    const EACH: usize = 150;
    let outcomes: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let kith = &kith;
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            // Every third address is one another thread also creates.
                            let email = match i % 3 {
                                0 => format!("shared-{i}@example.org"),
                                _ => format!("own-{thread}-{i}@example.org"),
                            };
                            let body: CreateIdentityBody = serde_json::from_value(json!({
                                "schema_id": "preset://email",
                                "traits": {"email": email},
                            }))
                            .expect("a body");
                            kith.create_identity(body)
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a creating thread"))
            .collect()
    });
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let own = THREADS * (EACH - EACH.div_ceil(3));
    let shared = EACH.div_ceil(3);
    assert_eq!(created, own + shared, "each shared address is created once");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(refused.contains("conflicts"), "{refused}");
    }
    let events = kith.list_events(None, 0, 100_000)?;
    let creations = events
        .iter()
        .filter(|e| e.action == "identity.created")
        .count();
    assert_eq!(creations, created);
    Ok(())
}

/// A delivery is stamped by the handle's clock: the outbox file is named after the injected
/// time, not the machine's.
#[test]
fn invite_delivery_reads_the_injected_clock() -> crate::harness::TestResult {
    use kith::clock::ManualClock;
    use kith::flows::InviteRequest;
    let dir = tempfile::tempdir()?;
    let then = chrono::DateTime::parse_from_rfc3339("2031-05-06T07:08:09Z")?.to_utc();
    let kith = Kith::open(dir.path().join("kith.db"))?
        .with_plugin_cache_dir(dir.path().join("cache"))
        .with_clock(std::sync::Arc::new(ManualClock::new(then)));
    kith.install_plugin(
        std::path::Path::new(&crate::plugins::plugin_dir("eml-outbox")),
        &[],
        &["outbox:write".to_string()],
    )?;
    let invitation = kith.invite(&InviteRequest {
        email: Some("clock@example.org".into()),
        ..InviteRequest::default()
    })?;
    assert_eq!(invitation.deliveries.len(), 1, "{invitation:?}");
    let names: Vec<String> = std::fs::read_dir(dir.path().join("outbox").join("new"))?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 1, "{names:?}");
    let stamp = then.timestamp_millis().to_string();
    assert!(names[0].starts_with(&format!("{stamp}.")), "{names:?}");
    Ok(())
}

#[test]
fn an_embedder_backs_up_restores_and_checks_and_an_open_store_is_never_replaced()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (db, copy, other) = (
        dir.path().join("kith.db"),
        dir.path().join("copy.db"),
        dir.path().join("other.db"),
    );
    let kith = Kith::open(&db)?;
    kith.create_identity(serde_json::from_value(json!({
        "schema_id": "preset://email",
        "traits": {"email": "ada@example.org"},
    }))?)?;
    let report = kith.backup(&copy, &kith::flows::BackupOptions::default())?;
    assert_eq!(report.counts.identities, 1);
    assert_eq!(report.key.handling, "not_needed");
    // A Kith in this very process holds the store: restoring over it is refused.
    match Kith::restore(&copy, &db, true) {
        Err(kith::Error::StoreInUse { path }) => assert_eq!(path, db),
        other => panic!("restored over an open store: {other:?}"),
    }
    drop(kith);
    let restored = Kith::restore(&copy, &other, false)?;
    assert_eq!(restored.counts.identities, 1);
    assert_eq!(Kith::open_read_only(&other)?.check()?, vec![]);
    assert!(
        Kith::open_in_memory()?
            .backup(&dir.path().join("x.db"), &Default::default())
            .is_err(),
        "an in-memory store has no file to back up"
    );
    Ok(())
}
