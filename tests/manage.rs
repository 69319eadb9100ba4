//! get, list (keyset pagination), update (PUT), patch (RFC 6902) and delete.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<String> {
    page.as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn list_pages_through_every_identity_in_id_order() -> TestResult {
    let env = Env::new();
    let mut created: Vec<String> = (0..5)
        .map(|n| env.create_email(&format!("user{n}@example.org")))
        .collect();
    created.sort();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut args = vec!["list", "identities", "--page-size", "2"];
        if let Some(token) = &token {
            args.extend(["--page-token", token]);
        }
        let run = env.run(&args).ok();
        let page = run.json();
        assert!(
            page.is_array(),
            "a page is a JSON array as Kratos' list endpoint returns"
        );
        assert!(
            page[0].get("credentials").is_none(),
            "list leaves credentials out unless asked"
        );
        seen.extend(ids(&page));
        match run.stderr.trim().strip_prefix("next page: --page-token ") {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, created);

    let everything = env
        .run(&["list", "identities", "--page-size", "0"])
        .ok()
        .json();
    assert_eq!(
        ids(&everything).len(),
        5,
        "a page size of 0 means the default of 250"
    );
    let bad = env.run(&["list", "identities", "--page-token", "not-a-uuid"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.error()["reason"],
        "The page token is invalid, do not craft your own page tokens"
    );
    Ok(())
}

#[test]
fn list_filters_by_normalized_identifier() -> TestResult {
    let env = Env::new();
    let wanted = env.create_email("Find.Me@Example.org");
    env.create_email("other@example.org");
    let page = env
        .run(&[
            "list",
            "identities",
            "--identifier",
            "  FIND.me@example.ORG ",
        ])
        .ok()
        .json();
    assert_eq!(ids(&page), vec![wanted]);
    assert_eq!(
        page[0]["credentials"]["password"]["identifiers"],
        json!(["find.me@example.org"])
    );
    assert!(page[0]["credentials"]["password"].get("config").is_none());
    let none = env
        .run(&["list", "identities", "--identifier", "nobody@example.org"])
        .ok()
        .json();
    assert_eq!(none, json!([]));
    Ok(())
}

#[test]
fn get_shows_several_and_refuses_unknown_ids_and_types() -> TestResult {
    let env = Env::new();
    let a = env.create_email("a@example.org");
    let b = env.create_email("b@example.org");
    let both = env.run(&["get", "identity", &a, &b]).ok().json();
    assert_eq!(ids(&both), vec![a.clone(), b]);
    let missing = env.run(&["get", "identity", "01900000-0000-7000-8000-000000000000"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.error()["code"], 404);
    let bad_type = env.run(&["get", "identity", &a, "--include-credential", "magic"]);
    assert_eq!(bad_type.code, 1);
    assert_eq!(
        bad_type.error()["reason"],
        "Invalid value `magic` for parameter `include_credential`."
    );
    Ok(())
}

#[test]
fn update_replaces_traits_and_metadata_and_merges_credentials() -> TestResult {
    let env = Env::new();
    let created = env.create(&json!({
        "schema_id": "preset://email",
        "traits": {"email": "old@example.org"},
        "metadata_public": {"a": 1},
        "credentials": {"oidc": {"config": {"providers": [{"provider": "github", "subject": "1"}]}}}
    }));
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let body = json!({
        "traits": {"email": "New@Example.org"},
        "metadata_admin": {"b": 2},
        "state": "inactive",
        "credentials": {"oidc": {"config": {"providers": [{"provider": "google", "subject": "2"}]}}}
    });
    let path = env.file("put.json", &body.to_string());
    let updated = env
        .run(&["update", "identity", &id, "--file", &path])
        .ok()
        .json();
    assert_eq!(updated["traits"], json!({"email": "New@Example.org"}));
    assert_eq!(
        updated["metadata_public"],
        Value::Null,
        "omitted metadata becomes null (PUT)"
    );
    assert_eq!(updated["metadata_admin"], json!({"b": 2}));
    assert_eq!(
        updated["schema_id"], "preset://email",
        "an empty schema_id keeps the current one"
    );
    assert_eq!(updated["state"], "inactive");
    assert_ne!(updated["state_changed_at"], created["state_changed_at"]);
    assert_eq!(
        updated["verifiable_addresses"][0]["value"],
        "new@example.org"
    );
    assert_eq!(
        updated["verifiable_addresses"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        updated["credentials"]["oidc"]["identifiers"],
        json!(["github:1", "google:2"])
    );
    assert_eq!(
        updated["credentials"]["password"]["identifiers"],
        json!(["new@example.org"])
    );
    // The old identifier is free again.
    env.create_email("old@example.org");
    Ok(())
}

#[test]
fn update_keeps_the_verified_state_of_addresses_that_remain() -> TestResult {
    let env = Env::new();
    let created = env.create(&json!({
        "schema_id": "preset://email",
        "traits": {"email": "kept@example.org"},
        "verifiable_addresses": [{"value": "kept@example.org", "verified": true, "via": "email"}]
    }));
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let path = env.file(
        "put.json",
        &json!({"traits": {"email": "KEPT@example.org", "name": {"first": "K"}}}).to_string(),
    );
    let updated = env
        .run(&["update", "identity", &id, "-f", &path])
        .ok()
        .json();
    assert_eq!(updated["verifiable_addresses"][0]["verified"], true);
    assert_eq!(
        updated["verifiable_addresses"][0]["id"],
        created["verifiable_addresses"][0]["id"]
    );
    Ok(())
}

#[test]
fn patch_applies_rfc6902_and_refuses_kratos_denied_paths() -> TestResult {
    let env = Env::new();
    let id = env.create_email("patch@example.org");
    let patched = env
        .run_with(
            &["patch", "identity", &id, "-f", "-"],
            r#"[{"op":"replace","path":"/traits/email","value":"patched@example.org"},
                {"op":"add","path":"/metadata_public","value":{"tier":"gold"}},
                {"op":"replace","path":"/state","value":"inactive"}]"#,
        )
        .ok()
        .json();
    assert_eq!(patched["traits"]["email"], "patched@example.org");
    assert_eq!(
        patched["verifiable_addresses"][0]["value"],
        "patched@example.org"
    );
    assert_eq!(patched["metadata_public"], json!({"tier": "gold"}));
    assert_eq!(patched["state"], "inactive");

    let cases = [
        (
            r#"[{"op":"replace","path":"/id","value":"x"}]"#,
            "patch includes denied path: /id",
        ),
        (
            r#"[{"op":"remove","path":"/credentials"}]"#,
            "patch includes denied path: /credentials",
        ),
        (
            r#"[{"op":"add","path":"/credentials/oidc/config","value":{}}]"#,
            "patch includes denied path: /credentials/oidc/config",
        ),
        (
            r#"[{"op":"replace","path":"/state","value":"asleep"}]"#,
            "The request was malformed or contained invalid parameters",
        ),
        (
            r#"[{"op":"replace","path":"/traits/email","value":7}]"#,
            "The request was malformed or contained invalid parameters",
        ),
        ("", "unexpected end of JSON input"),
    ];
    for (patch, message) in cases {
        let run = env.run_with(&["patch", "identity", &id, "-f", "-"], patch);
        assert_eq!(run.code, 1, "{patch}: {}", run.stderr);
        assert_eq!(run.error()["message"], message, "{patch}");
    }
    let state = env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        r#"[{"op":"replace","path":"/state","value":"asleep"}]"#,
    );
    assert_eq!(
        state.error()["reason"],
        "The supplied state ('asleep') was not valid. Valid states are ('active', 'inactive')."
    );
    let denied = env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        r#"[{"op":"remove","path":"/id"}]"#,
    );
    assert_eq!(denied.error()["reason"], "failed to apply JSON patch");
    let unchanged = env.run(&["get", "identity", &id]).ok().json();
    assert_eq!(
        unchanged["traits"]["email"], "patched@example.org",
        "refused patches change nothing"
    );
    Ok(())
}

