//! Import runs, and the lookups an import needs to report a skip.

use super::{Result, StoreError, Tx};
use crate::model::Timestamp;
use crate::model::{Clash, IdentityId};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// The unique values of an identity that a conflict can be about.
#[derive(Default)]
pub struct UniqueValues<'a> {
    pub identifiers: Vec<(&'a str, &'a str)>,
    pub verifiable: Vec<(&'a str, &'a str)>,
    pub recovery: Vec<(&'a str, &'a str)>,
    pub external_id: Option<&'a str>,
}

/// The unique values of the records a dry run has let through so far. A dry run rolls back
/// each chunk so that it never holds the store's write lock for longer than one chunk; this
/// is how a later chunk still sees the records of earlier ones. It lives in a private
/// temporary database of its own (on disk, beside no store), so memory stays flat and no
/// other process waits for it.
pub struct DryRunSeen {
    conn: Connection,
}

/// The kinds of unique value, as [`StoreError::Conflict`] names them.
const SEEN_KINDS: [&str; 5] = [
    "credential identifier",
    "verifiable address",
    "recovery address",
    "external_id",
    "id",
];

/// The index of kept ids in [`SEEN_KINDS`].
const SEEN_ID: usize = 4;

/// The conflict over a value of kind `kind` (an index into [`SEEN_KINDS`]) that `holder`
/// holds.
fn clashing(kind: usize, value: &str, holder: IdentityId, source: Option<String>) -> StoreError {
    StoreError::Conflict {
        field: SEEN_KINDS[kind],
        clash: Some(Box::new(Clash {
            value: value.to_string(),
            holder,
            holder_source: source,
        })),
    }
}

impl DryRunSeen {
    /// An empty set, in a new temporary database.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn new() -> Result<Self> {
        // An empty path is a private temporary database that SQLite deletes on close.
        let conn = Connection::open("")?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE seen (kind INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
                                holder BLOB NOT NULL, source TEXT NOT NULL,
                                PRIMARY KEY (kind, a, b)) WITHOUT ROWID;",
        )?;
        Ok(Self { conn })
    }

    fn each<'v>(values: &'v UniqueValues<'v>) -> impl Iterator<Item = (usize, &'v str, &'v str)> {
        let pairs = |kind: usize, list: &'v [(&'v str, &'v str)]| {
            list.iter().map(move |(a, b)| (kind, *a, *b))
        };
        pairs(0, &values.identifiers)
            .chain(pairs(1, &values.verifiable))
            .chain(pairs(2, &values.recovery))
            .chain(values.external_id.map(|id| (3, id, "")))
    }

    /// The conflict with the earlier record holding one of `values`, if any.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn holder(&self, values: &UniqueValues<'_>) -> Result<Option<StoreError>> {
        let mut query = self.conn.prepare_cached(
            "SELECT holder, source FROM seen WHERE kind = ?1 AND a = ?2 AND b = ?3",
        )?;
        for (kind, a, b) in Self::each(values) {
            let found: Option<(IdentityId, String)> = query
                .query_row(params![kind as i64, a, b], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            if let Some((holder, source)) = found {
                let value = if kind == 3 { a } else { b };
                return Ok(Some(clashing(kind, value, holder, Some(source))));
            }
        }
        Ok(None)
    }

    /// The conflict with the earlier record that kept the id `id`, if any.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn holder_of_id(&self, id: IdentityId) -> Result<Option<StoreError>> {
        let value = id.to_string();
        let found: Option<String> = self
            .conn
            .prepare_cached("SELECT source FROM seen WHERE kind = ?1 AND a = ?2 AND b = ''")?
            .query_row(params![SEEN_ID as i64, value], |row| row.get(0))
            .optional()?;
        Ok(found.map(|source| clashing(SEEN_ID, &value, id, Some(source))))
    }

    /// Records that a record the dry run let through, found at `source`, kept the id `id`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn add_id(&self, id: IdentityId, source: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO seen (kind, a, b, holder, source) VALUES (?1, ?2, '', ?3, ?4)",
            )?
            .execute(params![SEEN_ID as i64, id.to_string(), id, source])?;
        Ok(())
    }

    /// Records that `holder` (a record the dry run let through, found at `source`) holds
    /// `values`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn add(&self, holder: IdentityId, source: &str, values: &UniqueValues<'_>) -> Result<()> {
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO seen (kind, a, b, holder, source) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (kind, a, b) in Self::each(values) {
            insert.execute(params![kind as i64, a, b, holder, source])?;
        }
        Ok(())
    }

    /// Starts a batch of lookups and additions (one chunk): one transaction, for speed.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn begin(&self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN")?)
    }

    /// Ends the batch [`DryRunSeen::begin`] started.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn end(&self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }
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
    pub fn identities_of_import_run(&self, run: Uuid) -> Result<Vec<IdentityId>> {
        let ids = self
            .tx
            .prepare_cached("SELECT id FROM identities WHERE import_run = ?1 ORDER BY id")?
            .query_map([run], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<IdentityId>>>()?;
        Ok(ids)
    }

    /// The conflict of `values` with a stored identity other than `asking`, if one holds
    /// any of them: whom a conflicting record collided with, and on which value.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn clash(
        &self,
        values: &UniqueValues<'_>,
        asking: IdentityId,
    ) -> Result<Option<StoreError>> {
        for (kind, identifier) in &values.identifiers {
            let found: Option<IdentityId> = self
                .tx
                .prepare_cached(
                    "SELECT identity_id FROM credential_identifiers \
                     WHERE type = ?1 AND identifier = ?2 AND identity_id <> ?3",
                )?
                .query_row(params![kind, identifier, asking], |row| row.get(0))
                .optional()?;
            if let Some(holder) = found {
                return Ok(Some(clashing(0, identifier, holder, None)));
            }
        }
        for (table, kind, addresses) in [
            ("verifiable_addresses", 1, &values.verifiable),
            ("recovery_addresses", 2, &values.recovery),
        ] {
            for (via, value) in addresses {
                let found: Option<IdentityId> = self
                    .tx
                    .prepare_cached(&format!(
                        "SELECT identity_id FROM {table} \
                         WHERE via = ?1 AND value = ?2 AND identity_id <> ?3"
                    ))?
                    .query_row(params![via, value, asking], |row| row.get(0))
                    .optional()?;
                if let Some(holder) = found {
                    return Ok(Some(clashing(kind, value, holder, None)));
                }
            }
        }
        if let Some(external_id) = values.external_id {
            let found: Option<IdentityId> = self
                .tx
                .prepare_cached("SELECT id FROM identities WHERE external_id = ?1 AND id <> ?2")?
                .query_row(params![external_id, asking], |row| row.get(0))
                .optional()?;
            if let Some(holder) = found {
                return Ok(Some(clashing(3, external_id, holder, None)));
            }
        }
        Ok(None)
    }

    /// Where in its input import run `run` found the record that became `identity`, if that
    /// run created it (the source its `identity.created` event recorded).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn import_source(&self, identity: IdentityId, run: Uuid) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT json_extract(detail, '$.source') FROM audit_events \
                 WHERE identity_id = ?1 AND action = 'identity.created' \
                 AND json_extract(detail, '$.import_run') = ?2",
            )?
            .query_row(params![identity, run.to_string()], |row| row.get(0))
            .optional()?
            .flatten())
    }
}
