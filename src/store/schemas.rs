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

    /// Every stored schema's id with its stamp (when its text was stored: a replace
    /// restamps it, so a process that compiled the old text sees it changed), by id.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn schema_stamps(&self) -> Result<Vec<(crate::model::SchemaId, String)>> {
        let rows = self
            .tx
            .prepare_cached("SELECT id, created_at FROM schemas ORDER BY id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Replaces the text of the stored schema `id` and restamps it; whether there was one.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn replace_schema(&self, id: &str, schema: &str, stamp: &str) -> Result<bool> {
        let changed = self
            .tx
            .prepare_cached("UPDATE schemas SET schema = ?2, created_at = ?3 WHERE id = ?1")?
            .execute(params![id, schema, stamp])?;
        Ok(changed > 0)
    }

    /// Calls `each` with the id and traits (JSON text) of every identity of schema `id`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn each_traits_of_schema(
        &self,
        id: &str,
        each: &mut dyn FnMut(crate::model::IdentityId, &str),
    ) -> Result<()> {
        let mut query = self
            .tx
            .prepare_cached("SELECT id, traits FROM identities WHERE schema_id = ?1 ORDER BY id")?;
        let mut rows = query.query([id])?;
        while let Some(row) = rows.next()? {
            let traits: String = row.get(1)?;
            each(row.get(0)?, &traits);
        }
        Ok(())
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