#[test]
fn patch_can_replace_a_password_hash() -> TestResult {
    let env = Env::new();
    let id = env.create_email("hash@example.org");
    let hash = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";
    env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        &json!([{"op": "add", "path": "/credentials/password/config/hashed_password", "value": hash}]).to_string(),
    )
    .ok();
    let stored = env
        .run(&["get", "identity", &id, "-i", "password"])
        .ok()
        .json();
    assert_eq!(
        stored["credentials"]["password"]["config"]["hashed_password"],
        hash
    );
    Ok(())
}

#[test]
fn delete_removes_everything_of_the_identity_or_nothing() -> TestResult {
    let env = Env::new();
    let a = env.create_email("gone@example.org");
    let b = env.create_email("stays@example.org");
    let missing = "01900000-0000-7000-8000-000000000000";
    let run = env.run(&["delete", "identity", &a, missing]);
    assert_eq!(run.code, 1);
    assert_eq!(env.count(), 2, "one unknown id deletes none");
    env.run(&["delete", "identity", &a]).ok();
    assert_eq!(env.run(&["get", "identity", &a]).code, 1);
    assert_eq!(env.count(), 1);
    // The identifier and addresses went with it.
    env.create_email("GONE@example.org");
    env.run(&["get", "identity", &b]).ok();
    Ok(())
}

