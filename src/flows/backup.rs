//! Consistent copies: `kith backup`, `kith restore` and `kith check`.
//!
//! A backup is the store file and, named beside it, its recovery key file: the key lives
//! outside the store on purpose (a copy of the store alone cannot redeem invites, see
//! `store::key`), so a backup either copies it (`--with-key`, to `FILE.key`) or says where it
//! is and what is lost without it. The file work and the store's lock are the store's
//! (`store::backup`); this module adds what needs kith's rules: the invariants `check`
//! verifies by deriving each identity's identifiers and addresses again from its traits.

use super::Kith;
use crate::error::{Error, Result};
use crate::model::{CredentialKind, Identity, IdentityId, Timestamp};
use crate::schema::Derived;
use crate::store::{self, Counts, IdentityFilter, KeyFit, OpenMode, Store, StoreError, Window};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// How `kith backup` treats the key file.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackupOptions {
    /// Also copy the recovery key file to `FILE.key`, owner-only.
    pub with_key: bool,
    /// Replace `FILE` (and `FILE.key`) when they are there.
    pub force: bool,
}

/// What happened to the recovery key file in a backup or a restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyHandling {
    /// The store's key file.
    pub file: PathBuf,
    /// `copied` (to `copy`), `separate` (not in the backup: carry `file` apart), `missing`
    /// (the store used a key and its key file is gone), `not_needed` (no key ever used);
    /// for a restore, `restored` (from the backup's `FILE.key`) or `kept` (the one in place).
    pub handling: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<PathBuf>,
    /// For a restore: whether the key file in place is the restored store's own:
    /// `matches`, `missing`, `mismatch` or `not_needed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<&'static str>,
    /// What is lost without the key file, when something is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A backup written by [`Kith::backup`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    pub path: PathBuf,
    /// Bytes of the backup file.
    pub size: u64,
    /// The store format of the copy (SQLite's `user_version`).
    pub format_version: i64,
    /// The kith that wrote it.
    pub kith_version: &'static str,
    pub counts: Counts,
    pub key: KeyHandling,
}

/// A restore done by [`Kith::restore`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The store now in place.
    pub path: PathBuf,
    /// The backup it came from.
    pub from: PathBuf,
    pub format_version: i64,
    pub counts: Counts,
    /// Identities of the store it replaced, when there was one that could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_identities: Option<u64>,
    pub key: KeyHandling,
}

/// One problem `kith check` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `integrity`, `foreign_key`, `unknown_schema`, `invalid_traits`, `identifiers`,
    /// `addresses`, `orphaned_events`, `recovery_key`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<IdentityId>,
    pub message: String,
}

impl Problem {
    fn new(kind: &'static str, identity_id: Option<IdentityId>, message: String) -> Self {
        Self {
            kind,
            identity_id,
            message,
        }
    }
}

/// What a store that used a recovery key loses without its key file.
fn lost_without_key(counts: &Counts) -> String {
    format!(
        "without it, its {} open invite(s) and recovery code(s) cannot be redeemed and its {} \
         unsent courier message(s) cannot be sent (they are sealed under it)",
        counts.open_invites, counts.unsent_messages
    )
}

/// Identities read per page while checking.
const CHECK_PAGE: usize = 500;

