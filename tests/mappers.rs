//! The first-party import mappers firebase-import, csv-import and ldif-import, installed
//! from plugins/ and run by `kith import identities FILE --mapper NAME` on the files a user
//! would import (a Firebase export, CSV with quoted commas and line breaks, folded LDIF with
//! base64 values), generated here from records written once; then the imported passwords
//! are verified with `kith verify password`.

use crate::harness::{Env, Run, TestResult};
use crate::plugins::{plugin_dir, wasm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

fn install(env: &Env, name: &str, config: &[&str]) {
    wasm(&format!("{}.wasm", name.replace('-', "_")));
    let dir = plugin_dir(name);
    let mut args = vec!["install", "plugin", dir.as_str()];
    for pair in config {
        args.extend(["--config", pair]);
    }
    env.run(&args).ok();
}

/// `kith import identities FILE --mapper NAME`: the run and its report, a line per record.
fn import(env: &Env, file: &str, mapper: &str) -> (Run, Vec<Value>) {
    let run = env.run(&["import", "identities", file, "--mapper", mapper]);
    let report = run
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("report line is not JSON ({e}): {line}\n{}", run.stderr))
        })
        .collect();
    (run, report)
}

/// What a report line says: `create` or the error codes of the mapper's refusal (or the
/// error's reason when kith refused the mapped body).
fn outcome(line: &Value) -> String {
    match line["action"].as_str() {
        Some("error") => match line["error"]["details"]["errors"].as_array() {
            Some(errors) => errors
                .iter()
                .map(|e| e["code"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(","),
            None => line["error"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        },
        Some(action) => action.to_string(),
        None => panic!("a report line without action: {line}"),
    }
}

/// `kith verify password` succeeds for `identifier` with `password`, and refuses another.
fn assert_password(env: &Env, identifier: &str, password: &str) {
    let run = env.verify_password(identifier, password);
    assert_eq!(
        run.code, 0,
        "{identifier} / {password}: {}{}",
        run.stdout, run.stderr
    );
    let wrong = env.verify_password(identifier, "not the password");
    assert_ne!(wrong.code, 0, "{identifier}: a wrong password verified");
}

/// The identity a report line created, with the credentials of `kind` (configs included).
fn stored(env: &Env, line: &Value, kind: &str) -> Value {
    let id = line["identity"].as_str().unwrap_or_default();
    env.run(&["get", "identity", id, "-i", kind]).ok().json()
}

// ---------------------------------------------------------------------------------------
// Firebase

/// The project hash parameters of Firebase's scrypt README; its sample user's password is
/// `user1password` (wave2-facts §5.2).
const SIGNER_KEY: &str =
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";
const SALT_SEPARATOR: &str = "Bw==";
const FIREBASE_CONFIG: &[&str] = &[
    "signer_key=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
    "salt_separator=Bw==",
    "rounds=8",
    "mem_cost=14",
];

/// Firebase's scrypt of `password` with the README's project parameters: the signer key
/// encrypted with AES-256-CTR under scrypt(password, salt‖separator), as Firebase computes it.
fn firebase_hash(password: &str, salt: &[u8]) -> String {
    use ctr::cipher::{KeyIvInit as _, StreamCipher as _};
    let mut salted = salt.to_vec();
    salted.extend(STANDARD.decode(SALT_SEPARATOR).expect("base64"));
    let params = scrypt::Params::new(14, 8, 1).expect("scrypt parameters");
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salted, &params, &mut key).expect("scrypt");
    let mut hash = STANDARD.decode(SIGNER_KEY).expect("base64");
    ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0u8; 16].into()).apply_keystream(&mut hash);
    STANDARD.encode(hash)
}