/// A page is read with a few statements for all its identities at once: each identity must
/// still get exactly its own addresses and credentials, on every page.
#[test]
fn a_listed_page_gives_each_identity_its_own_addresses_and_credentials() -> TestResult {
    let env = Env::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = serde_json::json!({
            "schema_id": "preset://email",
            "traits": {"email": format!("page{i}@example.org")},
            "credentials": {"oidc": {"config": {"providers": [{"provider": "github", "subject": format!("s{i}")}]}}}
        });
        ids.push(
            env.create(&body)["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let mut seen = 0;
    let mut token = String::new();
    loop {
        let mut args = vec!["list", "identities", "--page-size", "2"];
        if !token.is_empty() {
            args.extend(["--page-token", &token]);
        }
        let page = env.run(&args).ok().json();
        let identities = page.as_array().cloned().unwrap_or_default();
        if identities.is_empty() {
            break;
        }
        for identity in &identities {
            let at = ids
                .iter()
                .position(|id| identity["id"] == id.as_str())
                .expect("a listed id is a created one");
            let email = format!("page{at}@example.org");
            assert_eq!(identity["verifiable_addresses"][0]["value"], email);
            assert_eq!(identity["recovery_addresses"][0]["value"], email);
            assert_eq!(
                identity["verifiable_addresses"].as_array().map(Vec::len),
                Some(1)
            );
            seen += 1;
        }
        token = identities
            .last()
            .and_then(|i| i["id"].as_str())
            .unwrap_or_default()
            .to_string();
    }
    assert_eq!(seen, 5);
    // With credentials asked for, each identity has its own oidc link.
    let listed = env
        .run(&["list", "identities", "--include-credential", "oidc"])
        .ok()
        .json();
    for identity in listed.as_array().into_iter().flatten() {
        let at = ids
            .iter()
            .position(|id| identity["id"] == id.as_str())
            .expect("a listed id is a created one");
        assert_eq!(
            identity["credentials"]["oidc"]["identifiers"],
            serde_json::json!([format!("github:s{at}")])
        );
    }
    Ok(())
}

#[test]
fn completions_a_man_page_and_the_version_with_its_commit() -> TestResult {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "complete -F _kith"),
        ("zsh", "#compdef kith"),
        ("fish", "complete -c kith"),
    ] {
        let script = env.run(&["completions", shell]).ok().stdout;
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(
            script.contains("courier"),
            "{shell} completes the subcommands"
        );
    }
    let page = env.run(&["man"]).ok().stdout;
    assert!(
        page.starts_with(".ie") || page.contains(".TH kith 1"),
        "{page:.200}"
    );
    assert!(page.contains(".SH NAME"));
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let version = env.run(&["version"]).ok().json();
    assert_eq!(version["commit"], commit.as_str(), "{version}");
    assert!(
        version["build_date"]
            .as_str()
            .is_some_and(|d| d.len() == 10)
    );
    let flag = env.run(&["--version"]).ok().stdout;
    assert!(flag.contains(&format!("commit {commit}")), "{flag}");
    assert!(!env.db.exists(), "none of them makes a store");
    Ok(())
}
