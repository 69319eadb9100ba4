//! flows: the operations kith offers, each one write transaction with its audit event.
//!
//! [`Kith`] holds the store; its operations are offered to the outside through
//! [`crate::Admin`] (`src/api.rs`), the library's front door. The CLI and the HTTP server
//! call them and nothing below them, so validation, hashing and audit hold the same on every
//! path. A handle lent by [`Kith::acting_as`] carries the actor the audit trail credits.
//!
//! Each call has two halves: it prepares (validates, derives, hashes) from a snapshot taken
//! once (`call.rs`: settings and compiled schemas), then writes through one commit context
//! (`commit.rs`), the only code that writes identities and audit events.
//!
//! A [`Kith`] on a file holds the store's shared lock (`kith.db.lock`, see `store::backup`)
//! for as long as it is open, so [`Kith::restore`], which works on paths rather than on an
//! open store, refuses while any kith process uses the store; `backup.rs` holds the backup,
//! restore and check flows.

mod assemble;
mod backup;
mod batch;
mod call;
mod commit;
mod courier;
mod duration;
mod events;
mod export;
mod identity;
pub(crate) mod import;
mod invite;
mod patch;
pub(crate) mod plugins;
mod return_to;
mod schemas;
mod settings;
mod tokens;
mod verify;

pub use crate::plugin_host::{Kind as PluginKind, LogLine};
pub use crate::store::Counts;
pub use crate::store::{AuditEvent, MessageStatus, TokenRecord};
pub use backup::{BackupOptions, BackupReport, KeyHandling, Problem, RestoreReport};
pub use batch::{BatchOutcome, MAX_BATCH, MAX_BATCH_CLEARTEXT};
pub use courier::{
    CourierMessage, CourierTotals, ListMessages, MessageDispatch, MessagePage, StopSignal,
};
pub(crate) use export::export_body;
pub use identity::{IdentityPage, ListIdentities};
pub use import::{
    ImportOptions, ImportOutcome, ImportResult, ImportSource, ImportSummary, OnConflict,
    PasswordHashes, SourceFormat,
};
pub use invite::{
    DeliveryReport, FlowKind, FlowPage, FlowState, Invitation, InviteRequest, InviteStatus,
    InviteSummary, MIN_PASSWORD_LENGTH, RecoveryCode, RecoveryLink, Redeemed, Redemption,
    SUBMITTED_TOO_OFTEN, link_parameters,
};
pub use plugins::{
    InstalledPlugin, PluginDetails, PluginLimits, PluginUpgrade, RunReport, Upgraded,
    names_a_folder,
};
pub use return_to::{ALLOWED_RETURN_URLS, return_origin};
pub use schemas::SchemaEntry;
pub use settings::{MAX_INVITE_LIFESPAN, MIN_INVITE_LIFESPAN, Setting, Settings};
pub use tokens::NewToken;
pub use verify::PasswordMatch;

use crate::clock::{Clock, IdGenerator, SystemClock, UuidV7};
use crate::error::{Error, Result};
use crate::plugin_host::PluginHost;
use crate::store::{EventRow, IdentityRows, OpenMode, Store, StoreError, Tx};
use commit::Commit;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// An identity a creating thread has handed to the group commit, and where its outcome goes.
struct PendingInsert {
    rows: IdentityRows,
    event: EventRow,
    done: std::sync::mpsc::Sender<Turn>,
}

/// What a creating thread waiting in the group commit is woken with: exactly once, on its
/// own channel, so no waiter has to take a lock to learn whether it is done.
enum Turn {
    /// Its identity was written (or refused) in a batch another thread committed.
    Written(Result<()>),
    /// It writes the next batch: everything waiting, its own identity among it.
    Write,
}

/// The identities waiting for a commit, and whether some thread is writing them: that
/// thread hands the turn to the first waiter when it is done, or, with none, clears `writing`.
#[derive(Default)]
struct PendingInserts {
    queue: Vec<PendingInsert>,
    writing: bool,
}

