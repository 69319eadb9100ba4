//! flows: the operations kith offers, each one write transaction with its audit event.
//!
//! [`Kith`] is the library's front door: the CLI and the HTTP server call these methods and
//! nothing below them, so validation, hashing and audit hold the same on every path.

mod assemble;
mod batch;
mod events;
mod export;
mod identity;
mod import;
mod invite;
pub(crate) mod plugins;
mod schemas;
mod settings;
mod tokens;
mod verify;

pub use batch::{BatchOutcome, MAX_BATCH, MAX_BATCH_CLEARTEXT};
pub use identity::{IdentityPage, ListIdentities, VALID_CREDENTIAL_TYPES};
pub use import::{
    ImportOptions, ImportOutcome, ImportResult, ImportSource, ImportSummary, OnConflict,
};
pub use invite::{
    DeliveryReport, FlowState, Invitation, InviteRequest, InviteStatus, InviteSummary,
    MAX_INVITE_LIFESPAN, MIN_INVITE_LIFESPAN, MIN_PASSWORD_LENGTH, RecoveryCode, RecoveryLink,
    Redeemed, Redemption,
};
pub use plugins::{InstalledPlugin, RunReport};
pub use schemas::SchemaEntry;
pub use settings::{Setting, Settings};
pub use tokens::NewToken;
pub use verify::PasswordMatch;

use crate::clock::{Clock, IdGenerator, SystemClock, UuidV7};
use crate::error::{Error, Result};
use crate::plugin_host::{Plugin, PluginHost};
use crate::schema::IdentitySchema;
use crate::store::{NewAuditEvent, Store, StoreError, Tx};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use uuid::Uuid;

thread_local! {
    /// The actor [`Kith::acting_as`] set for this thread, if any.
    static ACTOR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// An open kith store with every flow on it.
///
/// ```
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
    store: Mutex<Store>,
    schemas: RwLock<HashMap<String, Arc<IdentitySchema>>>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    actor: String,
    plugins: PluginHost,
    /// The enabled trait validators, read when the store opens (see `flows::plugins`).
    validators: RwLock<Arc<Vec<Plugin>>>,
    /// The store file, when there is one: the default outbox sits beside it.
    path: Option<std::path::PathBuf>,
    /// The `public_url` to use while the setting is unset (a server's real public address).
    default_public_url: Option<String>,
}

impl std::fmt::Debug for Kith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kith")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Kith {
    /// Opens the store file at `path`, creating it (and its folder) on first use.
    ///
    /// # Errors
    /// The file cannot be opened or created, or was written by a newer kith.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let mut kith = Self::with_store(Store::open(path.as_ref())?)?;
        kith.path = Some(path.as_ref().to_path_buf());
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
            store: Mutex::new(store),
            schemas: RwLock::new(HashMap::new()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            actor: "library".to_string(),
            plugins: PluginHost::default(),
            validators: RwLock::new(Arc::new(Vec::new())),
            path: None,
            default_public_url: None,
        };
        kith.reload_validators()?;
        Ok(kith)
    }

    /// Keeps compiled plugin code in `dir` instead of the platform cache dir (or
    /// `$KITH_CACHE_DIR`).
    #[must_use]
    pub fn with_plugin_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.plugins = PluginHost::with_cache_dir(dir);
        self
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
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` in one write transaction and commits it when `work` succeeds.
    fn write<T>(&self, work: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut store = self.store();
        let tx = store.write()?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `work` on one consistent snapshot.
    fn read<T>(&self, work: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut store = self.store();
        let tx = store.read()?;
        work(&tx)
    }

    /// Runs `work` with the audit trail crediting `actor` (`http:ci`) for every change it
    /// makes on this thread, instead of this handle's actor. A server shares one `Kith`
    /// between callers and runs each request's work on one blocking thread, so the actor is
    /// scoped to that thread and restored afterwards.
    pub fn acting_as<T>(&self, actor: &str, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<String>);
        impl Drop for Restore {
            fn drop(&mut self) {
                ACTOR.with(|current| *current.borrow_mut() = self.0.take());
            }
        }
        let _restore = Restore(ACTOR.with(|current| current.replace(Some(actor.to_string()))));
        work()
    }

    /// Who the audit trail credits right now on this thread.
    fn current_actor(&self) -> String {
        ACTOR
            .with(|current| current.borrow().clone())
            .unwrap_or_else(|| self.actor.clone())
    }

    fn audit(
        &self,
        tx: &Tx<'_>,
        action: &str,
        identity_id: Option<Uuid>,
        detail: Option<Value>,
    ) -> Result<()> {
        tx.record_event(&NewAuditEvent {
            occurred_at: self.clock.now(),
            actor: &self.current_actor(),
            action,
            identity_id,
            detail,
        })?;
        Ok(())
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { field } => Error::Conflict {
                field: Some(field.to_string()),
            },
            StoreError::TooNew { found, supported } => Error::StoreTooNew { found, supported },
            StoreError::Busy => Error::Busy(StoreError::Busy),
            other => Error::Store(other),
        }
    }
}
