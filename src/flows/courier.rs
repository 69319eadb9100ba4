//! The courier worker: drains the queue of messages delivery plugins planned, and shows it.
//!
//! A pass claims the messages that are due (queued → processing, one more attempt counted,
//! in one transaction), carries them out several at once, then records every outcome in one
//! transaction: `sent`, `queued` again after a delay that doubles from
//! `courier.retry_base` up to `courier.retry_max`, or `abandoned` after
//! `courier.message_retries` + 1 attempts (or at once when it can never work). A sent or
//! abandoned message's sealed plan is overwritten.
//!
//! One worker holds a store at a time (a lock file beside it), so a message left processing
//! when a worker is killed is one no worker is sending: the next worker puts it back in the
//! queue first. A message may be sent twice that way, never lost.

use super::Kith;
use super::settings::Settings;
use crate::courier::{Courier, CourierSettings, SendError, Sendable, seal};
use crate::error::{Error, NotFound, Result};
use crate::model::Timestamp;
use crate::store::{DispatchRow, MessageFilter, MessageRow, MessageStatus};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use uuid::Uuid;

/// Messages one pass claims at most.
const PASS_SIZE: usize = 64;
/// Messages sent at once within a pass. Sending is latency-bound, not CPU-bound: lettre
/// writes a message's final `.` apart from its body without TCP_NODELAY, so each message
/// waits out the relay's delayed ACK (about 40 ms on Linux); throughput grows with the
/// connections in flight (8: 181 messages/s, 16: see the README's Speed part).
const SENDERS: usize = 16;
/// How often a pass waiting for its sends looks at the stop signal.
const STOP_CHECK: Duration = Duration::from_millis(200);
/// Longest an idle worker sleeps before it looks at the queue again: other processes
/// (`kith invite` beside `kith serve`) queue messages without waking it.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Kratos' `template_type` for a message with a recovery code and link.
const INVITE_TEMPLATE: &str = "recovery_code_valid";
/// Kratos' placeholder for a body or subject it does not show.
pub const REDACTED: &str = "<redacted-unless-dev-mode>";

/// A courier message in Kratos' shape (`GET /admin/courier/messages/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CourierMessage {
    pub id: Uuid,
    pub status: MessageStatus,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub recipient: String,
    pub body: String,
    pub subject: String,
    pub template_type: String,
    pub channel: String,
    pub send_count: i64,
    /// Every attempt, newest first; only a single message's view has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatches: Option<Vec<MessageDispatch>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One attempt, in Kratos' shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageDispatch {
    pub id: Uuid,
    pub message_id: Uuid,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A page of messages and the token of the next one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessagePage {
    pub messages: Vec<CourierMessage>,
    pub page_size: usize,
    pub next_page_token: Option<String>,
}

/// `GET /admin/courier/messages`' query.
#[derive(Clone, Debug, Default)]
pub struct ListMessages {
    pub status: Option<String>,
    pub recipient: Option<String>,
    pub page_size: Option<String>,
    pub page_token: Option<String>,
}

/// What a worker did, in total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CourierTotals {
    pub sent: usize,
    /// Failed attempts that will be tried again.
    pub retrying: usize,
    pub abandoned: usize,
    /// Messages still queued when it stopped.
    pub still_queued: usize,
}

impl std::ops::AddAssign for CourierTotals {
    fn add_assign(&mut self, other: Self) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.abandoned += other.abandoned;
    }
}

/// Held while a worker runs: the lock file's lock, or an in-memory store's flag.
pub struct WorkerLock {
    _file: Option<File>,
    flag: Option<std::sync::Arc<AtomicBool>>,
}

impl Drop for WorkerLock {
    fn drop(&mut self) {
        if let Some(flag) = &self.flag {
            flag.store(false, Ordering::SeqCst);
        }
    }
}

/// How a running worker is asked to stop.
#[derive(Clone, Debug, Default)]
pub struct StopSignal(std::sync::Arc<AtomicBool>);

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The outcome of one message's attempt.
struct Attempt {
    message: MessageRow,
    outcome: std::result::Result<String, SendError>,
}

