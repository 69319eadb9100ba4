//! Custom identity schemas stored in the file under their id.

use super::{Result, Tx};
use rusqlite::{OptionalExtension, params};

impl Tx<'_> {
    /// Stores a checked schema's JSON text under `id`.
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] when `id` is taken.
    pub fn insert_schema(&self, id: &str, schema: &str, created_at: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO schemas (id, schema, created_at) VALUES (?1, ?2, ?3)")?
            .execute(params![id, schema, created_at])?;
        Ok(())
    }

    /// The JSON text of the stored schema `id`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get_schema(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT schema FROM schemas WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?)
    }

    /// The ids of every stored schema, by id.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn schema_ids(&self) -> Result<Vec<crate::model::SchemaId>> {
        let rows = self
            .tx
            .prepare_cached("SELECT id FROM schemas ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<crate::model::SchemaId>>>()?;
        Ok(rows)
    }

    /// Every stored schema as `(id, JSON text)`, by id.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn list_schemas(&self) -> Result<Vec<(String, String)>> {
        let rows = self
            .tx
            .prepare_cached("SELECT id, schema FROM schemas ORDER BY id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Deletes the stored schema `id`; whether there was one.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn delete_schema(&self, id: &str) -> Result<bool> {
        let deleted = self
            .tx
            .prepare_cached("DELETE FROM schemas WHERE id = ?1")?
            .execute([id])?;
        Ok(deleted > 0)
    }

    /// How many identities name `id` as their schema.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identities_with_schema(&self, id: &str) -> Result<u64> {
        Ok(self
            .tx
            .prepare_cached("SELECT count(*) FROM identities WHERE schema_id = ?1")?
            .query_row([id], |row| row.get(0))?)
    }
}