impl Kith {
    /// Opens the store file at `path` read-only, for `kith check`: nothing is created,
    /// migrated or written. A store of an older version is read through an upgraded copy in
    /// the temporary folder, removed when the handle is dropped.
    ///
    /// # Errors
    /// [`crate::error::NotFound::Store`] when there is no file; [`Error::StoreTooNew`] for a
    /// file from a newer kith; otherwise as [`Kith::open`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let store = match Store::open(path, OpenMode::ReadOnly) {
            Err(StoreError::TooOld { .. }) => Store::open_upgraded_copy(path)?,
            other => other?,
        };
        let mut kith = Self::with_store(store)?;
        kith.path = Some(path.to_path_buf());
        Ok(kith)
    }

    /// The store file, or a refusal for an in-memory store.
    fn file(&self, what: &str) -> Result<&Path> {
        self.path
            .as_deref()
            .ok_or_else(|| Error::BadRequest(format!("an in-memory store has no file to {what}")))
    }

    /// Writes a consistent copy of the store to `to` while others go on writing: one
    /// owner-only file, written under a temporary name and renamed into place.
    ///
    /// # Errors
    /// [`Error::FileExists`] without `force` when `to` (or `to.key`) is there;
    /// [`Error::BadRequest`] when `to` is one of the store's own files; the copy could not
    /// be written.
    pub(crate) fn backup(&self, to: &Path, options: &BackupOptions) -> Result<BackupReport> {
        let store_path = self.file("back up")?;
        let key_to = options.with_key.then(|| store::beside(to, ".key"));
        let store = self.store();
        let key_file = store.key_file();
        for own in [
            store_path.to_path_buf(),
            key_file.clone(),
            store::beside(store_path, "-wal"),
            store::beside(store_path, "-shm"),
            store::beside(store_path, ".lock"),
        ] {
            if std::iter::once(to)
                .chain(key_to.as_deref())
                .any(|path| store::same_file(path, &own))
            {
                return Err(Error::BadRequest(format!(
                    "{} is the store's own file {}; back up to another path",
                    to.display(),
                    own.display()
                )));
            }
        }
        let facts = store.back_up(to, key_to.as_deref(), options.force)?;
        drop(store);
        let size = std::fs::metadata(to)
            .map_err(|e| Error::internal(format!("could not read {}", to.display()), e))?
            .len();
        let counts = facts.counts.clone();
        let copied = key_to.filter(|copy| std::fs::symlink_metadata(copy).is_ok());
        let key_present = std::fs::symlink_metadata(&key_file).is_ok();
        let (handling, warning) = match (&copied, facts.uses_a_key(), key_present) {
            (Some(_), _, _) => ("copied", None),
            (None, false, _) => ("not_needed", None),
            (None, true, true) => (
                "separate",
                Some(format!(
                    "the recovery key file {} is not in the backup: keep a copy of it apart \
                     from the backup (or back up with --with-key); {}",
                    key_file.display(),
                    lost_without_key(&counts)
                )),
            ),
            (None, true, false) => (
                "missing",
                Some(format!(
                    "the store's recovery key file {} is missing, so no backup can hold it; {}",
                    key_file.display(),
                    lost_without_key(&counts)
                )),
            ),
        };
        Ok(BackupReport {
            path: to.to_path_buf(),
            size,
            format_version: facts.format_version,
            kith_version: env!("CARGO_PKG_VERSION"),
            counts,
            key: KeyHandling {
                file: key_file,
                handling,
                copy: copied,
                fit: None,
                warning,
            },
        })
    }

    /// Puts the backup `from` in place of the store at `to`, with `from.key` as its key file
    /// when there is one. It works on paths, not on an open store: no kith process may have
    /// the store open meanwhile.
    ///
    /// # Errors
    /// [`Error::StoreInUse`] while another kith process has the store open;
    /// [`Error::NotAStore`] for a file that is not a whole kith store; [`Error::StoreTooNew`]
    /// for one from a newer kith; [`Error::StoreHoldsIdentities`] when the store in place has
    /// identities and `force` is not given. The store in place is untouched on every error.
    pub fn restore(from: &Path, to: &Path, force: bool) -> Result<RestoreReport> {
        if store::same_file(from, to) {
            return Err(Error::BadRequest(format!(
                "{} is the store itself; restore from a backup of it",
                from.display()
            )));
        }
        let restored = store::restore(from, to, force)?;
        let counts = restored.facts.counts.clone();
        let fit = match restored.key_fit {
            KeyFit::NotNeeded => "not_needed",
            KeyFit::Matches => "matches",
            KeyFit::Missing => "missing",
            KeyFit::Mismatch => "mismatch",
        };
        let warning = matches!(restored.key_fit, KeyFit::Missing | KeyFit::Mismatch).then(|| {
            let problem = match restored.key_fit {
                KeyFit::Missing => {
                    format!("there is no key file at {}", restored.key_file.display())
                }
                _ => format!(
                    "the key file {} holds another key",
                    restored.key_file.display()
                ),
            };
            format!(
                "the restored store's invites were issued under a recovery key, and {problem}; \
                 {}. Put the backup's key file there, or revoke the open invites and issue new \
                 ones",
                lost_without_key(&counts)
            )
        });
        Ok(RestoreReport {
            path: to.to_path_buf(),
            from: from.to_path_buf(),
            format_version: restored.facts.format_version,
            counts,
            replaced_identities: restored.replaced_identities,
            key: KeyHandling {
                handling: if restored.key_copied.is_some() {
                    "restored"
                } else {
                    "kept"
                },
                copy: restored.key_copied,
                file: restored.key_file,
                fit: Some(fit),
                warning,
            },
        })
    }

    /// Every problem of the store: SQLite's integrity and foreign-key checks, identities
    /// whose identifiers and addresses are not the ones their schema derives from their
    /// traits, identities of unknown schemas, audit events of identities that vanished
    /// without their deletion on record, and a recovery key file that is not the store's.
    /// Reads only.
    ///
    /// Identities whose schema was replaced after they were last written are not compared:
    /// a replacement re-derives identifiers only when each identity is next written, as
    /// Kratos does.
    ///
    /// # Errors
    /// Only if the store cannot be read; problems are the result, not errors.
    pub(crate) fn check(&self) -> Result<Vec<Problem>> {
        let mut problems = self.read(|tx| {
            let mut problems: Vec<Problem> = tx
                .integrity_problems()?
                .into_iter()
                .map(|line| Problem::new("integrity", None, format!("SQLite: {line}")))
                .collect();
            for broken in tx.broken_references()? {
                let row = match broken.rowid {
                    Some(rowid) => format!("row {rowid} of {}", broken.table),
                    None => format!("a row of {}", broken.table),
                };
                let of = broken
                    .identity_id
                    .map(|id| format!(" (identity {id})"))
                    .unwrap_or_default();
                problems.push(Problem::new(
                    "foreign_key",
                    broken.identity_id,
                    format!(
                        "{row}{of} refers to a {} row that does not exist",
                        broken.parent
                    ),
                ));
            }
            for orphaned in tx.orphaned_events()? {
                problems.push(Problem::new(
                    "orphaned_events",
                    Some(orphaned.identity_id),
                    format!(
                        "{} audit event(s) (the first: event {}, {}) name identity {}, which is \
                         gone without an identity.deleted event",
                        orphaned.events,
                        orphaned.first_event,
                        orphaned.first_action,
                        orphaned.identity_id
                    ),
                ));
            }
            if tx.keeps_legacy_key()? {
                problems.push(Problem::new(
                    "recovery_key",
                    None,
                    "the recovery key is still kept inside the store file, so every copy of it \
                     holds the key; open the store for writing once (such as kith list \
                     identities) to move it to its key file"
                        .to_string(),
                ));
            }
            match tx.recovery_key() {
                Ok(_) => {}
                Err(error @ (StoreError::KeyMissing { .. } | StoreError::KeyMismatch { .. })) => {
                    problems.push(Problem::new(
                        "recovery_key",
                        None,
                        Error::from(error).to_string(),
                    ));
                }
                Err(other) => return Err(other.into()),
            }
            Ok(problems)
        })?;
        problems.extend(self.check_identities()?);
        Ok(problems)
    }

    /// The identities whose schema is unknown, whose traits no longer match it, or whose
    /// stored identifiers and addresses differ from the ones derived again from the traits.
    fn check_identities(&self) -> Result<Vec<Problem>> {
        let call = self.call()?;
        let stamps: HashMap<_, _> = self
            .read(|tx| Ok(tx.schema_stamps()?))?
            .into_iter()
            .collect();
        let mut problems = Vec::new();
        let mut after = IdentityId::nil();
        loop {
            let page = self.read(|tx| {
                Ok(tx.list_identities(
                    &IdentityFilter::All,
                    Window::After {
                        after,
                        limit: CHECK_PAGE,
                    },
                    true,
                )?)
            })?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            for identity in &page {
                let id = identity.id;
                let schema = match call.schema(&identity.schema_id) {
                    Ok(schema) => schema,
                    Err(Error::UnknownSchema { .. }) => {
                        problems.push(Problem::new(
                            "unknown_schema",
                            Some(id),
                            format!(
                                "identity {id} names schema `{}`, which the store does not hold",
                                identity.schema_id
                            ),
                        ));
                        continue;
                    }
                    Err(other) => {
                        problems.push(Problem::new(
                            "unknown_schema",
                            Some(id),
                            format!("identity {id}: {other}"),
                        ));
                        continue;
                    }
                };
                // Replaced after the identity was last written: its rows are re-derived on
                // its next write, not before.
                if stamps
                    .get(&identity.schema_id)
                    .and_then(|stamp| Timestamp::parse(stamp).ok())
                    .is_some_and(|stamp| stamp > identity.updated_at)
                {
                    continue;
                }
                let derived = match schema.validate(&identity.traits) {
                    Ok(derived) => derived,
                    Err(violations) => {
                        for violation in violations {
                            problems.push(Problem::new(
                                "invalid_traits",
                                Some(id),
                                format!(
                                    "identity {id}: its traits do not match schema `{}`: {violation}",
                                    identity.schema_id
                                ),
                            ));
                        }
                        continue;
                    }
                };
                problems.extend(derivation_problems(identity, derived));
            }
        }
        Ok(problems)
    }
}