fn dispatch_error(channel: &str, error: &SendError) -> Value {
    let reason = match channel {
        "email" => "failed to send email via smtp",
        "http" => "failed to send message via http",
        _ => "failed to write the message to the outbox",
    };
    json!({
        "code": 500,
        "status": "Internal Server Error",
        "reason": reason,
        "message": error.message(),
    })
}

impl Kith {
    /// The lock file beside the store that says a worker runs on it.
    fn courier_lock_path(&self) -> Option<PathBuf> {
        self.path.as_ref().map(|path| {
            let mut name = path.as_os_str().to_owned();
            name.push(".courier-lock");
            PathBuf::from(name)
        })
    }

    /// Whether another courier worker holds the store now (a running worker started now
    /// would wait for it).
    ///
    /// # Errors
    /// The lock file cannot be created.
    pub fn courier_lock_is_held(&self) -> Result<bool> {
        Ok(self.try_courier_lock()?.is_none())
    }

    /// Takes the store's worker lock, or `None` when another worker holds it.
    ///
    /// # Errors
    /// The lock file cannot be created.
    pub(crate) fn try_courier_lock(&self) -> Result<Option<WorkerLock>> {
        let Some(path) = self.courier_lock_path() else {
            let flag = std::sync::Arc::clone(&self.shared.courier_running);
            return Ok((!flag.swap(true, Ordering::SeqCst)).then_some(WorkerLock {
                _file: None,
                flag: Some(flag),
            }));
        };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| {
            Error::internal(
                format!("could not open the courier lock file {}", path.display()),
                e,
            )
        })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WorkerLock {
                _file: Some(file),
                flag: None,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::internal(
                format!("could not lock the courier lock file {}", path.display()),
                e,
            )),
        }
    }

    /// Wakes this process's worker: a message was queued.
    fn wake_courier(&self) {
        let (lock, wake) = &self.shared.courier_wake;
        let mut generation = lock.lock().unwrap_or_else(|p| p.into_inner());
        *generation += 1;
        wake.notify_all();
    }

    /// Sleeps up to `wait`, or until [`Kith::wake_courier`].
    fn idle(&self, wait: Duration) {
        let (lock, wake) = &self.shared.courier_wake;
        let generation = lock.lock().unwrap_or_else(|p| p.into_inner());
        let seen = *generation;
        let _ = wake
            .wait_timeout_while(generation, wait, |now| *now == seen)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Runs the worker: drains the queue until `stop`, or with `once` until nothing is due
    /// (each due message tried once). A running worker waits for another one to let go of
    /// the store (a one-shot `kith invite` holds it for a moment; a second long-running
    /// worker takes over when the first stops); `once` does not wait.
    ///
    /// # Errors
    /// [`Error::CourierBusy`] with `once` when another worker holds the store; the store's
    /// errors.
    pub fn run_courier(&self, once: bool, stop: &StopSignal) -> Result<CourierTotals> {
        let _lock = loop {
            match self.try_courier_lock()? {
                Some(lock) => break lock,
                None if once => return Err(Error::CourierBusy),
                None if stop.is_stopped() => return Ok(CourierTotals::default()),
                None => self.idle(IDLE_POLL),
            }
        };
        self.commit(|tx| Ok(tx.requeue_processing_messages(self.clock.now())?))?;
        let courier = Arc::new(Courier::new());
        let mut totals = CourierTotals::default();
        while !stop.is_stopped() {
            // An idle worker looks often; a read that finds nothing due spares the write lock.
            let next = self.read(|tx| Ok(tx.next_message_due()?))?;
            let now = self.clock.now();
            if next.is_some_and(|due| due <= now) {
                let (pass, claimed, _) = self.courier_pass(&courier, None, stop)?;
                totals += pass;
                // A full pass may have left more due; otherwise `once` is done, and a
                // running worker looks again for the next due time.
                if claimed == PASS_SIZE || !once {
                    continue;
                }
            }
            if once {
                break;
            }
            let wait = next.map_or(IDLE_POLL, |due| {
                Duration::from_millis(
                    u64::try_from(due.unix_millis() - now.unix_millis()).unwrap_or(0),
                )
                .min(IDLE_POLL)
            });
            if !wait.is_zero() {
                self.idle(wait);
            }
        }
        totals.still_queued = self.read(|tx| Ok(tx.count_messages(MessageStatus::Queued)?))?;
        Ok(totals)
    }

    /// Runs the worker until `stop`, as [`Kith::run_courier`] does, starting it again after
    /// a pause when it fails (the store busy for longer than its timeout): `on_error` hears
    /// why. For `kith serve` and `kith courier run`.
    pub fn run_courier_until_stopped(
        &self,
        stop: &StopSignal,
        on_error: impl Fn(&Error),
    ) -> CourierTotals {
        let mut totals = CourierTotals::default();
        while !stop.is_stopped() {
            match self.run_courier(false, stop) {
                Ok(run) => {
                    totals += run;
                    totals.still_queued = run.still_queued;
                }
                Err(error) => {
                    on_error(&error);
                    for _ in 0..25 {
                        if stop.is_stopped() {
                            break;
                        }
                        self.idle(STOP_CHECK);
                    }
                }
            }
        }
        totals
    }

    /// Sends `messages` now, when no worker holds the store (a one-shot `kith invite`);
    /// otherwise wakes this process's worker and leaves them to it.
    ///
    /// # Errors
    /// Only if the store fails.
    /// Returns what each attempt made said: where a message went, or why it did not.
    pub(super) fn send_now(&self, messages: &[Uuid]) -> Result<HashMap<Uuid, String>> {
        if messages.is_empty() {
            return Ok(HashMap::new());
        }
        let Some(_lock) = self.try_courier_lock()? else {
            self.wake_courier();
            return Ok(HashMap::new());
        };
        // Holding the lock, nothing else is sending: a message left processing by a process
        // killed mid-send (a worker, or another `kith invite`) goes back in the queue.
        self.commit(|tx| Ok(tx.requeue_processing_messages(self.clock.now())?))?;
        Ok(self
            .courier_pass(
                &Arc::new(Courier::new()),
                Some(messages),
                &StopSignal::new(),
            )?
            .2)
    }

    /// One pass: claims what is due (or the queued ones of `only`), carries it out, records
    /// the outcomes. Returns the totals, how many were claimed, and what each attempt said.
    fn courier_pass(
        &self,
        courier: &Arc<Courier>,
        only: Option<&[Uuid]>,
        stop: &StopSignal,
    ) -> Result<(CourierTotals, usize, HashMap<Uuid, String>)> {
        let now = self.clock.now();
        let settings = self.settings()?;
        let courier_settings = self.courier_settings(&settings)?;
        let (claimed, key, grants) = self.commit(|tx| {
            let claimed = match only {
                Some(ids) => tx.claim_messages(ids, now)?,
                None => tx.claim_due_messages(now, PASS_SIZE)?,
            };
            let key = match claimed.is_empty() {
                true => None,
                false => tx.recovery_key()?,
            };
            let mut grants = HashMap::new();
            for message in &claimed {
                if !grants.contains_key(&message.plugin) {
                    let granted = match tx.get_plugin(&message.plugin)? {
                        Some(record) => super::plugins::grants_of(&record)?,
                        None => Vec::new(),
                    };
                    grants.insert(message.plugin.clone(), granted);
                }
            }
            Ok((claimed, key, grants))
        })?;
        let count = claimed.len();
        if count == 0 {
            return Ok((CourierTotals::default(), 0, HashMap::new()));
        }
        let attempts = carry_out_all(
            courier,
            Arc::new((courier_settings, key, grants)),
            claimed,
            (now, settings.courier_send_deadline),
            stop,
        );

        let said = attempts
            .iter()
            .map(|attempt| {
                let text = match &attempt.outcome {
                    Ok(detail) => detail.clone(),
                    Err(error) => error.message().to_string(),
                };
                (attempt.message.id, text)
            })
            .collect();
        let totals = self.record_attempts(&settings, attempts)?;
        Ok((totals, count, said))
    }

    /// Records each attempt and where it leaves its message, in one transaction that
    /// overwrites the plans it wipes; a message of an invite that was sent or abandoned gets
    /// its invite's audit event.
    fn record_attempts(
        &self,
        settings: &Settings,
        attempts: Vec<Attempt>,
    ) -> Result<CourierTotals> {
        let mut totals = CourierTotals::default();
        self.commit(|tx| {
            let mut finished = Vec::new();
            tx.overwriting_freed_space(|| {
                for attempt in &attempts {
                    let now = self.clock.now();
                    let (status, next) = outcome(settings, attempt, now);
                    let dispatch = DispatchRow {
                        id: self.ids.new_id(),
                        message_id: attempt.message.id,
                        success: attempt.outcome.is_ok(),
                        error: attempt
                            .outcome
                            .as_ref()
                            .err()
                            .map(|e| dispatch_error(&attempt.message.channel, e).to_string()),
                        created_at: now,
                    };
                    if !tx.record_dispatch(&dispatch, status, next)? {
                        continue;
                    }
                    match status {
                        MessageStatus::Sent => totals.sent += 1,
                        MessageStatus::Queued => totals.retrying += 1,
                        _ => totals.abandoned += 1,
                    }
                    if status != MessageStatus::Queued
                        && let Some(invite_id) = attempt.message.invite_id
                        && let Some(invite) = tx.get_invite(invite_id)?
                    {
                        finished.push((attempt, status, invite.identity_id));
                    }
                }
                Ok(())
            })?;
            for (attempt, status, identity_id) in finished {
                let detail = match &attempt.outcome {
                    Ok(detail) => detail.clone(),
                    Err(error) => error.message().to_string(),
                };
                tx.record(
                    if status == MessageStatus::Sent {
                        "invite.delivered"
                    } else {
                        "invite.delivery_failed"
                    },
                    Some(identity_id),
                    Some(json!({
                        "invite_id": attempt.message.invite_id,
                        "message_id": attempt.message.id,
                        "plugin": attempt.message.plugin,
                        "channel": attempt.message.channel,
                        "detail": detail,
                    })),
                )?;
            }
            Ok(())
        })?;
        Ok(totals)
    }

    /// The courier's view of the settings.
    pub(super) fn courier_settings(&self, settings: &Settings) -> Result<CourierSettings> {
        // An in-memory store has no folder for an outbox of its own: its outbox plans fail
        // until `outbox_dir` is set.
        let outbox_dir = match settings.outbox_dir.is_empty() {
            false => Some(PathBuf::from(&settings.outbox_dir)),
            true => self.path.as_deref().map(|path| match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.join("outbox"),
                _ => PathBuf::from("outbox"),
            }),
        };
        Ok(CourierSettings {
            smtp_uri: settings.smtp_uri.clone(),
            from_address: settings.smtp_from_address.clone(),
            from_name: settings.smtp_from_name.clone(),
            local_name: settings.smtp_local_name.clone(),
            root_ca_file: Some(&settings.courier_root_ca_file)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            allowed_urls: settings
                .courier_allowed_urls
                .split([' ', ',', '\n'])
                .filter(|url| !url.trim().is_empty())
                .map(|url| url.trim().to_string())
                .collect(),
            outbox_dir,
        })
    }
}

