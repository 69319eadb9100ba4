//! Hardening: schemas.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// definitions a0..a20, each `allOf` two `$ref`s to the next: 2^21 applications per create.
fn fan_out_schema() -> Value {
    let mut definitions = serde_json::Map::new();
    for i in 0..21 {
        let next = format!("#/definitions/a{}", i + 1);
        definitions.insert(
            format!("a{i}"),
            json!({"allOf": [{"$ref": next}, {"$ref": next}]}),
        );
    }
    definitions.insert("a21".into(), json!({"type": "string"}));
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": definitions,
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "name": {"$ref": "#/definitions/a0"}
        }}}
    })
}

#[test]
fn a_schema_whose_refs_fan_out_through_all_of_is_refused_at_add() -> TestResult {
    let env = Env::new();
    let file = env.file("fan.schema.json", &fan_out_schema().to_string());
    let started = Instant::now();
    let refused = env.run(&["add", "schema", "fan", &file]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "add took {:?}",
        started.elapsed()
    );
    assert_ne!(refused.code, 0, "{refused:?}");
    let problems = refused.error()["details"]["problems"].to_string();
    assert!(problems.contains("#/definitions/a"), "{problems}");
    assert!(problems.contains("subschemas at one place"), "{problems}");
    // Nothing was stored, so a create cannot reach it.
    let unknown = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "fan", "traits": {"name": "x"}}).to_string(),
    );
    assert_ne!(unknown.code, 0);
    Ok(())
}

#[test]
fn a_fan_out_schema_stored_before_the_bound_cannot_hang_create() -> TestResult {
    let env = Env::new();
    env.create_email("first@example.org");
    // A store written by an older kith: the schema is in the table without the check.
    let conn = rusqlite::Connection::open(&env.db)?;
    conn.execute(
        "INSERT INTO schemas (id, schema, created_at) VALUES ('fan', ?1, '2026-01-01T00:00:00Z')",
        [fan_out_schema().to_string()],
    )?;
    drop(conn);
    let started = Instant::now();
    let refused = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "fan", "traits": {"name": "x"}}).to_string(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "create took {:?}",
        started.elapsed()
    );
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stderr.contains("subschemas at one place"),
        "{}",
        refused.stderr
    );
    Ok(())
}

#[test]
fn schemas_that_declare_a_draft_other_than_07_are_refused() -> TestResult {
    let env = Env::new();
    for (id, dialect) in [
        ("new", "https://json-schema.org/draft/2020-12/schema"),
        ("old", "http://json-schema.org/draft-04/schema#"),
    ] {
        let schema = json!({
            "$schema": dialect,
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {"name": {"type": "string"}}}}
        });
        let file = env.file(&format!("{id}.schema.json"), &schema.to_string());
        let refused = env.run(&["add", "schema", id, &file]);
        assert_ne!(refused.code, 0, "{dialect}: {refused:?}");
        let problems = refused.error()["details"]["problems"].to_string();
        assert!(problems.contains("#/$schema"), "{dialect}: {problems}");
        assert!(problems.contains("not draft-07"), "{dialect}: {problems}");
    }
    // Draft-07, declared or (as Kratos reads a schema without `$schema`) not, is accepted.
    for (id, schema) in [
        (
            "declared",
            json!({"$schema": "http://json-schema.org/draft-07/schema#",
            "properties": {"traits": {"properties": {"name": {"type": "string"}}}}}),
        ),
        (
            "implied",
            json!({"properties": {"traits": {"properties": {"name": {"type": "string"}}}}}),
        ),
    ] {
        let file = env.file(&format!("{id}.schema.json"), &schema.to_string());
        env.run(&["add", "schema", id, &file]).ok();
    }
    Ok(())
}
