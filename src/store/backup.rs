//! Copies of the store: the store's lock, a consistent backup taken while others write, a
//! restore that puts one in place, and the SQLite-level checks `kith check` starts from.
//!
//! **The lock.** Every [`super::Store`] on a file holds a shared `flock` on a lock file beside
//! it (`kith.db.lock`) for its whole life; a restore takes it exclusively, so it never replaces
//! a file another kith process (`kith serve`, `kith courier run`, a command still running) has
//! open. The lock is on a file of its own, never on the store file: SQLite locks the store with
//! POSIX `fcntl` locks, which Linux keeps apart from `flock` locks, but a process that closes
//! *any* descriptor of a file loses every `fcntl` lock it holds on it, so a second descriptor
//! of the store file would silently drop the locks of the process's own SQLite connections
//! (SQLite's "how to corrupt" §2.2). The lock file is never deleted: a lock file unlinked while
//! held and made again would let two holders each believe they are alone.
//!
//! **Crash safety.** A backup is written under a temporary name beside its destination,
//! synced, then linked or renamed into place. A restore copies the backup beside the store,
//! checks and syncs the copy, folds the old store's write-ahead log into the old file (so the
//! old file is whole on its own), removes the old `-wal`, `-shm` and `-journal`, and only then
//! renames the copy over the store: a kill at any point leaves either the old store or the new
//! one, each whole, and at worst a `kith.db.restore` file that the next restore removes.

use super::{BUSY_TIMEOUT, Result, StoreError, create_owner_only_folder, key, owner_only_file};
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `path` with `suffix` appended to its file name (`kith.db` → `kith.db.lock`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A held lock on a store's lock file; released when dropped.
pub(super) struct StoreLock {
    _file: Option<File>,
}

impl StoreLock {
    fn open(store: &Path) -> std::io::Result<File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(beside(store, ".lock"))
    }

    /// The shared lock every open store holds. It waits out a restore (at most the busy
    /// timeout). Where the lock file cannot be made (a read-only folder, which no restore can
    /// replace a file in either) the store is opened without it.
    pub(super) fn shared(store: &Path) -> Result<Self> {
        let file = match Self::open(store) {
            Ok(file) => file,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Ok(Self { _file: None });
            }
            Err(source) => return Err(lock_error(store, source)),
        };
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(Self { _file: Some(file) }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Busy),
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(lock_error(store, source));
                }
            }
        }
    }

    /// The exclusive lock of a restore: refused at once while any kith process has the store
    /// open.
    fn exclusive(store: &Path) -> Result<Self> {
        let file = Self::open(store).map_err(|source| lock_error(store, source))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
                path: store.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(lock_error(store, source)),
        }
    }
}

fn lock_error(store: &Path, source: std::io::Error) -> StoreError {
    StoreError::Lock {
        path: beside(store, ".lock"),
        source,
    }
}

/// What a store or a copy of one holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub identities: u64,
    pub schemas: u64,
    pub plugins: u64,
    /// Invites and recovery flows neither used nor revoked (some may have expired).
    pub open_invites: u64,
    /// Courier messages queued or being sent.
    pub unsent_messages: u64,
    pub events: u64,
}

/// What a copy of a store holds, read from the copy itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyFacts {
    /// The copy's `PRAGMA user_version`.
    pub format_version: i64,
    pub counts: Counts,
    /// The check value of the recovery key the copy's invites were issued under.
    pub(crate) key_check: Option<String>,
}

impl CopyFacts {
    /// Whether the copy has ever used a recovery key, so that its key file matters.
    pub fn uses_a_key(&self) -> bool {
        self.key_check.is_some()
    }
}

/// How a restored store's key file stands against the restored store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFit {
    /// The store never used a key: no key file is needed.
    NotNeeded,
    /// The key file in place is the one the store's invites were issued under.
    Matches,
    /// The store used a key and no key file is in place.
    Missing,
    /// The key file in place belongs to another store.
    Mismatch,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub facts: CopyFacts,
    /// The identities of the store the restore replaced, when there was a readable one.
    pub replaced_identities: Option<u64>,
    /// The key file written from `FILE.key`, when the backup had one.
    pub key_copied: Option<PathBuf>,
    pub key_fit: KeyFit,
    pub key_file: PathBuf,
}

