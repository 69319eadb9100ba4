//! store: persistence only, and the only module that speaks SQL.
//!
//! One SQLite file in WAL mode with foreign keys on and a busy timeout, so two kith processes
//! can share it. Schema rules, hashing and audit policy live in the flows; the store keeps
//! rows and maps driver errors once, here (unique violation → conflict).
//!
//! Beside the file: its recovery key (`kith.db.key`, see `key`), and its lock file
//! (`kith.db.lock`, see `backup`): every open store holds a shared lock on it for its whole
//! life, and a restore takes it exclusively, so no file is replaced under a process using it.

mod backup;
mod courier;
mod events;
mod identities;
mod imports;
mod invites;
mod key;
mod migrations;
mod plugins;
mod schemas;
mod settings;
mod tokens;

pub use backup::{Counts, KeyFit, beside, restore, same_file, sync_folder};
pub use courier::{DispatchRow, MessageFilter, MessageRow, MessageStatus, MessageType};
pub use events::AuditEvent;
pub use identities::{
    EventRow, IdentifierQuery, IdentityFilter, IdentityRows, IdentityWriter, Window,
};
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
    /// A unique index refused the row; `field` says which kind of value collided, and
    /// `clash` which value and who holds it, when that could be found.
    #[error("{field} is already taken by another identity")]
    Conflict {
        field: &'static str,
        clash: Option<Box<crate::model::Clash>>,
    },
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
    /// A command that only reads (or changes what exists) was pointed at a file that is not there.
    #[error("no store at {}", path.display())]
    NotFound { path: PathBuf },
    /// The store has issued codes under a recovery key, and its key file is gone.
    #[error("the recovery key file {} is missing", path.display())]
    KeyMissing { path: PathBuf },
    /// The key file beside the store holds another store's key.
    #[error("the recovery key file {} does not belong to this store", path.display())]
    KeyMismatch { path: PathBuf },
    #[error("could not use the recovery key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not create the store at {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A copy (a backup, a restore's temporary file, a key file) could not be written.
    #[error("could not write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another kith process has the store open: it holds the store's lock file.
    #[error("another kith process (kith serve, kith courier run, or a command still running) has the store {} open", path.display())]
    InUse { path: PathBuf },
    #[error("could not use the store's lock file {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file offered as a store (a backup to restore) that is not a whole kith store.
    #[error("{} is not a kith store that can be restored: {problem}", path.display())]
    NotAStore { path: PathBuf, problem: String },
    /// A file kith would write is there already.
    #[error("{} exists already", path.display())]
    Exists { path: PathBuf },
    /// A restore would replace a store that holds identities.
    /// `identities` is `None` when the store could not be read to count them.
    #[error("the store {} holds identities", path.display())]
    HoldsIdentities {
        path: PathBuf,
        identities: Option<u64>,
    },
    /// The store is older than this kith and was opened read-only, so it cannot be upgraded
    /// (a reader then reads an upgraded copy: [`Store::open_upgraded_copy`]).
    #[error("the store has schema version {found}, older than this kith's {supported}")]
    TooOld { found: i64, supported: i64 },
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
                clash: None,
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

/// Whether opening a store file may create it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and its folder) when it is not there yet.
    Create,
    /// Refuse with [`StoreError::NotFound`] when it is not there: a read must never leave an
    /// empty store behind at a mistyped path.
    Existing,
    /// Open an existing file read-only: no migration, no journal-mode change, no write of any
    /// kind (`kith check`). A file of an older version is refused ([`StoreError::TooOld`]).
    ReadOnly,
}

/// An open store file (or an in-memory store for tests and embedders).
pub struct Store {
    conn: Connection,
    /// Where a writer that waits for another process says so (see [`WaitMarker`]).
    wait_marker: Option<PathBuf>,
    /// The key of the code/token HMACs: beside the file, never in it.
    key: key::RecoveryKey,
    /// The shared lock on the store's lock file, held while the store is open; `None` in
    /// memory. Declared after the connection, so it is released after the connection closes.
    _lock: Option<backup::StoreLock>,
    /// The private copy this store reads instead of an older store file
    /// ([`Store::open_upgraded_copy`]), removed once the connection has closed.
    _scratch: Option<backup::Temporary>,
}