/// What every send of a pass shares: where it may go, the key that opens the plans, and
/// each plugin's grants.
type SendContext = (
    CourierSettings,
    Option<String>,
    HashMap<String, Vec<String>>,
);

/// Carries out `claimed` on up to [`SENDERS`] threads of their own. A send that makes no
/// progress for `deadline` (`courier.send_deadline`: a relay that drips a byte every few seconds never trips
/// the network timeout), or is still running when `stop` is raised, is given up on: it is
/// recorded as failed, to be tried again, and its thread is left to end with its connection.
fn carry_out_all(
    courier: &Arc<Courier>,
    context: Arc<SendContext>,
    claimed: Vec<MessageRow>,
    (now, deadline): (Timestamp, Duration),
    stop: &StopSignal,
) -> Vec<Attempt> {
    let count = claimed.len();
    let queue = Arc::new(Mutex::new(
        claimed.iter().cloned().enumerate().collect::<VecDeque<_>>(),
    ));
    let (done, results) = mpsc::channel();
    for _ in 0..SENDERS.min(count) {
        let (queue, context, courier, done) = (
            Arc::clone(&queue),
            Arc::clone(&context),
            Arc::clone(courier),
            done.clone(),
        );
        let _ = std::thread::Builder::new()
            .name("kith-courier-send".into())
            .spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some((index, message)) = next else {
                        break;
                    };
                    let outcome = carry_out(&courier, &context, &message, now);
                    if done.send((index, outcome)).is_err() {
                        break;
                    }
                }
            });
    }
    drop(done);
    let mut outcomes: Vec<Option<std::result::Result<String, SendError>>> =
        (0..count).map(|_| None).collect();
    let mut received = 0;
    let mut idle = Duration::ZERO;
    while received < count {
        match results.recv_timeout(STOP_CHECK) {
            Ok((index, outcome)) => {
                outcomes[index] = Some(outcome);
                received += 1;
                idle = Duration::ZERO;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                idle += STOP_CHECK;
                if idle >= deadline || stop.is_stopped() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let unfinished = match stop.is_stopped() {
        true => "the worker stopped while the message was being sent".to_string(),
        false => format!(
            "the send made no progress for {}s (courier.send_deadline) and was given up on",
            deadline.as_secs_f64()
        ),
    };
    claimed
        .into_iter()
        .zip(outcomes)
        .map(|(message, outcome)| Attempt {
            message,
            outcome: outcome.unwrap_or_else(|| Err(SendError::Retry(unfinished.clone()))),
        })
        .collect()
}

fn carry_out(
    courier: &Courier,
    (settings, key, grants): &SendContext,
    message: &MessageRow,
    now: Timestamp,
) -> std::result::Result<String, SendError> {
    let sealed = message
        .sealed
        .as_deref()
        .ok_or_else(|| SendError::Abandon("the message's plan was wiped".into()))?;
    let key = key.as_deref().ok_or_else(|| {
        SendError::Abandon("the store has no recovery key to open the message with".into())
    })?;
    let plain =
        seal::open(key, message.id, sealed).map_err(|e| SendError::Abandon(e.to_string()))?;
    let sendable: Sendable = serde_json::from_slice(&plain)
        .map_err(|e| SendError::Abandon(format!("the message's plan does not read: {e}")))?;
    let needed = sendable.capability();
    if !grants
        .get(&message.plugin)
        .is_some_and(|granted| granted.iter().any(|g| g == needed))
    {
        return Err(SendError::Abandon(format!(
            "plugin {} no longer holds the capability `{needed}` (removed, or reinstalled \
             without --grant {needed}); nothing was sent",
            message.plugin
        )));
    }
    courier.send(settings, message.id, &message.recipient, &sendable, now)
}

/// Where an attempt leaves its message, and when it is due next: sent; queued again after
/// its backoff while attempts are left; abandoned otherwise, or at once for what can never
/// work.
fn outcome(settings: &Settings, attempt: &Attempt, now: Timestamp) -> (MessageStatus, Timestamp) {
    match &attempt.outcome {
        Ok(_) => (MessageStatus::Sent, now),
        Err(SendError::Retry(_))
            if attempt.message.send_count <= i64::from(settings.courier_retries) =>
        {
            let delay = backoff(settings, attempt.message.send_count);
            let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            (
                MessageStatus::Queued,
                Timestamp::from_unix_millis(now.unix_millis().saturating_add(delay)),
            )
        }
        Err(_) => (MessageStatus::Abandoned, now),
    }
}

/// The delay before attempt `attempts` + 1: the base, doubled for every earlier failure, at
/// most the cap.
fn backoff(settings: &Settings, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(30);
    settings
        .courier_retry_base
        .saturating_mul(1u32 << doublings)
        .min(settings.courier_retry_max)
}

impl Kith {
    /// A page of courier messages, as `GET /admin/courier/messages` lists them.
    ///
    /// # Errors
    /// 400 for a status that is not one of Kratos' four, a page size or token that does not
    /// parse.
    pub(crate) fn list_messages(&self, query: &ListMessages) -> Result<MessagePage> {
        let status = match query.status.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                MessageStatus::parse(text)
                    .ok_or_else(|| Error::BadRequest("Message status is not valid".into()))?,
            ),
        };
        let page_size = match query.page_size.as_deref() {
            None | Some("") => 10,
            Some(text) => match text.parse::<i64>() {
                Ok(size) if size <= 0 => 10,
                Ok(size) => usize::try_from(size.min(500)).unwrap_or(500),
                Err(_) => {
                    return Err(Error::BadRequest(format!(
                        "strconv.ParseInt: parsing {text:?}: invalid syntax"
                    )));
                }
            },
        };
        let after = match query.page_token.as_deref() {
            None | Some("") => None,
            Some(token) => Some(
                decode_page_token(token)
                    .ok_or_else(|| Error::BadRequest("invalid pagination token".into()))?,
            ),
        };
        let expose = self.settings()?.courier_expose_bodies;
        let key = expose
            .then(|| self.read(|tx| Ok(tx.recovery_key()?)))
            .transpose()?
            .flatten();
        let mut rows = self.read(|tx| {
            Ok(tx.list_messages(&MessageFilter {
                status,
                recipient: query.recipient.clone().filter(|r| !r.is_empty()),
                invite_id: None,
                after,
                limit: page_size + 1,
            })?)
        })?;
        let next_page_token = match rows.len() > page_size {
            true => {
                rows.truncate(page_size);
                rows.last()
                    .map(|last| encode_page_token(last.created_at.unix_millis(), last.id))
            }
            false => None,
        };
        Ok(MessagePage {
            messages: rows
                .iter()
                .map(|row| view(row, key.as_deref(), None))
                .collect(),
            page_size,
            next_page_token,
        })
    }

    /// One courier message with its dispatches.
    ///
    /// # Errors
    /// 404 for an unknown id.
    pub(crate) fn get_message(&self, id: Uuid) -> Result<CourierMessage> {
        let expose = self.settings()?.courier_expose_bodies;
        self.read(|tx| {
            let row = tx
                .get_message(id)?
                .ok_or(Error::NotFound(NotFound::Message(id)))?;
            let key = match expose {
                true => tx.recovery_key()?,
                false => None,
            };
            let dispatches = tx.dispatches(id)?;
            Ok(view(&row, key.as_deref(), Some(&dispatches)))
        })
    }

    /// Tries a message again: a queued one at once; an abandoned invite message by resending
    /// its invite (its plan was wiped, and its code could not be sent again anyway: only the
    /// code's hash is kept), which queues new messages with new secrets.
    ///
    /// # Errors
    /// 404 for an unknown message; 400 for one that was sent, or whose invite is closed.
    pub(crate) fn retry_message(&self, id: Uuid) -> Result<Vec<Uuid>> {
        let now = self.clock.now();
        let row = self.read(|tx| {
            tx.get_message(id)?
                .ok_or(Error::NotFound(NotFound::Message(id)))
        })?;
        match row.status {
            MessageStatus::Queued | MessageStatus::Processing => {
                self.commit(|tx| {
                    tx.hurry_message(id, now)?;
                    tx.record(
                        "courier.message_retried",
                        None,
                        Some(json!({"message_id": id})),
                    )
                })?;
                // A message left processing by a process killed mid-send is queued again
                // here, unless a worker holds the store (and may be sending it).
                self.send_now(&[id])?;
                let still = self.read(|tx| Ok(tx.get_message(id)?))?;
                if still.is_some_and(|m| m.status == MessageStatus::Processing) {
                    return Err(Error::BadRequest(format!(
                        "message {id} is being sent right now by a courier worker"
                    )));
                }
                Ok(vec![id])
            }
            MessageStatus::Sent => Err(Error::BadRequest(format!(
                "message {id} was sent; to send the invite again, resend it (kith resend invite)"
            ))),
            MessageStatus::Abandoned => {
                let invite_id = row.invite_id.ok_or_else(|| {
                    Error::BadRequest(format!("message {id} belongs to no invite to resend"))
                })?;
                let invitation = self.resend_invite(invite_id)?;
                Ok(invitation
                    .deliveries
                    .iter()
                    .filter_map(|d| d.message_id)
                    .collect())
            }
        }
    }
}

