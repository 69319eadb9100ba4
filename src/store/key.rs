//! The recovery key: the key of the HMACs under which invite codes and link tokens are kept.
//!
//! It lives beside the store in an owner-only key file (`kith.db.key`), never in the file
//! itself: with the key, the six-digit code of every live invite falls to a brute force in
//! about a second, so a copy of the store alone (a backup) must not hold it. The store keeps
//! only a check value (an HMAC of a fixed text under the key) to tell a missing or foreign
//! key file from a store that never had one. In-memory stores keep the key in memory.

use super::{Result, StoreError, Tx, owner_only_file};
use ::hmac::digest::KeyInit;
use ::hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::Sha512_256;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What is appended to the store's path to name its key file.
pub(super) const KEY_FILE_SUFFIX: &str = ".key";
/// Where kith before the key file kept the key: in the store's settings.
const LEGACY_SETTING: &str = "secrets.recovery_hmac_key";
/// The check value of the key in use.
const CHECK_SETTING: &str = "secrets.recovery_key_check";
/// A key file is 64 hex digits; anything much longer is not one.
const MAX_KEY_FILE: u64 = 1024;

/// Where a store's recovery key is, and the key once read.
pub(super) struct RecoveryKey {
    /// The key file; `None` for an in-memory store.
    file: Option<PathBuf>,
    known: OnceLock<String>,
}

impl RecoveryKey {
    pub(super) fn beside(store: &Path) -> Self {
        let mut file = store.as_os_str().to_owned();
        file.push(KEY_FILE_SUFFIX);
        Self {
            file: Some(PathBuf::from(file)),
            known: OnceLock::new(),
        }
    }

    pub(super) fn in_memory() -> Self {
        Self {
            file: None,
            known: OnceLock::new(),
        }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| PathBuf::from("<in-memory store>"))
    }

    /// The key file's key, if there is a key file.
    pub(super) fn read_file(&self) -> Result<Option<String>> {
        match &self.file {
            Some(path) => read_key_file(path),
            None => Ok(None),
        }
    }

    /// Writes `key` into a new key file (0600, O_EXCL), durably. When a key file appeared
    /// meanwhile, that one's key is returned instead.
    fn write_file(&self, key: &str) -> Result<String> {
        let Some(path) = &self.file else {
            return Ok(key.to_string());
        };
        let io = |source| StoreError::KeyFile {
            path: path.clone(),
            source,
        };
        match owner_only_file(path) {
            Ok(mut file) => {
                file.write_all(format!("{key}\n").as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                // The file's name must outlive a crash as well as its bytes.
                super::sync_folder(path);
                Ok(key.to_string())
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => self
                .read_file()?
                .ok_or_else(|| StoreError::KeyMismatch { path: path.clone() }),
            Err(error) => Err(io(error)),
        }
    }
}

/// The key in the key file at `path`, if there is one.
///
/// # Errors
/// [`StoreError::KeyMismatch`] for a file that holds no key; [`StoreError::KeyFile`] when it
/// cannot be read.
pub(super) fn read_key_file(path: &Path) -> Result<Option<String>> {
    let io = |source| StoreError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    };
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(io)?;
    let key = text.trim();
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::KeyMismatch {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(key.to_string()))
}

/// The check value a store (or a copy of one) keeps of its recovery key, if it used one.
///
/// # Errors
/// Only if SQLite fails.
pub(super) fn check_of(conn: &Connection) -> Result<Option<String>> {
    setting(conn, CHECK_SETTING)
}

pub(super) fn check_value(key: &str) -> String {
    // A MAC of a fixed text: says whether a key is the right one, and nothing about it.
    match <Hmac<Sha512_256> as KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"kith recovery key check");
            crate::hex::lower_hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

fn setting(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?)
}

pub(super) fn has_legacy_key(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM settings WHERE key = ?1")?
        .exists([LEGACY_SETTING])?)
}

/// Moves a key kept in `settings` to the key file, in the caller's write transaction.
pub(super) fn move_legacy_key(tx: &Transaction<'_>, key: &RecoveryKey) -> Result<()> {
    // Another process may have moved it while this one waited for the lock.
    let Some(legacy) = setting(tx, LEGACY_SETTING)? else {
        return Ok(());
    };
    let written = key.write_file(&legacy)?;
    if written != legacy {
        // A key file that is not this store's: keep the row, so no invite is lost.
        return Err(StoreError::KeyMismatch { path: key.path() });
    }
    tx.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![CHECK_SETTING, check_value(&legacy)])?;
    tx.prepare_cached("DELETE FROM settings WHERE key = ?1")?
        .execute([LEGACY_SETTING])?;
    Ok(())
}

impl Tx<'_> {
    /// The recovery key, checked against the store's check value. `Ok(None)` when the store
    /// never had one.
    ///
    /// # Errors
    /// [`StoreError::KeyMissing`] when the store has used a key and its key file is gone;
    /// [`StoreError::KeyMismatch`] when the key file holds another store's key.
    pub fn recovery_key(&self) -> Result<Option<String>> {
        if let Some(known) = self.key.known.get() {
            return Ok(Some(known.clone()));
        }
        let check = setting(&self.tx, CHECK_SETTING)?;
        match (self.key.read_file()?, check) {
            (Some(key), Some(check)) if check_value(&key) != check => {
                Err(StoreError::KeyMismatch {
                    path: self.key.path(),
                })
            }
            (Some(key), _) => Ok(Some(self.key.known.get_or_init(|| key).clone())),
            (None, Some(_)) => Err(StoreError::KeyMissing {
                path: self.key.path(),
            }),
            (None, None) => Ok(None),
        }
    }

    /// Makes a new recovery key (in a write transaction), writes the key file and records its
    /// check value. A key file left by a transaction that did not commit is taken over.
    ///
    /// # Errors
    /// The key file cannot be written, or no randomness is available.
    pub fn create_recovery_key(&self) -> Result<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::KeyFile {
            path: self.key.path(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let key = self.key.write_file(&crate::hex::lower_hex(&bytes))?;
        self.tx
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![CHECK_SETTING, check_value(&key)])?;
        // A key file outlives a transaction that rolls back; the next one adopts it.
        Ok(self.key.known.get_or_init(|| key).clone())
    }
}
