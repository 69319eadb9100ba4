//! A call's snapshot: what the preparing half of a flow works from, read once when the call
//! starts. Preparing (validating, deriving, hashing) needs no store, so it runs in parallel
//! and inside a write transaction alike; the committing half is the transaction itself.

use super::settings::Settings;
use super::{Kith, Shared};
use crate::error::{Error, Result};
use crate::schema::{self, IdentitySchema};
use std::collections::HashMap;
use std::sync::Arc;

/// Compiled schemas by id: the presets and every stored schema.
pub(super) type Catalog = HashMap<String, Arc<IdentitySchema>>;

/// The settings and the identity schemas in force when a call started.
pub(super) struct Call {
    pub settings: Settings,
    schemas: Arc<Catalog>,
    /// Stored schemas that no longer compile: refused only when a record asks for them.
    broken: HashMap<String, String>,
    /// Where a preset compiled on first use is kept for later calls.
    shared: Arc<Shared>,
}

impl Call {
    /// The compiled schema `id`.
    ///
    /// # Errors
    /// [`Error::UnknownSchema`] when no schema has this id; [`Error::Internal`] for a stored
    /// schema that no longer compiles.
    pub fn schema(&self, id: &str) -> Result<Arc<IdentitySchema>> {
        if let Some(schema) = self.schemas.get(id) {
            return Ok(schema.clone());
        }
        // Presets are compiled when first asked for: a one-shot command compiles only its own.
        if let Some(schema) = self.shared.catalog().get(id) {
            return Ok(schema.clone());
        }
        if let Some(text) = schema::preset(id) {
            let compiled = Arc::new(
                super::schemas::compile_stored(id, text)
                    .map_err(|problem| Error::internal(format!("preset `{id}`"), problem))?,
            );
            self.shared
                .add_to_catalog(vec![(id.to_string(), compiled.clone())]);
            return Ok(compiled);
        }
        match self.broken.get(id) {
            Some(problem) => Err(Error::internal(
                format!("schema `{id}` no longer compiles"),
                problem.clone(),
            )),
            None => Err(Error::UnknownSchema(id.to_string())),
        }
    }
}

impl Kith {
    /// Takes the snapshot a call prepares from: the settings, and the schemas, with any
    /// stored since the last call (by this process or another) compiled into the shared
    /// catalog. One read transaction; nothing is compiled twice.
    pub(super) fn call(&self) -> Result<Call> {
        let (settings, uncompiled) = self.read(|tx| {
            let settings = Settings::load(tx, self.default_public_url.as_deref())?;
            let known = self.shared.catalog();
            let mut uncompiled = Vec::new();
            for id in tx.schema_ids()? {
                if !known.contains_key(&id)
                    && let Some(text) = tx.get_schema(&id)?
                {
                    uncompiled.push((id, text));
                }
            }
            Ok((settings, uncompiled))
        })?;
        let mut broken = HashMap::new();
        let mut added = Vec::new();
        for (id, text) in uncompiled {
            match super::schemas::compile_stored(&id, &text) {
                Ok(compiled) => added.push((id, Arc::new(compiled))),
                Err(problem) => {
                    broken.insert(id, problem);
                }
            }
        }
        self.shared.add_to_catalog(added);
        Ok(Call {
            settings,
            schemas: self.shared.catalog(),
            broken,
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

    /// Adds compiled schemas to the shared catalog (a new map: calls keep the one they took).
    pub(super) fn add_to_catalog(&self, schemas: Vec<(String, Arc<IdentitySchema>)>) {
        if schemas.is_empty() {
            return;
        }
        let mut shared = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        let mut catalog = Catalog::clone(&shared);
        catalog.extend(schemas);
        *shared = Arc::new(catalog);
    }
}
