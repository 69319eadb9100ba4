//! Invites: issue, redeem, and every way a redemption is refused.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};

fn flow_of(link: &str) -> String {
    link.split(['?', '&'])
        .find_map(|part| part.strip_prefix("flow="))
        .unwrap_or_default()
        .to_string()
}

/// Installs the first-party `eml-outbox` delivery plugin with the capability it needs.
fn install_eml_outbox(env: &Env) {
    env.install_plugin("eml-outbox", "outbox:write", &[]);
}

fn invite(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["invite"];
    all.extend_from_slice(args);
    env.run(&all).ok().json()
}

pub(crate) fn accept_code(
    env: &Env,
    invitation: &Value,
    code: &str,
    password: &str,
) -> crate::harness::Run {
    let flow = flow_of(invitation["recovery_link"].as_str().unwrap_or_default());
    env.run_with(
        &[
            "accept",
            "invite",
            "--flow",
            &flow,
            "--code",
            code,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    )
}

#[test]
fn the_whole_story_invite_accept_verify() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, &["Grace@Example.org"]);
    let link = invitation["recovery_link"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        link.starts_with("http://127.0.0.1:4433/self-service/recovery?flow="),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap_or_default();
    assert_eq!(token.len(), 32);
    let code = invitation["recovery_code"].as_str().unwrap_or_default();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(invitation["deliveries"], json!([]));
    let id = invitation["identity_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let created = env.run(&["get", "identity", &id]).ok().json();
    assert_eq!(created["state"], "active");
    assert_eq!(created["verifiable_addresses"][0]["verified"], false);

    // The store keeps only keyed hashes of the secrets.
    let conn = rusqlite::Connection::open(&env.db)?;
    let (code_hash, token_hash): (String, String) =
        conn.query_row("SELECT code_hash, token_hash FROM invites", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    assert!(!code_hash.contains(code) && code_hash.len() == 64);
    assert!(!token_hash.contains(token) && token_hash.len() == 64);

    let redeemed = env
        .run_with(
            &["accept", "invite", "--link", &link, "--password-stdin"],
            "a new passphrase\n",
        )
        .ok()
        .json();
    assert_eq!(redeemed["identity_id"], id.as_str());
    assert_eq!(redeemed["verified_address"], "grace@example.org");
    let after = env.run(&["get", "identity", &id]).ok().json();
    assert_eq!(after["verifiable_addresses"][0]["verified"], true);
    assert_eq!(after["verifiable_addresses"][0]["status"], "completed");
    assert!(after["verifiable_addresses"][0]["verified_at"].is_string());
    env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "grace@example.org",
            "--password-stdin",
        ],
        "a new passphrase\n",
    )
    .ok();

    let reused = env.run_with(
        &["accept", "invite", "--link", &link, "--password-stdin"],
        "another one\n",
    );
    assert_eq!(reused.code, 1);
    // Said before the password is read, in the redemption page's words.
    assert_eq!(
        reused.error()["reason"],
        "This link was used already. If you set your password with it, sign in with that password; otherwise please ask whoever invited you for a new one."
    );
    let listed = env
        .run(&["list", "invites", "--status", "redeemed"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let events = env
        .run(&["list", "events", "--identity", &id])
        .ok()
        .json()
        .to_string();
    for action in ["identity.created", "invite.issued", "invite.redeemed"] {
        assert!(events.contains(action), "{action} in {events}");
    }
    Ok(())
}

#[test]
fn five_wrong_codes_kill_the_flow() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, &["wrong@example.org"]);
    let code = invitation["recovery_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for attempt in 1..=6 {
        let run = accept_code(&env, &invitation, wrong, "pass phrase");
        assert_eq!(run.code, 1, "attempt {attempt}");
        let reason = run.error()["reason"].clone();
        let expected = if attempt <= 5 {
            "The recovery code is invalid or has already been used. Please try again."
        } else {
            "The request was submitted too often. Please request another code."
        };
        assert_eq!(reason, expected, "attempt {attempt}");
    }
    let right = accept_code(&env, &invitation, &code, "pass phrase");
    assert_eq!(right.code, 1, "the right code no longer helps");
    assert_eq!(
        right.error()["reason"],
        "The request was submitted too often. Please request another code."
    );
    let revoked = env
        .run(&["list", "invites", "--status", "revoked"])
        .ok()
        .json();
    assert_eq!(revoked[0]["revoked_why"], "too many wrong submissions");
    Ok(())
}

