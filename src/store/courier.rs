//! The courier queue: messages in Kratos' shape and one dispatch row per attempt.
//!
//! A message's plan is stored only sealed (`sealed`, see `courier::seal`); the store never
//! sees it in clear. Claiming due messages, recording an attempt and wiping a finished
//! message's plan are each one statement group in the caller's transaction.

use super::{Result, StoreError, Tx};
use crate::model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

/// Where a message is, stored as Kratos stores it (queued 1, sent 2, processing 3,
/// abandoned 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sent,
    Processing,
    Abandoned,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 4] = [
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Processing,
        MessageStatus::Abandoned,
    ];

    fn code(self) -> i64 {
        match self {
            MessageStatus::Queued => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Processing => 3,
            MessageStatus::Abandoned => 4,
        }
    }

    fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Processing => "processing",
            MessageStatus::Abandoned => "abandoned",
        }
    }

    /// Kratos' exact parse (`ToMessageStatus`): one of the four names, nothing else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a message is, as Kratos stores it (email 1, sms 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    Email,
    Sms,
}

impl MessageType {
    fn code(self) -> i64 {
        match self {
            MessageType::Email => 1,
            MessageType::Sms => 2,
        }
    }

    /// The name in Kratos' spec (`courierMessageType`: `email` or `phone`); Kratos' code writes
    /// `sms` for the second, which strict clients generated from the spec refuse.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Email => "email",
            MessageType::Sms => "phone",
        }
    }
}

/// One courier message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRow {
    pub id: Uuid,
    pub status: MessageStatus,
    pub kind: MessageType,
    /// How it travels: `email` (SMTP), `http` or `outbox`.
    pub channel: String,
    pub recipient: String,
    pub template_type: String,
    /// The delivery plugin that planned it.
    pub plugin: String,
    pub invite_id: Option<Uuid>,
    /// The plan, sealed; `None` once the message is sent or abandoned (wiped).
    pub sealed: Option<Vec<u8>>,
    pub send_count: i64,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One attempt to send a message.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub success: bool,
    /// The error, as JSON (Kratos' bare DefaultError), for a failed attempt.
    pub error: Option<String>,
    pub created_at: Timestamp,
}

/// Which messages a listing wants, and where its page starts.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub recipient: Option<String>,
    /// Only messages of this invite.
    pub invite_id: Option<Uuid>,
    /// Messages after this one in the order `created_at DESC, id ASC`.
    pub after: Option<(i64, Uuid)>,
    pub limit: usize,
}

const COLUMNS: &str = "id, status, type, channel, recipient, template_type, plugin, invite_id, \
     sealed, send_count, next_attempt_ms, created_ms, updated_ms";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<(MessageRow, i64, i64)> {
    let status: i64 = row.get(1)?;
    let kind: i64 = row.get(2)?;
    Ok((
        MessageRow {
            id: row.get(0)?,
            status: MessageStatus::from_code(status).unwrap_or(MessageStatus::Queued),
            kind: if kind == 2 {
                MessageType::Sms
            } else {
                MessageType::Email
            },
            channel: row.get(3)?,
            recipient: row.get(4)?,
            template_type: row.get(5)?,
            plugin: row.get(6)?,
            invite_id: row.get(7)?,
            sealed: row.get(8)?,
            send_count: row.get(9)?,
            next_attempt_at: Timestamp::from_unix_millis(row.get(10)?),
            created_at: Timestamp::from_unix_millis(row.get(11)?),
            updated_at: Timestamp::from_unix_millis(row.get(12)?),
        },
        status,
        kind,
    ))
}

/// A row whose status or type codes kith never writes is a damaged file, not a message.
fn checked(raw: (MessageRow, i64, i64)) -> Result<MessageRow> {
    let (row, status, kind) = raw;
    if MessageStatus::from_code(status).is_none() || !(1..=2).contains(&kind) {
        return Err(StoreError::Corrupt(format!(
            "courier message {} has status {status} and type {kind}",
            row.id
        )));
    }
    Ok(row)
}