/// Opens `path` read-write without creating it, with the busy timeout.
fn open_plain(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Makes the copy at `path` one self-contained file (no write-ahead log beside it) and reads
/// what it holds. With `verify`, it must also be a kith store this kith can open that passes
/// SQLite's integrity check.
fn settle_copy(path: &Path, verify: bool) -> Result<CopyFacts> {
    let not_a_store = |problem: String| StoreError::NotAStore {
        path: path.to_path_buf(),
        problem,
    };
    let conn = open_plain(path)?;
    // The first read of a file that is not SQLite fails here ("file is not a database").
    let format_version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| not_a_store(e.to_string()))?;
    conn.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|e| not_a_store(e.to_string()))?;
    if verify {
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('identities', 'credentials', 'settings', 'audit_events')",
            [],
            |row| row.get(0),
        )?;
        if format_version < 1 || tables < 4 {
            return Err(not_a_store(
                "an SQLite file without kith's tables".to_string(),
            ));
        }
        if format_version > super::SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: format_version,
                supported: super::SCHEMA_VERSION,
            });
        }
        let problems = integrity_problems(&conn)?;
        if !problems.is_empty() {
            return Err(not_a_store(format!(
                "SQLite's integrity check failed: {}",
                problems.join("; ")
            )));
        }
    }
    facts(&conn, format_version)
}

fn facts(conn: &Connection, format_version: i64) -> Result<CopyFacts> {
    let count = |sql: &str| -> Result<u64> {
        // A table a store of an older version does not have yet counts nothing.
        match conn.query_row(sql, [], |row| row.get::<_, i64>(0)) {
            Ok(n) => Ok(u64::try_from(n).unwrap_or(0)),
            Err(rusqlite::Error::SqliteFailure(_, Some(message)))
                if message.starts_with("no such table") =>
            {
                Ok(0)
            }
            Err(error) => Err(error.into()),
        }
    };
    let counts = Counts {
        identities: count("SELECT count(*) FROM identities")?,
        schemas: count("SELECT count(*) FROM schemas")?,
        plugins: count("SELECT count(*) FROM plugins")?,
        open_invites: count(
            "SELECT count(*) FROM invites WHERE used_at IS NULL AND revoked_at IS NULL",
        )?,
        unsent_messages: count("SELECT count(*) FROM courier_messages WHERE status IN (1, 3)")?,
        events: count("SELECT count(*) FROM audit_events")?,
    };
    Ok(CopyFacts {
        format_version,
        counts,
        key_check: key::check_of(conn)?,
    })
}

/// SQLite's `PRAGMA integrity_check`, every problem it names (at most 100); empty when whole.
pub(super) fn integrity_problems(conn: &Connection) -> Result<Vec<String>> {
    let mut statement = conn.prepare("PRAGMA integrity_check(100)")?;
    let lines = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}

/// Syncs the folder holding `path`, so a name just created or renamed there outlives a crash.
pub fn sync_folder(path: &Path) {
    // Best effort: not every platform or file system can open a folder to sync it.
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(folder) = File::open(folder)
    {
        let _ = folder.sync_all();
    }
}

/// A temporary file beside its destination, removed when dropped unless kept: it never
/// outlives a failure. The files SQLite keeps beside it go with it, and any left under its
/// name by a process that was killed go before it is made: a stale `-journal` beside a new
/// file of the same name would be rolled back into it.
pub(super) struct Temporary {
    path: PathBuf,
    keep: bool,
}

impl Temporary {
    fn new(path: PathBuf) -> Self {
        let _ = std::fs::remove_file(&path);
        remove_sidecars(&path);
        Self { path, keep: false }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
        remove_sidecars(&self.path);
    }
}

