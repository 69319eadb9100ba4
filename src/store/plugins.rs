//! Installed plugins: manifest, config, grants and the component's bytes, in the file.
//!
//! Rows only; what a manifest means and whether a component is acceptable is decided in
//! `plugin_host` and the flows before anything reaches this table.

use super::{Result, Tx};
use rusqlite::{OptionalExtension, params};

/// One installed plugin as stored. `manifest`, `config` and `grants` are JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginRecord {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub manifest: String,
    pub config: String,
    pub grants: String,
    pub sha256: String,
    pub enabled: bool,
    pub installed_at: String,
    /// Empty unless the query asked for the bytes.
    pub wasm: Vec<u8>,
}

const COLUMNS: &str =
    "name, version, kind, manifest, config, grants, sha256, enabled, installed_at";

fn record(row: &rusqlite::Row<'_>, with_wasm: bool) -> rusqlite::Result<PluginRecord> {
    Ok(PluginRecord {
        name: row.get(0)?,
        version: row.get(1)?,
        kind: row.get(2)?,
        manifest: row.get(3)?,
        config: row.get(4)?,
        grants: row.get(5)?,
        sha256: row.get(6)?,
        enabled: row.get(7)?,
        installed_at: row.get(8)?,
        wasm: if with_wasm { row.get(9)? } else { Vec::new() },
    })
}

impl Tx<'_> {
    /// Stores a checked plugin.
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] when a plugin of that name is installed.
    pub fn insert_plugin(&self, plugin: &PluginRecord) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO plugins (name, version, kind, manifest, config, grants, sha256, \
                 enabled, installed_at, wasm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                plugin.name,
                plugin.version,
                plugin.kind,
                plugin.manifest,
                plugin.config,
                plugin.grants,
                plugin.sha256,
                plugin.enabled,
                plugin.installed_at,
                plugin.wasm,
            ])?;
        Ok(())
    }

    /// Replaces the plugin `plugin.name` with `plugin` (an upgrade), keeping only its
    /// `enabled` state; false when none had that name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn replace_plugin(&self, plugin: &PluginRecord) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE plugins SET version = ?2, kind = ?3, manifest = ?4, config = ?5, \
                 grants = ?6, sha256 = ?7, installed_at = ?8, wasm = ?9 WHERE name = ?1",
            )?
            .execute(params![
                plugin.name,
                plugin.version,
                plugin.kind,
                plugin.manifest,
                plugin.config,
                plugin.grants,
                plugin.sha256,
                plugin.installed_at,
                plugin.wasm,
            ])?
            > 0)
    }

    /// Sets a plugin's config (JSON text); false when none had that name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn set_plugin_config(&self, name: &str, config: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("UPDATE plugins SET config = ?2 WHERE name = ?1")?
            .execute(params![name, config])?
            > 0)
    }

    /// Every installed plugin by name, without the component bytes.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn list_plugins(&self) -> Result<Vec<PluginRecord>> {
        let rows = self
            .tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM plugins ORDER BY name"))?
            .query_map([], |row| record(row, false))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The enabled plugins of `kind`, by name, with their component bytes.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn enabled_plugins(&self, kind: &str) -> Result<Vec<PluginRecord>> {
        let rows = self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, wasm FROM plugins WHERE kind = ?1 AND enabled ORDER BY name"
            ))?
            .query_map([kind], |row| record(row, true))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// What tells one set of enabled plugins of `kind` from another (names, components,
    /// install times and config, which `kith configure plugin` changes in place): the rows are
    /// found through the `plugins_enabled` index, and each one's config, stored before its
    /// component bytes, is read from the row's first page. Cheap enough to ask on every
    /// call, so a change made by another process is seen at the next one.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn plugins_fingerprint(&self, kind: &str) -> Result<String> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT coalesce(group_concat(name || char(31) || sha256 || char(31) || installed_at \
                 || char(31) || config, char(30)), '') \
                 FROM (SELECT name, sha256, installed_at, config FROM plugins \
                       WHERE kind = ?1 AND enabled ORDER BY name)",
            )?
            .query_row([kind], |row| row.get(0))?)
    }

    /// One plugin with its component bytes.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get_plugin(&self, name: &str) -> Result<Option<PluginRecord>> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, wasm FROM plugins WHERE name = ?1"
            ))?
            .query_row([name], |row| record(row, true))
            .optional()?)
    }

    /// Removes a plugin; false when none had that name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn delete_plugin(&self, name: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM plugins WHERE name = ?1")?
            .execute([name])?
            > 0)
    }

    /// Turns a plugin on or off; false when none had that name.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("UPDATE plugins SET enabled = ?2 WHERE name = ?1")?
            .execute(params![name, enabled])?
            > 0)
    }
}
