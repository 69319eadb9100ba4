//! The audit trail: append-only rows written in the same transaction as the change they record.

use super::identities::EventRow;
use super::{Result, StoreError, Tx};
use crate::model::IdentityId;
use crate::model::Timestamp;
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

/// A recorded event, as `kith list events` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub actor: String,
    pub action: String,
    pub identity_id: Option<IdentityId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Tx<'_> {
    /// Appends one event.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn record_event(&self, event: &EventRow, identity_id: Option<IdentityId>) -> Result<()> {
        self.tx
            .prepare_cached(super::identities::INSERT_EVENT)?
            .execute(params![
                event.occurred_at,
                event.actor,
                event.action,
                identity_id,
                event.detail,
            ])?;
        Ok(())
    }

    /// Events after `after_id` (oldest first), of one identity when given, at most `limit`.
    ///
    /// # Errors
    /// Only if SQLite fails or a row cannot be read back.
    pub fn list_events(
        &self,
        identity_id: Option<IdentityId>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let rows = self
            .tx
            .prepare_cached(
                "SELECT id, occurred_at, actor, action, identity_id, detail FROM audit_events \
                 WHERE id > ?1 AND (?2 IS NULL OR identity_id = ?2) ORDER BY id LIMIT ?3",
            )?
            .query_map(
                params![after_id, identity_id, limit as i64],
                StoredEvent::from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }
}

/// An `audit_events` row as read.
struct StoredEvent {
    id: i64,
    occurred_at: String,
    actor: String,
    action: String,
    identity_id: Option<IdentityId>,
    detail: Option<String>,
}

impl StoredEvent {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            occurred_at: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            identity_id: row.get(4)?,
            detail: row.get(5)?,
        })
    }
}

impl TryFrom<StoredEvent> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: StoredEvent) -> Result<Self> {
        Ok(AuditEvent {
            id: row.id,
            occurred_at: Timestamp::parse(&row.occurred_at).map_err(StoreError::Corrupt)?,
            actor: row.actor,
            action: row.action,
            identity_id: row.identity_id,
            detail: row
                .detail
                .map(|d| serde_json::from_str(&d))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
        })
    }
}