#[test]
fn a_new_invite_revokes_the_older_and_revoke_stops_a_code() -> TestResult {
    let env = Env::new();
    let first = invite(&env, &["twice@example.org"]);
    let second = invite(&env, &["TWICE@example.org"]);
    assert_eq!(
        first["identity_id"], second["identity_id"],
        "the address finds the identity"
    );
    let old = accept_code(
        &env,
        &first,
        first["recovery_code"].as_str().unwrap_or_default(),
        "pass phrase",
    );
    assert_eq!(old.code, 1);
    // Checked before any password is asked for, in the redemption page's words.
    assert_eq!(
        old.error()["reason"],
        "This link is no longer valid: it was replaced by a newer one or revoked. Please ask whoever invited you for a new one."
    );

    let invite_id = second["invite_id"].as_str().unwrap_or_default();
    env.run(&["revoke", "invite", invite_id]).ok();
    let revoked = accept_code(
        &env,
        &second,
        second["recovery_code"].as_str().unwrap_or_default(),
        "pass phrase",
    );
    assert_eq!(revoked.code, 1);
    let again = env.run(&["revoke", "invite", invite_id]);
    assert_eq!(again.code, 1, "a revoked invite cannot be revoked twice");
    Ok(())
}

#[test]
fn an_inactive_identity_cannot_redeem_and_keeps_its_code() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, &["sleepy@example.org"]);
    let id = invitation["identity_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = invitation["recovery_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        r#"[{"op":"replace","path":"/state","value":"inactive"}]"#,
    )
    .ok();
    let refused = accept_code(&env, &invitation, &code, "pass phrase");
    assert_eq!(refused.code, 1);
    assert_eq!(refused.error()["id"], "identity_disabled");
    env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        r#"[{"op":"replace","path":"/state","value":"active"}]"#,
    )
    .ok();
    accept_code(&env, &invitation, &code, "pass phrase").ok();
    Ok(())
}

#[test]
fn invites_for_existing_identities_and_custom_traits() -> TestResult {
    let env = Env::new();
    let id = env.create_email("known@example.org");
    let by_id = invite(&env, &["--identity", &id]);
    assert_eq!(by_id["identity_id"], id.as_str());
    let named = invite(
        &env,
        &[
            "new@example.org",
            "--traits",
            r#"{"email":"new@example.org","name":{"first":"New"}}"#,
        ],
    );
    let created = env
        .run(&[
            "get",
            "identity",
            named["identity_id"].as_str().unwrap_or_default(),
        ])
        .ok()
        .json();
    assert_eq!(created["traits"]["name"]["first"], "New");
    let mismatch = env.run(&[
        "invite",
        "other@example.org",
        "--traits",
        r#"{"email":"someone@example.org"}"#,
    ]);
    assert_eq!(mismatch.code, 1);
    let unknown = env.run(&[
        "invite",
        "--identity",
        "01900000-0000-7000-8000-000000000000",
    ]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.error()["code"], 404);
    Ok(())
}

#[test]
fn lifetimes_use_go_durations_within_bounds() -> TestResult {
    let env = Env::new();
    let cases = [
        (
            "soon",
            "Unable to parse \"expires_in\" as a duration string (e.g. \"1h\", \"1m30s\", \"500ms\"): soon",
        ),
        (
            "-1h",
            "Value from \"expires_in\" must result to a future time: -1h",
        ),
        (
            "0s",
            "Value from \"expires_in\" must result to a future time: 0s",
        ),
        (
            "1m",
            "Value from \"expires_in\" must be between 5m and 720h (30 days): 1m",
        ),
        (
            "721h",
            "Value from \"expires_in\" must be between 5m and 720h (30 days): 721h",
        ),
    ];
    for (value, reason) in cases {
        let run = env.run(&["invite", "x@example.org", "--expires-in", value]);
        assert_eq!(run.code, 1, "{value}");
        assert_eq!(run.error()["reason"], reason, "{value}");
    }
    assert_eq!(env.count(), 0, "refused invites create no identity");
    let invitation = invite(&env, &["x@example.org", "--expires-in", "1h30m"]);
    let expires = chrono::DateTime::parse_from_rfc3339(
        invitation["expires_at"].as_str().unwrap_or_default(),
    )?;
    let minutes = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((88..=90).contains(&minutes), "{minutes}");
    let default = invite(&env, &["y@example.org"]);
    let expires =
        chrono::DateTime::parse_from_rfc3339(default["expires_at"].as_str().unwrap_or_default())?;
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert_eq!(hours, 71, "the default is 72h");
    Ok(())
}

