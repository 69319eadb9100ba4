//! Import: streams createIdentityBody records from files or stdin into the store, with a
//! result for every record, chunked transactions, a dry run, idempotent re-runs and upserts.
//!
//! An upsert (`OnConflict::Update`) matches a record to a stored identity by its kept id
//! (`keep_ids`), else its external_id, else a credential identifier, and replaces that
//! identity with PUT semantics. It is built to be re-applied: a cleartext password that
//! already verifies keeps its hash, lookup codes already stored are not appended again, and
//! a record that would change nothing is reported `unchanged` and writes nothing.
//!
//! Three stages overlap: a reader thread cuts the inputs into chunks of raw records; a
//! preparing thread decodes, validates and hashes each chunk on all cores; the calling
//! thread writes each chunk in one transaction. A record that fails never takes its
//! neighbours down, and a chunk is committed whole or not at all, so a killed import
//! leaves only whole identities behind.

mod csv;
mod ldif;
mod mapping;
mod reader;
mod source;

pub use mapping::PasswordHashes;
use mapping::{Mapped, Mapping};
pub use reader::{RawRecord, read_records};
pub use source::{ImportSource, SourceFormat};

use super::Kith;
use super::assemble::PasswordChange;
use super::call::Call;
use super::commit::Commit;
use super::identity::draft_from_create;
use crate::error::{Error, NotFound, Result};
use crate::model::{Clash, IdentityId};
use crate::model::{
    CreateIdentityBody, Credential, CredentialKind, ErrorBody, Identity, LookupSecretConfig,
    PasswordConfig, parse_body, parse_value,
};
use crate::store::{DryRunSeen, EventRow, IdentityRows, StoreError, Tx, UniqueValues};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;
use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What to do with a record whose identifiers, addresses or external_id are taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Report it as a 409 error.
    #[default]
    Fail,
    /// Report it as skipped, naming the identity that holds the value: re-runs are idempotent.
    Skip,
    /// Update the stored identity the record matches, with PUT semantics: fixtures re-apply.
    Update,
}

/// How an import runs.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Check everything, conflicts included, and write nothing.
    pub dry_run: bool,
    pub on_conflict: OnConflict,
    /// Take each record's `id` (which Kratos' body does not have) as its identity's id.
    pub keep_ids: bool,
    /// Records per transaction.
    pub chunk_size: usize,
    /// The import mapper that turns each record into a createIdentityBody: an installed,
    /// enabled plugin's name, or a plugin folder's path. Foreign containers (CSV, LDIF, a
    /// Firebase export) need one.
    pub mapper: Option<String>,
    /// Password hashes joined to the records by e-mail address before mapping (Auth0's
    /// password-hash export); needs a mapper.
    pub password_hashes: Option<std::sync::Arc<PasswordHashes>>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            on_conflict: OnConflict::Fail,
            keep_ids: false,
            chunk_size: 1000,
            mapper: None,
            password_hashes: None,
        }
    }
}

/// What became of one record, in Kratos' batch-result shape plus its source position.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum ImportOutcome {
    Create {
        identity: IdentityId,
    },
    Skip {
        identity: IdentityId,
    },
    /// An upsert changed the identity the record matched.
    Update {
        identity: IdentityId,
    },
    /// An upsert found the identity the record matched already as the record describes it.
    Unchanged {
        identity: IdentityId,
    },
    Error {
        error: Box<ErrorBody>,
    },
}

/// A record's outcome and where the record was.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportResult {
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    pub source: String,
    /// Something the operator should know that did not stop the record (a user of an Auth0
    /// export with no password hash to join).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Bytes of input the record took, for progress measured in what is done, not read.
    #[serde(skip)]
    pub bytes: u64,
}

/// Totals of an import run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportSummary {
    pub import_run: Uuid,
    pub dry_run: bool,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// Records handled per second.
    pub rate: f64,
}

fn seconds<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// A record after preparation: the identity to insert, or why it cannot be.
struct Prepared {
    position: String,
    bytes: u64,
    identity: Result<Ready>,
    warning: Option<String>,
}

/// A record ready to write: the identity a create inserts, and what an upsert needs.
struct Ready {
    rows: IdentityRows,
    event: EventRow,
    /// The record's own id, under `keep_ids`.
    kept_id: Option<IdentityId>,
    /// The body again, when the record may turn out to update a stored identity.
    body: Option<Box<CreateIdentityBody>>,
}

