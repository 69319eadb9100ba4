//! Hashes made by independent implementations (`tests/fixtures/gen_password_hashes.py`).

use std::collections::BTreeSet;

use super::super::{check_hash, verify_password};
use super::TestResult;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/password-hashes.json"
);

#[derive(serde::Deserialize)]
struct Fixture {
    format: String,
    family: String,
    password: String,
    wrong: String,
    hash: String,
}

fn load() -> Result<Vec<Fixture>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(FIXTURES).map_err(|e| format!("reading {FIXTURES}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Each fixture is importable as its family, its password matches and the
/// wrong one does not.
#[test]
fn every_fixture_checks_and_verifies() -> TestResult {
    let fixtures = load()?;
    let mut failures = Vec::new();
    for f in &fixtures {
        match check_hash(&f.hash) {
            Ok(format) if format.to_string() == f.family => {}
            other => failures.push(format!(
                "{}: check_hash gave {other:?}, want {}",
                f.format, f.family
            )),
        }
        match verify_password(f.password.as_bytes(), &f.hash) {
            Ok(true) => {}
            other => failures.push(format!("{}: right password gave {other:?}", f.format)),
        }
        match verify_password(f.wrong.as_bytes(), &f.hash) {
            Ok(false) => {}
            other => failures.push(format!("{}: wrong password gave {other:?}", f.format)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// The fixture file covers every variant the brief lists, so a family cannot
/// silently drop out of the independent check.
#[test]
fn fixtures_cover_every_format() -> TestResult {
    let fixtures = load()?;
    let have: BTreeSet<&str> = fixtures.iter().map(|f| f.format.as_str()).collect();
    let want = [
        "bcrypt-2a",
        "bcrypt-2b",
        "bcrypt-2y",
        "bcrypt-2",
        "argon2id",
        "argon2i",
        "pbkdf2-sha1",
        "pbkdf2-sha256",
        "pbkdf2-sha512",
        "pbkdf2-sha224",
        "pbkdf2-sha384",
        "scrypt",
        "firescrypt",
        "ssha-ssha",
        "ssha-ssha256",
        "ssha-ssha512",
        "sha1-pf",
        "sha256-pf",
        "sha512-pf",
        "md5-plain",
        "md5-pf",
        "hmac-md4",
        "hmac-md5",
        "hmac-sha1",
        "hmac-sha224",
        "hmac-sha256",
        "hmac-sha384",
        "hmac-sha512",
        "md5-crypt",
        "sha256-crypt",
        "sha512-crypt",
    ];
    let missing: Vec<&str> = want.into_iter().filter(|w| !have.contains(w)).collect();
    assert!(missing.is_empty(), "fixtures missing: {missing:?}");
    assert!(
        fixtures.iter().any(|f| !f.password.is_ascii()),
        "some fixture passwords must be non-ASCII"
    );
    Ok(())
}