/// An open kith store with every flow on it.
///
/// ```
/// use kith::Admin as _;
/// # fn main() -> Result<(), kith::Error> {
/// let kith = kith::Kith::open_in_memory()?;
/// let identity = kith.create_identity(serde_json::from_value(serde_json::json!({
///     "schema_id": "preset://email",
///     "traits": {"email": "Docs@Example.org"},
/// })).unwrap())?;
/// assert_eq!(identity.verifiable_addresses[0].value, "docs@example.org");
/// # Ok(()) }
/// ```
pub struct Kith {
    /// The store and what is loaded from it, shared by every handle [`Kith::acting_as`] makes.
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Who the audit trail credits with this handle's changes.
    actor: String,
    /// The store file, when there is one: the default outbox sits beside it.
    path: Option<std::path::PathBuf>,
    /// The `public_url` to use while the setting is unset (a server's real public address).
    default_public_url: Option<String>,
}

/// What every handle on one store shares: the connections, the group commit, and the
/// schemas, plugins and validators loaded from the store.
struct Shared {
    store: Mutex<Store>,
    /// A second connection for reads, when asked for ([`Kith::with_reader_connection`]):
    /// WAL lets it read while the first one writes, so reads never queue behind a commit.
    reader: Option<Mutex<Store>>,
    /// Identities waiting for the creating thread whose turn it is to write (group commit).
    pending_inserts: Mutex<PendingInserts>,
    /// Compiled schemas, swapped whole when one is added (see `flows::call`).
    schemas: RwLock<Arc<call::Catalog>>,
    /// Which stored text each compiled custom schema came from (its stamp in the store).
    schema_stamps: RwLock<std::collections::HashMap<crate::model::SchemaId, String>>,
    plugins: PluginHost,
    /// The enabled trait validators, read when the store opens (see `flows::plugins`).
    validators: RwLock<Arc<plugins::Validators>>,
    /// When, in milliseconds since `opened`, a call next looks for validator changes.
    validators_next_check: std::sync::atomic::AtomicU64,
    opened: std::time::Instant,
    /// Whether a courier worker runs on an in-memory store (a file store has a lock file).
    courier_running: Arc<std::sync::atomic::AtomicBool>,
    /// Wakes this process's courier worker when a message is queued (a generation count).
    courier_wake: (Mutex<u64>, std::sync::Condvar),
}

/// The writing turn of the group commit, held while one thread writes a batch. Dropping it
/// (after the batch, or while unwinding from a panic) wakes the first waiter to write the
/// next batch, or, with none waiting, ends the turn.
struct WritingTurn<'a>(&'a Kith);

impl Drop for WritingTurn<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.pending();
        while !pending.queue.is_empty() {
            if pending.queue[0].done.send(Turn::Write).is_ok() {
                return;
            }
            // Its thread is gone (it cannot be, while it waits): answer the next one.
            pending.queue.remove(0);
        }
        pending.writing = false;
    }
}

