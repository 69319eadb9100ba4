//! `kith add|get|list schema(s)`: presets, custom schemas and their checks.

use crate::harness::{Env, TestResult};
use serde_json::json;

pub fn employee_schema() -> serde_json::Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Employee",
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "work_email": {"type": "string", "format": "email",
                "ory.sh/kratos": {"credentials": {"password": {"identifier": true}},
                                  "verification": {"via": "email"}}},
            "backup_emails": {"type": "array", "items": {"type": "string", "format": "email",
                "ory.sh/kratos": {"recovery": {"via": "email"}}}},
            "employee_no": {"type": "integer", "minimum": 1}
        }, "required": ["work_email", "employee_no"]}}
    })
}

#[test]
fn a_custom_schema_is_checked_stored_and_used() -> TestResult {
    let env = Env::new();
    let path = env.file("employee.json", &employee_schema().to_string());
    env.run(&["add", "schema", "employee", &path]).ok();
    let identity = env.create(&json!({
        "schema_id": "employee",
        "traits": {"work_email": "Lin@Corp.example", "backup_emails": ["A@x.org", "b@x.org"], "employee_no": 7}
    }));
    assert_eq!(
        identity["credentials"]["password"]["identifiers"],
        json!(["lin@corp.example"])
    );
    let recovery: Vec<_> = identity["recovery_addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["value"].clone())
        .collect();
    assert_eq!(recovery, vec![json!("a@x.org"), json!("b@x.org")]);
    assert!(
        identity["schema_url"]
            .as_str()
            .unwrap_or("")
            .ends_with("/schemas/ZW1wbG95ZWU")
    );

    let listed = env.run(&["list", "schemas"]).ok().json();
    let ids: Vec<_> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            json!("preset://email"),
            json!("preset://username"),
            json!("employee")
        ]
    );
    assert_eq!(
        env.run(&["get", "schema", "employee"]).ok().json(),
        employee_schema()
    );
    assert_eq!(
        env.run(&["get", "schema", "ZW1wbG95ZWU"]).ok().json(),
        employee_schema()
    );
    Ok(())
}