/// Where `identity`'s stored identifiers and addresses differ from the ones `derived` (from
/// its traits, by its schema) says it should have.
fn derivation_problems(identity: &Identity, derived: Derived) -> Vec<Problem> {
    let id = identity.id;
    let mut problems = Vec::new();
    let stored = |kind| identity.credential(kind).map(|c| c.identifiers.clone());
    let mut compare = |kind: &'static str,
                       what: &str,
                       stored: Vec<String>,
                       derived: Vec<String>| {
        let stored: BTreeSet<String> = stored.into_iter().collect();
        let derived: BTreeSet<String> = derived.into_iter().collect();
        for missing in derived.difference(&stored) {
            problems.push(Problem::new(
                kind,
                Some(id),
                format!("identity {id} lacks the {what} `{missing}` its traits derive"),
            ));
        }
        for extra in stored.difference(&derived) {
            problems.push(Problem::new(
                kind,
                Some(id),
                format!("identity {id} has the {what} `{extra}`, which its traits do not derive"),
            ));
        }
    };
    compare(
        "identifiers",
        "password identifier",
        stored(CredentialKind::Password).unwrap_or_default(),
        derived.password_identifiers,
    );
    // A webauthn credential can be deleted while the traits still mark identifiers.
    if let Some(webauthn) = stored(CredentialKind::Webauthn) {
        compare(
            "identifiers",
            "webauthn identifier",
            webauthn,
            derived.webauthn_identifiers,
        );
    }
    compare(
        "identifiers",
        "code identifier",
        stored(CredentialKind::Code).unwrap_or_default(),
        derived
            .code_addresses
            .into_iter()
            .map(|a| a.address)
            .collect(),
    );
    let address = |(via, value): (&crate::model::Via, &String)| format!("{}:{value}", via.as_str());
    let stored_verifiable = identity
        .verifiable_addresses
        .iter()
        .map(|a| (&a.via, &a.value));
    let stored_recovery = identity
        .recovery_addresses
        .iter()
        .map(|a| (&a.via, &a.value));
    for (what, stored, derived) in [
        (
            "verifiable address",
            stored_verifiable.map(address).collect(),
            &derived.verifiable_addresses,
        ),
        (
            "recovery address",
            stored_recovery.map(address).collect(),
            &derived.recovery_addresses,
        ),
    ] {
        let derived = derived.iter().map(|(via, value)| address((via, value)));
        compare("addresses", what, stored, derived.collect());
    }
    problems
}
