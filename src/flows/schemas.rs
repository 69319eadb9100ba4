//! Identity schemas: presets, custom schemas stored in the file, and the compiled cache.

use super::Kith;
use crate::error::{Error, NotFound, Result};
use crate::schema::{self, IdentitySchema};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// How many identities a refused schema replacement names; the count covers the rest.
const MAX_BROKEN_NAMED: usize = 20;

fn parse_stored(id: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("stored schema `{id}` is not JSON"), e))
}

/// Compiles a preset or stored schema, or says why it cannot be.
pub(super) fn compile_stored(id: &str, text: &str) -> std::result::Result<IdentitySchema, String> {
    let raw: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    IdentitySchema::compile(id, raw).map_err(|e| e.to_string())
}

/// Checks `raw` as identity schema `id` and compiles it.
fn checked(id: &str, raw: &Value) -> Result<IdentitySchema> {
    schema::check_identity_schema(id, raw.clone()).map_err(|problems| Error::InvalidSchema {
        schema_id: id.into(),
        problems,
    })
}

/// A schema as `GET /schemas` lists it: `{"id", "schema"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaEntry {
    pub id: String,
    pub schema: Value,
}

impl SchemaEntry {
    /// Whether kith ships this schema (`preset://...`) rather than the store holding it.
    pub fn is_preset(&self) -> bool {
        crate::schema::is_preset(&self.id)
    }
}

impl Kith {
    /// Puts a schema just stored under `stamp` in force in this process at once (other
    /// processes see the new stamp on their next call), and answers it.
    fn in_force(&self, id: &str, compiled: IdentitySchema, stamp: &str, raw: Value) -> SchemaEntry {
        self.shared
            .add_to_catalog(id.into(), Ok(Arc::new(compiled)));
        self.shared.stamp_schema(id.into(), stamp.to_string());
        SchemaEntry {
            id: id.to_string(),
            schema: raw,
        }
    }

    fn raw_schema(&self, id: &str) -> Result<Option<Value>> {
        let text = match schema::preset(id) {
            Some(text) => Some(text.to_string()),
            None => self.read(|tx| Ok(tx.get_schema(id)?))?,
        };
        text.map(|t| parse_stored(id, &t)).transpose()
    }

    /// Checks `raw` as an identity schema and stores it under `id`.
    ///
    /// # Errors
    /// [`Error::InvalidSchema`] listing every problem; [`Error::SchemaExists`] when `id` is a
    /// preset or already stored.
    pub(crate) fn add_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry> {
        if schema::is_preset(id) {
            return Err(Error::SchemaExists(id.to_string()));
        }
        let compiled = checked(id, &raw)?;
        let now = self.clock.now();
        self.commit(|tx| {
            tx.insert_schema(id, &raw.to_string(), &now.to_string())
                .map_err(|e| {
                    if e.is_conflict() {
                        Error::SchemaExists(id.to_string())
                    } else {
                        e.into()
                    }
                })?;
            tx.record(
                "schema.added",
                None,
                Some(serde_json::json!({ "schema_id": id })),
            )
        })?;
        Ok(self.in_force(id, compiled, &now.to_string(), raw))
    }

