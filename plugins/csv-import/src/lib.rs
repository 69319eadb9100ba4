//! csv-import: a kith import mapper for one row of a CSV file with a header row.
//!
//! kith reads the file and hands over each row as `{"<header>": "<cell>", ...}`, every cell a
//! string. The config says which column goes where: `"/traits/email" = "Email"` and the like
//! for traits and metadata (see `kith_plugin_sdk::mapper`), and `password_hash`, `verified`,
//! `state` and `external_id` name the columns with those meanings. A column the config names
//! that the file lacks is refused, naming it, rather than imported as empty.
//!
//! Hash cells go through as `hashed_password`: kith itself rewrites the foreign spellings it
//! knows (Django, crypt(3), LDAP) into Kratos formats, and refuses what it cannot verify,
//! unless `migrate_hashes` names its prefix: those are imported for a password-migration
//! plugin to verify at first sign-in.

wit_bindgen::generate!({
    path: "../wit",
    world: "import-mapper",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use kith_plugin_sdk::mapper::{
    Refusal, email_address, escape, mappings, refusal, set_pointer, yes_no,
};
use kith_plugin_sdk::{config, config_list};
use serde_json::{Map, Value, json};

/// The columns of one row, looked up as the config names them.
struct Row<'a> {
    cells: &'a Map<String, Value>,
    errors: Vec<Refusal>,
}

impl Row<'_> {
    /// The trimmed cell of `column`, `None` when it is empty; a column the row lacks is an
    /// error naming the config key `key` that asked for it.
    fn cell(&mut self, key: &str, column: &str) -> Option<String> {
        let Some(value) = self.cells.get(column) else {
            let near = self
                .cells
                .keys()
                .find(|name| name.trim().eq_ignore_ascii_case(column.trim()));
            let hint = match near {
                Some(name) => format!(" (did you mean `{name}`? names must match exactly)"),
                None => {
                    let names: Vec<_> = self.cells.keys().map(|k| format!("`{k}`")).collect();
                    format!(" (its columns: {})", names.join(", "))
                }
            };
            self.errors.push(refusal(
                &format!("/{}", escape(column)),
                "unknown_column",
                format!("config `{key}` names column `{column}`, and the file has none{hint}"),
            ));
            return None;
        };
        let text = match value {
            Value::String(text) => text.trim().to_string(),
            Value::Null => String::new(),
            // Not what kith's CSV reader hands over, but a JSON record is mapped all the same.
            other => other.to_string(),
        };
        (!text.is_empty()).then_some(text)
    }

    /// The cell of the column the config key `key` names, when the key names one.
    fn named(&mut self, settings: &[(String, String)], key: &str) -> Option<(String, String)> {
        let column = config(settings, key)
            .map(str::trim)
            .filter(|c| !c.is_empty())?;
        let value = self.cell(key, column)?;
        Some((format!("/{}", escape(column)), value))
    }
}

/// One row as a createIdentityBody, or every reason it cannot be one.
fn map(settings: &[(String, String)], record: &Value) -> Result<Value, Vec<Refusal>> {
    let Some(cells) = record.as_object() else {
        return Err(vec![refusal(
            "",
            "not_object",
            "the record is not a JSON object (a CSV row is one, keyed by the header)",
        )]);
    };
    let mut row = Row {
        cells,
        errors: Vec::new(),
    };
    let mut body = json!({
        "schema_id": config(settings, "schema_id").unwrap_or("preset://email"),
        "traits": {},
    });
    match mappings(settings) {
        Ok(found) => {
            for mapping in found {
                if let Some(value) = row.cell(&mapping.target, &mapping.source)
                    && let Err(problem) = set_pointer(&mut body, &mapping.target, json!(value))
                {
                    row.errors.push(refusal("", "bad_config", problem));
                }
            }
        }
        Err(problems) => {
            for problem in problems {
                row.errors.push(refusal("", "bad_config", problem));
            }
        }
    }
    if let Some((_, id)) = row.named(settings, "external_id") {
        body["external_id"] = json!(id);
    }
    if let Some((pointer, state)) = row.named(settings, "state") {
        match state.to_ascii_lowercase().as_str() {
            "active" | "enabled" => body["state"] = json!("active"),
            "inactive" | "disabled" => body["state"] = json!("inactive"),
            _ => row.errors.push(refusal(
                &pointer,
                "bad_state",
                format!(
                    "state `{state}` is neither active (or enabled) nor inactive (or disabled)"
                ),
            )),
        }
    }
    if let Some((pointer, hash)) = row.named(settings, "password_hash") {
        let migrate = config_list(settings, "migrate_hashes")
            .iter()
            .any(|prefix| hash.starts_with(prefix.as_str()));
        let mut password = json!({"hashed_password": hash});
        if migrate {
            password["use_password_migration_hook"] = json!(true);
        }
        if hash.chars().any(char::is_whitespace) {
            row.errors.push(refusal(
                &pointer,
                "bad_hash",
                "the password hash holds white space, so it is not one hash",
            ));
        }
        body["credentials"] = json!({"password": {"config": password}});
    }
    if let Some((pointer, verified)) = row.named(settings, "verified") {
        let address = config(settings, "verified_address").unwrap_or("/traits/email");
        match yes_no(&verified) {
            None => row.errors.push(refusal(
                &pointer,
                "bad_boolean",
                format!("`{verified}` is not a yes/no value (true/yes/y/1 or false/no/n/0)"),
            )),
            Some(verified) => {
                if let Some(value) = body.pointer(address).and_then(Value::as_str) {
                    body["verifiable_addresses"] = json!([email_address(value, verified, None)]);
                }
            }
        }
    }
    if !row.errors.is_empty() {
        return Err(row.errors);
    }
    Ok(body)
}

