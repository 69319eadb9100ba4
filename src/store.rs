//! store: persistence only, and the only module that speaks SQL.
//!
//! One SQLite file in WAL mode with foreign keys on and a busy timeout, so two kith processes
//! can share it. Schema rules, hashing and audit policy live in the flows; the store keeps
//! rows and maps driver errors once, here (unique violation → conflict).

mod events;
mod identities;
mod imports;
mod invites;
mod migrations;
mod plugins;
mod schemas;
mod settings;
mod tokens;

pub use events::{AuditEvent, NewAuditEvent};
pub use identities::{EventRow, IdentifierQuery, IdentityRows, IdentityWriter};
pub use imports::UniqueValues;
pub use invites::{DeliveryRow, InviteRow};
pub use migrations::SCHEMA_VERSION;
pub use plugins::PluginRecord;
pub use tokens::TokenRecord;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong below the flows.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the row; `field` says which kind of value collided.
    #[error("{field} is already taken by another identity")]
    Conflict { field: &'static str },
    /// The file was written by a newer kith.
    #[error("the store has schema version {found}, newer than this kith's {supported}")]
    TooNew { found: i64, supported: i64 },
    #[error("could not open the store at {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("could not create the folder for the store at {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored value kith cannot read back: the file was edited by hand or is damaged.
    #[error("the store holds a value kith cannot read ({0}); was the file edited by hand?")]
    Corrupt(String),
    /// Another process held the write lock for the whole busy timeout.
    #[error("the store is busy: another process held its write lock for {}s", BUSY_TIMEOUT.as_secs())]
    Busy,
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, Some(message)) = &error
            && matches!(
                code.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return StoreError::Conflict {
                field: conflicting_field(message),
            };
        }
        if let rusqlite::Error::SqliteFailure(code, _) = &error
            && matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        {
            return StoreError::Busy;
        }
        StoreError::Sqlite(error)
    }
}

/// Which identity field a unique-constraint message is about.
fn conflicting_field(message: &str) -> &'static str {
    if message.contains("credential_identifiers") {
        "credential identifier"
    } else if message.contains("verifiable_addresses") {
        "verifiable address"
    } else if message.contains("recovery_addresses") {
        "recovery address"
    } else if message.contains("external_id") {
        "external_id"
    } else if message.contains("identities.id") {
        "id"
    } else {
        "unique value"
    }
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store file (or an in-memory store for tests and embedders).
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// The file cannot be opened or created, is not a kith store, or is from a newer kith.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::prepare(conn, true).map_err(|error| match error {
            StoreError::Sqlite(source) => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// A store that lives in memory and vanishes when dropped.
    ///
    /// # Errors
    /// Only if SQLite itself fails.
    pub fn open_in_memory() -> Result<Self> {
        Self::prepare(Connection::open_in_memory()?, false)
    }

    fn prepare(mut conn: Connection, file: bool) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if file {
            // WAL lets readers and one writer share the file across processes.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Imports insert into several unique indexes at random keys: a larger page cache
        // keeps them in memory (negative = KiB).
        conn.pragma_update(None, "cache_size", -32768)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrations::migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// Starts a write transaction. It takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// two processes queue on the busy timeout instead of failing on upgrade.
    ///
    /// # Errors
    /// The lock could not be had within the busy timeout.
    pub fn write(&mut self) -> Result<Tx<'_>> {
        Ok(Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        })
    }

    /// Starts a read transaction: one consistent snapshot for a whole call.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn read(&mut self) -> Result<Tx<'_>> {
        Ok(Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)?,
        })
    }

    /// The schema version (`PRAGMA user_version`) of the open file.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }
}

/// One transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Tx<'_> {
    /// Makes every change of this transaction durable at once.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}
