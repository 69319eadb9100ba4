//! `kith backup`, `kith restore` and `kith check`: consistent copies, and what they refuse.

use crate::harness::{Env, TestResult};
use crate::invite::accept_code;
use crate::serve::{SERVE_ON_LOOPBACK, Server, request, spawn_serve};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// `kith check` on `env`'s store: its exit code and the problems it printed (JSON).
fn check(env: &Env) -> (i32, Vec<Value>) {
    let run = env.run(&["check"]);
    let problems: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}\nstderr: {}",
            run.stdout, run.stderr
        )
    });
    (run.code, problems.as_array().cloned().unwrap_or_default())
}

/// Runs kith with `args` on `env`'s store, which must refuse (exit 1); the reason it gives.
fn refusal(env: &Env, args: &[&str]) -> String {
    let refused = env.run(args);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    refused.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A store holding an identity for each of `emails`, and a backup of it (the second
/// environment's `db`).
fn backed_up(emails: &[&str]) -> (Env, Env) {
    let env = Env::new();
    for email in emails {
        env.create_email(email);
    }
    let backups = Env::new();
    env.run(&["backup", path_str(&backups.db)]).ok();
    (env, backups)
}

/// Invites grace@example.org without delivering: the invitation and its code.
fn invite_grace(env: &Env) -> (Value, String) {
    let invitation = env
        .run(&["invite", "grace@example.org", "--no-deliver"])
        .ok()
        .json();
    let code = invitation["recovery_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (invitation, code)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("the file")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_backup_taken_under_write_load_opens_passes_check_and_holds_every_identity_created_before_it()
-> TestResult {
    let env = Env::new();
    env.create_email("first@example.org");
    let server = Server::start(&env);
    let created: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (admin, token) = (server.admin.clone(), server.token.clone());
        let (created, stop) = (Arc::clone(&created), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let body = json!({"schema_id": "preset://email",
                                  "traits": {"email": format!("load{n}@example.org")}});
                let reply = request(
                    &admin,
                    "POST",
                    "/admin/identities",
                    Some(&token),
                    Some(&body.to_string()),
                );
                assert_eq!(reply.status, 201, "{}", reply.body);
                let id = reply.json()["id"].as_str().unwrap_or_default().to_string();
                created.lock().expect("the list").push((id, Instant::now()));
            }
        })
    };
    let count = || created.lock().expect("the list").len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count() < 30 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let copy = Env::new();
    let started = Instant::now();
    let report = env.run(&["backup", path_str(&copy.db)]).ok().json();
    let finished = Instant::now();
    // One file on its own: nothing of the live store's log beside it.
    assert!(!Path::new(&format!("{}-wal", copy.db.display())).exists());
    // The load goes on after the backup: it ran while the copy was taken.
    let during = count();
    while count() < during + 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    load.join().expect("the load thread");
    let created = created.lock().expect("the list").clone();
    assert!(
        created.len() >= during + 10,
        "the load stopped while the backup ran"
    );
    eprintln!(
        "{} creates answered while the backup ran",
        created
            .iter()
            .filter(|(_, at)| *at > started && *at < finished)
            .count()
    );

    let before: Vec<&str> = created
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        before.len() >= 30,
        "{} creates before the backup",
        before.len()
    );
    // Each one, or exit 1 naming the one that is not there.
    let mut get = vec!["get", "identity"];
    get.extend(&before);
    let got = copy.run(&get).ok().json();
    assert_eq!(got.as_array().map(Vec::len), Some(before.len()), "{got}");
    assert_eq!(report["counts"]["identities"], copy.count_all());
    assert_eq!(report["path"], path_str(&copy.db));
    assert_eq!(report["format_version"], kith::STORE_FORMAT_VERSION);
    assert_eq!(
        report["size"],
        std::fs::metadata(&copy.db)?.len(),
        "the size reported is the file's"
    );
    let (code, problems) = check(&copy);
    assert_eq!((code, problems), (0, vec![]), "the backup is clean");
    Ok(())
}

