//! Hardening: secrets. What a copy of the store file gives away, and where secrets travel.

use crate::harness::{Env, TestResult};
use crate::serve::Server;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn invite(env: &Env, email: &str) -> Value {
    env.run(&["invite", email, "--no-deliver"]).ok().json()
}

fn flow_of(invitation: &Value) -> String {
    let link = invitation["recovery_link"].as_str().expect("a link");
    let (_, query) = link.split_once("flow=").expect("a flow parameter");
    query.split('&').next().unwrap_or_default().to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// See: #10 point 4. The HMAC key of codes sat in the store: a copy of the file (a backup)
/// recovered every live six-digit code in about a second.
#[test]
fn a_copy_of_the_store_file_alone_cannot_verify_a_live_code() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, "copy@example.org");
    let code = invitation["recovery_code"].as_str().expect("a code");
    let flow = flow_of(&invitation);

    // The key is in an owner-only file beside the store, and nowhere in the store.
    let mut key_path = env.db.as_os_str().to_owned();
    key_path.push(".key");
    let key_path = std::path::PathBuf::from(key_path);
    let key = std::fs::read_to_string(&key_path)?.trim().to_string();
    assert_eq!(key.len(), 64, "a 256-bit hex key");
    assert_eq!(
        std::fs::metadata(&key_path)?.permissions().mode() & 0o777,
        0o600
    );
    let copy_dir = tempfile::tempdir()?;
    let copy = copy_dir.path().join("kith.db");
    std::fs::copy(&env.db, &copy)?;
    assert!(
        !contains(&std::fs::read(&copy)?, key.as_bytes()),
        "the key is in the file"
    );
    let conn = rusqlite::Connection::open(&copy)?;
    let keys: i64 = conn.query_row(
        "SELECT count(*) FROM settings WHERE key = 'secrets.recovery_hmac_key'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(keys, 0);
    drop(conn);

    // The copy alone cannot check a code: it says what is missing and counts nothing.
    let accept = |db: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kith"))
            .env_remove("KITH_DB")
            .args(["--db", &db.to_string_lossy(), "--format", "json"])
            .args([
                "accept",
                "invite",
                "--flow",
                &flow,
                "--code",
                "-",
                "--password-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(format!("{code}\na new password\n").as_bytes())?;
                child.wait_with_output()
            })
            .expect("kith runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (status, stderr) = accept(&copy);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("recovery key file"), "{stderr}");
    // With both, the code works.
    let (status, stderr) = accept(&env.db);
    assert_eq!(status, Some(0), "{stderr}");
    Ok(())
}

/// See: #10 point 4. A store written before the key file moves its key out on open.
#[test]
fn an_older_store_moves_its_recovery_key_out_of_the_file_on_open() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, "old@example.org");
    let mut key_path = env.db.as_os_str().to_owned();
    key_path.push(".key");
    let key = std::fs::read_to_string(&key_path)?.trim().to_string();
    // Make it look like a file from before: the key back in settings, no key file.
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('secrets.recovery_hmac_key', ?1)",
        [&key],
    )?;
    conn.execute(
        "DELETE FROM settings WHERE key = 'secrets.recovery_key_check'",
        [],
    )?;
    conn.pragma_update(None, "user_version", 6)?;
    drop(conn);
    std::fs::remove_file(&key_path)?;
    env.run(&["list", "identities"]).ok();
    assert_eq!(std::fs::read_to_string(&key_path)?.trim(), key);
    assert!(!contains(&std::fs::read(&env.db)?, key.as_bytes()));
    let flow = flow_of(&invitation);
    let code = invitation["recovery_code"].as_str().expect("a code");
    env.run_with(
        &[
            "accept",
            "invite",
            "--flow",
            &flow,
            "--code",
            "-",
            "--password-stdin",
        ],
        &format!("{code}\na new password\n"),
    )
    .ok();
    Ok(())
}

/// See: #10 point 4. Secrets on argv leak through ps and the shell history.
#[test]
fn accept_invite_reads_the_code_and_the_link_from_stdin() -> TestResult {
    let env = Env::new();
    let first = invite(&env, "code@example.org");
    let code = first["recovery_code"].as_str().expect("a code");
    let redeemed = env
        .run_with(
            &[
                "accept",
                "invite",
                "--flow",
                &flow_of(&first),
                "--code",
                "-",
                "--password-stdin",
            ],
            &format!("{code}\na new password\n"),
        )
        .ok()
        .json();
    assert_eq!(redeemed["identity_id"], first["identity_id"]);
    let second = invite(&env, "link@example.org");
    let link = second["recovery_link"].as_str().expect("a link");
    let redeemed = env
        .run_with(
            &["accept", "invite", "--link", "-", "--password-stdin"],
            &format!("{link}\nanother password\n"),
        )
        .ok()
        .json();
    assert_eq!(redeemed["identity_id"], second["identity_id"]);
    // Without a terminal and without either, it says how.
    let refused = env.run(&["accept", "invite", "--password-stdin"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    Ok(())
}

/// See: #10 point 4. A deleted identity's data stayed readable in the file.
#[test]
fn a_deleted_identitys_email_is_gone_from_the_file_bytes() -> TestResult {
    let env = Env::new();
    for i in 0..20 {
        env.create_email(&format!("keep{i}@example.org"));
    }
    let marker = "forget-me-7f3a9c@example.org";
    let id = env.create_email(marker);
    env.run(&["delete", "identity", &id]).ok();
    // The last connection to close checkpoints the WAL into the file and removes it.
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    let mut bytes = std::fs::read(&env.db)?;
    let mut wal = env.db.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    assert!(
        !contains(&bytes, marker.as_bytes()),
        "the deleted email is still in the file"
    );
    Ok(())
}

/// See: #10 point 3. A wrong code for an unknown flow took the write lock: with another
/// process writing, the page waited for it (and answered 503 after ten seconds).
#[test]
fn a_wrong_code_for_an_unknown_flow_is_refused_without_the_write_lock() -> TestResult {
    let env = Env::new();
    let mut server = Server::start(&env);
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let flow = "0190b5c8-0000-7000-8000-00000000abcd";
    let body = "csrf_token=t0k3n&code=123456&password=a+long+password";
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&server.public)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /self-service/recovery?flow={flow} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Cookie: kith_csrf=t0k3n\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        server.public,
        body.len()
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let took = started.elapsed();
    conn.execute_batch("ROLLBACK")?;
    server.stop();
    let status = reply.split(' ').nth(1).unwrap_or_default().to_string();
    assert_ne!(status, "503", "{reply}");
    assert!(status.starts_with('4'), "{reply}");
    assert!(
        took < Duration::from_secs(3),
        "the page waited {took:?} for the lock"
    );
    Ok(())
}
