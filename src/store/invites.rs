//! Invite rows (admin recovery flows) and their delivery attempts.

use super::{Result, StoreError, Tx};
use crate::model::IdentityId;
use crate::model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

/// An invite as stored: hashes of its secrets, never the secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct InviteRow {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub identity_id: IdentityId,
    /// `invite`, `recovery_code` or `recovery_link`.
    pub kind: String,
    pub address: Option<String>,
    pub code_hash: Option<String>,
    pub token_hash: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub submissions: i64,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_why: Option<String>,
    pub created_by: String,
    /// Where the redemption page sends the invitee once the password is set (Kratos'
    /// `return_to`), checked against `selfservice.allowed_return_urls` when the flow opened.
    pub return_to: Option<String>,
}

/// One plugin's delivery of one invite.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRow {
    pub invite_id: Uuid,
    pub plugin: String,
    /// `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub detail: Option<String>,
    pub updated_at: Timestamp,
}

const INVITE_COLUMNS: &str = "id, flow_id, identity_id, kind, address, code_hash, token_hash, created_at, \
     expires_at, submissions, used_at, revoked_at, revoked_why, created_by";

/// The invites with their `return_to`, which lives in a table of its own (migration 10).
const INVITES: &str =
    "invites LEFT JOIN invite_return_to ON invite_return_to.invite_id = invites.id";

fn time(text: &str) -> Result<Timestamp> {
    Timestamp::parse(text).map_err(StoreError::Corrupt)
}

/// The `invites` row as stored, times still text; an [`InviteRow`] once they parse.
struct RawInvite {
    id: Uuid,
    flow_id: Uuid,
    identity_id: IdentityId,
    kind: String,
    address: Option<String>,
    code_hash: Option<String>,
    token_hash: Option<String>,
    created_at: String,
    expires_at: String,
    submissions: i64,
    used_at: Option<String>,
    revoked_at: Option<String>,
    revoked_why: Option<String>,
    created_by: String,
    return_to: Option<String>,
}

fn invite_from_row(row: &Row<'_>) -> rusqlite::Result<RawInvite> {
    Ok(RawInvite {
        id: row.get(0)?,
        flow_id: row.get(1)?,
        identity_id: row.get(2)?,
        kind: row.get(3)?,
        address: row.get(4)?,
        code_hash: row.get(5)?,
        token_hash: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        submissions: row.get(9)?,
        used_at: row.get(10)?,
        revoked_at: row.get(11)?,
        revoked_why: row.get(12)?,
        created_by: row.get(13)?,
        return_to: row.get(14)?,
    })
}

fn complete(raw: RawInvite) -> Result<InviteRow> {
    Ok(InviteRow {
        id: raw.id,
        flow_id: raw.flow_id,
        identity_id: raw.identity_id,
        kind: raw.kind,
        address: raw.address,
        code_hash: raw.code_hash,
        token_hash: raw.token_hash,
        created_at: time(&raw.created_at)?,
        expires_at: time(&raw.expires_at)?,
        submissions: raw.submissions,
        used_at: raw.used_at.as_deref().map(time).transpose()?,
        revoked_at: raw.revoked_at.as_deref().map(time).transpose()?,
        revoked_why: raw.revoked_why,
        created_by: raw.created_by,
        return_to: raw.return_to,
    })
}