#[test]
fn a_backup_refuses_to_overwrite_a_file_unless_forced() -> TestResult {
    let env = Env::new();
    env.create_email("ada@example.org");
    let target = env.file("precious.txt", "not to be lost\n");
    let reason = refusal(&env, &["backup", &target]);
    assert!(
        reason.ends_with("precious.txt exists already; pass --force to replace it"),
        "{reason}"
    );
    assert_eq!(std::fs::read_to_string(&target)?, "not to be lost\n");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    env.run(&["backup", &target, "--force"]).ok();
    let copy = Env {
        dir: tempfile::tempdir()?,
        db: target.into(),
    };
    assert_eq!(copy.count(), 1);
    Ok(())
}

#[test]
fn a_backup_is_not_the_store_itself() -> TestResult {
    let env = Env::new();
    env.create_email("ada@example.org");
    let reason = refusal(&env, &["backup", path_str(&env.db), "--force"]);
    assert!(reason.contains("is the store's own file"), "{reason}");
    assert_eq!(env.count(), 1);
    Ok(())
}

#[test]
#[cfg(unix)]
fn a_backup_with_its_key_is_owner_only_and_restored_keeps_an_open_invite_redeemable() -> TestResult
{
    let env = Env::new();
    let (invitation, code) = invite_grace(&env);
    let backups = Env::new();
    let file = backups.dir.path().join("copy.db");
    let report = env
        .run(&["backup", path_str(&file), "--with-key"])
        .ok()
        .json();
    let key_copy = backups.dir.path().join("copy.db.key");
    assert_eq!(report["key"]["handling"], "copied");
    assert_eq!(report["key"]["copy"], path_str(&key_copy));
    assert_eq!(report["counts"]["open_invites"], 1);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&key_copy), 0o600);
    assert_eq!(
        std::fs::read(&key_copy)?,
        std::fs::read(format!("{}.key", env.db.display()))?
    );

    // Restored on another machine: a fresh place, no store, no key file.
    let elsewhere = Env::new();
    let restored = elsewhere.run(&["restore", path_str(&file)]).ok();
    assert!(restored.stderr.is_empty(), "{}", restored.stderr);
    let restored = restored.json();
    assert_eq!(restored["key"]["handling"], "restored");
    assert_eq!(restored["key"]["fit"], "matches");
    assert_eq!(mode(&elsewhere.db), 0o600);
    assert_eq!(
        mode(Path::new(&format!("{}.key", elsewhere.db.display()))),
        0o600
    );
    accept_code(&elsewhere, &invitation, &code, "a passphrase of hers").ok();
    elsewhere
        .verify_password("grace@example.org", "a passphrase of hers")
        .ok();
    Ok(())
}

#[test]
fn a_backup_without_its_key_names_the_key_file_and_its_restore_warns() -> TestResult {
    let env = Env::new();
    let (invitation, code) = invite_grace(&env);
    let backups = Env::new();
    let report = env.run(&["backup", path_str(&backups.db)]).ok().json();
    let key_file = format!("{}.key", env.db.display());
    assert_eq!(report["key"]["handling"], "separate");
    assert_eq!(report["key"]["file"], key_file.as_str());
    let warning = report["key"]["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains(&key_file) && warning.contains("1 open invite(s)"),
        "{warning}"
    );
    assert!(!Path::new(&format!("{}.key", backups.db.display())).exists());
    // On a terminal's format the warning goes to stderr.
    let again = env.run(&[
        "--format",
        "table",
        "backup",
        path_str(&backups.db),
        "--force",
    ]);
    assert!(
        again.stderr.starts_with("warning: the recovery key file"),
        "{}",
        again.stderr
    );

    let elsewhere = Env::new();
    let restored = elsewhere
        .run(&["restore", path_str(&backups.db)])
        .ok()
        .json();
    assert_eq!(restored["key"]["handling"], "kept");
    assert_eq!(restored["key"]["fit"], "missing");
    assert!(restored["key"]["warning"].is_string(), "{restored}");
    let refused = accept_code(&elsewhere, &invitation, &code, "a passphrase of hers");
    assert_ne!(
        refused.code, 0,
        "redeemed without the key: {}",
        refused.stdout
    );
    Ok(())
}