/// A Firebase `auth:export` file's users: the README's sample user, a second password
/// user, a disabled Google-only user and one signed up by phone.
fn firebase_users() -> Vec<Value> {
    vec![
        json!({
            "localId": "Z1VxG2nW3bM7tXxR8pQeLmK4cA92",
            "email": "user1@example.com",
            "emailVerified": true,
            "passwordHash": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
            "salt": "42xEC+ixf3L2lw==",
            "displayName": "Ada Lovelace",
            "lastSignedInAt": "1701234567890",
            "createdAt": "1600000000000",
            "disabled": false,
            "providerUserInfo": []
        }),
        json!({
            "localId": "9hB3kT0qLs5wYvN1eR7uPzC4dX62",
            "email": "grace@example.com",
            "emailVerified": false,
            "passwordHash": firebase_hash("correct horse battery", b"grace's salt"),
            "salt": STANDARD.encode(b"grace's salt"),
            "displayName": "Grace Brewster Hopper",
            "createdAt": "1650000000000",
            "customAttributes": "{\"role\":\"admin\"}",
            "providerUserInfo": []
        }),
        json!({
            "localId": "kQ8fV2rT6yU1iO3pA5sD7fG9hJ04",
            "email": "alan@example.com",
            "emailVerified": true,
            "displayName": "Alan Turing",
            "photoUrl": "https://lh3.googleusercontent.com/a/alan",
            "createdAt": "1660000000000",
            "disabled": true,
            "providerUserInfo": [{
                "providerId": "google.com",
                "rawId": "118234567890123456789",
                "email": "alan@example.com",
                "displayName": "Alan Turing"
            }]
        }),
        json!({
            "localId": "pH0n3oNlYuS3r000000000000001",
            "phoneNumber": "+15555550100",
            "createdAt": "1670000000000"
        }),
    ]
}

/// The export as `firebase auth:export users.json` writes it.
fn firebase_export(users: &[Value]) -> String {
    let users: Vec<String> = users.iter().map(Value::to_string).collect();
    format!("{{\"users\": [{}]}}", users.join(",\n"))
}