/// Kratos' view of a row: body and subject redacted unless `key` is given (the
/// `courier.expose_bodies` development setting), and then only while the plan is kept.
fn view(row: &MessageRow, key: Option<&str>, dispatches: Option<&[DispatchRow]>) -> CourierMessage {
    let opened = key.zip(row.sealed.as_deref()).and_then(|(key, sealed)| {
        let plain = seal::open(key, row.id, sealed).ok()?;
        serde_json::from_slice::<Sendable>(&plain).ok()
    });
    let (body, subject) = match (&opened, key) {
        (Some(sendable), _) => (sendable.body(), sendable.subject().to_string()),
        (None, Some(_)) => ("<wiped after sending>".to_string(), String::new()),
        (None, None) => (REDACTED.to_string(), REDACTED.to_string()),
    };
    CourierMessage {
        id: row.id,
        status: row.status,
        kind: row.kind.as_str(),
        recipient: row.recipient.clone(),
        body,
        subject,
        template_type: row.template_type.clone(),
        channel: row.channel.clone(),
        send_count: row.send_count,
        dispatches: dispatches.map(|all| {
            all.iter()
                .map(|d| MessageDispatch {
                    id: d.id,
                    message_id: d.message_id,
                    status: if d.success { "success" } else { "failed" },
                    error: d
                        .error
                        .as_deref()
                        .and_then(|text| serde_json::from_str(text).ok()),
                    created_at: d.created_at,
                    updated_at: d.created_at,
                })
                .collect()
        }),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn encode_page_token(created_ms: i64, id: Uuid) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_ms}/{id}"))
}

