//! Import against a remote admin API: the records of the local import's reader, streamed
//! through `PATCH /admin/identities` in batches, each record reported by its source
//! position as a local import reports it.
//!
//! A batch holds at most 1000 entries, at most 200 of them with a cleartext password, and
//! at most [`MAX_BATCH_BYTES`] of JSON (Kratos' limits; its admin body limit is 5 MB). Each
//! entry carries a `patch_id`, so the answer maps back to its record whatever its order.
//!
//! Retries: a 429, a 5xx or a broken connection sends the same batch again, after a
//! jittered exponential pause (or the server's `Retry-After`), a bounded number of times.
//! A batch the server committed but whose answer was lost comes back as per-entry 409s on
//! the retry: with `--on-conflict skip` those are skips, so nothing is created twice and
//! nothing is lost. A batch refused whole (a 400 or 413: Kratos refuses a batch for one
//! entry's unusable hash or state) is halved until each refused record stands alone with
//! its own error. Giving up reports the batch's records with an error saying so, and stops.

use super::{Remote, Reply, Transport, error_body};
use crate::error::{Error, Result};
use crate::flows::import::{read_records, record_body, unreadable};
use crate::flows::{
    ImportOptions, ImportOutcome, ImportResult, ImportSource, ImportSummary, MAX_BATCH,
    MAX_BATCH_CLEARTEXT, OnConflict,
};
use crate::model::{CreateIdentityBody, ErrorBody, IdentityId};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The most JSON one batch request carries: under Kratos' 5 MB body limit with room to spare.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// Batches prepared ahead of the one in flight.
const BATCHES_AHEAD: usize = 2;

