//! Settings rows: plain key/value text. What the keys mean is the flows' business.

use super::{Result, Tx};
use rusqlite::{OptionalExtension, params};

impl Tx<'_> {
    /// The stored value of `key`, if one was set.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// Stores `value` under `key`, replacing any earlier value.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    /// Forgets the stored value of `key`, so its default applies again.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn delete_setting(&self, key: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM settings WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }

    /// Every stored setting as `(key, value)`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn all_settings(&self) -> Result<Vec<(String, String)>> {
        let rows = self
            .tx
            .prepare_cached("SELECT key, value FROM settings ORDER BY key")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