/// Chunks in flight between stages; small, so memory stays flat.
const CHANNEL_DEPTH: usize = 2;

impl Kith {
    /// Imports every record of `sources`, calling `on_result` for each in input order.
    ///
    /// # Errors
    /// Only failures that stop the whole import (the store failing); a record's own
    /// problems are reported through `on_result` and counted in the summary.
    pub(crate) fn import_identities(
        &self,
        sources: Vec<ImportSource>,
        options: &ImportOptions,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<ImportSummary> {
        let started = Instant::now();
        let mapping = self.mapping(&sources, options)?;
        // The preparing stage works from this snapshot: it never waits for the store while
        // the writer holds it.
        let call = self.call()?;
        let run = self.ids.new_id();
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let chunk_size = options.chunk_size.max(1);
        let mut totals = Totals::default();
        std::thread::scope(|scope| -> Result<()> {
            let (raw_tx, raw_rx) = sync_channel::<Vec<RawRecord>>(CHANNEL_DEPTH);
            let (ready_tx, ready_rx) = sync_channel::<Vec<Prepared>>(CHANNEL_DEPTH);
            scope.spawn(move || read_chunks(sources, chunk_size, &raw_tx));
            let call = &call;
            let mapping = mapping.as_ref();
            scope.spawn(move || {
                self.prepare_chunks(call, run, options, mapping, &raw_rx, &ready_tx);
            });
            let writing = Writing { call, run, options };
            self.write_chunks(&writing, &names, &ready_rx, &mut totals, on_result)
            // Returning drops the receivers, which stops the other stages early on error.
        })?;
        // An input without records recorded no run (the first chunk records it).
        let recorded = !options.dry_run && totals.handled() > 0;
        if recorded {
            self.commit(|tx| {
                tx.record(
                    "import.finished",
                    None,
                    Some(json!({"import_run": run, "created": totals.created,
                                "updated": totals.updated, "unchanged": totals.unchanged,
                                "skipped": totals.skipped, "failed": totals.failed})),
                )
            })?;
        }
        let elapsed = started.elapsed();
        let handled = totals.handled();
        Ok(ImportSummary {
            import_run: run,
            dry_run: options.dry_run,
            created: totals.created,
            updated: totals.updated,
            unchanged: totals.unchanged,
            skipped: totals.skipped,
            failed: totals.failed,
            elapsed,
            rate: handled as f64 / elapsed.as_secs_f64().max(1e-9),
        })
    }

    /// The mapper `options` name, checked before anything is read; a foreign container or a
    /// password-hash file without one is refused, since none of its records could import.
    fn mapping(
        &self,
        sources: &[ImportSource],
        options: &ImportOptions,
    ) -> Result<Option<Mapping>> {
        let Some(name) = &options.mapper else {
            if let Some(source) = sources.iter().find(|s| s.format.is_foreign()) {
                return Err(Error::BadRequest(format!(
                    "{} is {}: its records are another system's, not createIdentityBody; \
                     import it through a mapper (--mapper {})",
                    source.name,
                    source.format,
                    match source.format {
                        SourceFormat::Csv => "csv-import",
                        _ => "ldif-import",
                    }
                )));
            }
            if options.password_hashes.is_some() {
                return Err(Error::BadRequest(
                    "password hashes are joined to the records of a mapper (--mapper auth0-import)"
                        .into(),
                ));
            }
            return Ok(None);
        };
        Ok(Some(Mapping {
            plugin: self.mapper(name)?,
            hashes: options.password_hashes.clone(),
        }))
    }

    /// Maps, decodes, validates and hashes chunk after chunk, each on all cores. Password
    /// hashes that no record took are reported last, as errors at their own positions.
    fn prepare_chunks(
        &self,
        call: &Call,
        run: Uuid,
        options: &ImportOptions,
        mapping: Option<&Mapping>,
        raw: &Receiver<Vec<RawRecord>>,
        ready: &SyncSender<Vec<Prepared>>,
    ) {
        for chunk in raw {
            // Ids are handed out in input order, so the store (ordered by its time-based ids)
            // keeps the input's order however the cores finish.
            let ids: Vec<IdentityId> = chunk.iter().map(|_| self.ids.new_id().into()).collect();
            let prepared: Vec<Prepared> = chunk
                .into_par_iter()
                .zip(ids)
                .map(|(record, id)| {
                    let bytes = record.text.as_ref().map_or(0, |text| text.len() as u64);
                    let position = record.position.clone();
                    let Mapped { text, warning } = self.mapped(mapping, record);
                    let identity = self
                        .prepare_record(call, options, text, id)
                        .map_err(|error| match mapping {
                            Some(mapping) => mapping::blame_mapper(error, &mapping.plugin),
                            None => error,
                        });
                    (position, bytes, warning, identity)
                })
                .map(|(position, bytes, warning, identity)| Prepared {
                    bytes,
                    warning,
                    identity: identity.map(|(identity, kept_id, body)| {
                        let rows = IdentityRows::from(&identity);
                        // Rendered here, on all cores, so the one writer only writes. The
                        // source lets a later conflict within this run name the record.
                        let detail = json!({ "import_run": run, "source": position });
                        let event = self.event("identity.created", Some(&detail));
                        Ready {
                            rows,
                            event,
                            kept_id,
                            body,
                        }
                    }),
                    position,
                })
                .collect();
            if ready.send(prepared).is_err() {
                return;
            }
        }
        if let Some(hashes) = mapping.and_then(|m| m.hashes.as_ref()) {
            let leftovers = hashes
                .leftovers()
                .into_iter()
                .map(|(position, error)| Prepared {
                    position,
                    bytes: 0,
                    identity: Err(error),
                    warning: None,
                })
                .collect::<Vec<_>>();
            if !leftovers.is_empty() {
                let _ = ready.send(leftovers);
            }
        }
    }

    /// The identity a record creates (with id `id`, or its own under `keep_ids`), its own id,
    /// and its body when an upsert may need it.
    #[allow(clippy::type_complexity)]
    fn prepare_record(
        &self,
        call: &Call,
        options: &ImportOptions,
        text: Result<String>,
        id: IdentityId,
    ) -> Result<(
        Identity,
        Option<IdentityId>,
        Option<Box<CreateIdentityBody>>,
    )> {
        let (mut body, kept_id) = parse_record(&text?, options.keep_ids)?;
        if options.on_conflict == OnConflict::Update {
            self.reuse_verified_hash(call, &mut body, kept_id)?;
        }
        let kept_body = (options.on_conflict == OnConflict::Update).then(|| Box::new(body.clone()));
        let identity = self.build_identity(call, body, Some(kept_id.unwrap_or(id)))?;
        Ok((identity, kept_id, kept_body))
    }

    /// Re-applying a fixture must not re-hash a password: when the identity the record
    /// probably updates has a hash that takes the record's cleartext password, the record
    /// carries that hash instead. Checked here, on all cores, so the one writer never hashes;
    /// and whichever identity the record ends up creating or updating, the hash is one of its
    /// own password.
    fn reuse_verified_hash(
        &self,
        call: &Call,
        body: &mut CreateIdentityBody,
        kept_id: Option<IdentityId>,
    ) -> Result<()> {
        let Some(config) = body
            .credentials
            .as_mut()
            .and_then(|c| c.password.as_mut())
            .map(|p| &mut p.config)
            .filter(|c| c.use_password_migration_hook != Some(true))
        else {
            return Ok(());
        };
        let Some(cleartext) = config.password.as_deref().filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let schema_id = match body.schema_id.is_empty() {
            true => &call.settings.default_schema_id,
            false => &body.schema_id,
        };
        // An invalid record is reported by the build that follows.
        let identifiers = call
            .schema(schema_id)
            .ok()
            .and_then(|schema| schema.validate(body.traits.as_ref()?).ok())
            .map(|derived| derived.password_identifiers)
            .unwrap_or_default();
        // The writer's own match, on what is known before the build: the password identifiers.
        let values = UniqueValues {
            identifiers: identifiers
                .iter()
                .map(|i| (CredentialKind::Password.as_str(), i.as_str()))
                .collect(),
            external_id: body.external_id.as_deref(),
            ..UniqueValues::default()
        };
        let stored = self.read(|tx| match upsert_target(tx, &values, kept_id)? {
            Ok(Some(target)) => tx.get_identity(target, true).map_err(Error::from),
            _ => Ok(None),
        })?;
        let hash = stored
            .as_ref()
            .and_then(|identity| identity.credential(CredentialKind::Password))
            .and_then(Credential::config_as::<PasswordConfig>)
            .map(|config| config.hashed_password)
            .filter(|hash| {
                crate::password::verify_password(cleartext.as_bytes(), hash).unwrap_or(false)
            });
        if let Some(hash) = hash {
            config.password = None;
            config.hashed_password = Some(hash);
        }
        Ok(())
    }

    /// Writes each prepared chunk in one transaction, and reports its records once it is
    /// committed: a result line never names an identity that a crash could still take back.
    /// A dry run writes each chunk the same way and rolls it back, so it never holds the write
    /// lock for longer than a chunk; what earlier chunks let through is kept aside
    /// ([`DryRunSeen`]) so conflicts within the input are still found.
    fn write_chunks(
        &self,
        writing: &Writing<'_>,
        names: &[String],
        ready: &Receiver<Vec<Prepared>>,
        totals: &mut Totals,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<()> {
        let options = writing.options;
        let run = writing.run;
        let seen = match options.dry_run {
            true => Some(DryRunSeen::new()?),
            false => None,
        };
        let mut results = Vec::new();
        let mut run_recorded = false;
        for chunk in ready {
            results.clear();
            let before = *totals;
            {
                // Locked per chunk, never while waiting for the next one.
                let mut store = self.store();
                let tx = store.write()?;
                if let Some(seen) = &seen {
                    seen.begin()?;
                    let mut commit = Commit::new(&tx, self);
                    for record in chunk {
                        let outcome =
                            self.write_record(writing, &mut commit, Some(seen), &record)?;
                        totals.count(&outcome);
                        results.push(record.result(outcome));
                    }
                    seen.end()?;
                    drop(commit);
                    // Dropping the transaction rolls the chunk back.
                    drop(tx);
                } else {
                    let mut commit = Commit::new(&tx, self);
                    // The run is recorded with its first chunk: a killed import can be undone
                    // by its id, and an input without records leaves no run behind.
                    if !run_recorded {
                        tx.insert_import_run(
                            run,
                            self.clock.now(),
                            &self.actor,
                            &names.join(", "),
                        )?;
                        commit.record(
                            "import.started",
                            None,
                            Some(json!({"import_run": run, "sources": names,
                                        "on_conflict": options.on_conflict,
                                        "keep_ids": options.keep_ids})),
                        )?;
                        run_recorded = true;
                    }
                    for record in chunk {
                        let outcome = self.write_record(writing, &mut commit, None, &record)?;
                        totals.count(&outcome);
                        results.push(record.result(outcome));
                    }
                    drop(commit);
                    let now = self.clock.now();
                    tx.add_to_import_run(
                        run,
                        totals.created - before.created,
                        totals.skipped - before.skipped,
                        totals.failed - before.failed,
                        now,
                    )?;
                    tx.commit()?;
                }
            }
            for result in &results {
                on_result(result);
            }
        }
        Ok(())
    }

    /// Writes one record: inserts it, or (upserting) updates the identity it matches.
    ///
    /// # Errors
    /// Only a failure of the transaction; the record's own problems are its outcome.
    fn write_record(
        &self,
        writing: &Writing<'_>,
        tx: &mut Commit<'_>,
        seen: Option<&DryRunSeen>,
        record: &Prepared,
    ) -> Result<ImportOutcome> {
        let Writing { run, options, .. } = *writing;
        let ready = match &record.identity {
            Err(error) => return Ok(failed(error)),
            Ok(ready) => ready,
        };
        let rows = &ready.rows;
        let upsert = options.on_conflict == OnConflict::Update;
        // A dry run rolls each chunk back: a value an earlier chunk took is only in `seen`.
        let earlier = match seen {
            Some(seen) => match ready.kept_id.map(|id| seen.holder_of_id(id)).transpose()? {
                Some(Some(clash)) => Some(clash),
                _ => seen.holder(&rows.unique_values())?,
            },
            None => None,
        };
        let target = match (earlier, upsert) {
            // What a real run would have created by now, it would update now.
            (
                Some(StoreError::Conflict {
                    clash: Some(clash), ..
                }),
                true,
            ) => {
                return Ok(ImportOutcome::Update {
                    identity: clash.holder,
                });
            }
            (Some(conflict), _) => return self.conflict_outcome(tx, conflict, writing),
            (None, true) => match upsert_target(tx, &rows.unique_values(), ready.kept_id)? {
                Ok(target) => target,
                Err(conflict) => return self.conflict_outcome(tx, conflict, writing),
            },
            (None, false) => None,
        };
        let outcome = match (target, &ready.body) {
            (Some(target), Some(body)) => {
                let detail = json!({ "import_run": run, "source": record.position });
                match self.update_record(writing.call, tx, target, body, detail)? {
                    Ok(outcome) => outcome,
                    Err(error) => return Ok(failed(&error)),
                }
            }
            _ => {
                let run = (!options.dry_run).then_some(run);
                match tx.insert_rows(rows, run, &ready.event) {
                    Ok(()) => ImportOutcome::Create {
                        identity: rows.id(),
                    },
                    // The kept id is the identity's: whoever has it holds the record's place.
                    Err(StoreError::Conflict {
                        field: "id",
                        clash: None,
                    }) => {
                        let conflict = StoreError::Conflict {
                            field: "id",
                            clash: Some(Box::new(Clash {
                                value: rows.id().to_string(),
                                holder: rows.id(),
                                holder_source: None,
                            })),
                        };
                        return self.conflict_outcome(tx, conflict, writing);
                    }
                    Err(conflict @ StoreError::Conflict { .. }) => {
                        return self.conflict_outcome(tx, conflict, writing);
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        if let (
            Some(seen),
            ImportOutcome::Create { identity } | ImportOutcome::Update { identity },
        ) = (seen, &outcome)
        {
            seen.add(*identity, &record.position, &rows.unique_values())?;
            if ready.kept_id.is_some() {
                seen.add_id(*identity, &record.position)?;
            }
        }
        Ok(outcome)
    }

    /// What becomes of a record whose value another identity holds: a skip, or a 409.
    fn conflict_outcome(
        &self,
        tx: &Tx<'_>,
        conflict: StoreError,
        writing: &Writing<'_>,
    ) -> Result<ImportOutcome> {
        let StoreError::Conflict { field, mut clash } = conflict else {
            return Err(conflict.into());
        };
        if let Some(clash) = &mut clash
            && clash.holder_source.is_none()
            && !writing.options.dry_run
        {
            clash.holder_source = tx.import_source(clash.holder, writing.run)?;
        }
        Ok(match (writing.options.on_conflict, &clash) {
            (OnConflict::Skip, Some(clash)) => ImportOutcome::Skip {
                identity: clash.holder,
            },
            _ => failed(&Error::Conflict {
                field: Some(field.to_string()),
                clash,
            }),
        })
    }

    /// Replaces `target` with what `body` describes, with PUT semantics, unless that would
    /// change nothing. The inner error is the record's own problem (invalid, a conflict).
    fn update_record(
        &self,
        call: &Call,
        tx: &mut Commit<'_>,
        target: IdentityId,
        body: &CreateIdentityBody,
        detail: serde_json::Value,
    ) -> Result<Result<ImportOutcome>> {
        let existing = tx
            .get_identity(target, true)?
            .ok_or(Error::NotFound(NotFound::Identity(target)))?;
        let mut draft = match draft_from_create(body.clone()) {
            Ok(draft) => draft,
            Err(error) => return Ok(Err(error)),
        };
        if draft.schema_id.is_empty() {
            draft.schema_id = existing.schema_id.clone();
        }
        draft.organization_id = draft.organization_id.or(existing.organization_id);
        // Re-applying a fixture must not re-hash a password the stored hash already takes.
        if let PasswordChange::Cleartext(cleartext) = &draft.password
            && existing
                .credential(CredentialKind::Password)
                .and_then(Credential::config_as::<PasswordConfig>)
                .is_some_and(|config| {
                    crate::password::verify_password(cleartext.as_bytes(), &config.hashed_password)
                        .unwrap_or(false)
                })
        {
            draft.password = PasswordChange::Keep;
        }
        // PUT appends lookup codes; codes already stored are not appended twice.
        if let Some(codes) = &mut draft.lookup_codes {
            let stored = existing
                .credential(CredentialKind::LookupSecret)
                .and_then(Credential::config_as::<LookupSecretConfig>)
                .unwrap_or_default();
            codes.retain(|code| !stored.recovery_codes.iter().any(|s| s.code == code.code));
        }
        let identity = match self.assemble(call, draft, Some(&existing)) {
            Ok(identity) => identity,
            Err(error) => return Ok(Err(error)),
        };
        if same_content(&existing, &identity) {
            return Ok(Ok(ImportOutcome::Unchanged { identity: target }));
        }
        // A failed replace leaves part of its work behind: the savepoint takes it back, and
        // the rest of the chunk stays.
        match tx.within_savepoint(|| tx.replace(&identity, "identity.updated", Some(detail))) {
            Ok(_) => Ok(Ok(ImportOutcome::Update { identity: target })),
            Err(error @ Error::Conflict { .. }) => Ok(Err(error)),
            Err(error) => Err(error),
        }
    }

    /// Deletes exactly the identities import run `run` created, in one transaction.
    ///
    /// # Errors
    /// [`NotFound::ImportRun`] when no run has this id.
    pub(crate) fn delete_import_run(&self, run: Uuid) -> Result<Vec<IdentityId>> {
        self.commit(|tx| {
            if !tx.import_run_exists(run)? {
                return Err(Error::NotFound(NotFound::ImportRun(run)));
            }
            let ids = tx.identities_of_import_run(run)?;
            let detail = Some(json!({ "import_run": run }));
            for id in &ids {
                tx.delete(*id, detail.clone())?;
            }
            tx.record(
                "import.undone",
                None,
                Some(json!({"import_run": run, "deleted": ids.len()})),
            )?;
            Ok(ids)
        })
    }
}

/// What every record's write needs: the call's snapshot, the run, its options.
struct Writing<'a> {
    call: &'a Call,
    run: Uuid,
    options: &'a ImportOptions,
}

impl Prepared {
    fn result(self, outcome: ImportOutcome) -> ImportResult {
        ImportResult {
            outcome,
            source: self.position,
            warning: self.warning,
            bytes: self.bytes,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    created: u64,
    updated: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
}

impl Totals {
    fn count(&mut self, outcome: &ImportOutcome) {
        match outcome {
            ImportOutcome::Create { .. } => self.created += 1,
            ImportOutcome::Update { .. } => self.updated += 1,
            ImportOutcome::Unchanged { .. } => self.unchanged += 1,
            ImportOutcome::Skip { .. } => self.skipped += 1,
            ImportOutcome::Error { .. } => self.failed += 1,
        }
    }

    fn handled(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.skipped + self.failed
    }
}

/// A record's error as its outcome.
fn failed(error: &Error) -> ImportOutcome {
    ImportOutcome::Error {
        error: Box::new(batch_error(error)),
    }
}

/// Decodes a record. Under `keep_ids` its `id` is taken out first (Kratos' body has none);
/// without, an `id` is the unknown field Kratos reports.
fn parse_record(text: &str, keep_ids: bool) -> Result<(CreateIdentityBody, Option<IdentityId>)> {
    match parse_body::<CreateIdentityBody>(text, true) {
        Err(error) if keep_ids && error.pointer == "/id" => {
            let mut record: serde_json::Value = parse_body(text, false)?;
            let id = record
                .as_object_mut()
                .and_then(|fields| fields.remove("id"))
                .unwrap_or_default();
            let id: IdentityId = parse_value(id, true, "/id")?;
            if id.as_uuid().is_nil() {
                return Err(Error::BadRequest("id must not be the nil UUID".into()));
            }
            Ok((parse_value(record, true, "")?, Some(id)))
        }
        parsed => Ok((parsed?, None)),
    }
}

/// The stored identity an upserted record updates: the one with its kept id; else the one
/// with its external_id; else the one holding its credential identifiers, unless that one
/// has another external_id. `Ok(Err(..))` is the record's conflict: its identifiers are held
/// by two identities.
///
/// A kept id that no identity has means a create, never an update of another identity.
fn upsert_target(
    tx: &Tx<'_>,
    values: &UniqueValues<'_>,
    kept_id: Option<IdentityId>,
) -> Result<std::result::Result<Option<IdentityId>, StoreError>> {
    if let Some(id) = kept_id {
        return Ok(Ok(tx.get_identity(id, false)?.map(|_| id)));
    }
    let nobody = IdentityId::nil();
    if let Some(external_id) = values.external_id {
        let by_external_id = UniqueValues {
            external_id: Some(external_id),
            ..UniqueValues::default()
        };
        if let Some(StoreError::Conflict {
            clash: Some(clash), ..
        }) = tx.clash(&by_external_id, nobody)?
        {
            return Ok(Ok(Some(clash.holder)));
        }
    }
    let by_identifier = UniqueValues {
        identifiers: values.identifiers.clone(),
        ..UniqueValues::default()
    };
    let Some(StoreError::Conflict {
        clash: Some(clash), ..
    }) = tx.clash(&by_identifier, nobody)?
    else {
        return Ok(Ok(None));
    };
    // Identifiers of two identities: updating either would take the other's.
    if let Some(second) = tx.clash(&by_identifier, clash.holder)? {
        return Ok(Err(second));
    }
    let holder = tx
        .get_identity(clash.holder, false)?
        .ok_or(Error::NotFound(NotFound::Identity(clash.holder)))?;
    Ok(Ok(match (&holder.external_id, values.external_id) {
        // Someone else in the system the record comes from: the create's conflict says so.
        (Some(theirs), Some(ours)) if theirs != ours => None,
        _ => Some(clash.holder),
    }))
}

/// Whether `updated` holds what `stored` holds, the write's own timestamps aside.
fn same_content(stored: &Identity, updated: &Identity) -> bool {
    let settled = |identity: &Identity| {
        let mut identity = identity.clone();
        identity.updated_at = stored.updated_at;
        for credential in identity.credentials.iter_mut().flat_map(|c| c.values_mut()) {
            credential.updated_at = stored.updated_at;
        }
        for address in &mut identity.verifiable_addresses {
            address.updated_at = stored.updated_at;
        }
        for address in &mut identity.recovery_addresses {
            address.updated_at = stored.updated_at;
        }
        identity
    };
    settled(stored) == settled(updated)
}

/// Bytes of record text in one chunk at most: with records up to [`reader::MAX_RECORD_BYTES`], a
/// count of records alone would not keep the chunks in flight small.
const MAX_CHUNK_BYTES: usize = 64 << 20;

/// Cuts the sources into chunks of raw records; stops when the preparing stage is gone.
fn read_chunks(sources: Vec<ImportSource>, chunk_size: usize, raw: &SyncSender<Vec<RawRecord>>) {
    let mut chunk = Vec::with_capacity(chunk_size);
    let mut bytes = 0usize;
    let mut open = true;
    for source in sources {
        type Reader = fn(&str, Box<dyn BufRead + Send>, &mut dyn FnMut(RawRecord) -> bool);
        let read: Reader = match source.format {
            SourceFormat::Json => read_records,
            SourceFormat::Csv => csv::read_csv,
            SourceFormat::Ldif => ldif::read_ldif,
        };
        read(&source.name, source.reader, &mut |record| {
            bytes += record.text.as_ref().map_or(0, String::len);
            chunk.push(record);
            if chunk.len() >= chunk_size || bytes >= MAX_CHUNK_BYTES {
                bytes = 0;
                open = raw
                    .send(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(chunk_size),
                    ))
                    .is_ok();
            }
            open
        });
        if !open {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = raw.send(chunk);
    }
}

/// Why a record could not be read (too large, not UTF-8), as a body error at its position.
pub(crate) fn unreadable(message: String) -> Error {
    Error::MalformedBody {
        message,
        pointer: String::new(),
        line: 0,
        column: 0,
        did_you_mean: None,
    }
}

/// A record's text as a createIdentityBody, decoded strictly as Kratos decodes it.
pub(crate) fn record_body(text: &str) -> Result<CreateIdentityBody> {
    Ok(parse_body(text, true)?)
}

/// A record's error as Kratos' batch endpoint reports it: the error object itself, with
/// the batch wording for conflicts.
pub(super) fn batch_error(error: &Error) -> ErrorBody {
    let mut body = error.to_envelope().error;
    if body.code == 409 {
        body.message =
            "Unable to insert or update resource because a resource with that value exists already"
                .into();
    }
    body
}