/// How an import retries a batch the server could not take.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Sends of one batch at most, the first included.
    pub attempts: u32,
    /// The pause before the first retry; doubled each time, then jittered.
    pub base: Duration,
    /// The longest pause between two sends (a `Retry-After` is honoured up to [`Self::max_retry_after`]).
    pub max: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(250),
            max: Duration::from_secs(15),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The pause before send number `attempt + 1`: between half and all of an exponential
    /// bound (so clients that failed together do not retry together), and never shorter than
    /// the server asked for (`Retry-After` in seconds; an HTTP date is not read).
    fn pause(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let bound = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let fraction = (Uuid::new_v4().as_u128() as u64) as f64 / u64::MAX as f64;
        let jittered = bound.mul_f64(0.5 + fraction / 2.0);
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// How a remote import runs: the local import's options, and the records an earlier run
/// created (`--resume`), by source position.
#[derive(Clone, Debug, Default)]
pub struct ImportPlan {
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    /// Entries per batch, at most 1000.
    pub batch_size: usize,
    /// Source position → the identity an earlier run reported for it.
    pub done: HashMap<String, IdentityId>,
    pub retry: RetryPolicy,
}

impl ImportPlan {
    pub fn new(options: &ImportOptions) -> Self {
        Self {
            on_conflict: options.on_conflict,
            dry_run: options.dry_run,
            batch_size: options.chunk_size.clamp(1, MAX_BATCH),
            done: HashMap::new(),
            retry: RetryPolicy::default(),
        }
    }

    /// Adds the records an earlier import's report (JSON lines, as `--report FILE` or a
    /// piped import writes them) lists as created or skipped: a resumed run does not send
    /// them again, and reports them as skipped with their identity.
    ///
    /// # Errors
    /// A line that is not a result line of an import report, or a failed read.
    pub fn resume_from(&mut self, report: impl BufRead, name: &str) -> Result<usize> {
        #[derive(Deserialize)]
        struct Line {
            action: String,
            #[serde(default)]
            identity: Option<IdentityId>,
            source: String,
        }
        let mut added = 0;
        for (number, line) in report.lines().enumerate() {
            let line = line.map_err(|e| Error::internal(format!("could not read {name}"), e))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Line = serde_json::from_str(&line).map_err(|e| {
                Error::BadRequest(format!(
                    "{name}:{}: not a line of an import report ({e}); --resume takes the file --report FILE wrote",
                    number + 1
                ))
            })?;
            if let ("create" | "skip", Some(identity)) = (parsed.action.as_str(), parsed.identity) {
                self.done.insert(parsed.source, identity);
                added += 1;
            }
        }
        Ok(added)
    }
}

/// One record on its way: decided without the server (resumed, unreadable), or to be sent.
struct Slot {
    position: String,
    bytes: u64,
    state: SlotState,
}

enum SlotState {
    Decided(ImportOutcome),
    /// The record's JSON text, checked as a createIdentityBody.
    Send(String),
}

/// `PATCH /admin/identities`' answer.
#[derive(Deserialize)]
pub(crate) struct BatchAnswer {
    pub identities: Vec<Option<WireOutcome>>,
}

/// One entry of the answer (`identityPatchResponse`).
#[derive(Deserialize)]
pub(crate) struct WireOutcome {
    pub action: String,
    #[serde(default)]
    pub identity: Option<IdentityId>,
    #[serde(default)]
    pub patch_id: Option<Uuid>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

impl WireOutcome {
    pub(crate) fn into_outcome(self) -> crate::flows::BatchOutcome {
        crate::flows::BatchOutcome {
            action: match self.action.as_str() {
                "create" => "create",
                _ => "error",
            },
            identity: self.identity,
            patch_id: self.patch_id,
            error: self.error.map(Box::new),
        }
    }
}

/// Why a batch got no answer: the server refused the whole import (a 401, say), or the
/// retries ran out.
enum Stop {
    Refused(Error),
    GaveUp { problem: String, attempts: u32 },
}

impl Remote {
    /// Imports every record of `sources` through the batch endpoint, calling `on_result` for
    /// each in input order once the server has answered for it.
    ///
    /// # Errors
    /// With `plan.dry_run` (Kratos has none), each record is checked as `validate_identity`
    /// checks it and nothing is sent that writes. The server refusing the whole
    /// import (a bad token, say) as [`Error::Remote`]; [`Error::Unreachable`] after the
    /// retries of a batch ran out (its records were reported as errors saying so).
    pub fn import(
        &self,
        sources: Vec<ImportSource>,
        plan: &ImportPlan,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<ImportSummary> {
        let started = Instant::now();
        let mut summary = ImportSummary {
            import_run: Uuid::nil(),
            dry_run: false,
            created: 0,
            updated: 0,
            unchanged: 0,
            skipped: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            rate: 0.0,
        };
        let outcome = match plan.dry_run {
            true => self.check_records(sources, &mut summary, on_result),
            false => self.stream(sources, plan, &mut summary, on_result),
        };
        summary.elapsed = started.elapsed();
        let handled = summary.created + summary.skipped + summary.failed;
        summary.rate = handled as f64 / summary.elapsed.as_secs_f64().max(1e-9);
        outcome.map(|()| summary)
    }

    /// A dry run: each record checked as `validate_identity` checks it (see `check.rs`), one
    /// at a time; a valid record reads as created with the id it was given here.
    fn check_records(
        &self,
        sources: Vec<ImportSource>,
        summary: &mut ImportSummary,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<()> {
        summary.dry_run = true;
        let mut failure = None;
        for source in sources {
            read_records(&source.name, source.reader, &mut |record| {
                let bytes = record.text.as_ref().map_or(0, String::len) as u64;
                let checked = checked(record.text).and_then(|(_, body)| self.check_identity(body));
                let outcome = match checked {
                    Ok(identity) => ImportOutcome::Create {
                        identity: identity.id,
                    },
                    // The server or the network failing is no verdict on the record.
                    Err(error @ (Error::Unreachable { .. } | Error::Internal { .. })) => {
                        failure = Some(error);
                        return false;
                    }
                    Err(Error::Remote { body, .. })
                        if body.code >= 500 || body.code == 401 || body.code == 403 =>
                    {
                        failure = Some(Error::Remote {
                            endpoint: self.endpoint.clone(),
                            body,
                        });
                        return false;
                    }
                    Err(error) => ImportOutcome::Error {
                        error: Box::new(error.to_envelope().error),
                    },
                };
                match &outcome {
                    ImportOutcome::Error { .. } => summary.failed += 1,
                    _ => summary.created += 1,
                }
                on_result(&ImportResult {
                    outcome,
                    source: record.position,
                    warning: None,
                    bytes,
                });
                true
            });
            if let Some(error) = failure.take() {
                return Err(error);
            }
        }
        Ok(())
    }

    fn stream(
        &self,
        sources: Vec<ImportSource>,
        plan: &ImportPlan,
        summary: &mut ImportSummary,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<()> {
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = sync_channel::<Vec<Slot>>(BATCHES_AHEAD);
            scope.spawn(move || cut_batches(sources, plan, &tx));
            self.send_batches(&rx, plan, summary, on_result)
            // Returning drops the receiver, which stops the reader early on error.
        })
    }

    fn send_batches(
        &self,
        batches: &Receiver<Vec<Slot>>,
        plan: &ImportPlan,
        summary: &mut ImportSummary,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<()> {
        for slots in batches {
            let texts: Vec<&str> = slots
                .iter()
                .filter_map(|slot| match &slot.state {
                    SlotState::Send(text) => Some(text.as_str()),
                    SlotState::Decided(_) => None,
                })
                .collect();
            let (mut answers, stop) = match self.send_batch(&texts, plan) {
                Ok(answers) => (answers.into_iter(), None),
                Err(Stop::Refused(error)) => return Err(error),
                Err(Stop::GaveUp { problem, attempts }) => {
                    let body = ErrorBody::new(503).with_reason(format!(
                        "gave up after {attempts} attempts ({problem}); whether the server created this record is not known: re-run with --resume REPORT --on-conflict skip"
                    ));
                    let failed = vec![
                        ImportOutcome::Error {
                            error: Box::new(body)
                        };
                        texts.len()
                    ];
                    (failed.into_iter(), Some((problem, attempts)))
                }
            };
            for slot in slots {
                let outcome = match slot.state {
                    SlotState::Decided(outcome) => outcome,
                    SlotState::Send(_) => {
                        answers.next().unwrap_or_else(|| ImportOutcome::Error {
                            error: Box::new(ErrorBody::new(502).with_reason(
                                "the server answered for fewer entries than it was sent",
                            )),
                        })
                    }
                };
                match &outcome {
                    ImportOutcome::Create { .. } => summary.created += 1,
                    ImportOutcome::Update { .. } => summary.updated += 1,
                    ImportOutcome::Unchanged { .. } => summary.unchanged += 1,
                    ImportOutcome::Skip { .. } => summary.skipped += 1,
                    ImportOutcome::Error { .. } => summary.failed += 1,
                }
                on_result(&ImportResult {
                    outcome,
                    source: slot.position,
                    warning: None,
                    bytes: slot.bytes,
                });
            }
            if let Some((problem, attempts)) = stop {
                return Err(Error::Unreachable {
                    endpoint: self.endpoint.clone(),
                    problem,
                    attempts,
                });
            }
        }
        Ok(())
    }

    /// The outcome of each of `texts`, in order: one request, retried; halved while the
    /// server refuses the whole of it.
    fn send_batch(
        &self,
        texts: &[&str],
        plan: &ImportPlan,
    ) -> std::result::Result<Vec<ImportOutcome>, Stop> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let patch_ids: Vec<Uuid> = texts.iter().map(|_| Uuid::new_v4()).collect();
        let body = batch_body(texts, &patch_ids);
        let reply = self.send_retrying(&body, &plan.retry)?;
        match reply.status {
            200..=299 => {
                let answer: BatchAnswer = serde_json::from_slice(&reply.body).map_err(|e| {
                    Stop::Refused(Error::internal(
                        format!(
                            "{} answered a batch with JSON kith cannot read",
                            self.endpoint
                        ),
                        e,
                    ))
                })?;
                Ok(outcomes(answer, &patch_ids, plan))
            }
            // Refused whole: each half again, down to the records at fault.
            400 | 409 | 413 | 422 if texts.len() > 1 => {
                let (left, right) = texts.split_at(texts.len() / 2);
                let mut outcomes = self.send_batch(left, plan)?;
                outcomes.extend(self.send_batch(right, plan)?);
                Ok(outcomes)
            }
            400 | 409 | 413 | 422 => Ok(vec![record_error(error_body(&reply), plan)]),
            _ => Err(Stop::Refused(self.refusal(&reply))),
        }
    }

    /// Sends `body` until an answer that is not worth retrying, or the attempts run out.
    fn send_retrying(&self, body: &[u8], policy: &RetryPolicy) -> std::result::Result<Reply, Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (problem, retry_after) =
                match self.send("PATCH", "/admin/identities", &[], Some(body)) {
                    Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                        let error = error_body(&reply);
                        let problem = format!(
                            "{} {}: {}",
                            error.code,
                            error.status,
                            error.reason.as_deref().unwrap_or(&error.message)
                        );
                        (problem, reply.retry_after)
                    }
                    Ok(reply) => return Ok(reply),
                    Err(Transport(problem)) => (problem, None),
                };
            if attempt >= policy.attempts.max(1) {
                return Err(Stop::GaveUp {
                    problem,
                    attempts: attempt,
                });
            }
            std::thread::sleep(policy.pause(attempt, retry_after));
        }
    }
}