impl Tx<'_> {
    /// Stores a new invite.
    ///
    /// # Errors
    /// Only if SQLite fails (a clash of random ids or token hashes is a conflict).
    pub fn insert_invite(&self, invite: &InviteRow) -> Result<()> {
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO invites ({INVITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))?
            .execute(params![
                invite.id,
                invite.flow_id,
                invite.identity_id,
                invite.kind,
                invite.address,
                invite.code_hash,
                invite.token_hash,
                invite.created_at.to_string(),
                invite.expires_at.to_string(),
                invite.submissions,
                invite.used_at.map(|t| t.to_string()),
                invite.revoked_at.map(|t| t.to_string()),
                invite.revoked_why,
                invite.created_by,
            ])?;
        if let Some(return_to) = &invite.return_to {
            self.tx
                .prepare_cached(
                    "INSERT INTO invite_return_to (invite_id, return_to) VALUES (?1, ?2)",
                )?
                .execute(params![invite.id, return_to])?;
        }
        Ok(())
    }

    /// The invite with this id or flow id.
    ///
    /// # Errors
    /// Only if SQLite fails or the row cannot be read back.
    pub fn get_invite(&self, id_or_flow: Uuid) -> Result<Option<InviteRow>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {INVITE_COLUMNS}, return_to FROM {INVITES} WHERE id = ?1 OR flow_id = ?1"
            ))?
            .query_row([id_or_flow], invite_from_row)
            .optional()?
            .map(complete)
            .transpose()
    }

    /// Every invite, newest first.
    ///
    /// # Errors
    /// Only if SQLite fails or a row cannot be read back.
    pub fn list_invites(&self) -> Result<Vec<InviteRow>> {
        let rows = self
            .tx
            .prepare_cached(&format!(
                "SELECT {INVITE_COLUMNS}, return_to FROM {INVITES} ORDER BY id DESC"
            ))?
            .query_map([], invite_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(complete).collect()
    }

    /// Counts one more submission against an invite's flow; returns the new count.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn count_submission(&self, id: Uuid) -> Result<i64> {
        Ok(self
            .tx
            .prepare_cached("UPDATE invites SET submissions = submissions + 1 WHERE id = ?1 RETURNING submissions")?
            .query_row([id], |row| row.get(0))?)
    }

    /// Marks an invite used.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn use_invite(&self, id: Uuid, now: Timestamp) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE invites SET used_at = ?2 WHERE id = ?1")?
            .execute(params![id, now.to_string()])?;
        Ok(())
    }

    /// Revokes the open invites of an identity (or one invite), saying why; returns how many.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn revoke_invites(
        &self,
        identity_id: Option<IdentityId>,
        invite_id: Option<Uuid>,
        why: &str,
        now: Timestamp,
    ) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE invites SET revoked_at = ?3, revoked_why = ?4 \
                 WHERE (?1 IS NULL OR identity_id = ?1) AND (?2 IS NULL OR id = ?2) \
                   AND used_at IS NULL AND revoked_at IS NULL",
            )?
            .execute(params![identity_id, invite_id, now.to_string(), why])?)
    }

    /// Records the outcome of one plugin's delivery of an invite (another attempt if one was made).
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn record_delivery(
        &self,
        invite_id: Uuid,
        plugin: &str,
        delivered: bool,
        detail: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO deliveries (invite_id, plugin, status, attempts, detail, updated_at) \
                 VALUES (?1, ?2, ?3, 1, ?4, ?5) \
                 ON CONFLICT (invite_id, plugin) DO UPDATE SET status = excluded.status, \
                   attempts = attempts + 1, detail = excluded.detail, updated_at = excluded.updated_at",
            )?
            .execute(params![
                invite_id,
                plugin,
                if delivered { "delivered" } else { "failed" },
                detail,
                now.to_string()
            ])?;
        Ok(())
    }

    /// Forgets a plugin's delivery row of an invite: its message in the courier queue says
    /// where the delivery stands now.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn forget_delivery(&self, invite_id: Uuid, plugin: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM deliveries WHERE invite_id = ?1 AND plugin = ?2")?
            .execute(params![invite_id, plugin])?;
        Ok(())
    }

    /// The deliveries of an invite, by plugin name.
    ///
    /// # Errors
    /// Only if SQLite fails or a row cannot be read back.
    pub fn deliveries(&self, invite_id: Uuid) -> Result<Vec<DeliveryRow>> {
        let rows = self
            .tx
            .prepare_cached(
                "SELECT invite_id, plugin, status, attempts, detail, updated_at FROM deliveries \
                 WHERE invite_id = ?1 ORDER BY plugin",
            )?
            .query_map([invite_id], |row| {
                Ok(StoredDelivery {
                    invite_id: row.get(0)?,
                    plugin: row.get(1)?,
                    status: row.get(2)?,
                    attempts: row.get(3)?,
                    detail: row.get(4)?,
                    updated_at: row.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|row| {
                Ok(DeliveryRow {
                    invite_id: row.invite_id,
                    plugin: row.plugin,
                    status: row.status,
                    attempts: row.attempts,
                    detail: row.detail,
                    updated_at: time(&row.updated_at)?,
                })
            })
            .collect()
    }

    /// The identity holding `address` as a recovery address or password identifier.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identity_by_address(&self, address: &str) -> Result<Option<IdentityId>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT identity_id FROM recovery_addresses WHERE value = ?1 \
                 UNION ALL SELECT identity_id FROM credential_identifiers WHERE type = 'password' AND identifier = ?1 \
                 LIMIT 1",
            )?
            .query_row([address], |row| row.get(0))
            .optional()?)
    }
}

impl Tx<'_> {
    /// Replaces an open invite's secrets (a resend): the old code and link stop working.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn rotate_invite_secrets(
        &self,
        id: Uuid,
        code_hash: &str,
        token_hash: &str,
    ) -> Result<bool> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE invites SET code_hash = ?2, token_hash = ?3 \
                 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
            )?
            .execute(params![id, code_hash, token_hash])?;
        Ok(changed > 0)
    }
}

/// A `deliveries` row as read: its time still text.
struct StoredDelivery {
    invite_id: Uuid,
    plugin: String,
    status: String,
    attempts: i64,
    detail: Option<String>,
    updated_at: String,
}
