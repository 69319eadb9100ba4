//! Invites: Kratos' admin recovery (a 6-digit code bound to a flow, and a link with a
//! 32-character token), issued, tracked and redeemed to set a password.
//!
//! Codes and tokens are stored only as keyed hashes (HMAC-SHA512/256 with a key generated
//! for each store, as Kratos does with its session secret) and compared in constant time.
//! The key lives in a key file beside the store, never in it (see `store::key`): a copy of
//! the store alone cannot brute-force the six-digit codes.
//! An invite is single use, expires, allows at most five wrong submissions, and a newer
//! invite for the same identity revokes the older ones.

mod delivery;
mod issue;
mod redeem;
pub(super) mod secrets;

pub use redeem::{FlowPage, link_parameters};

use super::Kith;
use crate::error::{Error, NotFound, Result};
use crate::model::IdentityId;
use crate::model::{
    CreateIdentityBody, Credential, CredentialKind, Identity, IdentityState, PasswordConfig,
    Timestamp, VerificationStatus,
};
use crate::schema::normalize_email;
use crate::store::{DeliveryRow, InviteRow, StoreError, Tx};
use chrono::Duration as ChronoDuration;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// Kratos' default `min_password_length` for passwords a user chooses.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Wrong submissions a flow survives; the next one kills it (Kratos' `max_submissions`).
pub const MAX_WRONG_SUBMISSIONS: i64 = 5;
/// Kratos' default lifespan of admin recovery codes and links.
const ADMIN_RECOVERY_LIFESPAN: &str = "1h";
/// Kratos' answer to a submission after too many wrong codes.
pub const SUBMITTED_TOO_OFTEN: &str =
    "The request was submitted too often. Please request another code.";
const CODE_USED: &str = "The code was already used. Please request another code.";
const REVOKED_FOR_ATTEMPTS: &str = "too many wrong submissions";

/// What `kith invite` asks for: an email (found or created) or an existing identity.
#[derive(Clone, Debug, Default)]
pub struct InviteRequest {
    pub email: Option<String>,
    pub identity_id: Option<IdentityId>,
    /// Schema for an identity created by the invite (default `preset://email`).
    pub schema_id: Option<String>,
    /// Traits for an identity created by the invite (default `{"email": EMAIL}`).
    pub traits: Option<Value>,
    /// Go duration; default the `invite.lifespan` setting.
    pub expires_in: Option<String>,
    /// Store the invite without handing it to the delivery plugins (`kith invite
    /// --no-deliver`): the caller passes the code and link on itself.
    pub skip_delivery: bool,
    /// Where the redemption page sends the invitee once the password is set (Kratos'
    /// `return_to`); it must match `selfservice.allowed_return_urls`.
    pub return_to: Option<String>,
}

/// An issued invite, with its secrets: the only time they exist outside the invitee's hands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Invitation {
    pub invite_id: Uuid,
    pub identity_id: IdentityId,
    pub recovery_link: String,
    pub recovery_code: String,
    pub expires_at: Timestamp,
    pub deliveries: Vec<DeliveryReport>,
}

/// One plugin's delivery of an invite, as its issuer sees it: `delivered` (sent), `queued`
/// (waiting in the courier queue, perhaps for a retry) or `failed` (the plugin could not
/// plan, or the courier abandoned the message).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryReport {
    pub plugin: String,
    pub status: String,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The courier message carrying it (`kith get message ID`), once one was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// How the message travels: `email`, `http` or `outbox`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `POST /admin/recovery/code`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryCode {
    pub recovery_link: String,
    pub recovery_code: String,
    pub expires_at: Timestamp,
}

/// `POST /admin/recovery/link`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryLink {
    pub recovery_link: String,
    pub expires_at: Timestamp,
}

/// How an invitee proves the invite is theirs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// The whole `recovery_link` (its `flow` and `token` parameters).
    Link(String),
    /// The flow id and the link's token, already taken out of the link.
    Token { flow: Uuid, token: String },
    /// The flow id and the 6-digit code.
    Code { flow: Uuid, code: String },
}

/// A redeemed invite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Redeemed {
    pub identity_id: IdentityId,
    /// The address now verified, for invites (Kratos' admin codes verify nothing: kratos#4090).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_address: Option<String>,
    /// Where the invitee goes next (the flow's `return_to`, still allowed), if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

/// Where an invite is in its life, as `kith list invites` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteStatus {
    Pending,
    /// A message of it waits in the courier queue (or is being sent).
    Queued,
    Delivered,
    DeliveryFailed,
    Redeemed,
    Expired,
    Revoked,
}