/// `{"identities":[{"patch_id":..,"create":<record>},..]}`, with each record's text as it
/// was read (it was checked as a createIdentityBody already).
fn batch_body(texts: &[&str], patch_ids: &[Uuid]) -> Vec<u8> {
    let size = texts.iter().map(|t| t.len() + 80).sum::<usize>() + 16;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"identities\":[");
    for (i, (text, patch_id)) in texts.iter().zip(patch_ids).enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"patch_id\":\"");
        body.extend_from_slice(patch_id.to_string().as_bytes());
        body.extend_from_slice(b"\",\"create\":");
        body.extend_from_slice(text.trim().as_bytes());
        body.push(b'}');
    }
    body.extend_from_slice(b"]}");
    body
}

/// Each entry's outcome in request order, found by its `patch_id` (or, for a server that
/// leaves it out, by its place: Kratos answers in request order).
fn outcomes(answer: BatchAnswer, patch_ids: &[Uuid], plan: &ImportPlan) -> Vec<ImportOutcome> {
    let place: HashMap<Uuid, usize> = patch_ids.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut found: Vec<Option<ImportOutcome>> = patch_ids.iter().map(|_| None).collect();
    for (index, entry) in answer.identities.into_iter().enumerate() {
        let Some(entry) = entry else { continue };
        let at = entry
            .patch_id
            .and_then(|p| place.get(&p).copied())
            .unwrap_or(index);
        if let Some(slot) = found.get_mut(at) {
            *slot = Some(match (entry.action.as_str(), entry.identity, entry.error) {
                ("create", Some(identity), _) => ImportOutcome::Create { identity },
                (_, _, Some(error)) => record_error(error, plan),
                (action, _, None) => ImportOutcome::Error {
                    error: Box::new(ErrorBody::new(502).with_reason(format!(
                        "the server answered `{action}` without an identity or error"
                    ))),
                },
            });
        }
    }
    found
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| ImportOutcome::Error {
                error: Box::new(
                    ErrorBody::new(502).with_reason("the server answered nothing for this record"),
                ),
            })
        })
        .collect()
}