/// Removes the files SQLite (and a store's lock) keep beside `path` (best effort).
fn remove_sidecars(path: &Path) {
    for suffix in ["-journal", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(beside(path, suffix));
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Puts the finished temporary file `from` at `to`: atomically; without `replace`, never over
/// a file that is there (a hard link refuses one; where the file system has no hard links, a
/// look just before the rename does).
fn put_in_place(from: &mut Temporary, to: &Path, replace: bool) -> Result<()> {
    let exists = || StoreError::Exists {
        path: to.to_path_buf(),
    };
    if !replace {
        match std::fs::hard_link(&from.path, to) {
            Ok(()) => {
                sync_folder(to);
                return Ok(());
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(exists());
            }
            Err(_) if std::fs::symlink_metadata(to).is_ok() => return Err(exists()),
            Err(_) => {}
        }
    }
    std::fs::rename(&from.path, to).map_err(|source| io_error(to, source))?;
    from.keep = true;
    sync_folder(to);
    Ok(())
}

/// Writes `bytes` to a new owner-only file at `to` through a temporary name beside it.
fn write_owner_only(to: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let mut temporary = Temporary::new(beside(to, &format!(".{}.partial", std::process::id())));
    let mut file = owner_only_file(&temporary.path).map_err(|e| io_error(&temporary.path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&temporary.path, e))?;
    put_in_place(&mut temporary, to, replace)
}

impl super::Store {
    /// Writes a consistent copy of the store to `to` (owner-only, one self-contained file,
    /// free pages left out) while other connections go on writing, and says what it holds.
    /// With `key_to`, the recovery key file is copied there too (owner-only). Without
    /// `replace`, neither file may exist yet.
    ///
    /// # Errors
    /// [`StoreError::Exists`] for a file that is there; the copy or the key file could not
    /// be written. Nothing is left at `to` or `key_to` on failure.
    pub fn back_up(&self, to: &Path, key_to: Option<&Path>, replace: bool) -> Result<CopyFacts> {
        for path in std::iter::once(to).chain(key_to) {
            if !replace && std::fs::symlink_metadata(path).is_ok() {
                return Err(StoreError::Exists {
                    path: path.to_path_buf(),
                });
            }
        }
        create_owner_only_folder(to)?;
        let mut temporary = Temporary::new(beside(to, &format!(".{}.partial", std::process::id())));
        // Made owner-only first: VACUUM INTO writes into an empty file as it finds it.
        owner_only_file(&temporary.path).map_err(|e| io_error(&temporary.path, e))?;
        let target = temporary.path.to_str().ok_or_else(|| StoreError::Create {
            path: temporary.path.clone(),
            source: std::io::Error::other("the path is not UTF-8"),
        })?;
        // One read transaction: the snapshot of the moment it starts, whatever commits after.
        self.conn.execute("VACUUM INTO ?1", [target])?;
        let facts = settle_copy(&temporary.path, false)?;
        File::open(&temporary.path)
            .and_then(|file| file.sync_all())
            .map_err(|e| io_error(&temporary.path, e))?;
        let key = match key_to {
            Some(_) => self.key.read_file()?,
            None => None,
        };
        put_in_place(&mut temporary, to, replace)?;
        let written = match (key_to, key) {
            (Some(key_to), Some(key)) => {
                write_owner_only(key_to, format!("{key}\n").as_bytes(), replace)
            }
            // The store has no key file: an older FILE.key replaced along with FILE must not
            // stay beside it, or a restore would take it for this store's.
            (Some(key_to), None) => match std::fs::remove_file(key_to) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_error(key_to, error))
                }
                _ => Ok(()),
            },
            (None, _) => Ok(()),
        };
        if let Err(error) = written {
            // All or nothing: a backup asked for with its key is not left without it.
            let _ = std::fs::remove_file(to);
            return Err(error);
        }
        Ok(facts)
    }

    /// The store's own recovery key file.
    pub fn key_file(&self) -> PathBuf {
        self.key.path()
    }

    /// Reads a store of an older version without changing it: copies it (`VACUUM INTO`, from
    /// a read-only connection) into an owner-only file of the temporary folder, brings the
    /// copy up to date, and opens that, with the original's recovery key file. The copy goes
    /// when the store is dropped; a key kept inside the file stays inside the copy.
    ///
    /// # Errors
    /// The store cannot be read, or the copy cannot be written or upgraded.
    pub fn open_upgraded_copy(path: &Path) -> Result<Self> {
        let scratch = Temporary::new(
            std::env::temp_dir().join(format!("kith-{}.db", uuid::Uuid::new_v4().simple())),
        );
        owner_only_file(&scratch.path).map_err(|e| io_error(&scratch.path, e))?;
        let target = scratch.path.to_str().ok_or_else(|| StoreError::Write {
            path: scratch.path.clone(),
            source: std::io::Error::other("the path is not UTF-8"),
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let source =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        source.busy_timeout(BUSY_TIMEOUT)?;
        source.execute("VACUUM INTO ?1", [target])?;
        drop(source);
        let mut store = Self::open_file(&scratch.path, super::OpenMode::Existing, path)?;
        store._scratch = Some(scratch);
        Ok(store)
    }
}

/// Puts the backup at `from` in place of the store at `to` (see the module docs for the order
/// of the steps), with `from.key` as its key file when there is one. A store with identities
/// at `to` is replaced only with `replace`.
///
/// # Errors
/// [`StoreError::InUse`] while another kith process has the store open;
/// [`StoreError::NotAStore`] for a file that is not a whole kith store;
/// [`StoreError::TooNew`] for one from a newer kith; [`StoreError::HoldsIdentities`] for a
/// store that would be lost without `replace`. The store is untouched on every error.
pub fn restore(from: &Path, to: &Path, replace: bool) -> Result<Restored> {
    if std::fs::metadata(beside(from, "-wal")).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::NotAStore {
            path: from.to_path_buf(),
            problem: "it has a write-ahead log beside it, so it is a store in use rather than \
                      a backup; take a backup of it with `kith --db FILE backup COPY`"
                .to_string(),
        });
    }
    create_owner_only_folder(to)?;
    let _lock = StoreLock::exclusive(to)?;
    // One left by a restore that was killed goes: nothing else writes it while the lock is held.
    let mut temporary = Temporary::new(beside(to, ".restore"));
    {
        let mut source = File::open(from).map_err(|error| StoreError::NotAStore {
            path: from.to_path_buf(),
            problem: format!("it cannot be read ({error})"),
        })?;
        let mut copy =
            owner_only_file(&temporary.path).map_err(|e| io_error(&temporary.path, e))?;
        std::io::copy(&mut source, &mut copy)
            .and_then(|_| copy.sync_all())
            .map_err(|e| io_error(&temporary.path, e))?;
    }
    let facts = settle_copy(&temporary.path, true).map_err(|error| match error {
        // Named by the file the user gave, not the copy.
        StoreError::NotAStore { problem, .. } => StoreError::NotAStore {
            path: from.to_path_buf(),
            problem,
        },
        StoreError::Open { source, .. } => StoreError::NotAStore {
            path: from.to_path_buf(),
            problem: source.to_string(),
        },
        other => other,
    })?;
    File::open(&temporary.path)
        .and_then(|file| file.sync_all())
        .map_err(|e| io_error(&temporary.path, e))?;
    // Read before anything is replaced: a key file that holds no key refuses the restore.
    let key_file = beside(to, key::KEY_FILE_SUFFIX);
    let key_from_backup = key::read_key_file(&beside(from, key::KEY_FILE_SUFFIX))?;
    let replaced_identities = retire(to, replace)?;
    std::fs::rename(&temporary.path, to).map_err(|source| io_error(to, source))?;
    temporary.keep = true;
    sync_folder(to);
    // After the store, never before: a kill between the two leaves the new store with the
    // old key (refused with a clear message, and put right by restoring again), never the
    // old store with its key gone.
    let key_copied = match key_from_backup {
        Some(key) => {
            write_owner_only(&key_file, format!("{key}\n").as_bytes(), true)?;
            Some(key_file.clone())
        }
        None => None,
    };
    let key_fit = match (&facts.key_check, key::read_key_file(&key_file)) {
        (None, _) => KeyFit::NotNeeded,
        (Some(_), Ok(None)) => KeyFit::Missing,
        (Some(check), Ok(Some(key))) if key::check_value(&key) == *check => KeyFit::Matches,
        (Some(_), _) => KeyFit::Mismatch,
    };
    Ok(Restored {
        facts,
        replaced_identities,
        key_copied,
        key_fit,
        key_file,
    })
}

