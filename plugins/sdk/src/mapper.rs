//! What import mappers share: config keys that map a source field to a place in the
//! createIdentityBody, a JSON-pointer writer, and yes/no cells.
//!
//! A mapping is a config key that is a JSON pointer into the body, under `traits`,
//! `metadata_public` or `metadata_admin`, whose value names the source field:
//!
//! ```toml
//! [config]
//! "/traits/email" = "Email"
//! "/traits/name/first" = "First name"
//! "/metadata_admin/crm/id" = "Customer number"
//! ```
//!
//! On the command line the same is `--config "/traits/name/first=First name"`. An empty value
//! switches a default mapping off.
//!
//! A mapper is then a function from config and record to body, exported with
//! [`export_mapper!`](crate::export_mapper):
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "../wit",
//!     world: "import-mapper",
//!     with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
//!     generate_all,
//! });
//! use kith_plugin_sdk::mapper::{Refusal, refusal};
//! use serde_json::Value;
//!
//! fn map(config: &[(String, String)], record: &Value) -> Result<Value, Vec<Refusal>> {
//!     let email = record["Email"].as_str().ok_or_else(|| {
//!         vec![refusal("/Email", "missing", "the row has no e-mail address")]
//!     })?;
//!     Ok(serde_json::json!({"schema_id": "preset://email", "traits": {"email": email}}))
//! }
//! kith_plugin_sdk::export_mapper!(MyMapper, map);
//! ```

use serde_json::{Map, Value};

/// One refusal of one field: the `field-error` a mapper returns, built without the plugin's
/// own bindings (see [`export_mapper!`](crate::export_mapper)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// RFC 6901 pointer into the record, e.g. `/Email`; empty for the record as a whole.
    pub pointer: String,
    /// A stable machine-readable code, e.g. `unknown_column`.
    pub code: String,
    /// A sentence for the operator.
    pub message: String,
}

/// A [`Refusal`].
pub fn refusal(pointer: &str, code: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        pointer: pointer.into(),
        code: code.into(),
        message: message.into(),
    }
}

/// A mapper's work: config and record in, createIdentityBody or refusals out.
pub type MapFn = fn(&[(String, String)], &Value) -> Result<Value, Vec<Refusal>>;

/// What [`export_mapper!`](crate::export_mapper)'s `map-record` does: parses `record_json`
/// (refusing what is not JSON), maps it and writes the body out.
pub fn run(
    config: &[(String, String)],
    record_json: &str,
    map: MapFn,
) -> Result<String, Vec<Refusal>> {
    let record: Value = serde_json::from_str(record_json).map_err(|e| {
        vec![refusal(
            "",
            "not_json",
            format!("the record is not JSON: {e}"),
        )]
    })?;
    map(config, &record).map(|body| body.to_string())
}

/// Exports an import mapper (world `import-mapper`, after its `wit_bindgen::generate!`) whose
/// work is `map(config, record) -> Result<Value, Vec<Refusal>>`: declares the unit struct
/// `$plugin`, implements `map-record` with the panic hook, [`run`] and the refusals as
/// `field-error`s, and exports it.
#[macro_export]
macro_rules! export_mapper {
    ($plugin:ident, $map:path) => {
        struct $plugin;

        impl exports::kith::plugin::mapper::Guest for $plugin {
            fn map_record(
                ctx: kith::plugin::types::CallContext,
                record_json: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                ::std::vec::Vec<kith::plugin::types::FieldError>,
            > {
                $crate::install_panic_hook();
                $crate::mapper::run(&ctx.config, &record_json, $map).map_err(|refusals| {
                    refusals
                        .into_iter()
                        .map(|r| kith::plugin::types::FieldError {
                            pointer: r.pointer,
                            code: r.code,
                            message: r.message,
                        })
                        .collect()
                })
            }
        }

        export!($plugin);
    };
}

/// The parts of a createIdentityBody a mapping may write into.
pub const MAPPABLE_ROOTS: &[&str] = &["traits", "metadata_public", "metadata_admin"];

/// One config entry `"<pointer>" = "<source>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Where in the body, e.g. `/traits/name/first`.
    pub target: String,
    /// What the config names as the source: a column, or attribute names.
    pub source: String,
}