/// A record's error; a conflict is a skip under `--on-conflict skip`, naming the holder when
/// the server says who it is (kith does, in `details.conflicting_identity`; Kratos does not,
/// and the skip names the nil id).
fn record_error(error: ErrorBody, plan: &ImportPlan) -> ImportOutcome {
    if error.code == 409 && plan.on_conflict == OnConflict::Skip {
        let holder = error
            .details
            .get("conflicting_identity")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(IdentityId::nil);
        return ImportOutcome::Skip { identity: holder };
    }
    ImportOutcome::Error {
        error: Box::new(error),
    }
}

/// Reads the sources and cuts them into batches of slots, within Kratos' limits; stops when
/// the sender is gone.
fn cut_batches(sources: Vec<ImportSource>, plan: &ImportPlan, out: &SyncSender<Vec<Slot>>) {
    let mut batch = Vec::new();
    let (mut entries, mut cleartext, mut bytes) = (0usize, 0usize, 0usize);
    let mut open = true;
    for source in sources {
        read_records(&source.name, source.reader, &mut |record| {
            let size = record.text.as_ref().map_or(0, String::len);
            let state = match plan.done.get(&record.position) {
                Some(identity) => SlotState::Decided(ImportOutcome::Skip {
                    identity: *identity,
                }),
                None => match checked(record.text) {
                    Ok((text, body)) => {
                        let has_cleartext = has_cleartext(&body);
                        let full = entries >= plan.batch_size
                            || (has_cleartext && cleartext >= MAX_BATCH_CLEARTEXT)
                            || (entries > 0 && bytes + size > MAX_BATCH_BYTES);
                        if full {
                            open = out.send(std::mem::take(&mut batch)).is_ok();
                            (entries, cleartext, bytes) = (0, 0, 0);
                        }
                        entries += 1;
                        cleartext += usize::from(has_cleartext);
                        bytes += size;
                        SlotState::Send(text)
                    }
                    Err(error) => SlotState::Decided(ImportOutcome::Error {
                        error: Box::new(error.to_envelope().error),
                    }),
                },
            };
            batch.push(Slot {
                position: record.position,
                bytes: size as u64,
                state,
            });
            open
        });
        if !open {
            return;
        }
    }
    if !batch.is_empty() {
        let _ = out.send(batch);
    }
}