#[test]
fn presets_can_be_read_by_id_and_by_their_schema_url_form() -> TestResult {
    let env = Env::new();
    // Reads never create a store, so make one first.
    env.create_email("reader@example.org");
    let by_id = env.run(&["get", "schema", "preset://email"]).ok().json();
    let by_url = env
        .run(&["get", "schema", "cHJlc2V0Oi8vZW1haWw"])
        .ok()
        .json();
    assert_eq!(by_id, by_url);
    assert_eq!(by_id["properties"]["traits"]["required"], json!(["email"]));
    let missing = env.run(&["get", "schema", "nope"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.error()["code"], 404);
    assert_eq!(
        missing.error()["reason"],
        "Identity schema `nope` could not be found."
    );
    Ok(())
}

#[test]
fn invalid_schemas_are_refused_with_every_problem() -> TestResult {
    let env = Env::new();
    let path = env.file(
        "bad.json",
        &json!({"type": 7, "properties": {"traits": {"properties": {
            "a": {"type": "string", "ory.sh/kratos": {"recovery": {"via": "pigeon"}, "colour": "red"}}
        }}}})
        .to_string(),
    );
    let run = env.run(&["add", "schema", "bad", &path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problems = run.error()["details"]["problems"].to_string();
    assert!(problems.contains("#/type"), "{problems}");
    assert!(
        problems.contains("/ory.sh~1kratos/recovery/via"),
        "{problems}"
    );
    assert!(problems.contains("colour"), "{problems}");
    let run = env.run(&["add", "schema", "preset://email", &path]);
    assert_eq!(run.code, 1);
    assert_eq!(run.error()["code"], 409);
    let not_json = env.file("x.json", "{not json");
    let run = env.run(&["add", "schema", "x", &not_json]);
    assert_eq!(run.code, 1);
    assert_eq!(
        env.run(&["list", "schemas"])
            .ok()
            .json()
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    Ok(())
}

/// A stored schema that no longer compiles (a file edited by hand, or written by another
/// version) is refused only to the records that ask for it: every other call, which takes a
/// snapshot of all the schemas, still works.
#[test]
fn a_stored_schema_that_no_longer_compiles_fails_only_its_own_records() -> TestResult {
    let env = Env::new();
    env.create_email("first@example.org");
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.execute(
        "INSERT INTO schemas (id, schema, created_at) VALUES ('broken', '{\"type\": 5}', '2026-01-01T00:00:00Z')",
        [],
    )?;
    drop(conn);
    env.create_email("second@example.org");
    let refused = env.run(&[
        "create",
        "identity",
        "--schema-id",
        "broken",
        "--traits",
        "{}",
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let error = refused.error();
    assert_eq!(error["code"], 500, "{error}");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("schema `broken` does not compile"),
        "{error}"
    );
    env.create_email("third@example.org");
    Ok(())
}

/// A stored schema can be removed once no identity uses it, and a running server stops
/// offering it; a preset or a schema in use cannot be.
#[test]
fn remove_schema_is_refused_while_identities_use_it() -> TestResult {
    let env = Env::new();
    let path = env.file("employee.json", &employee_schema().to_string());
    env.run(&["add", "schema", "employee", &path]).ok();
    let mut server = crate::serve::Server::start(&env);
    let body = json!({"schema_id": "employee", "traits": {"work_email": "e@example.org", "employee_no": 7}});
    let id = server.create_identity(&body);

    let refused = env.run(&["remove", "schema", "employee"]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.error()["reason"],
        "schema `employee` cannot be removed: 1 identity uses it; move them to another schema (`kith update identity`) or delete them first"
    );
    let preset = env.run(&["remove", "schema", "preset://email"]);
    assert_eq!(preset.code, 1);
    assert_eq!(preset.error()["code"], 400);

    env.run(&["delete", "identity", &id]).ok();
    env.run(&["remove", "schema", "employee"]).ok();
    assert_eq!(env.run(&["get", "schema", "employee"]).error()["code"], 404);
    assert_eq!(
        env.run(&["remove", "schema", "employee"]).error()["code"],
        404
    );
    let events = env.run(&["list", "events"]).ok().json();
    let last = events.as_array().and_then(|all| all.last()).cloned();
    let last = last.unwrap_or_default();
    assert_eq!(last["action"], "schema.removed", "{events}");
    assert_eq!(last["detail"]["schema_id"], "employee", "{events}");
    // The server stops offering it within its next call.
    let gone = server.admin("POST", "/admin/identities", Some(&body.to_string()));
    assert_eq!(gone.status, 400, "{}", gone.body);
    assert_eq!(
        gone.json()["error"]["reason"],
        "Unable to find JSON Schema ID: employee"
    );
    assert_eq!(server.admin("GET", "/schemas/employee", None).status, 404);
    server.stop();
    Ok(())
}

/// JSON Schema ignores a keyword it does not know, so a slip in `ory.sh/kratos` would leave
/// the trait without its role: it is refused with the right spelling, as are slips inside it.
#[test]
fn a_misspelled_extension_keyword_is_refused_with_the_right_spelling() -> TestResult {
    let env = Env::new();
    let schema = json!({
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email",
                "ory.sh/kartos": {"credentials": {"password": {"identifier": true}}}},
            "login": {"type": "string",
                "ory.sh/kratos": {"credentials": {"password": {"identfier": true}}}}
        }}}
    });
    let path = env.file("slip.json", &schema.to_string());
    let run = env.run(&["add", "schema", "slip", &path]);
    assert_eq!(run.code, 1);
    let problems = run.error()["details"]["problems"].to_string();
    assert!(
        problems.contains("unknown keyword \\\"ory.sh/kartos\\\"; did you mean `ory.sh/kratos`?"),
        "{problems}"
    );
    assert!(
        problems.contains("did you mean `identifier`?"),
        "{problems}"
    );
    Ok(())
}

/// `add schema --replace` puts a fixed schema in place, refuses one that stored identities
/// would break (naming them), and a running server validates with the new one at once.
#[test]
fn add_schema_replace_refuses_a_schema_stored_identities_would_break() -> TestResult {
    let env = Env::new();
    let path = env.file("employee.json", &employee_schema().to_string());
    env.run(&["add", "schema", "employee", &path]).ok();
    let server = crate::serve::Server::start(&env);
    let seven = server.create_identity(&json!({"schema_id": "employee",
        "traits": {"work_email": "seven@example.org", "employee_no": 7}}));

    // Without --replace the message says how to replace.
    let again = env.run(&["--format", "table", "add", "schema", "employee", &path]);
    assert!(
        again.stderr.contains("kith add schema --replace"),
        "{}",
        again.stderr
    );

    let mut stricter = employee_schema();
    stricter["properties"]["traits"]["properties"]["employee_no"]["minimum"] = json!(10);
    let stricter_path = env.file("stricter.json", &stricter.to_string());
    let refused = env.run(&["add", "schema", "employee", &stricter_path, "--replace"]);
    assert_eq!(refused.code, 1);
    let error = refused.error();
    assert_eq!(error["code"], 409);
    assert_eq!(error["details"]["violating_identities"], 1);
    assert!(
        error["details"]["examples"][0]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("{seven}: #/traits/employee_no"))),
        "{error}"
    );
    assert_eq!(
        env.run(&["get", "schema", "employee"]).ok().json(),
        employee_schema(),
        "nothing changed"
    );

    // A schema that adds an optional trait fits: in place, and in force in the server.
    let mut wider = employee_schema();
    wider["properties"]["traits"]["properties"]["team"] = json!({"type": "string", "maxLength": 3});
    let wider_path = env.file("wider.json", &wider.to_string());
    env.run(&["add", "schema", "employee", &wider_path, "--replace"])
        .ok();
    assert_eq!(env.run(&["get", "schema", "employee"]).ok().json(), wider);
    let too_long = server.admin(
        "POST",
        "/admin/identities",
        Some(&json!({"schema_id": "employee", "traits": {"work_email": "t@example.org", "employee_no": 8, "team": "toolong"}}).to_string()),
    );
    assert_eq!(
        too_long.status, 400,
        "the server uses the new schema: {}",
        too_long.body
    );
    let events = env.run(&["list", "events"]).ok().json();
    let actions: Vec<&str> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"schema.replaced"), "{actions:?}");
    Ok(())
}