/// The config's mappings, in key order; an error names each key that is not a pointer under
/// one of [`MAPPABLE_ROOTS`] with at least one step below it.
pub fn mappings(config: &[(String, String)]) -> Result<Vec<Mapping>, Vec<String>> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in config {
        // The first of equal keys counts, as in [`crate::config`].
        if !key.starts_with('/') || !seen.insert(key) || value.trim().is_empty() {
            continue;
        }
        let mut steps = key[1..].split('/');
        let root = steps.next().unwrap_or("");
        if !MAPPABLE_ROOTS.contains(&root) || steps.next().is_none_or(str::is_empty) {
            errors.push(format!(
                "config key `{key}` is not a place a mapping can write: it must be a JSON pointer \
                 into /traits, /metadata_public or /metadata_admin, such as /traits/email"
            ));
            continue;
        }
        found.push(Mapping {
            target: key.clone(),
            source: value.trim().to_string(),
        });
    }
    found.sort_by(|a, b| a.target.cmp(&b.target));
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// Writes `value` at RFC 6901 `pointer` in `doc`, creating the objects on the way. A place
/// already taken, or a step through something that is not an object, is an error: two
/// mappings that overlap (`/traits/name` and `/traits/name/first`) would lose one of them.
pub fn set_pointer(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "`{pointer}` is not a JSON pointer (it must start with /)"
        ));
    };
    let steps: Vec<String> = rest.split('/').map(unescape).collect();
    let (last, path) = steps.split_last().expect("split yields at least one step");
    let mut here = doc;
    for (depth, step) in path.iter().enumerate() {
        let Value::Object(object) = here else {
            return Err(overlap(pointer, &steps[..depth]));
        };
        here = object
            .entry(step.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(object) = here else {
        return Err(overlap(pointer, path));
    };
    if object.contains_key(last) {
        return Err(format!(
            "`{pointer}` is written twice: two mappings overlap there"
        ));
    }
    object.insert(last.clone(), value);
    Ok(())
}

fn overlap(pointer: &str, prefix: &[String]) -> String {
    let prefix: String = prefix.iter().map(|s| format!("/{}", escape(s))).collect();
    format!("`{pointer}` runs through `{prefix}`, which another mapping set to a value")
}

/// A name as one RFC 6901 reference token (`a/b` → `a~1b`), for a field error's pointer.
pub fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// A yes/no cell: `true`, `yes`, `y`, `1` (any case) and `false`, `no`, `n`, `0` or empty;
/// `None` for anything else, which a mapper should refuse rather than guess.
pub fn yes_no(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" | "" => Some(false),
        _ => None,
    }
}

/// The `verifiable_addresses` entry for an e-mail address the source says is (or is not)
/// verified. kith keeps it only when the traits back the address; `created_at` (RFC 3339)
/// carries the source's sign-up time over.
pub fn email_address(value: &str, verified: bool, created_at: Option<String>) -> Value {
    let mut address = serde_json::json!({
        "value": value,
        "verified": verified,
        "via": "email",
        "status": if verified { "completed" } else { "pending" },
    });
    if let Some(created_at) = created_at {
        address["created_at"] = Value::String(created_at);
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mappings_are_the_pointer_keys_with_a_value_in_order() {
        let config = pairs(&[
            ("schema_id", "preset://email"),
            ("/traits/name/first", " First name "),
            ("/traits/email", "Email"),
            ("/traits/name/last", ""),
            ("/metadata_admin/crm~1id", "Id"),
        ]);
        let found = mappings(&config).unwrap();
        let targets: Vec<_> = found.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/metadata_admin/crm~1id",
                "/traits/email",
                "/traits/name/first"
            ]
        );
        assert_eq!(found[2].source, "First name");
    }

    #[test]
    fn mappings_outside_the_mappable_roots_are_named() {
        let config = pairs(&[
            ("/credentials/password", "x"),
            ("/traits", "y"),
            ("/traits/", "z"),
            ("/traits/ok", "w"),
        ]);
        let errors = mappings(&config).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("`/credentials/password`"), "{errors:?}");
    }

    #[test]
    fn set_pointer_builds_objects_and_refuses_overlaps() {
        let mut doc = json!({});
        set_pointer(&mut doc, "/traits/name/first", json!("Ada")).unwrap();
        set_pointer(&mut doc, "/traits/name/last", json!("Lovelace")).unwrap();
        set_pointer(&mut doc, "/metadata_admin/a~1b~0c", json!(1)).unwrap();
        assert_eq!(
            doc,
            json!({"traits": {"name": {"first": "Ada", "last": "Lovelace"}},
                   "metadata_admin": {"a/b~c": 1}})
        );
        let twice = set_pointer(&mut doc, "/traits/name/first", json!("B")).unwrap_err();
        assert!(twice.contains("written twice"), "{twice}");
        let through = set_pointer(&mut doc, "/traits/name/first/x", json!("B")).unwrap_err();
        assert!(through.contains("`/traits/name/first`"), "{through}");
        assert!(set_pointer(&mut doc, "traits", json!(1)).is_err());
    }

    #[test]
    fn run_refuses_what_is_not_json_and_writes_the_body_out() {
        fn map(_: &[(String, String)], record: &Value) -> Result<Value, Vec<Refusal>> {
            match record["email"].as_str() {
                Some(email) => Ok(json!({"traits": {"email": email}})),
                None => Err(vec![refusal("/email", "missing", "no e-mail")]),
            }
        }
        assert_eq!(
            run(&[], r#"{"email": "a@example.org"}"#, map).unwrap(),
            r#"{"traits":{"email":"a@example.org"}}"#
        );
        assert_eq!(run(&[], "{}", map).unwrap_err()[0].code, "missing");
        let refused = run(&[], "{nope", map).unwrap_err();
        assert_eq!(
            (refused[0].pointer.as_str(), refused[0].code.as_str()),
            ("", "not_json")
        );
    }

    #[test]
    fn yes_no_cells() {
        for yes in ["true", "YES", " y ", "1", "True"] {
            assert_eq!(yes_no(yes), Some(true), "{yes}");
        }
        for no in ["false", "No", "n", "0", ""] {
            assert_eq!(yes_no(no), Some(false), "{no}");
        }
        assert_eq!(yes_no("maybe"), None);
        assert_eq!(escape("a/b~c"), "a~1b~0c");
    }
}