fn decode_page_token(token: &str) -> Option<(i64, Uuid)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ms, id) = text.split_once('/')?;
    Some((ms.parse().ok()?, id.parse().ok()?))
}

/// A message for `invite_id` planned by `plugin`, sealed, due now.
pub(super) fn queued_message(
    kith: &Kith,
    key: &str,
    invite_id: Uuid,
    plugin: &str,
    recipient: &str,
    sendable: &Sendable,
) -> Result<MessageRow> {
    let now = kith.clock.now();
    let id = kith.ids.new_id();
    let plain = serde_json::to_vec(sendable)
        .map_err(|e| Error::internal("could not write a message's plan", e))?;
    let sealed = seal::seal(key, id, &plain)
        .map_err(|e| Error::internal("could not seal a message's plan", e.to_string()))?;
    Ok(MessageRow {
        id,
        status: MessageStatus::Queued,
        kind: match recipient.contains('@') {
            true => crate::store::MessageType::Email,
            false => crate::store::MessageType::Sms,
        },
        channel: sendable.channel().to_string(),
        recipient: recipient.to_string(),
        template_type: INVITE_TEMPLATE.to_string(),
        plugin: plugin.to_string(),
        invite_id: Some(invite_id),
        sealed: Some(sealed),
        send_count: 0,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
    })
}
