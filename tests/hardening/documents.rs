//! Hardening: documents. Every document kith writes (traits, metadata) is one it can read
//! back: depth and size are bounded on every write path, JSON patches included.

use crate::harness::{Env, TestResult};
use crate::serve::Server;
use serde_json::{Value, json};

/// `depth` objects nested as `{"a":{"a":...}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!({});
    for _ in 1..depth {
        value = json!({ "a": value });
    }
    value
}

/// The attack: 14 `copy` ops, each copying `metadata_admin` to its own deepest
/// point, so the nesting doubles with every op (thousands of levels from 17 KB).
fn doubling_copy_patch() -> String {
    let mut ops = Vec::new();
    let mut deepest = 1;
    for _ in 0..14 {
        let path = format!("/metadata_admin{}", "/a".repeat(deepest + 1));
        ops.push(json!({"op": "copy", "from": "/metadata_admin", "path": path}));
        deepest = 2 * deepest + 1;
    }
    Value::Array(ops).to_string()
}

fn with_metadata(env: &Env) -> String {
    let identity = env.create(&json!({
        "schema_id": "preset://email",
        "traits": {"email": "deep@example.org"},
        "metadata_admin": {"a": {}},
    }));
    identity["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn patch_of_copy_ops_cannot_nest_metadata_past_the_depth_bound() -> TestResult {
    let env = Env::new();
    let id = with_metadata(&env);
    let run = env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        &doubling_copy_patch(),
    );
    assert_eq!(run.code, 1, "refused, not crashed: {}", run.stderr);
    let error = run.error();
    assert_eq!(error["code"], 400);
    let pointer = error["details"]["pointer"].as_str().unwrap_or_default();
    assert!(pointer.starts_with("/metadata_admin/a/a/a/"), "{error}");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("nests deeper than 64 levels"),
        "{error}"
    );
    // A patch 100 levels deep is refused too (it used to be stored; past 128 levels every
    // list and export answered 500).
    let deep = json!([{"op": "add", "path": "/metadata_public", "value": nested(100)}]);
    let run = env.run_with(&["patch", "identity", &id, "-f", "-"], &deep.to_string());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.error()["details"]["pointer"],
        format!("/metadata_public{}", "/a".repeat(64))
    );
    // At the bound itself the patch applies, and the store still reads back.
    let at_bound = json!([{"op": "add", "path": "/metadata_public", "value": nested(64)}]);
    env.run_with(
        &["patch", "identity", &id, "-f", "-"],
        &at_bound.to_string(),
    )
    .ok();
    env.run(&["list", "identities"]).ok();
    env.run(&["export", "identities"]).ok();
    let stored = env.run(&["get", "identity", &id]).ok().json();
    assert_eq!(stored["metadata_admin"], json!({"a": {}}));
    Ok(())
}

#[test]
fn patch_of_copy_ops_cannot_double_a_document_past_the_size_bound() -> TestResult {
    let env = Env::new();
    let identity = env.create(&json!({
        "schema_id": "preset://email",
        "traits": {"email": "wide@example.org"},
        "metadata_admin": {"blob": "x".repeat(100_000)},
    }));
    let id = identity["id"].as_str().unwrap_or_default();
    // Each op doubles metadata_admin: 100 KB × 2^7 = 12.8 MB, past the 5 MB bound.
    let ops: Vec<Value> = (0..7)
        .map(|i| json!({"op": "copy", "from": "/metadata_admin", "path": format!("/metadata_admin/c{i}")}))
        .collect();
    let run = env.run_with(
        &["patch", "identity", id, "-f", "-"],
        &Value::Array(ops).to_string(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.error();
    assert_eq!(error["details"]["pointer"], "/metadata_admin", "{error}");
    assert_eq!(error["details"]["limit"], 5 * 1024 * 1024, "{error}");
    let stored = env.run(&["get", "identity", id]).ok().json();
    assert!(
        stored["metadata_admin"].get("c0").is_none(),
        "nothing stored"
    );
    Ok(())
}

#[test]
fn documents_past_the_depth_bound_are_refused_on_create_update_and_import() -> TestResult {
    let env = Env::new();
    let body = |email: &str, depth: usize| {
        json!({
            "schema_id": "preset://email",
            "traits": {"email": email},
            "metadata_public": nested(depth),
        })
    };
    let run = env.run_with(
        &["create", "identity", "-f", "-"],
        &body("c@example.org", 65).to_string(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.error()["details"]["pointer"],
        format!("/metadata_public{}", "/a".repeat(64))
    );
    let id = env.create(&body("c@example.org", 64))["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let update = json!({
        "schema_id": "preset://email",
        "traits": {"email": "c@example.org"},
        "metadata_admin": nested(70),
    });
    let run = env.run_with(&["update", "identity", &id, "-f", "-"], &update.to_string());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.error()["details"]["pointer"],
        format!("/metadata_admin{}", "/a".repeat(64))
    );
    // Import: the bound applies per record; the good records go on.
    let records = [
        body("i1@example.org", 3),
        body("i2@example.org", 90),
        body("i3@example.org", 3),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let run = env.run_with(&["import", "identities", "-"], &records);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let results: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v.get("action").is_some())
        .collect();
    let actions: Vec<&str> = results
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["create", "error", "create"], "{}", run.stdout);
    assert_eq!(results[1]["error"]["code"], 400);
    assert_eq!(
        results[1]["error"]["details"]["pointer"],
        format!("/metadata_public{}", "/a".repeat(64))
    );
    env.run(&["list", "identities"]).ok();
    Ok(())
}

#[test]
fn a_single_document_read_by_the_cli_is_bounded_at_five_megabytes() -> TestResult {
    let env = Env::new();
    let body = json!({
        "schema_id": "preset://email",
        "traits": {"email": "big@example.org"},
        "metadata_admin": {"blob": "x".repeat(5 * 1024 * 1024)},
    })
    .to_string();
    let file = env.file("big.json", &body);
    let run = env.run(&["create", "identity", "--file", &file]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.error();
    assert_eq!(error["details"]["source"], file.as_str(), "{error}");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than 5242880 bytes"),
        "{error}"
    );
    let run = env.run_with(&["create", "identity", "--file", "-"], &body);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.error()["details"]["source"], "<stdin>");
    assert_eq!(env.count(), 0);
    Ok(())
}

#[test]
fn the_server_survives_a_copy_op_patch_and_still_lists() -> TestResult {
    let env = Env::new();
    let id = with_metadata(&env);
    let server = Server::start(&env);
    let patched = server.admin(
        "PATCH",
        &format!("/admin/identities/{id}"),
        Some(&doubling_copy_patch()),
    );
    assert_eq!(patched.status, 400, "{}", patched.body);
    let pointer = patched.json()["error"]["details"]["pointer"].clone();
    assert!(
        pointer
            .as_str()
            .unwrap_or_default()
            .starts_with("/metadata_admin/a/a/"),
        "{pointer}"
    );
    let listed = server.admin("GET", "/admin/identities", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json().as_array().map_or(0, Vec::len), 1);
    Ok(())
}