/// Readies the store at `path` to be replaced: refuses one with identities unless `replace`,
/// folds its write-ahead log into the file, and removes the files SQLite keeps beside it, so
/// none of them is ever applied to the file put in its place. How many identities it held,
/// when it could be read.
fn retire(path: &Path, replace: bool) -> Result<Option<u64>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let identities = open_plain(path).and_then(|conn| {
        let count: i64 = conn.query_row("SELECT count(*) FROM identities", [], |row| row.get(0))?;
        // Checkpoints the log into the file and deletes it: the old file is whole alone.
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        Ok(u64::try_from(count).unwrap_or(0))
    });
    match identities {
        Ok(n) if n > 0 && !replace => {
            return Err(StoreError::HoldsIdentities {
                path: path.to_path_buf(),
                identities: Some(n),
            });
        }
        Err(_) if !replace => {
            return Err(StoreError::HoldsIdentities {
                path: path.to_path_buf(),
                identities: None,
            });
        }
        _ => {}
    }
    // The log first: it is the one that would be replayed onto the new file.
    for suffix in ["-wal", "-shm", "-journal"] {
        match std::fs::remove_file(beside(path, suffix)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&beside(path, suffix), error));
            }
            _ => {}
        }
    }
    Ok(identities.ok())
}

/// Whether `a` and `b` name the same file (both must exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A row whose foreign key names no row, as SQLite's `PRAGMA foreign_key_check` finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenReference {
    pub table: String,
    /// The row's rowid; `None` in a table without rowids.
    pub rowid: Option<i64>,
    /// The table the key should name a row of.
    pub parent: String,
    /// The identity the row belongs to, when its table has an `identity_id` column.
    pub identity_id: Option<crate::model::IdentityId>,
}