impl Store {
    /// Opens the store at `path` (creating it first if `mode` allows) and brings its schema
    /// up to date.
    ///
    /// # Errors
    /// The file cannot be opened or created, is not there in [`OpenMode::Existing`], is not a
    /// kith store, or is from a newer kith.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Self> {
        let mut store = match Self::open_file(path, mode, path) {
            Err(error) if mode == OpenMode::ReadOnly && needs_rollback(&error) => {
                roll_back_hot_journal(path)?;
                Self::open_file(path, mode, path)?
            }
            other => other?,
        };
        if mode != OpenMode::ReadOnly {
            store.move_key_out_of_the_file()?;
        }
        Ok(store)
    }

    /// Opens the file at `path` as [`Store::open`] does, with the recovery key of the store at
    /// `key_of`, and leaves a key kept inside the file where it is.
    fn open_file(path: &Path, mode: OpenMode, key_of: &Path) -> Result<Self> {
        if mode == OpenMode::Create {
            create_owner_only(path)?;
        }
        // Taken before the file is opened: a restore replaces the file under the lock. A
        // read-only open takes none, so it never makes a file: a restore that renames a new
        // store in place leaves it reading the old one, whole, until it ends.
        let lock = match std::fs::symlink_metadata(path) {
            Ok(_) if mode != OpenMode::ReadOnly => Some(backup::StoreLock::shared(path)?),
            _ => None,
        };
        // Never SQLITE_OPEN_CREATE: the file was made above with owner-only permissions, and
        // SQLite gives its -wal and -shm files the main file's permissions.
        let flags = match mode {
            OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
            OpenMode::Create | OpenMode::Existing => OpenFlags::SQLITE_OPEN_READ_WRITE,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|source| {
            if std::fs::symlink_metadata(path).is_err() {
                StoreError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        // Processes that open a new file together meet SQLite paths that answer "busy"
        // without waiting (switching to WAL, a reader's first look at a WAL being set up):
        // every step below is idempotent, so it is retried until the busy timeout.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::configure(&mut conn, Some(mode)) {
                Err(StoreError::Busy) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(StoreError::Sqlite(source)) => {
                    return Err(StoreError::Open {
                        path: path.to_path_buf(),
                        source,
                    });
                }
                other => break other?,
            }
        }
        let mut marker = path.as_os_str().to_owned();
        marker.push("-writer-waiting");
        Ok(Self {
            conn,
            wait_marker: Some(PathBuf::from(marker)),
            key: key::RecoveryKey::beside(key_of),
            _lock: lock,
            _scratch: None,
        })
    }

    /// A store that lives in memory and vanishes when dropped.
    ///
    /// # Errors
    /// Only if SQLite itself fails.
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        Self::configure(&mut conn, None)?;
        Ok(Self {
            conn,
            wait_marker: None,
            key: key::RecoveryKey::in_memory(),
            _lock: None,
            _scratch: None,
        })
    }

    /// Sets a connection up; `file` is how a file was opened, `None` in memory.
    fn configure(conn: &mut Connection, file: Option<OpenMode>) -> Result<()> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if file == Some(OpenMode::ReadOnly) {
            conn.pragma_update(None, "foreign_keys", "ON")?;
            return migrations::check_current(conn);
        }
        if file.is_some() {
            // WAL lets readers and one writer share the file across processes.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Space freed by deletes and replacements is overwritten with zeros only where
        // secrets or a person's data leave the file (`Tx::overwriting_freed_space`): on for
        // every statement it cost creates a tenth of their rate, for nothing to erase.
        conn.pragma_update(None, "secure_delete", "OFF")?;
        // Imports insert into several unique indexes at random keys: a larger page cache
        // keeps them in memory (negative = KiB).
        conn.pragma_update(None, "cache_size", -32768)?;
        // A statement that fails inside a transaction (a conflicting insert) is undone from
        // a statement journal; in a temporary file that costs milliseconds per conflict.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        migrations::migrate(conn)
    }

    /// Stores written by kith before the key file kept the recovery key in `settings`: it
    /// moves to the key file, and the row is deleted (overwritten: secure_delete) and the
    /// WAL truncated, so a copy of the file made from now on holds no key.
    fn move_key_out_of_the_file(&mut self) -> Result<()> {
        if !key::has_legacy_key(&self.conn)? {
            return Ok(());
        }
        let tx = self.write()?;
        tx.overwriting_freed_space(|| key::move_legacy_key(&tx.tx, tx.key))?;
        tx.commit()?;
        // Best effort: another process reading keeps old frames; the next checkpoint
        // overwrites them.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(())
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
        Ok(Tx {
            tx: begun?,
            key: &self.key,
        })
    }

    /// Starts a read transaction: one consistent snapshot for a whole call.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn read(&mut self) -> Result<Tx<'_>> {
        let key = &self.key;
        Ok(Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)?,
            key,
        })
    }
}