impl std::fmt::Debug for Kith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kith")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Kith {
    /// Opens the store file at `path`, creating it (and its folder) on first use, owner-only.
    /// The recovery key of its invites lives beside it in `<path>.key`: a backup is both.
    ///
    /// # Errors
    /// The file cannot be opened or created, or was written by a newer kith.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), OpenMode::Create)
    }

    /// Opens the store file at `path` only if it is there: for callers that read, so that a
    /// mistyped path is an error instead of a new, empty store.
    ///
    /// # Errors
    /// [`NotFound::Store`] when there is no file at `path`; otherwise as [`Kith::open`].
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), OpenMode::Existing)
    }

    fn open_with(path: &Path, mode: OpenMode) -> Result<Self> {
        let mut kith = Self::with_store(Store::open(path, mode)?)?;
        kith.path = Some(path.to_path_buf());
        Ok(kith)
    }

    /// A store that lives in memory: for tests, fixtures and embedders.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn open_in_memory() -> Result<Self> {
        Self::with_store(Store::open_in_memory()?)
    }

    fn with_store(store: Store) -> Result<Self> {
        let kith = Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                reader: None,
                pending_inserts: Mutex::default(),
                schemas: RwLock::new(Arc::default()),
                schema_stamps: RwLock::default(),
                plugins: PluginHost::default(),
                validators: RwLock::default(),
                validators_next_check: std::sync::atomic::AtomicU64::new(0),
                opened: std::time::Instant::now(),
                courier_running: Arc::default(),
                courier_wake: (Mutex::new(0), std::sync::Condvar::new()),
            }),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            actor: "library".to_string(),
            path: None,
            default_public_url: None,
        };
        kith.reload_validators()?;
        Ok(kith)
    }

    /// Opens a second connection to the store file for reads, so that many threads sharing
    /// this handle (a server) read while one of them writes. Without a file it changes nothing.
    ///
    /// # Errors
    /// The file cannot be opened a second time.
    pub fn with_reader_connection(mut self) -> Result<Self> {
        if let Some(path) = &self.path {
            let reader = Mutex::new(Store::open(path, OpenMode::Existing)?);
            self.configure(|shared| shared.reader = Some(reader));
        }
        Ok(self)
    }

    /// Keeps compiled plugin code in `dir` instead of the platform cache dir (or
    /// `$KITH_CACHE_DIR`).
    #[must_use]
    pub fn with_plugin_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        self.configure(|shared| shared.plugins.set_cache_dir(dir));
        self
    }

    /// Runs plugins from instances pooled once for the life of this handle, rather than
    /// memory mapped per call: for long-running servers (`kith serve`), whose calls come
    /// from many threads at once. Reserving the pool costs milliseconds when the first plugin
    /// loads, which a one-shot command should not pay.
    #[must_use]
    pub fn with_pooled_plugins(mut self) -> Self {
        self.configure(|shared| shared.plugins.set_pooled());
        self
    }

    /// Changes what the handles share. A builder owns its handle, and the only other handles
    /// are the ones [`Kith::acting_as`] lends for the length of one call, so nothing else can
    /// hold `shared` while a builder runs.
    fn configure(&mut self, change: impl FnOnce(&mut Shared)) {
        let shared = Arc::get_mut(&mut self.shared);
        debug_assert!(
            shared.is_some(),
            "a builder ran while a handle was lent out"
        );
        if let Some(shared) = shared {
            change(shared);
        }
    }

    /// Replaces the clock (tests use [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the id generator (tests use [`crate::clock::SequentialIds`]).
    #[must_use]
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Uses `url` as the public URL (schema_url, recovery links) while the `public_url`
    /// setting is unset: `kith serve` passes its public listener's real address.
    #[must_use]
    pub fn with_default_public_url(mut self, url: impl Into<String>) -> Self {
        self.default_public_url = Some(url.into());
        self
    }

    /// Names who the audit trail credits with this handle's changes (`cli:alice`).
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave a transaction open: Tx rolls back on drop.
        self.shared
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on one consistent snapshot.
    fn read<T>(&self, work: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut store = match &self.shared.reader {
            Some(reader) => reader.lock().unwrap_or_else(|p| p.into_inner()),
            None => self.store(),
        };
        let tx = store.read()?;
        work(&tx)
    }

    /// Inserts one whole identity with its audit event. Threads creating at the same time
    /// share transactions: one of them writes every identity waiting, in one commit, and
    /// hands each its own outcome; a conflict is one identity's alone. The others sleep on
    /// their own channel until they are answered or given the next turn, so a batch of N
    /// wakes N threads once each, not a chain of N through the store's lock.
    fn insert_grouped(&self, rows: IdentityRows, event: EventRow) -> Result<()> {
        let (done, outcome) = std::sync::mpsc::channel();
        let writes_now = {
            let mut pending = self.pending();
            pending.queue.push(PendingInsert { rows, event, done });
            !std::mem::replace(&mut pending.writing, true)
        };
        if !writes_now {
            match outcome.recv() {
                Ok(Turn::Written(result)) => return result,
                Ok(Turn::Write) => {}
                // Only a writer that panicked drops a waiter's sender unanswered.
                Err(_) => return Err(Error::broken("the thread writing this identity failed")),
            }
        }
        {
            // Passes the turn on even if writing panics, so no waiter sleeps forever.
            let _turn = WritingTurn(self);
            // The store first: identities that arrive while another call holds it join.
            let mut store = self.store();
            let batch = std::mem::take(&mut self.pending().queue);
            self.insert_batch(&mut store, batch);
        }
        match outcome.try_recv() {
            Ok(Turn::Written(result)) => result,
            _ => Err(Error::broken(
                "a grouped insert left an identity unanswered",
            )),
        }
    }

    fn pending(&self) -> MutexGuard<'_, PendingInserts> {
        self.shared
            .pending_inserts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `batch` in one transaction, or, when that fails for a reason other than a
    /// conflict, each identity in its own, so no caller gets an error that is not theirs.
    fn insert_batch(&self, store: &mut Store, batch: Vec<PendingInsert>) {
        // Without the write lock no insert can run, alone or together: everyone gets the
        // refusal (a busy store is a 503 to try again), not ten more seconds each.
        let tx = match store.write() {
            Ok(tx) => tx,
            Err(error) => {
                for item in batch {
                    let _ = item.done.send(Turn::Written(Err(match &error {
                        StoreError::Busy => Error::Busy(StoreError::Busy),
                        // Each waiting caller gets its own copy of the cause.
                        other => Error::internal("could not start a write", other.to_string()),
                    })));
                }
                return;
            }
        };
        let items = &batch;
        let together = (move || -> Result<Vec<Result<()>>> {
            let mut results = Vec::with_capacity(items.len());
            {
                let mut commit = Commit::new(&tx, self);
                for item in items {
                    results.push(match commit.insert_rows(&item.rows, None, &item.event) {
                        Err(error) if error.is_conflict() => Err(error.into()),
                        other => other.map_err(Error::from),
                    });
                }
            }
            if results
                .iter()
                .any(|r| matches!(r, Err(e) if !matches!(e, Error::Conflict { .. })))
            {
                return Err(Error::broken("a grouped insert failed"));
            }
            tx.commit()?;
            Ok(results)
        })();
        match together {
            Ok(results) => {
                for (item, result) in batch.into_iter().zip(results) {
                    let _ = item.done.send(Turn::Written(result));
                }
            }
            Err(_) => {
                for item in batch {
                    let alone = (|| -> Result<()> {
                        let tx = store.write()?;
                        Commit::new(&tx, self).insert_rows(&item.rows, None, &item.event)?;
                        tx.commit()?;
                        Ok(())
                    })();
                    let _ = item.done.send(Turn::Written(alone));
                }
            }
        }
    }

    /// Runs `work` with a handle on the same store whose changes the audit trail credits to
    /// `actor` (`http:ci`) instead of this handle's actor. A server shares one `Kith` between
    /// callers and lends each request its own handle this way.
    pub fn acting_as<T>(&self, actor: &str, work: impl FnOnce(&Kith) -> T) -> T {
        let handle = Kith {
            shared: Arc::clone(&self.shared),
            clock: Arc::clone(&self.clock),
            ids: Arc::clone(&self.ids),
            actor: actor.to_string(),
            path: self.path.clone(),
            default_public_url: self.default_public_url.clone(),
        };
        work(&handle)
    }

    /// An audit event of this handle's actor, now.
    fn event(&self, action: &'static str, detail: Option<&Value>) -> EventRow {
        EventRow::new(self.clock.now(), &self.actor, action, detail)
    }
}
