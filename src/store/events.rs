//! The audit trail: append-only rows written in the same transaction as the change they record.

use super::identities::EventRow;
use super::{Result, StoreError, Tx};
use crate::model::Timestamp;
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A recorded event, as `kith list events` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub actor: String,
    pub action: String,
    pub identity_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Tx<'_> {
    /// Appends one event.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn record_event(&self, event: &EventRow, identity_id: Option<Uuid>) -> Result<()> {
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
        identity_id: Option<Uuid>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let rows = self
            .tx
            .prepare_cached(
                "SELECT id, occurred_at, actor, action, identity_id, detail FROM audit_events \
                 WHERE id > ?1 AND (?2 IS NULL OR identity_id = ?2) ORDER BY id LIMIT ?3",
            )?
            .query_map(params![after_id, identity_id, limit as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<Uuid>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, occurred_at, actor, action, identity_id, detail)| {
                Ok(AuditEvent {
                    id,
                    occurred_at: Timestamp::parse(&occurred_at).map_err(StoreError::Corrupt)?,
                    actor,
                    action,
                    identity_id,
                    detail: detail
                        .map(|d| serde_json::from_str(&d))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
                })
            })
            .collect()
    }
}