/// Audit events naming an identity that is gone without an `identity.deleted` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrphanedEvents {
    pub identity_id: crate::model::IdentityId,
    /// The first such event's id and action, and how many there are.
    pub first_event: i64,
    pub first_action: String,
    pub events: u64,
}

impl super::Tx<'_> {
    /// SQLite's `PRAGMA integrity_check`: every problem it names (at most 100).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn integrity_problems(&self) -> Result<Vec<String>> {
        integrity_problems(&self.tx)
    }

    /// SQLite's `PRAGMA foreign_key_check`: every row whose reference names no row.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn broken_references(&self) -> Result<Vec<BrokenReference>> {
        let mut statement = self.tx.prepare("PRAGMA foreign_key_check")?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut broken = Vec::with_capacity(rows.len());
        for (table, rowid, parent) in rows {
            // The table's name comes from SQLite itself; quoted all the same.
            let identity_id = match rowid {
                Some(rowid) => self
                    .tx
                    .query_row(
                        &format!(
                            "SELECT identity_id FROM \"{}\" WHERE rowid = ?1",
                            table.replace('"', "\"\"")
                        ),
                        [rowid],
                        |row| row.get(0),
                    )
                    .ok(),
                None => None,
            };
            broken.push(BrokenReference {
                table,
                rowid,
                parent,
                identity_id,
            });
        }
        Ok(broken)
    }

    /// Audit events of identities that are gone without their deletion on record. Events
    /// outlive the identities they describe on purpose (no foreign key): an identity deleted
    /// through kith keeps its trail, closed by `identity.deleted`; one that vanished without
    /// it was removed behind kith's back.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn orphaned_events(&self) -> Result<Vec<OrphanedEvents>> {
        let mut statement = self.tx.prepare(
            // With one min() in an aggregate, SQLite takes a bare column (the action) from
            // the row that holds the minimum.
            "SELECT e.identity_id, min(e.id), count(*), e.action \
             FROM audit_events e \
             WHERE e.identity_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.id = e.identity_id) \
               AND NOT EXISTS (SELECT 1 FROM audit_events d \
                               WHERE d.identity_id = e.identity_id AND d.action = 'identity.deleted') \
             GROUP BY e.identity_id ORDER BY min(e.id)",
        )?;
        let rows = statement
            .query_map([], |row| {
                Ok(OrphanedEvents {
                    identity_id: row.get(0)?,
                    first_event: row.get(1)?,
                    events: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    first_action: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Whether the recovery key is still kept inside the store (kith before the key file).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn keeps_legacy_key(&self) -> Result<bool> {
        key::has_legacy_key(&self.tx)
    }
}
