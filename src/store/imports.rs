//! Import runs, and the lookups an import needs to report a skip.

use super::{Result, Tx};
use crate::model::Timestamp;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

/// The unique values of an identity that a conflict can be about.
pub struct UniqueValues<'a> {
    pub identifiers: Vec<(&'a str, &'a str)>,
    pub addresses: Vec<(&'a str, &'a str)>,
    pub external_id: Option<&'a str>,
}

impl Tx<'_> {
    /// Records that an import run started.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn insert_import_run(
        &self,
        id: Uuid,
        started_at: Timestamp,
        actor: &str,
        sources: &str,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO import_runs (id, started_at, actor, sources) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, started_at.to_string(), actor, sources])?;
        Ok(())
    }

    /// Adds counts to an import run (called once per committed chunk) and stamps its end.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn add_to_import_run(
        &self,
        id: Uuid,
        created: u64,
        skipped: u64,
        failed: u64,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE import_runs SET created = created + ?2, skipped = skipped + ?3, \
                 failed = failed + ?4, finished_at = ?5 WHERE id = ?1",
            )?
            .execute(params![
                id,
                created as i64,
                skipped as i64,
                failed as i64,
                now.to_string()
            ])?;
        Ok(())
    }

    /// Whether an import run with this id exists.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn import_run_exists(&self, id: Uuid) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM import_runs WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The identities import run `run` created, in id order.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identities_of_import_run(&self, run: Uuid) -> Result<Vec<Uuid>> {
        let ids = self
            .tx
            .prepare_cached("SELECT id FROM identities WHERE import_run = ?1 ORDER BY id")?
            .query_map([run], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<Uuid>>>()?;
        Ok(ids)
    }

    /// The stored identity holding any of `values`, if one does: whom a conflicting record
    /// collided with.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identity_holding(&self, values: &UniqueValues<'_>) -> Result<Option<Uuid>> {
        for (kind, identifier) in &values.identifiers {
            let found = self
                .tx
                .prepare_cached("SELECT identity_id FROM credential_identifiers WHERE type = ?1 AND identifier = ?2")?
                .query_row(params![kind, identifier], |row| row.get(0))
                .optional()?;
            if found.is_some() {
                return Ok(found);
            }
        }
        for (via, value) in &values.addresses {
            let found = self
                .tx
                .prepare_cached(
                    "SELECT identity_id FROM verifiable_addresses WHERE via = ?1 AND value = ?2 \
                     UNION ALL SELECT identity_id FROM recovery_addresses WHERE via = ?1 AND value = ?2 LIMIT 1",
                )?
                .query_row(params![via, value], |row| row.get(0))
                .optional()?;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let Some(external_id) = values.external_id {
            return Ok(self
                .tx
                .prepare_cached("SELECT id FROM identities WHERE external_id = ?1")?
                .query_row([external_id], |row| row.get(0))
                .optional()?);
        }
        Ok(None)
    }
}
