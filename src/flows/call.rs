//! A call's snapshot: what the preparing half of a flow works from, read once when the call
//! starts. Preparing (validating, deriving, hashing) needs no store, so it runs in parallel
//! and inside a write transaction alike; the committing half is the transaction itself.

use super::PluginKind;
use super::settings::Settings;
use super::{Kith, Shared};
use crate::error::{Error, Result};
use crate::model::SchemaId;
use crate::schema::{self, IdentitySchema};
use std::collections::HashMap;
use std::sync::Arc;

/// Compiled schemas by id: the presets asked for so far and every stored schema, or why a
/// stored one no longer compiles (kept, so it is not compiled again on every call; a
/// replaced schema is compiled again, see [`Shared::schema_stamps`]).
pub(super) type Catalog = HashMap<SchemaId, Result<Arc<IdentitySchema>, String>>;

/// The settings and the identity schemas in force when a call started.
pub(super) struct Call {
    pub settings: Settings,
    schemas: Arc<Catalog>,
    /// Where a preset compiled on first use is kept for later calls.
    shared: Arc<Shared>,
}

impl Call {
    /// The compiled schema `id`.
    ///
    /// # Errors
    /// [`Error::UnknownSchema`] when no schema has this id; [`Error::Internal`] for a stored
    /// schema that no longer compiles.
    pub fn schema(&self, id: &SchemaId) -> Result<Arc<IdentitySchema>> {
        let found = match self.schemas.get(id) {
            Some(found) => found.clone(),
            // Presets are compiled when first asked for: a one-shot command compiles only
            // the one it uses. Once compiled, by this call (an import asks once per record)
            // or another, the shared catalog has it.
            None => match self.shared.catalog().get(id) {
                Some(found) => found.clone(),
                None => match schema::preset(id.as_str()) {
                    Some(text) => self.shared.compile_into_catalog(id.clone(), text),
                    None => {
                        let mut known: Vec<String> = schema::PRESETS
                            .iter()
                            .map(|(preset, _)| preset.to_string())
                            .chain(self.schemas.keys().map(ToString::to_string))
                            .collect();
                        known.sort();
                        known.dedup();
                        return Err(Error::UnknownSchema {
                            id: id.to_string(),
                            known,
                        });
                    }
                },
            },
        };
        found.map_err(|problem| Error::internal(format!("schema `{id}` does not compile"), problem))
    }
}

impl Kith {
    /// Takes the snapshot a call prepares from: the settings, and the schemas, with any
    /// stored since the last call (by this process or another) compiled into the shared
    /// catalog. One read transaction; nothing is compiled twice.
    pub(super) fn call(&self) -> Result<Call> {
        let (settings, uncompiled, validators, removed) = self.read(|tx| {
            let settings = Settings::load(tx, self.default_public_url.as_deref())?;
            let validators = match self.validators_check_due() {
                true => Some(tx.plugins_fingerprint(PluginKind::TraitValidator.as_str())?),
                false => None,
            };
            let known = self.shared.catalog();
            let stamps = self.shared.schema_stamps();
            let stored = tx.schema_stamps()?;
            let mut uncompiled = Vec::new();
            for (id, stamp) in &stored {
                // New here, or replaced (by this process or another) since it was compiled.
                if (!known.contains_key(id) || stamps.get(id) != Some(stamp))
                    && let Some(text) = tx.get_schema(id.as_str())?
                {
                    uncompiled.push((id.clone(), text, stamp.clone()));
                }
            }
            // Schemas another process removed leave this one's catalog too.
            let removed: Vec<SchemaId> = known
                .keys()
                .filter(|id| {
                    !schema::is_preset(id.as_str()) && !stored.iter().any(|(s, _)| s == *id)
                })
                .cloned()
                .collect();
            Ok((settings, uncompiled, validators, removed))
        })?;
        for id in removed {
            self.shared.remove_from_catalog(id.as_str());
        }
        // A validator another process installed, enabled or disabled is in force from this
        // call on.
        if let Some(fingerprint) = validators {
            self.refresh_validators(&fingerprint)?;
        }
        for (id, text, stamp) in uncompiled {
            // A schema that does not compile is refused only to calls that ask for it.
            let _ = self.shared.compile_into_catalog(id.clone(), &text);
            self.shared.stamp_schema(id, stamp);
        }
        Ok(Call {
            settings,
            schemas: self.shared.catalog(),
            shared: Arc::clone(&self.shared),
        })
    }
}

impl Shared {
    /// The compiled schemas so far.
    pub(super) fn catalog(&self) -> Arc<Catalog> {
        self.schemas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The stamp of each stored schema as this process compiled it.
    pub(super) fn schema_stamps(&self) -> HashMap<SchemaId, String> {
        self.schema_stamps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes which stored text of schema `id` the catalog holds.
    pub(super) fn stamp_schema(&self, id: SchemaId, stamp: String) {
        self.schema_stamps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, stamp);
    }

    /// Compiles `text` as schema `id` into the shared catalog, or records why it does not
    /// compile; either way it is not compiled again.
    fn compile_into_catalog(
        &self,
        id: SchemaId,
        text: &str,
    ) -> Result<Arc<IdentitySchema>, String> {
        let compiled = super::schemas::compile_stored(id.as_str(), text).map(Arc::new);
        self.add_to_catalog(id, compiled.clone());
        compiled
    }

    /// Drops a removed schema from the shared catalog (a new map: calls keep the one they
    /// took).
    pub(super) fn remove_from_catalog(&self, id: &str) {
        let mut shared = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        if shared.keys().any(|known| known.as_str() == id) {
            let mut catalog = Catalog::clone(&shared);
            catalog.retain(|known, _| known.as_str() != id);
            *shared = Arc::new(catalog);
        }
    }

    /// Adds a schema to the shared catalog (a new map: calls keep the one they took).
    pub(super) fn add_to_catalog(&self, id: SchemaId, schema: Result<Arc<IdentitySchema>, String>) {
        let mut shared = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        let mut catalog = Catalog::clone(&shared);
        catalog.insert(id, schema);
        *shared = Arc::new(catalog);
    }
}

#[cfg(test)]
mod tests {
    use crate::Kith;
    use std::sync::Arc;

    /// An import is one call asking for its schema once per record: a preset compiled for
    /// the first record must serve the rest, not be compiled again for each.
    #[test]
    fn a_preset_is_compiled_once_however_often_one_call_asks_for_it() {
        let kith = Kith::open_in_memory().unwrap();
        let call = kith.call().unwrap();
        let id = "preset://email".into();
        let first = call.schema(&id).unwrap();
        let second = call.schema(&id).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "the preset was compiled a second time within one call"
        );
    }
}