impl InviteStatus {
    /// Parses the kebab-case name (`delivery-failed`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "queued" => Self::Queued,
            "delivered" => Self::Delivered,
            "delivery-failed" => Self::DeliveryFailed,
            "redeemed" => Self::Redeemed,
            "expired" => Self::Expired,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }
}

/// An invite as `kith list invites` shows it: never its secrets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InviteSummary {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub identity_id: IdentityId,
    pub kind: FlowKind,
    pub address: Option<String>,
    pub status: InviteStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub wrong_submissions: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_why: Option<String>,
    pub deliveries: Vec<DeliveryReport>,
}

fn status(invite: &InviteRow, deliveries: &[DeliveryReport], now: Timestamp) -> InviteStatus {
    let any = |status: &str| deliveries.iter().any(|d| d.status == status);
    if invite.used_at.is_some() {
        InviteStatus::Redeemed
    } else if invite.revoked_at.is_some() {
        InviteStatus::Revoked
    } else if now > invite.expires_at {
        InviteStatus::Expired
    } else if any("delivered") {
        InviteStatus::Delivered
    } else if any("queued") {
        InviteStatus::Queued
    } else if !deliveries.is_empty() {
        InviteStatus::DeliveryFailed
    } else {
        InviteStatus::Pending
    }
}

fn report(delivery: &DeliveryRow) -> DeliveryReport {
    DeliveryReport {
        plugin: delivery.plugin.clone(),
        status: delivery.status.clone(),
        attempts: delivery.attempts,
        detail: delivery.detail.clone(),
        message_id: None,
        channel: None,
    }
}

/// Which kind of recovery flow a row is: an invite, or one of Kratos' admin recoveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// `kith invite`: a code and a link, sent to an address, which it verifies when redeemed.
    Invite,
    /// `POST /admin/recovery/code`: a code for a flow, handed to the caller.
    RecoveryCode,
    /// `POST /admin/recovery/link`: a link with a token, handed to the caller.
    RecoveryLink,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::RecoveryCode => "recovery_code",
            Self::RecoveryLink => "recovery_link",
        }
    }

    /// The kind a stored row names.
    ///
    /// # Errors
    /// A name kith never writes: the file was edited by hand.
    fn of(row: &InviteRow) -> Result<Self> {
        match row.kind.as_str() {
            "invite" => Ok(Self::Invite),
            "recovery_code" => Ok(Self::RecoveryCode),
            "recovery_link" => Ok(Self::RecoveryLink),
            other => Err(StoreError::Corrupt(format!("recovery flow kind {other:?}")).into()),
        }
    }

    /// The audit trail's name for issuing one.
    fn issued_action(self) -> &'static str {
        match self {
            Self::Invite => "invite.issued",
            Self::RecoveryCode => "recovery_code.issued",
            Self::RecoveryLink => "recovery_link.issued",
        }
    }

    /// Whether the flow is redeemed with a code (a link carries a token instead).
    fn has_code(self) -> bool {
        self != Self::RecoveryLink
    }

    /// Whether the flow is redeemed with a link's token.
    fn has_token(self) -> bool {
        self != Self::RecoveryCode
    }
}

/// Where a recovery flow stands, as the redemption page needs to know before it asks for
/// anything: never the identity, the address or a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowState {
    /// Waiting for its code (or token) and a password.
    Open,
    /// Redeemed already.
    Used,
    /// Past its expiry.
    Expired,
    /// Revoked by an admin or a newer invite.
    Revoked,
    /// Killed by too many wrong codes.
    TooManyAttempts,
    /// No flow has this id.
    Unknown,
}

impl FlowState {
    /// What the redemption page (and `kith accept invite`) says of a flow that cannot be
    /// redeemed; `None` while it is open.
    pub fn closed_message(self) -> Option<&'static str> {
        match self {
            FlowState::Open => None,
            FlowState::Used => Some(
                "This link was used already. If you set your password with it, sign in with that password; otherwise please ask whoever invited you for a new one.",
            ),
            FlowState::Expired => {
                Some("This link has expired. Please ask whoever invited you for a new one.")
            }
            FlowState::Revoked => Some(
                "This link is no longer valid: it was replaced by a newer one or revoked. Please ask whoever invited you for a new one.",
            ),
            FlowState::TooManyAttempts => Some(SUBMITTED_TOO_OFTEN),
            FlowState::Unknown => Some(
                "This link is not valid. Please check that you opened the whole link you were sent.",
            ),
        }
    }
}