    /// Checks `raw` and puts it in place of the stored schema `id` (or adds it, when none is
    /// stored), refusing it while a stored identity of that schema would not match it.
    /// Identifiers and addresses the new schema derives differently are derived again when
    /// each identity is next written, as Kratos does when its schema configuration changes.
    ///
    /// # Errors
    /// [`Error::InvalidSchema`] listing every problem; [`Error::SchemaWouldBreak`] naming the
    /// identities the new schema refuses; [`Error::BadRequest`] for a preset.
    pub(crate) fn replace_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry> {
        if schema::is_preset(id) {
            return Err(Error::BadRequest(format!(
                "schema `{id}` is built into kith and cannot be replaced"
            )));
        }
        let compiled = checked(id, &raw)?;
        let now = self.clock.now();
        self.commit(|tx| {
            if tx.get_schema(id)?.is_none() {
                tx.insert_schema(id, &raw.to_string(), &now.to_string())?;
                return tx.record(
                    "schema.added",
                    None,
                    Some(serde_json::json!({ "schema_id": id })),
                );
            }
            let mut broken = 0u64;
            let mut examples = Vec::new();
            tx.each_traits_of_schema(id, &mut |identity, traits| {
                let traits: Value = serde_json::from_str(traits).unwrap_or(Value::Null);
                if let Err(violations) = compiled.validate(&traits) {
                    broken += 1;
                    if examples.len() < MAX_BROKEN_NAMED
                        && let Some(first) = violations.first()
                    {
                        examples.push(format!(
                            "{identity}: {}: {}",
                            first.instance_ptr, first.message
                        ));
                    }
                }
            })?;
            if broken > 0 {
                return Err(Error::SchemaWouldBreak {
                    schema_id: id.to_string(),
                    broken,
                    examples,
                });
            }
            tx.replace_schema(id, &raw.to_string(), &now.to_string())?;
            tx.record(
                "schema.replaced",
                None,
                Some(serde_json::json!({ "schema_id": id })),
            )
        })?;
        Ok(self.in_force(id, compiled, &now.to_string(), raw))
    }

    /// The schema `id` as JSON. `id` may also be its base64url form, as in `schema_url`.
    ///
    /// # Errors
    /// [`NotFound::Schema`] when neither form names a schema.
    pub(crate) fn get_schema(&self, id: &str) -> Result<SchemaEntry> {
        if let Some(schema) = self.raw_schema(id)? {
            return Ok(SchemaEntry {
                id: id.to_string(),
                schema,
            });
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id.trim_end_matches('='))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some(decoded) = decoded
            && let Some(schema) = self.raw_schema(&decoded)?
        {
            return Ok(SchemaEntry {
                id: decoded,
                schema,
            });
        }
        Err(Error::NotFound(NotFound::Schema(id.to_string())))
    }

    /// Every schema: presets first, then stored ones by id.
    ///
    /// # Errors
    /// Only if the store fails or holds a damaged schema.
    /// Removes the stored schema `id`, refused while any identity names it.
    ///
    /// # Errors
    /// [`NotFound::Schema`] for an id the store does not hold; 400 for a preset, or while
    /// identities use the schema (saying how many).
    pub(crate) fn remove_schema(&self, id: &str) -> Result<()> {
        if schema::is_preset(id) {
            return Err(Error::BadRequest(format!(
                "schema `{id}` is built into kith and cannot be removed"
            )));
        }
        self.commit(|tx| {
            let users = tx.identities_with_schema(id)?;
            if users > 0 {
                let noun = if users == 1 {
                    "identity uses"
                } else {
                    "identities use"
                };
                return Err(Error::BadRequest(format!(
                    "schema `{id}` cannot be removed: {users} {noun} it; move them to another \
                     schema (`kith update identity`) or delete them first"
                )));
            }
            if !tx.delete_schema(id)? {
                return Err(Error::NotFound(NotFound::Schema(id.to_string())));
            }
            tx.record(
                "schema.removed",
                None,
                Some(serde_json::json!({ "schema_id": id })),
            )
        })?;
        self.shared.remove_from_catalog(id);
        Ok(())
    }

    pub(crate) fn list_schemas(&self) -> Result<Vec<SchemaEntry>> {
        let mut entries = Vec::new();
        for (id, text) in schema::PRESETS {
            entries.push(SchemaEntry {
                id: id.to_string(),
                schema: serde_json::from_str(text)
                    .map_err(|e| Error::internal("a preset schema is not JSON", e))?,
            });
        }
        for (id, text) in self.read(|tx| Ok(tx.list_schemas()?))? {
            let schema = serde_json::from_str(&text)
                .map_err(|e| Error::internal(format!("stored schema `{id}` is not JSON"), e))?;
            entries.push(SchemaEntry { id, schema });
        }
        Ok(entries)
    }
}