/// A record's text and body once it reads as a createIdentityBody; or the error a local
/// import reports for it.
fn checked(text: std::result::Result<String, String>) -> Result<(String, CreateIdentityBody)> {
    let text = text.map_err(unreadable)?;
    let body = record_body(&text)?;
    Ok((text, body))
}

/// Whether a body sets a cleartext password (Kratos takes 200 of those per batch).
fn has_cleartext(body: &CreateIdentityBody) -> bool {
    body.credentials
        .as_ref()
        .and_then(|c| c.password.as_ref())
        .is_some_and(|p| p.config.password.is_some())
}

/// Keeps [`BatchPatchBody`] the wire type of the batch (the import writes its JSON by hand,
/// record texts as read; this pins that the two agree).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BatchPatchBody;

    #[test]
    fn the_hand_written_batch_is_a_batch_patch_body() {
        let texts = [
            r#"{"schema_id":"preset://email","traits":{"email":"a@example.org"}}"#,
            "{\n  \"schema_id\": \"preset://email\",\n  \"traits\": {\"email\": \"b@example.org\"}\n}\n",
        ];
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let body: BatchPatchBody =
            serde_json::from_slice(&batch_body(&texts, &ids)).expect("a batch body");
        assert_eq!(body.identities.len(), 2);
        assert_eq!(body.identities[1].patch_id, Some(ids[1]));
    }

    #[test]
    fn pauses_grow_stay_bounded_and_honour_retry_after() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let pause = policy.pause(attempt, None);
            assert!(pause <= policy.max, "{attempt}: {pause:?}");
        }
        assert!(policy.pause(1, None) <= policy.base);
        assert!(policy.pause(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        assert!(policy.pause(1, Some(Duration::from_secs(3600))) <= policy.max_retry_after);
    }

    #[test]
    fn a_lost_answers_retry_skips_what_the_first_send_created() {
        let plan = ImportPlan {
            on_conflict: OnConflict::Skip,
            ..ImportPlan::default()
        };
        let conflict = ErrorBody::new(409);
        assert!(matches!(
            record_error(conflict.clone(), &plan),
            ImportOutcome::Skip { .. }
        ));
        let failing = ImportPlan::default();
        assert!(matches!(
            record_error(conflict, &failing),
            ImportOutcome::Error { .. }
        ));
    }
}