impl Tx<'_> {
    /// Queues a new message.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn insert_message(&self, message: &MessageRow) -> Result<()> {
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO courier_messages ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                message.id,
                message.status.code(),
                message.kind.code(),
                message.channel,
                message.recipient,
                message.template_type,
                message.plugin,
                message.invite_id,
                message.sealed,
                message.send_count,
                message.next_attempt_at.unix_millis(),
                message.created_at.unix_millis(),
                message.updated_at.unix_millis(),
            ])?;
        Ok(())
    }

    /// The message with this id.
    ///
    /// # Errors
    /// Only if SQLite fails or the row is damaged.
    pub fn get_message(&self, id: Uuid) -> Result<Option<MessageRow>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM courier_messages WHERE id = ?1"
            ))?
            .query_row([id], message_from_row)
            .optional()?
            .map(checked)
            .transpose()
    }

    /// Messages in Kratos' order (newest first, then by id), filtered.
    ///
    /// # Errors
    /// Only if SQLite fails or a row is damaged.
    pub fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRow>> {
        let (after_ms, after_id) = filter.after.unwrap_or((i64::MAX, Uuid::nil()));
        let mut statement = self.tx.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM courier_messages \
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR recipient = ?2) \
               AND (?3 IS NULL OR invite_id = ?3) \
               AND (created_ms < ?4 OR (created_ms = ?4 AND id > ?5)) \
             ORDER BY created_ms DESC, id ASC LIMIT ?6"
        ))?;
        let rows = statement.query_map(
            params![
                filter.status.map(MessageStatus::code),
                filter.recipient,
                filter.invite_id,
                after_ms,
                after_id,
                i64::try_from(filter.limit).unwrap_or(i64::MAX),
            ],
            message_from_row,
        )?;
        rows.map(|row| checked(row?)).collect()
    }

    /// Every attempt to send a message, newest first (Kratos' order).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn dispatches(&self, message_id: Uuid) -> Result<Vec<DispatchRow>> {
        let mut statement = self.tx.prepare_cached(
            "SELECT id, message_id, status, error, created_ms FROM courier_dispatches \
             WHERE message_id = ?1 ORDER BY created_ms DESC, rowid DESC",
        )?;
        let rows = statement.query_map([message_id], |row| {
            let status: String = row.get(2)?;
            Ok(DispatchRow {
                id: row.get(0)?,
                message_id: row.get(1)?,
                success: status == "success",
                error: row.get(3)?,
                created_at: Timestamp::from_unix_millis(row.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Takes up to `limit` queued messages that are due by `now`, oldest first, and marks
    /// them processing with one more attempt counted (Kratos counts before it sends).
    ///
    /// # Errors
    /// Only if SQLite fails or a row is damaged.
    pub fn claim_due_messages(&self, now: Timestamp, limit: usize) -> Result<Vec<MessageRow>> {
        let due = {
            let mut statement = self.tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM courier_messages \
                 WHERE status = 1 AND next_attempt_ms <= ?1 \
                 ORDER BY next_attempt_ms, created_ms LIMIT ?2"
            ))?;
            let rows = statement.query_map(
                params![now.unix_millis(), i64::try_from(limit).unwrap_or(i64::MAX)],
                message_from_row,
            )?;
            rows.map(|row| checked(row?)).collect::<Result<Vec<_>>>()?
        };
        due.into_iter()
            .map(|message| self.claim(message, now))
            .collect()
    }

    /// Marks a queued message processing, with one more attempt counted.
    fn claim(&self, mut message: MessageRow, now: Timestamp) -> Result<MessageRow> {
        self.tx
            .prepare_cached(
                "UPDATE courier_messages SET status = 3, send_count = send_count + 1, \
                 updated_ms = ?2 WHERE id = ?1",
            )?
            .execute(params![message.id, now.unix_millis()])?;
        message.status = MessageStatus::Processing;
        message.send_count += 1;
        message.updated_at = now;
        Ok(message)
    }

    /// When the next queued message falls due, if any is queued.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn next_message_due(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> = self
            .tx
            .prepare_cached("SELECT min(next_attempt_ms) FROM courier_messages WHERE status = 1")?
            .query_row([], |row| row.get(0))?;
        Ok(next.map(Timestamp::from_unix_millis))
    }

    /// Puts back every message left processing by a worker that is gone: only one worker
    /// holds a store, so when one starts, none of them is being sent. Returns how many.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn requeue_processing_messages(&self, now: Timestamp) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE courier_messages SET status = 1, next_attempt_ms = ?1, updated_ms = ?1 \
                 WHERE status = 3",
            )?
            .execute([now.unix_millis()])?)
    }

    /// Records one attempt and where it leaves the message: `sent` and `abandoned` also wipe
    /// the sealed plan (overwritten, not just unlinked); `queued` waits for `next_attempt_at`.
    /// Returns false when the message is gone (its invite or identity was deleted).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn record_dispatch(
        &self,
        dispatch: &DispatchRow,
        status: MessageStatus,
        next_attempt_at: Timestamp,
    ) -> Result<bool> {
        let now = dispatch.created_at.unix_millis();
        let finished = matches!(status, MessageStatus::Sent | MessageStatus::Abandoned);
        let updated = self
            .tx
            .prepare_cached(
                "UPDATE courier_messages SET status = ?2, next_attempt_ms = ?3, updated_ms = ?4, \
                 sealed = CASE WHEN ?5 THEN NULL ELSE sealed END WHERE id = ?1",
            )?
            .execute(params![
                dispatch.message_id,
                status.code(),
                next_attempt_at.unix_millis(),
                now,
                finished
            ])?;
        if updated == 0 {
            return Ok(false);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO courier_dispatches (id, message_id, status, error, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                dispatch.id,
                dispatch.message_id,
                if dispatch.success {
                    "success"
                } else {
                    "failed"
                },
                dispatch.error,
                now
            ])?;
        Ok(true)
    }

    /// Makes a queued message due now (`kith retry message`). Returns false when it is not
    /// queued.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn hurry_message(&self, id: Uuid, now: Timestamp) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE courier_messages SET next_attempt_ms = ?2, updated_ms = ?2 \
                 WHERE id = ?1 AND status = 1",
            )?
            .execute(params![id, now.unix_millis()])?
            == 1)
    }
}