/// Creates the store file owner-only (0600) and any folder it needs owner-only (0700), at
/// creation, whatever the umask. An existing file or folder is left as it is.
fn create_owner_only(path: &Path) -> Result<()> {
    create_owner_only_folder(path)?;
    match owner_only_file(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Creates the folder of the file `path`, and any above it, owner-only (0700) when missing.
fn create_owner_only_folder(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder
            .create(parent)
            .map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// A new file, created 0600 and never through a planted symlink (`create_new` is O_EXCL).
pub(crate) fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
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
        // Best effort: without the marker, waiting still works, only less fairly. Written
        // whole under a name of this process's own, created fresh (never through a planted
        // symlink), then renamed over the marker: a rename replaces a symlink, it does not
        // write through it.
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(".{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let _ = std::fs::remove_file(&temporary);
        let written = owner_only_file(&temporary).and_then(|mut file| {
            std::io::Write::write_all(&mut file, std::process::id().to_string().as_bytes())
        });
        if written
            .and_then(|()| std::fs::rename(&temporary, path))
            .is_err()
        {
            let _ = std::fs::remove_file(&temporary);
        }
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
        // Only a plain file is a marker: a symlink or a FIFO planted there is never followed.
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !metadata.is_file() {
            return false;
        }
        let fresh = metadata
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < MARKER_STALE);
        let mut pid = String::new();
        let mine = std::fs::File::open(path)
            .and_then(|file| {
                std::io::Read::read_to_string(&mut std::io::Read::take(file, 32), &mut pid)
            })
            .is_ok_and(|_| pid.trim() == std::process::id().to_string());
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
    key: &'a key::RecoveryKey,
}

impl Tx<'_> {
    /// Runs `work` with SQLite's `secure_delete` on, so the rows it deletes or replaces (a
    /// deleted identity's traits, an old password hash, a moved-out key) are overwritten
    /// with zeros instead of lingering in free space of the file and its backups.
    ///
    /// # Errors
    /// `work`'s error, or SQLite's when the setting cannot be changed.
    pub(crate) fn overwriting_freed_space<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.tx.pragma_update(None, "secure_delete", "ON")?;
        let result = work();
        self.tx.pragma_update(None, "secure_delete", "OFF")?;
        result
    }

    /// Runs `work` inside a savepoint: when it fails, what it wrote is undone and the rest of
    /// the transaction stays, so one record of a chunk can fail without its neighbours.
    ///
    /// # Errors
    /// `work`'s error, or SQLite's when the savepoint cannot be set or released.
    pub fn within_savepoint<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let sql = |text: &str| self.tx.execute_batch(text).map_err(StoreError::from);
        sql("SAVEPOINT record")?;
        match work() {
            Ok(value) => {
                sql("RELEASE record")?;
                Ok(value)
            }
            Err(error) => {
                sql("ROLLBACK TO record; RELEASE record")?;
                Err(error)
            }
        }
    }

    /// Makes every change of this transaction durable at once.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

// Ids are stored as the values they wrap: a UUID blob, the schema id text.
impl rusqlite::ToSql for crate::model::IdentityId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.as_uuid().to_sql()
    }
}

impl rusqlite::types::FromSql for crate::model::IdentityId {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        uuid::Uuid::column_result(value).map(Self::from)
    }
}

impl rusqlite::ToSql for crate::model::SchemaId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for crate::model::SchemaId {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        String::column_result(value).map(Self::from)
    }
}

/// Whether a read-only open failed on a hot rollback journal (a writer killed mid-write, such
/// as a restore): SQLite must roll it back before anyone can read, and a read-only connection
/// may not.
fn needs_rollback(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Open {
            source: rusqlite::Error::SqliteFailure(failure, _),
            ..
        } if failure.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK
    )
}

/// Lets SQLite roll back the hot journal of the file at `path`, as the next writer would, so a
/// read-only open finds the store as it was before the killed write began. Nothing else is
/// written: the connection only reads the schema, under the store lock a writer takes, so no
/// restore is replacing the file meanwhile.
fn roll_back_hot_journal(path: &Path) -> Result<()> {
    let _lock = backup::StoreLock::shared(path)?;
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(open_error)?;
    Ok(())
}