#[test]
fn admin_recovery_codes_and_links_as_kratos_answers() -> TestResult {
    let env = Env::new();
    let id = env.create_email("recover@example.org");
    let code = env.run(&["create", "recovery-code", &id]).ok().json();
    let keys: Vec<_> = code
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(keys, ["recovery_link", "recovery_code", "expires_at"]);
    let link = code["recovery_link"].as_str().unwrap_or_default();
    assert!(
        !link.contains("token=") && !link.contains(code["recovery_code"].as_str().unwrap_or("x")),
        "{link}"
    );
    let link_answer = env
        .run(&["create", "recovery-link", &id, "--expires-in", "10m"])
        .ok()
        .json();
    let keys: Vec<_> = link_answer
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(keys, ["recovery_link", "expires_at"]);
    assert!(
        link_answer["recovery_link"]
            .as_str()
            .unwrap_or_default()
            .contains("token=")
    );
    let redeemed = env
        .run_with(
            &[
                "accept",
                "invite",
                "--link",
                link_answer["recovery_link"].as_str().unwrap_or_default(),
                "--password-stdin",
            ],
            "pass phrase\n",
        )
        .ok()
        .json();
    assert!(
        redeemed.get("verified_address").is_none(),
        "admin recovery verifies nothing, as in Kratos"
    );
    let missing = "01900000-0000-7000-8000-000000000000";
    let unknown_code = env.run(&["create", "recovery-code", missing]);
    assert_eq!(unknown_code.error()["code"], 404);
    assert_eq!(unknown_code.error()["reason"], "could not find identity");
    let unknown_link = env.run(&["create", "recovery-link", missing]);
    assert_eq!(unknown_link.error()["code"], 400);
    assert_eq!(
        unknown_link.error()["reason"],
        "The requested identity id does not exist."
    );
    Ok(())
}

