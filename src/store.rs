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
pub use imports::{DryRunSeen, UniqueValues};
pub use invites::{DeliveryRow, InviteRow};
pub use migrations::SCHEMA_VERSION;
pub use plugins::PluginRecord;
pub use tokens::TokenRecord;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

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
        if is_busy(&error) {
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
    /// Where a writer that waits for another process says so (see [`WaitMarker`]).
    wait_marker: Option<PathBuf>,
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
        let mut store = Self::prepare(conn, true).map_err(|error| match error {
            StoreError::Sqlite(source) => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })?;
        let mut marker = path.as_os_str().to_owned();
        marker.push("-writer-waiting");
        store.wait_marker = Some(PathBuf::from(marker));
        Ok(store)
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
        // A statement that fails inside a transaction (a conflicting insert) is undone from
        // a statement journal; in a temporary file that costs milliseconds per conflict.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn,
            wait_marker: None,
        })
    }

    /// Starts a write transaction. It takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// two processes queue on the busy timeout instead of failing on upgrade.
    ///
    /// # Errors
    /// The lock could not be had within the busy timeout.
    pub fn write(&mut self) -> Result<Tx<'_>> {
        if let Some(marker) = &self.wait_marker {
            WaitMarker::yield_to_other(marker);
        }
        // SQLite's own busy handler sleeps longer and longer, so a process that writes chunk
        // after chunk (an import) can take the lock again and again before it wakes. Polling
        // every millisecond, with a marker that asks such writers to pause, is fair instead.
        self.conn.busy_timeout(Duration::ZERO)?;
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let mut waiting: Option<WaitMarker> = None;
        let begun = loop {
            match Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate) {
                Err(error) if is_busy(&error) && Instant::now() < deadline => {
                    if waiting.is_none() {
                        waiting = self.wait_marker.as_deref().map(WaitMarker::raise);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => break other,
            }
        };
        drop(waiting);
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Tx { tx: begun? })
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

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(code.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A file beside the store (`kith.db-writer-waiting`) that a writer raises while another
/// process holds the write lock, and removes once it has the lock. Writers that see
/// another process's marker pause briefly before taking the lock, so the waiting writer
/// gets its turn. A marker left by a crashed process goes stale and is ignored.
struct WaitMarker {
    path: PathBuf,
}

/// How long a writer defers to a waiting one at most, and when a marker is stale.
const YIELD_AT_MOST: Duration = Duration::from_millis(50);
const MARKER_STALE: Duration = Duration::from_secs(15);

impl WaitMarker {
    fn raise(path: &Path) -> Self {
        // Best effort: without the marker, waiting still works, only less fairly.
        let _ = std::fs::write(path, std::process::id().to_string());
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Waits while another process's fresh marker is up, at most [`YIELD_AT_MOST`].
    fn yield_to_other(path: &Path) {
        let started = Instant::now();
        while started.elapsed() < YIELD_AT_MOST && Self::other_is_waiting(path) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn other_is_waiting(path: &Path) -> bool {
        let Ok(metadata) = std::fs::metadata(path) else {
            return false;
        };
        let fresh = metadata
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < MARKER_STALE);
        let mine = std::fs::read_to_string(path)
            .is_ok_and(|pid| pid.trim() == std::process::id().to_string());
        fresh && !mine
    }
}

impl Drop for WaitMarker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
