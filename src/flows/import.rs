//! Import: streams createIdentityBody records from files or stdin into the store, with a
//! result for every record, chunked transactions, a dry run and idempotent re-runs.
//!
//! Three stages overlap: a reader thread cuts the inputs into chunks of raw records; a
//! preparing thread decodes, validates and hashes each chunk on all cores; the calling
//! thread writes each chunk in one transaction. A record that fails never takes its
//! neighbours down, and a chunk is committed whole or not at all, so a killed import
//! leaves only whole identities behind.

mod reader;

pub use reader::{RawRecord, read_records};

use super::Kith;
use super::call::Call;
use super::commit::Commit;
use crate::error::{Error, NotFound, Result};
use crate::model::IdentityId;
use crate::model::{CreateIdentityBody, ErrorBody, Identity, parse_body};
use crate::store::{DryRunSeen, EventRow, IdentityRows, StoreError};
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
}

/// How an import runs.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Check everything, conflicts included, and write nothing.
    pub dry_run: bool,
    pub on_conflict: OnConflict,
    /// Records per transaction.
    pub chunk_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            on_conflict: OnConflict::Fail,
            chunk_size: 1000,
        }
    }
}

/// One input of an import: a name for positions (`users.ndjson`, `<stdin>`) and its bytes.
pub struct ImportSource {
    pub name: String,
    pub reader: Box<dyn BufRead + Send>,
}

/// What became of one record, in Kratos' batch-result shape plus its source position.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum ImportOutcome {
    Create { identity: IdentityId },
    Skip { identity: IdentityId },
    Error { error: Box<ErrorBody> },
}

/// A record's outcome and where the record was.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportResult {
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    pub source: String,
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
    identity: Result<(IdentityRows, EventRow)>,
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
            scope.spawn(move || self.prepare_chunks(call, run, &raw_rx, &ready_tx));
            self.write_chunks(run, &names, options, &ready_rx, &mut totals, on_result)
            // Returning drops the receivers, which stops the other stages early on error.
        })?;
        // An input without records recorded no run (the first chunk records it).
        let recorded = !options.dry_run && totals.created + totals.skipped + totals.failed > 0;
        if recorded {
            self.commit(|tx| {
                tx.record(
                    "import.finished",
                    None,
                    Some(json!({"import_run": run, "created": totals.created,
                                "skipped": totals.skipped, "failed": totals.failed})),
                )
            })?;
        }
        let elapsed = started.elapsed();
        let handled = totals.created + totals.skipped + totals.failed;
        Ok(ImportSummary {
            import_run: run,
            dry_run: options.dry_run,
            created: totals.created,
            skipped: totals.skipped,
            failed: totals.failed,
            elapsed,
            rate: handled as f64 / elapsed.as_secs_f64().max(1e-9),
        })
    }

    /// Decodes, validates and hashes chunk after chunk, each on all cores.
    fn prepare_chunks(
        &self,
        call: &Call,
        run: Uuid,
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
                .map(|(record, id)| Prepared {
                    bytes: record.text.as_ref().map_or(0, |text| text.len() as u64),
                    identity: self.prepare_record(call, record.text).map(|mut identity| {
                        identity.id = id;
                        let rows = IdentityRows::from(&identity);
                        // Rendered here, on all cores, so the one writer only writes. The
                        // source lets a later conflict within this run name the record.
                        let detail = json!({ "import_run": run, "source": record.position });
                        let event = self.event("identity.created", Some(&detail));
                        (rows, event)
                    }),
                    position: record.position,
                })
                .collect();
            if ready.send(prepared).is_err() {
                return;
            }
        }
    }

    fn prepare_record(
        &self,
        call: &Call,
        text: std::result::Result<String, String>,
    ) -> Result<Identity> {
        let text = text.map_err(unreadable)?;
        self.build_identity(call, record_body(&text)?)
    }

    /// Writes each prepared chunk in one transaction, and reports its records once it is
    /// committed: a result line never names an identity that a crash could still take back.
    /// A dry run writes each chunk the same way and rolls it back, so it never holds the write
    /// lock for longer than a chunk; what earlier chunks let through is kept aside
    /// ([`DryRunSeen`]) so conflicts within the input are still found.
    fn write_chunks(
        &self,
        run: Uuid,
        names: &[String],
        options: &ImportOptions,
        ready: &Receiver<Vec<Prepared>>,
        totals: &mut Totals,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<()> {
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
                    self.write_chunk(
                        &mut Commit::new(&tx, self),
                        None,
                        options,
                        Some(seen),
                        chunk,
                        totals,
                        &mut results,
                    )?;
                    seen.end()?;
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
                            Some(json!({"import_run": run, "sources": names, "on_conflict": options.on_conflict})),
                        )?;
                        run_recorded = true;
                    }
                    self.write_chunk(
                        &mut commit,
                        Some(run),
                        options,
                        None,
                        chunk,
                        totals,
                        &mut results,
                    )?;
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

    #[allow(clippy::too_many_arguments)]
    fn write_chunk(
        &self,
        tx: &mut Commit<'_>,
        run: Option<Uuid>,
        options: &ImportOptions,
        seen: Option<&DryRunSeen>,
        chunk: Vec<Prepared>,
        totals: &mut Totals,
        results: &mut Vec<ImportResult>,
    ) -> Result<()> {
        for record in chunk {
            let outcome = match record.identity {
                Err(error) => ImportOutcome::Error {
                    error: Box::new(batch_error(&error)),
                },
                Ok((rows, event)) => {
                    let earlier = match seen {
                        Some(seen) => seen.holder(&rows.unique_values())?,
                        None => None,
                    };
                    let inserted = match earlier {
                        Some(conflict) => Err(conflict),
                        None => tx.insert_rows(&rows, run, &event),
                    };
                    match inserted {
                        Ok(()) => {
                            if let Some(seen) = seen {
                                seen.add(rows.id(), &record.position, &rows.unique_values())?;
                            }
                            ImportOutcome::Create {
                                identity: rows.id(),
                            }
                        }
                        Err(StoreError::Conflict { field, mut clash }) => {
                            if let (Some(clash), Some(run)) = (&mut clash, run)
                                && clash.holder_source.is_none()
                            {
                                clash.holder_source = tx.import_source(clash.holder, run)?;
                            }
                            match (options.on_conflict, &clash) {
                                (OnConflict::Skip, Some(clash)) => ImportOutcome::Skip {
                                    identity: clash.holder,
                                },
                                _ => ImportOutcome::Error {
                                    error: Box::new(batch_error(&Error::Conflict {
                                        field: Some(field.to_string()),
                                        clash,
                                    })),
                                },
                            }
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            };
            match &outcome {
                ImportOutcome::Create { .. } => totals.created += 1,
                ImportOutcome::Skip { .. } => totals.skipped += 1,
                ImportOutcome::Error { .. } => totals.failed += 1,
            }
            results.push(ImportResult {
                outcome,
                source: record.position,
                bytes: record.bytes,
            });
        }
        Ok(())
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

#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    created: u64,
    skipped: u64,
    failed: u64,
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
        read_records(&source.name, source.reader, &mut |record| {
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