fn outbox_files(env: &Env) -> Vec<std::path::PathBuf> {
    let folder = env.dir.path().join("outbox").join("new");
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The README's story: install eml-outbox, invite, open the .eml in the outbox, accept, verify.
#[test]
fn eml_outbox_delivers_the_invite_into_the_maildir() -> TestResult {
    let env = Env::new();
    install_eml_outbox(&env);
    let invitation = invite(
        &env,
        &[
            "lin@example.org",
            "--traits",
            r#"{"email":"lin@example.org","name":{"first":"Lin"}}"#,
        ],
    );
    assert_eq!(invitation["deliveries"][0]["plugin"], "eml-outbox");
    assert_eq!(invitation["deliveries"][0]["status"], "delivered");
    let files = outbox_files(&env);
    assert_eq!(files.len(), 1, "{files:?}");
    let message = std::fs::read_to_string(&files[0])?;
    assert!(message.contains("To: lin@example.org"), "{message}");
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(
        std::fs::read_dir(env.dir.path().join("outbox").join("tmp"))?
            .next()
            .is_none()
    );
    let listed = env
        .run(&["list", "invites", "--status", "delivered"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let code = invitation["recovery_code"].as_str().unwrap_or_default();
    accept_code(&env, &invitation, code, "from the outbox").ok();
    env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "lin@example.org",
            "--password-stdin",
        ],
        "from the outbox\n",
    )
    .ok();
    Ok(())
}

#[test]
fn a_trapping_delivery_keeps_the_invite_and_resend_works_after_a_fix() -> TestResult {
    let env = Env::new();
    env.run(&[
        "install",
        "plugin",
        &crate::plugins::plugin_dir("hostile-delivery"),
        "--grant",
        "outbox:write",
    ])
    .ok();
    let invitation = invite(&env, &["kept@example.org"]);
    assert_eq!(
        invitation["deliveries"][0]["status"], "failed",
        "{invitation}"
    );
    assert!(
        invitation["deliveries"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("hostile-delivery"),
        "the failure names the plugin: {invitation}"
    );
    let failed = env
        .run(&["list", "invites", "--status", "delivery-failed"])
        .ok()
        .json();
    assert_eq!(failed.as_array().map(Vec::len), Some(1));

    env.run(&["disable", "plugin", "hostile-delivery"]).ok();
    install_eml_outbox(&env);
    let invite_id = invitation["invite_id"].as_str().unwrap_or_default();
    let resent = env.run(&["resend", "invite", invite_id]).ok().json();
    assert_eq!(resent["invite_id"], invite_id);
    assert_ne!(
        resent["recovery_code"], invitation["recovery_code"],
        "a resend draws new secrets"
    );
    let delivered: Vec<_> = resent["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["status"] == "delivered")
        .collect();
    assert_eq!(delivered.len(), 1, "{resent}");
    assert_eq!(outbox_files(&env).len(), 1);
    let old = accept_code(
        &env,
        &invitation,
        invitation["recovery_code"].as_str().unwrap_or_default(),
        "pass phrase",
    );
    assert_eq!(
        old.code, 1,
        "the code from before the resend no longer works"
    );
    accept_code(
        &env,
        &resent,
        resent["recovery_code"].as_str().unwrap_or_default(),
        "pass phrase",
    )
    .ok();
    Ok(())
}

#[test]
fn plans_whose_file_names_play_path_tricks_are_refused() -> TestResult {
    let env = Env::new();
    let dir = crate::plugins::plugin_dir("hostile-delivery");
    env.run(&[
        "install",
        "plugin",
        &dir,
        "--grant",
        "outbox:write",
        "--config",
        "mode=file",
        "--config",
        "name=../x",
    ])
    .ok();
    // A NUL cannot travel in argv; `write_outbox`'s unit test covers it.
    let long = "x".repeat(200);
    for name in [
        "../x",
        "/etc/passwd",
        "",
        "a\\b",
        "sub/dir.eml",
        ".hidden",
        long.as_str(),
    ] {
        env.run(&["remove", "plugin", "hostile-delivery"]).ok();
        let config = format!("name={name}");
        env.run(&[
            "install",
            "plugin",
            &dir,
            "--grant",
            "outbox:write",
            "--config",
            "mode=file",
            "--config",
            &config,
        ])
        .ok();
        let invitation = invite(&env, &["tricks@example.org"]);
        assert_eq!(
            invitation["deliveries"][0]["status"], "failed",
            "{name:?}: {invitation}"
        );
    }
    assert!(outbox_files(&env).is_empty());
    assert!(!env.dir.path().join("x").exists());
    env.run(&["remove", "plugin", "hostile-delivery"]).ok();
    env.run(&[
        "install",
        "plugin",
        &dir,
        "--grant",
        "outbox:write",
        "--config",
        "mode=file",
        "--config",
        "name=ok.eml",
    ])
    .ok();
    let good = invite(&env, &["tricks@example.org"]);
    assert_eq!(good["deliveries"][0]["status"], "delivered", "{good}");
    assert_eq!(outbox_files(&env).len(), 1);
    Ok(())
}

#[test]
fn no_deliver_skips_the_plugins() -> TestResult {
    let env = Env::new();
    install_eml_outbox(&env);
    let invitation = invite(&env, &["quiet@example.org", "--no-deliver"]);
    assert_eq!(invitation["deliveries"], json!([]));
    assert!(outbox_files(&env).is_empty());
    Ok(())
}

#[test]
fn no_deliver_says_delivery_was_skipped_not_that_no_plugin_is_enabled() -> TestResult {
    let env = Env::new();
    install_eml_outbox(&env);
    let skipped = env
        .run(&[
            "--format",
            "table",
            "invite",
            "quiet@example.org",
            "--no-deliver",
        ])
        .ok();
    assert!(
        skipped.stderr.contains("delivery skipped (--no-deliver)"),
        "{}",
        skipped.stderr
    );
    assert!(!skipped.stderr.contains("no delivery plugin"));
    Ok(())
}

#[test]
fn an_identity_without_an_address_gets_its_invite_but_no_message() -> TestResult {
    let env = Env::new();
    install_eml_outbox(&env);
    let id = env.create(&json!({
        "schema_id": "preset://username",
        "traits": {"username": "no-mail"},
    }))["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let invitation = invite(&env, &["--identity", &id]);
    assert_eq!(invitation["recovery_code"].as_str().map(str::len), Some(6));
    let delivery = &invitation["deliveries"][0];
    assert_eq!(delivery["status"], "failed", "{invitation}");
    assert!(
        delivery["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no recovery address"),
        "{delivery}"
    );
    assert!(outbox_files(&env).is_empty(), "no .eml with an empty To:");
    let listed = env.run(&["list", "invites"]).ok().json();
    assert_eq!(listed[0]["status"], "delivery-failed");
    Ok(())
}

#[test]
fn an_inactive_identity_is_not_invited() -> TestResult {
    let env = Env::new();
    let id = env.create(&json!({
        "schema_id": "preset://email",
        "state": "inactive",
        "traits": {"email": "asleep@example.org"},
    }))["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for args in [
        vec!["invite", "--identity", id.as_str()],
        vec!["invite", "asleep@example.org"],
    ] {
        let refused = env.run(&args);
        assert_eq!(refused.code, 1, "{refused:?}");
        assert_eq!(refused.error()["id"], "identity_disabled");
        assert_eq!(refused.error()["reason"], "This account was disabled.");
    }
    assert_eq!(env.run(&["list", "invites"]).ok().json(), json!([]));
    // Disabled after its invite was issued: the invite is not sent again.
    let invitation = invite(&env, &["later@example.org"]);
    let later = invitation["identity_id"].as_str().unwrap_or_default();
    env.run_with(
        &["patch", "identity", later, "-f", "-"],
        r#"[{"op":"replace","path":"/state","value":"inactive"}]"#,
    )
    .ok();
    let resend = env.run(&[
        "resend",
        "invite",
        invitation["invite_id"].as_str().unwrap_or_default(),
    ]);
    assert_eq!(resend.code, 1, "{resend:?}");
    assert_eq!(resend.error()["id"], "identity_disabled");
    Ok(())
}

#[test]
fn traits_for_an_existing_identity_are_refused_not_ignored() -> TestResult {
    let env = Env::new();
    env.create_email("known@example.org");
    let refused = env.run(&[
        "invite",
        "known@example.org",
        "--traits",
        r#"{"email":"known@example.org","name":{"first":"Ada"}}"#,
    ]);
    assert_eq!(refused.code, 1);
    assert_eq!(refused.error()["code"], 400);
    assert!(
        refused.error()["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("only for an identity the invite creates"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.run(&["list", "invites"]).ok().json(), json!([]));
    Ok(())
}

#[test]
fn accept_invite_says_a_link_is_closed_before_it_asks_for_a_password() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, &["closed@example.org"]);
    let flow = flow_of(invitation["recovery_link"].as_str().unwrap_or_default());
    env.run(&[
        "revoke",
        "invite",
        invitation["invite_id"].as_str().unwrap_or_default(),
    ])
    .ok();
    let shown = env.on_a_terminal(&["accept", "invite", "--flow", &flow], &[]);
    assert!(
        shown.contains("This link is no longer valid: it was replaced by a newer one or revoked."),
        "{shown}"
    );
    assert!(
        !shown.contains("Recovery code:"),
        "asked for a code first: {shown}"
    );
    assert!(
        !shown.contains("New password:"),
        "asked for a password first: {shown}"
    );
    Ok(())
}

#[test]
fn accept_invite_asks_for_the_password_twice_on_a_terminal() -> TestResult {
    let env = Env::new();
    let invitation = invite(&env, &["twice-typed@example.org"]);
    let flow = flow_of(invitation["recovery_link"].as_str().unwrap_or_default());
    let code = invitation["recovery_code"].as_str().unwrap_or_default();
    let differ = env.on_a_terminal(
        &["accept", "invite", "--flow", &flow],
        &[
            ("Recovery code:", &format!("{code}\r")),
            ("New password:", "correct horse battery\r"),
            ("Repeat the new password:", "correct horse batery\r"),
        ],
    );
    assert!(differ.contains("the two passwords differ"), "{differ}");
    let same = env.on_a_terminal(
        &["accept", "invite", "--flow", &flow],
        &[
            ("Recovery code:", &format!("{code}\r")),
            ("New password:", "correct horse battery\r"),
            ("Repeat the new password:", "correct horse battery\r"),
        ],
    );
    assert!(same.contains("password set for identity"), "{same}");
    env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "twice-typed@example.org",
            "--password-stdin",
        ],
        "correct horse battery\n",
    )
    .ok();
    Ok(())
}

#[test]
fn tables_fit_the_terminal() -> TestResult {
    let env = Env::new();
    invite(&env, &["a-rather-long-address-for-a-table@example.org"]);
    let shown = env.on_a_terminal_of_width(70, &["list", "invites"], &[]);
    assert!(shown.contains("[ended]"), "{shown}");
    let table = shown.trim_end_matches("[ended]");
    assert!(table.contains("KIND"), "{table}");
    for line in table.lines() {
        assert!(
            line.chars().count() <= 70,
            "wider than the terminal: {line:?}\n{table}"
        );
    }
    Ok(())
}