#[test]
fn firebase_export_imports_through_its_mapper_and_kith_verifies_the_scrypt_hashes() -> TestResult {
    let env = Env::new();
    install(&env, "firebase-import", FIREBASE_CONFIG);
    let users = firebase_users();
    let path = env.file("users.json", &firebase_export(&users));
    let (run, report) = import(&env, &path, "firebase-import");
    assert_eq!(run.code, 1, "the phone-only user fails: {}", run.stderr);
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    assert_eq!(outcomes[..3], ["create", "create", "create"], "{report:?}");
    // preset://email requires an e-mail: the phone-only user is kith's schema error.
    assert_eq!(report[3]["error"]["code"], 400, "{}", report[3]);
    assert!(report[3].to_string().contains("email"), "{}", report[3]);
    for (index, line) in report.iter().enumerate() {
        assert_eq!(line["source"], format!("{path}:users[{index}]"), "{line}");
    }

    // The README sample user: its hash as Kratos' $firescrypt$, and its password verifies.
    let ada = stored(&env, &report[0], "password");
    assert_eq!(
        ada["credentials"]["password"]["config"]["hashed_password"],
        format!(
            "$firescrypt$ln=14,r=8,p=1$42xEC+ixf3L2lw==${}${SALT_SEPARATOR}${SIGNER_KEY}",
            users[0]["passwordHash"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(
        ada["traits"],
        json!({"email": "user1@example.com", "name": {"first": "Ada", "last": "Lovelace"}})
    );
    assert_eq!(ada["external_id"], "Z1VxG2nW3bM7tXxR8pQeLmK4cA92");
    assert_eq!(ada["verifiable_addresses"][0]["verified"], true);
    assert_eq!(
        ada["verifiable_addresses"][0]["created_at"],
        "2020-09-13T12:26:40Z"
    );
    assert_eq!(
        ada["metadata_admin"]["firebase"]["last_signed_in_at"],
        "2023-11-29T05:09:27Z"
    );
    assert_password(&env, "user1@example.com", "user1password");

    let grace = stored(&env, &report[1], "password");
    assert_eq!(grace["verifiable_addresses"][0]["verified"], false);
    assert_eq!(
        grace["metadata_admin"]["firebase"]["custom_attributes"],
        json!({"role": "admin"})
    );
    assert_password(&env, "grace@example.com", "correct horse battery");

    // No hash, no password credential; disabled is inactive; Google is an oidc provider.
    let alan = stored(&env, &report[2], "oidc");
    assert_eq!(alan["state"], "inactive");
    assert_eq!(
        alan["credentials"]["oidc"]["identifiers"],
        json!(["google:118234567890123456789"])
    );
    let alan = stored(&env, &report[2], "password");
    assert!(
        alan["credentials"]["password"]["config"]["hashed_password"].is_null(),
        "{alan}"
    );
    Ok(())
}

#[test]
fn firebase_import_without_the_hash_parameters_names_the_missing_config_key() -> TestResult {
    let env = Env::new();
    install(&env, "firebase-import", &["rounds=8", "mem_cost=14"]);
    let path = env.file("users.json", &firebase_export(&firebase_users()[..3]));
    let (_, report) = import(&env, &path, "firebase-import");
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    // A user without a hash needs no parameters.
    assert_eq!(
        outcomes,
        [
            "missing_config,missing_config",
            "missing_config,missing_config",
            "create"
        ]
    );
    let error = &report[0]["error"];
    assert_eq!(error["details"]["plugin"], "firebase-import");
    let errors = &error["details"]["errors"];
    assert_eq!(errors[0]["pointer"], "/passwordHash");
    let said = |i: usize| {
        errors[i]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        said(0).contains("config `signer_key` is not set"),
        "{errors}"
    );
    assert!(said(1).contains("`salt_separator`"), "{errors}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CSV

/// Rows as kith's CSV reader hands them over: every cell a string, keyed by the header.
fn csv_rows() -> Vec<Value> {
    vec![
        json!({
            "User ID": "1001",
            "E-mail": "ada@example.org",
            "First name": "Ada",
            "Last name": "King, Countess of Lovelace",
            "Department": "Analytical \"Engines\"",
            "Notes": "first line\nsecond line",
            "Password": "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2",
            "Verified": "Yes",
            "Status": "active"
        }),
        json!({
            "User ID": "1002",
            "E-mail": "django@example.org",
            "First name": "Django",
            "Last name": "Reinhardt",
            "Department": "",
            "Notes": "",
            "Password": "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
            "Verified": "no",
            "Status": "Inactive"
        }),
        json!({
            "User ID": "1003",
            "E-mail": "press@example.org",
            "First name": "Word",
            "Last name": "Press",
            "Department": "Blog",
            "Notes": "",
            // WordPress' phpass, for legacy-hashes ("correct horse battery staple").
            "Password": "$P$BkithSaltr5BVtw9rT4Xodp/X.78w90",
            "Verified": "",
            "Status": ""
        }),
    ]
}

/// The rows as an RFC 4180 file: CRLF lines, cells quoted when they hold a comma, a quote or
/// a line break, quotes doubled.
fn csv_file(rows: &[Value]) -> String {
    let cell = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let header: Vec<&String> = rows[0]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let mut out = header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(",") + "\r\n";
    for row in rows {
        let cells: Vec<String> = header
            .iter()
            .map(|h| cell(row[h.as_str()].as_str().unwrap_or_default()))
            .collect();
        out += &(cells.join(",") + "\r\n");
    }
    out
}

const CSV_CONFIG: &[&str] = &[
    "/traits/email=E-mail",
    "/traits/name/first=First name",
    "/traits/name/last=Last name",
    "/metadata_public/department=Department",
    "/metadata_admin/notes=Notes",
    "password_hash=Password",
    "verified=Verified",
    "state=Status",
    "external_id=User ID",
    "migrate_hashes=$P$,$H$",
];

#[test]
fn a_csv_file_imports_through_its_mapper_with_row_positions() -> TestResult {
    let env = Env::new();
    install(&env, "csv-import", CSV_CONFIG);
    let mut rows = csv_rows();
    let mut gone = rows[0].clone();
    gone["E-mail"] = json!("gone@example.org");
    gone["Status"] = json!("gone");
    rows.push(gone);
    let file = csv_file(&rows);
    assert!(file.contains("\"King, Countess of Lovelace\""), "{file}");
    assert!(file.contains("\"first line\nsecond line\""), "{file}");
    let path = env.file("users.csv", &file);
    let (run, report) = import(&env, &path, "csv-import");
    assert_eq!(run.code, 1, "the bad row fails: {}", run.stderr);
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    assert_eq!(outcomes, ["create", "create", "create", "bad_state"]);
    // A row is reported at its first line: Ada's cell with a line break takes two.
    let sources: Vec<_> = report.iter().map(|l| l["source"].clone()).collect();
    let at = |line: usize| json!(format!("{path}:{line}"));
    assert_eq!(sources, [at(2), at(4), at(5), at(6)]);
    let refusal = &report[3]["error"]["details"];
    assert_eq!(refusal["plugin"], "csv-import");
    assert_eq!(refusal["errors"][0]["pointer"], "/Status");

    let ada = stored(&env, &report[0], "password");
    assert_eq!(
        ada["traits"],
        json!({"email": "ada@example.org",
               "name": {"first": "Ada", "last": "King, Countess of Lovelace"}})
    );
    assert_eq!(
        ada["metadata_admin"],
        json!({"notes": "first line\nsecond line"})
    );
    assert_eq!(
        ada["metadata_public"],
        json!({"department": "Analytical \"Engines\""})
    );
    assert_eq!(ada["external_id"], "1001");
    assert_eq!(ada["state"], "active");
    assert_eq!(ada["verifiable_addresses"][0]["verified"], true);
    assert_password(&env, "ada@example.org", "test");

    // kith rewrites Django's spelling into Kratos' pbkdf2 at import; the password verifies.
    let django = stored(&env, &report[1], "password");
    assert_eq!(django["state"], "inactive");
    assert_eq!(django["verifiable_addresses"][0]["verified"], false);
    assert!(
        django.get("metadata_public").is_none_or(Value::is_null),
        "{django}"
    );
    assert_eq!(
        django["credentials"]["password"]["config"]["hashed_password"],
        "$pbkdf2-sha256$i=10000,l=32$c2Vhc2FsdA$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY"
    );

    // phpass is for a password-migration plugin (migrate_hashes): legacy-hashes verifies it.
    let press = stored(&env, &report[2], "password");
    assert_eq!(
        press["credentials"]["password"]["config"]["use_password_migration_hook"], true,
        "{press}"
    );
    install(&env, "legacy-hashes", &[]);
    assert_password(&env, "press@example.org", "correct horse battery staple");
    Ok(())
}

#[test]
fn csv_import_refuses_a_column_the_file_lacks_and_a_bad_yes_no_cell() -> TestResult {
    let env = Env::new();
    install(
        &env,
        "csv-import",
        &["/traits/email=Email", "verified=Verified"],
    );
    let path = env.file("users.csv", &csv_file(&csv_rows()));
    let (_, report) = import(&env, &path, "csv-import");
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    assert_eq!(outcomes, ["unknown_column"; 3]);
    let error = &report[0]["error"]["details"]["errors"][0];
    assert_eq!(error["pointer"], "/Email");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("config `/traits/email` names column `Email`"),
        "{message}"
    );
    assert!(message.contains("`E-mail`"), "{message}");

    let env = Env::new();
    install(
        &env,
        "csv-import",
        &["/traits/email=E-mail", "verified=Verified"],
    );
    let mut rows = csv_rows();
    rows[1]["Verified"] = json!("perhaps");
    let path = env.file("users.csv", &csv_file(&rows));
    let (_, report) = import(&env, &path, "csv-import");
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    assert_eq!(outcomes, ["create", "bad_boolean", "create"]);
    assert_eq!(
        report[1]["error"]["details"]["errors"][0]["pointer"],
        "/Verified"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// LDIF

/// `{SSHA}`: SHA-1 of password and salt, then the salt, in base64 (OpenLDAP's slappasswd).
fn ssha(password: &str, salt: &[u8]) -> String {
    use sha1::Digest as _;
    let mut digest = sha1::Sha1::new();
    digest.update(password.as_bytes());
    digest.update(salt);
    let mut raw = digest.finalize().to_vec();
    raw.extend_from_slice(salt);
    format!("{{SSHA}}{}", STANDARD.encode(raw))
}

/// Directory entries as kith's LDIF reader hands them over: an OpenLDAP tree (base,
/// unit, people, a group), 389-DS people and Active Directory users and a computer.
fn ldap_entries() -> Vec<Value> {
    vec![
        // OpenLDAP (slapcat): the base and a unit come first.
        json!({"dn": "dc=example,dc=org", "objectClass": ["top", "dcObject", "organization"],
               "o": ["Example"], "dc": ["example"]}),
        json!({"dn": "ou=people,dc=example,dc=org", "objectClass": ["organizationalUnit"],
               "ou": ["people"]}),
        json!({
            "dn": "uid=ada,ou=people,dc=example,dc=org",
            "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson", "posixAccount"],
            "uid": ["ada"],
            "cn": ["Ada Lovelace"],
            "givenName": ["Ada"],
            "sn": ["Lovelace"],
            "mail": ["ada@example.org"],
            "description": ["Wrote the first program for the Analytical Engine, long before anyone had built a computer to run it"],
            "userPassword": [ssha("Analytical Engine", b"pepper!!")],
            "entryUUID": ["6f0c3a52-7b1e-103c-8b1f-2f6d1c3e9a10"]
        }),
        json!({
            "dn": "uid=emmy,ou=people,dc=example,dc=org",
            "objectClass": ["inetOrgPerson", "posixAccount", "shadowAccount"],
            "uid": ["emmy"],
            "cn": ["Emmy Noether"],
            "givenName": ["Amalie Emmy"],
            "sn": ["Nöther"],
            "mail": ["emmy@example.org"],
            "userPassword": ["{CRYPT}$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0"],
            "entryUUID": ["7a1d4b63-7b1e-103c-8b20-2f6d1c3e9a10"]
        }),
        json!({
            "dn": "uid=old,ou=people,dc=example,dc=org",
            "objectClass": ["account", "simpleSecurityObject"],
            "uid": ["old"],
            "mail": ["old@example.org"],
            "userPassword": ["{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="]
        }),
        json!({"dn": "cn=admins,ou=groups,dc=example,dc=org", "objectClass": ["groupOfNames"],
               "cn": ["admins"], "member": ["uid=ada,ou=people,dc=example,dc=org"]}),
        // 389-DS (db2ldif): nsPerson, a PBKDF2 hash, a locked account.
        json!({
            "dn": "uid=alan,ou=people,dc=example,dc=com",
            "objectClass": ["top", "nsPerson", "nsAccount", "nsOrgPerson", "posixAccount"],
            "uid": ["alan"],
            "cn": ["Alan Turing"],
            "displayName": ["Alan Turing"],
            "givenName": ["Alan"],
            "sn": ["Turing"],
            "mail": ["alan@example.com"],
            "nsUniqueId": ["66446001-1dd211b2-800000a0-00000000"],
            "userPassword": ["{PBKDF2-SHA256}10000$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw"]
        }),
        json!({
            "dn": "uid=locked,ou=people,dc=example,dc=com",
            "objectClass": ["top", "nsPerson", "nsAccount"],
            "uid": ["locked"],
            "mail": ["locked@example.com"],
            "nsAccountLock": ["true"],
            "nsUniqueId": ["66446002-1dd211b2-800000a0-00000000"]
        }),
        // Active Directory (ldifde): binary objectGUID, a disabled user, a computer.
        json!({
            "dn": "CN=Grace Hopper,OU=Staff,DC=corp,DC=example,DC=com",
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            "cn": ["Grace Hopper"],
            "givenName": ["Grace"],
            "sn": ["Hopper"],
            "sAMAccountName": ["ghopper"],
            "userPrincipalName": ["ghopper@corp.example.com"],
            "objectGUID": [{"base64": "hFB3pKjGUkaX7+O2n7ovvg=="}],
            "userAccountControl": ["514"],
            "pwdLastSet": ["133500000000000000"]
        }),
        json!({
            "dn": "CN=WS-0042,OU=Computers,DC=corp,DC=example,DC=com",
            "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
            "cn": ["WS-0042"],
            "sAMAccountName": ["WS-0042$"],
            "userAccountControl": ["4096"]
        }),
    ]
}

/// The entries as LDIF: `version: 1`, a comment, values base64-encoded when RFC 2849 says
/// they must be (and userPassword always, as OpenLDAP writes it), lines folded at 76.
fn ldif_file(entries: &[Value]) -> String {
    let fold = |line: String| -> String {
        let mut out = String::new();
        let mut width = 0;
        for c in line.chars() {
            if width + c.len_utf8() > 76 {
                out.push_str("\n ");
                width = 1;
            }
            out.push(c);
            width += c.len_utf8();
        }
        out + "\n"
    };
    let mut out = "version: 1\n\n# generated by kith's tests\n".to_string();
    for entry in entries {
        for (name, values) in entry.as_object().into_iter().flatten() {
            let values = match values {
                Value::Array(values) => values.clone(),
                single => vec![single.clone()],
            };
            for value in values {
                let line = match &value {
                    Value::Object(binary) => {
                        format!("{name}:: {}", binary["base64"].as_str().unwrap_or_default())
                    }
                    Value::String(text) => {
                        let unsafe_text = !text.is_ascii()
                            || text.starts_with([' ', ':', '<'])
                            || text.contains(['\0', '\r', '\n']);
                        if unsafe_text || name == "userPassword" {
                            format!("{name}:: {}", STANDARD.encode(text))
                        } else {
                            format!("{name}: {text}")
                        }
                    }
                    other => format!("{name}: {other}"),
                };
                out += &fold(line);
            }
        }
        out += "\n";
    }
    out
}

#[test]
fn ldif_files_import_through_their_mapper_people_only_with_entry_positions() -> TestResult {
    let env = Env::new();
    install(&env, "ldif-import", &[]);
    let entries = ldap_entries();
    let file = ldif_file(&entries);
    assert!(file.contains("\n "), "folded lines: {file}");
    assert!(file.contains("sn:: TsO2dGhlcg=="), "{file}");
    let path = env.file("directory.ldif", &file);
    let (run, report) = import(&env, &path, "ldif-import");
    assert_eq!(
        run.code, 1,
        "the entries that are not people fail: {}",
        run.stderr
    );
    let outcomes: Vec<_> = report.iter().map(outcome).collect();
    let (person, other) = ("create", "not_a_person");
    assert_eq!(
        outcomes,
        [
            other, other, person, person, person, other, person, person, person, other
        ]
    );
    // Each entry is reported at its dn line.
    let dn_lines: Vec<Value> = file
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with("dn:"))
        .map(|(index, _)| json!(format!("{path}:{}", index + 1)))
        .collect();
    let sources: Vec<Value> = report.iter().map(|l| l["source"].clone()).collect();
    assert_eq!(sources, dn_lines);
    let computer = &report[9]["error"]["details"]["errors"][0]["message"];
    assert!(
        computer.as_str().unwrap_or_default().contains("CN=WS-0042"),
        "{computer}"
    );

    // OpenLDAP: {SSHA} as it is, {CRYPT}$6$ rewritten by kith; both verify.
    let ada = stored(&env, &report[2], "password");
    assert_eq!(
        ada["traits"]["name"],
        json!({"first": "Ada", "last": "Lovelace"})
    );
    assert_eq!(ada["external_id"], "6f0c3a52-7b1e-103c-8b1f-2f6d1c3e9a10");
    assert_eq!(
        ada["metadata_admin"]["ldap"],
        json!({"cn": "Ada Lovelace", "uid": "ada", "dn": "uid=ada,ou=people,dc=example,dc=org"})
    );
    assert!(
        ada["credentials"]["password"]["config"]["hashed_password"]
            .as_str()
            .unwrap_or_default()
            .starts_with("{SSHA}"),
        "{ada}"
    );
    assert_password(&env, "ada@example.org", "Analytical Engine");
    let emmy = stored(&env, &report[3], "password");
    assert_eq!(emmy["traits"]["name"]["last"], "Nöther");
    assert!(
        emmy["credentials"]["password"]["config"]["hashed_password"]
            .as_str()
            .unwrap_or_default()
            .starts_with("$sha512-crypt$rounds=5000$saltsalt$"),
        "{emmy}"
    );
    assert_password(&env, "emmy@example.org", "correct horse");

    // {SHA} has no Kratos format: imported for the migration plugin, which verifies it.
    let old = stored(&env, &report[4], "password");
    assert_eq!(
        old["credentials"]["password"]["config"]["use_password_migration_hook"], true,
        "{old}"
    );
    install(&env, "legacy-hashes", &[]);
    assert_password(&env, "old@example.org", "password");

    // 389-DS: {PBKDF2-SHA256} rewritten by kith and verified; nsAccountLock is inactive.
    let alan = stored(&env, &report[6], "password");
    assert_eq!(alan["external_id"], "66446001-1dd211b2-800000a0-00000000");
    assert_password(&env, "alan@example.com", "password");
    assert_eq!(stored(&env, &report[7], "password")["state"], "inactive");

    // AD: userPrincipalName for mail, objectGUID as AD shows it, ACCOUNTDISABLE inactive.
    let grace = stored(&env, &report[8], "password");
    assert_eq!(grace["traits"]["email"], "ghopper@corp.example.com");
    assert_eq!(grace["external_id"], "a4775084-c6a8-4652-97ef-e3b69fba2fbe");
    assert_eq!(grace["state"], "inactive");
    assert_eq!(grace["metadata_admin"]["ldap"]["uid"], "ghopper");
    Ok(())
}
