//! API tokens of `kith serve`: a name and the SHA-256 of the token, never the token.

use super::{Result, StoreError, Tx};
use crate::model::Timestamp;
use rusqlite::params;

/// One stored token, as `kith list tokens` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub name: String,
    pub created_at: Timestamp,
    pub created_by: String,
}

impl Tx<'_> {
    /// Stores a token's hash under its name.
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] when the name is taken.
    pub fn insert_token(&self, record: &TokenRecord, hash: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO tokens (name, hash, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                record.name,
                hash,
                record.created_at.to_string(),
                record.created_by
            ])?;
        Ok(())
    }

    /// Every token, by name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let mut statement = self
            .tx
            .prepare_cached("SELECT name, created_at, created_by FROM tokens ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut tokens = Vec::new();
        for row in rows {
            let (name, created_at, created_by) = row?;
            tokens.push(TokenRecord {
                name,
                created_at: Timestamp::parse(&created_at).map_err(StoreError::Corrupt)?,
                created_by,
            });
        }
        Ok(tokens)
    }

    /// The name of the token with this hash, if one has it.
    ///
    /// # Errors
    /// Only if SQLite fails.
    #[cfg(feature = "server")]
    pub fn token_name(&self, hash: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension as _;
        Ok(self
            .tx
            .prepare_cached("SELECT name FROM tokens WHERE hash = ?1")?
            .query_row([hash], |row| row.get(0))
            .optional()?)
    }

    /// Deletes a token; false when no token has that name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn delete_token(&self, name: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM tokens WHERE name = ?1")?
            .execute([name])?
            > 0)
    }

    /// How many tokens exist.
    ///
    /// # Errors
    /// Only if SQLite fails.
    #[cfg(feature = "server")]
    pub fn token_count(&self) -> Result<i64> {
        Ok(self
            .tx
            .prepare_cached("SELECT count(*) FROM tokens")?
            .query_row([], |row| row.get(0))?)
    }
}