#[test]
fn restore_refuses_a_store_from_a_newer_kith() -> TestResult {
    let (_, backups) = backed_up(&["ada@example.org"]);
    {
        let conn = rusqlite::Connection::open(&backups.db)?;
        conn.pragma_update(None, "user_version", kith::STORE_FORMAT_VERSION + 1)?;
    }
    let target = Env::new();
    target.create_email("grace@example.org");
    // The store's own refusal, word for word.
    assert_eq!(
        refusal(&target, &["restore", path_str(&backups.db), "--force"]),
        format!(
            "the store was written by a newer kith (schema version {}, this kith knows up to {}); upgrade kith to open it",
            kith::STORE_FORMAT_VERSION + 1,
            kith::STORE_FORMAT_VERSION
        )
    );
    assert_eq!(target.count(), 1);
    assert!(!Path::new(&format!("{}.restore", target.db.display())).exists());
    Ok(())
}

#[test]
fn restore_refuses_a_file_that_is_not_a_kith_store() -> TestResult {
    let target = Env::new();
    target.create_email("grace@example.org");
    let text = target.file("notes.db", "SQLite format 3? no, just notes\n");
    let other_sqlite = target.dir.path().join("other.sqlite");
    rusqlite::Connection::open(&other_sqlite)?.execute_batch("CREATE TABLE t (x)")?;
    for file in [text.as_str(), path_str(&other_sqlite)] {
        let reason = refusal(&target, &["restore", file, "--force"]);
        assert!(
            reason.starts_with(&format!("{file} is not a kith store that can be restored")),
            "{reason}"
        );
    }
    assert_eq!(target.count(), 1);
    Ok(())
}

#[test]
fn restore_refuses_a_key_file_beside_the_backup_that_holds_no_key_and_replaces_nothing()
-> TestResult {
    let (_, backups) = backed_up(&["ada@example.org"]);
    std::fs::write(format!("{}.key", backups.db.display()), "not a key\n")?;
    let (target, _) = backed_up(&["grace@example.org", "alan@example.org"]);
    let reason = refusal(&target, &["restore", path_str(&backups.db), "--force"]);
    assert!(reason.contains("kith.db.key does not belong"), "{reason}");
    assert_eq!(target.count(), 2, "the store was replaced all the same");
    Ok(())
}

#[test]
fn restore_refuses_while_kith_serve_has_the_store_open() -> TestResult {
    let (env, backups) = backed_up(&["ada@example.org"]);
    let mut server = Server::start(&env);
    server.create_identity(&json!({"schema_id": "preset://email",
                                   "traits": {"email": "grace@example.org"}}));
    let reason = refusal(&env, &["restore", path_str(&backups.db), "--force"]);
    assert!(
        reason.starts_with("another kith process (kith serve,") && reason.contains("has the store"),
        "{reason}"
    );
    assert!(server.stop().success());
    assert_eq!(env.count(), 2, "the refused restore changed nothing");
    env.run(&["restore", path_str(&backups.db), "--force"]).ok();
    assert_eq!(env.count(), 1);
    Ok(())
}

#[test]
fn a_restore_over_a_store_whose_writer_was_killed_never_replays_its_log_onto_the_backup()
-> TestResult {
    let (env, backups) = backed_up(&["ada@example.org"]);
    let mut serve = env.std_cmd();
    serve
        .args(SERVE_ON_LOOPBACK)
        .stderr(std::process::Stdio::null());
    let (mut server, _) = spawn_serve(serve);
    // Written while the server keeps the store open, so nobody folds the log into the file.
    env.create_email("grace@example.org");
    env.create_email("alan@example.org");
    server.kill()?;
    server.wait()?;
    let log = Path::new(&format!("{}-wal", env.db.display())).to_path_buf();
    assert!(
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0),
        "the killed server left no log: the test proves nothing"
    );
    let restored = env
        .run(&["restore", path_str(&backups.db), "--force"])
        .ok()
        .json();
    assert_eq!(check(&env), (0, vec![]));
    assert_eq!(env.count(), 1);
    assert!(!log.exists());
    assert_eq!(
        restored["replaced_identities"], 3,
        "the log's identities counted"
    );
    Ok(())
}