kith_plugin_sdk::export_mapper!(CsvImport, map);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![
            ("schema_id", "preset://email"),
            ("/traits/email", "E-mail"),
            ("/traits/name/first", "First name"),
            ("/traits/name/last", "Last, family name"),
            ("/metadata_admin/crm/id", "Customer no."),
        ];
        all.extend(extra);
        all.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn row() -> Value {
        json!({
            "E-mail": " Ada@Example.org ",
            "First name": "Ada",
            "Last, family name": "King, Countess of Lovelace",
            "Customer no.": "C-1815",
            "Hash": "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2",
            "Verified": "Yes",
            "Status": "Disabled",
            "Id": "u-17",
            "Note": "line one\nline two",
        })
    }

    #[test]
    fn columns_go_to_their_pointers() {
        let body = map(&settings(&[]), &row()).unwrap();
        assert_eq!(
            body,
            json!({
                "schema_id": "preset://email",
                "traits": {"email": "Ada@Example.org",
                           "name": {"first": "Ada", "last": "King, Countess of Lovelace"}},
                "metadata_admin": {"crm": {"id": "C-1815"}},
            })
        );
    }

    #[test]
    fn hash_verified_state_and_external_id_columns() {
        let body = map(
            &settings(&[
                ("password_hash", "Hash"),
                ("verified", "Verified"),
                ("state", "Status"),
                ("external_id", "Id"),
            ]),
            &row(),
        )
        .unwrap();
        assert_eq!(
            body["credentials"],
            json!({"password": {"config": {"hashed_password": row()["Hash"]}}})
        );
        assert_eq!(body["state"], "inactive");
        assert_eq!(body["external_id"], "u-17");
        assert_eq!(
            body["verifiable_addresses"],
            json!([{"value": "Ada@Example.org", "verified": true, "via": "email", "status": "completed"}])
        );
    }

    #[test]
    fn empty_cells_are_left_out() {
        let mut record = row();
        record["First name"] = json!("");
        record["Hash"] = json!("  ");
        let body = map(&settings(&[("password_hash", "Hash")]), &record).unwrap();
        assert_eq!(
            body["traits"]["name"],
            json!({"last": "King, Countess of Lovelace"})
        );
        assert!(body.get("credentials").is_none(), "{body}");
    }

    #[test]
    fn hashes_with_a_migration_prefix_are_marked_for_the_migration_plugin() {
        let mut record = row();
        record["Hash"] = json!("$P$BCDEFGHIJabcdefghijklmnopqrstuv");
        let body = map(
            &settings(&[("password_hash", "Hash"), ("migrate_hashes", "$P$, $H$")]),
            &record,
        )
        .unwrap();
        assert_eq!(
            body["credentials"]["password"]["config"],
            json!({"hashed_password": "$P$BCDEFGHIJabcdefghijklmnopqrstuv",
                   "use_password_migration_hook": true})
        );
    }

    #[test]
    fn a_column_the_file_lacks_is_named() {
        let errors = map(
            &settings(&[("verified", "verified"), ("state", "Nope")]),
            &row(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].code, "unknown_column");
        assert_eq!(errors[0].pointer, "/Nope");
        assert!(
            errors[0]
                .message
                .contains("config `state` names column `Nope`")
        );
        assert!(
            errors[0].message.contains("`First name`"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[1].message.contains("did you mean `Verified`?"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn bad_yes_no_and_state_cells_are_refused() {
        let mut record = row();
        record["Verified"] = json!("maybe");
        record["Status"] = json!("gone");
        let errors = map(
            &settings(&[("verified", "Verified"), ("state", "Status")]),
            &record,
        )
        .unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["bad_state", "bad_boolean"]);
        assert_eq!(errors[1].pointer, "/Verified");
    }

    #[test]
    fn a_bad_mapping_key_and_overlapping_mappings_are_config_errors() {
        let errors = map(
            &settings(&[("/traits/name", "First name"), ("/state", "Status")]),
            &row(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.contains("`/state`"),
            "{}",
            errors[0].message
        );
        let errors = map(&settings(&[("/traits/name", "First name")]), &row()).unwrap_err();
        assert_eq!(errors[0].code, "bad_config");
        assert!(
            errors[0].message.contains("`/traits/name/first`"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_record_that_is_not_an_object_is_refused() {
        assert_eq!(
            map(&settings(&[]), &json!(["a"])).unwrap_err()[0].code,
            "not_object"
        );
    }
}