impl Tx<'_> {
    /// How many messages have `status`.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn count_messages(&self, status: MessageStatus) -> Result<usize> {
        let count: i64 = self
            .tx
            .prepare_cached("SELECT count(*) FROM courier_messages WHERE status = ?1")?
            .query_row([status.code()], |row| row.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Claims those of `ids` that are still queued, as [`Tx::claim_due_messages`] does,
    /// whenever they are due.
    ///
    /// # Errors
    /// Only if SQLite fails or a row is damaged.
    pub fn claim_messages(&self, ids: &[Uuid], now: Timestamp) -> Result<Vec<MessageRow>> {
        let mut claimed = Vec::new();
        for id in ids {
            if let Some(message) = self.get_message(*id)?
                && message.status == MessageStatus::Queued
            {
                claimed.push(self.claim(message, now)?);
            }
        }
        Ok(claimed)
    }

    /// Deletes the queued (and processing) messages of an invite, or of every invite of an
    /// identity, whose secrets are dead (a resend drew new ones, the invite was revoked or
    /// replaced): they never left, and must not. One being sent right now is not recorded
    /// when its send ends. Returns how many.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn drop_queued_messages(
        &self,
        invite_id: Option<Uuid>,
        identity_id: Option<crate::model::IdentityId>,
    ) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached(
                "DELETE FROM courier_messages WHERE status IN (1, 3) AND invite_id IN \
                 (SELECT id FROM invites WHERE id = ?1 OR identity_id = ?2)",
            )?
            .execute(params![invite_id, identity_id])?)
    }
}