#[test]
fn restore_refuses_to_replace_a_store_with_identities_unless_forced() -> TestResult {
    let (_, backups) = backed_up(&["ada@example.org"]);
    let (target, _) = backed_up(&["grace@example.org", "alan@example.org"]);
    let reason = refusal(&target, &["restore", path_str(&backups.db)]);
    assert!(
        reason.contains("holds 2 identities, which restoring would replace"),
        "{reason}"
    );
    assert_eq!(target.count(), 2);
    let restored = target
        .run(&["restore", path_str(&backups.db), "--force"])
        .ok()
        .json();
    assert_eq!(restored["replaced_identities"], 2);
    assert_eq!(target.count(), 1);
    Ok(())
}

#[test]
fn check_names_the_identity_whose_credential_identifier_row_is_gone() -> TestResult {
    let env = Env::new();
    let id = env.create_email("ada@example.org");
    env.create_email("grace@example.org");
    assert_eq!(check(&env), (0, vec![]));
    rusqlite::Connection::open(&env.db)?.execute(
        "DELETE FROM credential_identifiers WHERE identifier = 'ada@example.org'",
        [],
    )?;
    let (code, problems) = check(&env);
    assert_eq!(code, 1);
    assert_eq!(
        problems,
        vec![json!({
            "kind": "identifiers",
            "identity_id": id,
            "message": format!(
                "identity {id} lacks the password identifier `ada@example.org` its traits derive"
            ),
        })]
    );
    // One line each on a terminal.
    let table = env.run(&["--format", "table", "check"]);
    assert_eq!(table.code, 1);
    assert_eq!(
        table.stdout,
        format!(
            "identifiers: identity {id} lacks the password identifier `ada@example.org` its traits derive\n"
        )
    );
    Ok(())
}

#[test]
fn check_reports_a_foreign_key_violation() -> TestResult {
    let env = Env::new();
    env.create_email("ada@example.org");
    let ghost = "0192f0c2-0000-7000-8000-00000000dead";
    {
        // The row goes in as a tool that ignores foreign keys would put it.
        let conn = rusqlite::Connection::open(&env.db)?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        conn.execute(
            "INSERT INTO invites (id, flow_id, identity_id, kind, created_at, expires_at, created_by) \
             VALUES (randomblob(16), randomblob(16), ?1, 'invite', 't', 't', 'tester')",
            [uuid::Uuid::parse_str(ghost)?.as_bytes().to_vec()],
        )?;
    }
    let (code, problems) = check(&env);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p["kind"] == "foreign_key"
            && p["identity_id"] == ghost
            && p["message"]
                .as_str()
                .unwrap_or_default()
                .contains("of invites (identity 0192f0c2-0000-7000-8000-00000000dead) refers to a identities row that does not exist")),
        "{problems:?}"
    );
    Ok(())
}

#[test]
fn check_keeps_the_trail_of_deleted_identities_and_reports_one_removed_behind_its_back()
-> TestResult {
    let env = Env::new();
    let deleted = env.create_email("ada@example.org");
    let vanished = env.create_email("grace@example.org");
    env.run(&["delete", "identity", &deleted]).ok();
    assert_eq!(
        check(&env),
        (0, vec![]),
        "a deletion through kith leaves a clean trail"
    );
    {
        let conn = rusqlite::Connection::open(&env.db)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute(
            "DELETE FROM identities WHERE id = ?1",
            [uuid::Uuid::parse_str(&vanished)?.as_bytes().to_vec()],
        )?;
    }
    let (code, problems) = check(&env);
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "orphaned_events");
    assert_eq!(problems[0]["identity_id"], vanished.as_str());
    Ok(())
}

#[test]
fn check_reads_only_and_never_creates_a_store() -> TestResult {
    let env = Env::new();
    let missing = env.run(&["check"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(!env.db.exists(), "check created a store");
    env.create_email("ada@example.org");
    let before = std::fs::read(&env.db)?;
    assert_eq!(check(&env), (0, vec![]));
    assert_eq!(std::fs::read(&env.db)?, before, "check changed the store");
    Ok(())
}

#[test]
fn check_reads_a_store_of_an_older_version_through_an_upgraded_copy_and_leaves_it_as_it_was()
-> TestResult {
    let env = Env::new();
    let id = env.create_email("ada@example.org");
    let older = kith::STORE_FORMAT_VERSION - 1;
    {
        let conn = rusqlite::Connection::open(&env.db)?;
        // Migrations may run again on a file whose version was set back.
        conn.pragma_update(None, "user_version", older)?;
        conn.execute(
            "DELETE FROM credential_identifiers WHERE identifier = 'ada@example.org'",
            [],
        )?;
    }
    let scratch = tempfile::tempdir()?;
    let output = env
        .cmd()
        .env("TMPDIR", scratch.path())
        .args(["--format", "json", "check"])
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let problems: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(problems[0]["identity_id"], id.as_str(), "{problems}");
    let version: i64 =
        rusqlite::Connection::open(&env.db)?
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
    assert_eq!(version, older, "check upgraded the store");
    let left: Vec<_> = std::fs::read_dir(scratch.path())?.collect();
    assert!(left.is_empty(), "the upgraded copy stayed: {left:?}");
    Ok(())
}

/// Writes an audit event holding `random_bytes` random bytes (as hex): enough of them make a
/// store that takes a while to copy, or a transaction that spills SQLite's page cache.
fn insert_padding(conn: &rusqlite::Connection, random_bytes: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, detail) \
         VALUES ('2026-01-01T00:00:00Z', 'tester', 'test.padding', json_quote(hex(randomblob(?1))))",
        [random_bytes],
    )
}

#[test]
fn a_killed_restore_leaves_the_old_store_or_the_new_one_whole() -> TestResult {
    let old = Env::new();
    for n in 0..3 {
        old.create_email(&format!("old{n}@example.org"));
    }
    // A backup big enough that a restore takes a while to copy.
    let source = Env::new();
    source.create_email("new@example.org");
    {
        let conn = rusqlite::Connection::open(&source.db)?;
        insert_padding(&conn, 12_000_000)?;
    }
    let backups = Env::new();
    source.run(&["backup", path_str(&backups.db)]).ok();
    let mut outcomes = HashSet::new();
    for delay_ms in [0u64, 5, 10, 20, 30, 45, 60, 80, 120, 200] {
        let mut restore = old.std_cmd();
        restore
            .args([
                "--format",
                "json",
                "restore",
                path_str(&backups.db),
                "--force",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = restore.spawn()?;
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait()?;
        let (code, problems) = check(&old);
        assert_eq!(
            (code, &problems),
            (0, &vec![]),
            "after a kill at {delay_ms} ms"
        );
        let count = old.count();
        assert!(
            count == 3 || count == 1,
            "{count} identities after a kill at {delay_ms} ms"
        );
        outcomes.insert(count);
    }
    // Whatever was left behind, the next restore finishes the job and cleans up.
    old.run(&["restore", path_str(&backups.db), "--force"]).ok();
    assert_eq!(old.count(), 1);
    assert!(!Path::new(&format!("{}.restore", old.db.display())).exists());
    eprintln!("outcomes of killed restores (identities): {outcomes:?}");
    Ok(())
}

/// A store copied while a writer was half way through a rollback-journal write (or left so
/// by a killed restore) has a hot journal beside it. `kith check` opens read-only, and a
/// read-only connection may not roll a journal back: it answered 500 "attempt to write a
/// readonly database" instead of checking the store as it was before that write.
#[test]
fn check_reads_a_store_left_with_a_hot_journal() -> TestResult {
    let env = Env::new();
    for n in 0..3 {
        env.create_email(&format!("kept{n}@example.org"));
    }
    let copy = Env::new();
    {
        let conn = rusqlite::Connection::open(&env.db)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "cache_size", 1)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // Big enough to spill the cache: the file is changed and the journal holds the
        // pages as they were, as at the moment a writer is killed.
        insert_padding(&conn, 2_000_000)?;
        let mut journal = env.db.as_os_str().to_owned();
        journal.push("-journal");
        let mut copied_journal = copy.db.as_os_str().to_owned();
        copied_journal.push("-journal");
        std::fs::copy(&env.db, &copy.db)?;
        std::fs::copy(&journal, &copied_journal)?;
        conn.execute_batch("ROLLBACK")?;
    }
    let (code, problems) = check(&copy);
    assert_eq!((code, problems), (0, vec![]));
    let listed = copy.run(&["list", "identities"]).ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    Ok(())
}
