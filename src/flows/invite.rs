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
mod duration;

pub use duration::positive_duration;

use super::Kith;
use super::assemble::SchemaResolver;
use crate::error::{Error, NotFound, Result};
use crate::model::{
    CreateIdentityBody, Credential, CredentialKind, Identity, IdentityState, PasswordConfig,
    Timestamp,
};
use crate::schema::normalize_email;
use crate::store::{DeliveryRow, IdentityRows, InviteRow, StoreError, Tx};
use ::hmac::digest::KeyInit;
use ::hmac::{Hmac, Mac};
use chrono::Duration as ChronoDuration;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha512_256;
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Kratos' default `min_password_length` for passwords a user chooses.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Wrong submissions a flow survives; the next one kills it (Kratos' `max_submissions`).
pub const MAX_WRONG_SUBMISSIONS: i64 = 5;
/// Shortest and longest lifetime an invite may be given.
pub const MIN_INVITE_LIFESPAN: Duration = Duration::from_secs(5 * 60);
pub const MAX_INVITE_LIFESPAN: Duration = Duration::from_secs(30 * 24 * 3600);
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
    pub identity_id: Option<Uuid>,
    /// Schema for an identity created by the invite (default `preset://email`).
    pub schema_id: Option<String>,
    /// Traits for an identity created by the invite (default `{"email": EMAIL}`).
    pub traits: Option<Value>,
    /// Go duration; default the `invite.lifespan` setting.
    pub expires_in: Option<String>,
    /// Store the invite without handing it to the delivery plugins (`kith invite
    /// --no-deliver`): the caller passes the code and link on itself.
    pub skip_delivery: bool,
}

/// An issued invite, with its secrets: the only time they exist outside the invitee's hands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Invitation {
    pub invite_id: Uuid,
    pub identity_id: Uuid,
    pub recovery_link: String,
    pub recovery_code: String,
    pub expires_at: Timestamp,
    pub deliveries: Vec<DeliveryReport>,
}

/// One delivery attempt, as the invite's issuer sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryReport {
    pub plugin: String,
    pub status: String,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    pub identity_id: Uuid,
    /// The address now verified, for invites (Kratos' admin codes verify nothing: kratos#4090).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_address: Option<String>,
}

/// Where an invite is in its life, as `kith list invites` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteStatus {
    Pending,
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
    pub identity_id: Uuid,
    pub kind: String,
    pub address: Option<String>,
    pub status: InviteStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub wrong_submissions: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_why: Option<String>,
    pub deliveries: Vec<DeliveryReport>,
}

fn status(invite: &InviteRow, deliveries: &[DeliveryRow], now: Timestamp) -> InviteStatus {
    if invite.used_at.is_some() {
        InviteStatus::Redeemed
    } else if invite.revoked_at.is_some() {
        InviteStatus::Revoked
    } else if now > invite.expires_at {
        InviteStatus::Expired
    } else if deliveries.iter().any(|d| d.status == "delivered") {
        InviteStatus::Delivered
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
    }
}

/// Secrets drawn from the operating system's random source.
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("no randomness available", e))?;
    Ok(bytes)
}

/// A uniformly random 6-digit code.
fn new_code() -> Result<String> {
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>()?);
        // Reject the top sliver so every code is equally likely.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// A uniformly random 32-character alphanumeric token.
fn new_token() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut token = String::with_capacity(32);
    while token.len() < 32 {
        for byte in random_bytes::<64>()? {
            // 248 = 4 * 62: bytes above it would favour the first letters.
            if byte < 248 && token.len() < 32 {
                token.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(token)
}

/// Lowercase hex HMAC-SHA512/256 of `secret` under the store's key.
fn keyed_hash(key: &str, secret: &str) -> Result<String> {
    let mut mac = <Hmac<Sha512_256> as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|e| Error::internal("recovery key", e))?;
    mac.update(secret.as_bytes());
    Ok(crate::hex::lower_hex(&mac.finalize().into_bytes()))
}

fn hashes_match(stored: Option<&str>, computed: &str) -> bool {
    stored.is_some_and(|stored| stored.as_bytes().ct_eq(computed.as_bytes()).into())
}

fn lifespan(
    text: Option<&str>,
    default: &str,
    bounds: Option<(Duration, Duration)>,
) -> Result<Duration> {
    let text = text.unwrap_or(default);
    let duration = positive_duration(text).map_err(Error::BadRequest)?;
    if let Some((min, max)) = bounds
        && (duration < min || duration > max)
    {
        return Err(Error::BadRequest(format!(
            "Value from \"expires_in\" must be between 5m and 720h (30 days): {text}"
        )));
    }
    Ok(duration)
}

fn expiry(now: Timestamp, lifespan: Duration) -> Result<Timestamp> {
    let delta = ChronoDuration::from_std(lifespan).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(Timestamp(now.0 + delta))
}

/// The secrets of a new flow and their stored form.
pub(super) struct Secrets {
    code: String,
    token: String,
    code_hash: String,
    token_hash: String,
}

impl Kith {
    /// The key to hash new secrets under, made on first use. A store whose key file is gone
    /// gets a new key only when no open invite needs the old one; otherwise issuing is
    /// refused, since a new key would silently break every open invite.
    fn issuing_key(&self, tx: &Tx<'_>) -> Result<String> {
        match tx.recovery_key() {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Ok(tx.create_recovery_key()?),
            Err(StoreError::KeyMissing { path }) => {
                let now = self.clock.now();
                let open = tx
                    .list_invites()?
                    .iter()
                    .any(|i| i.used_at.is_none() && i.revoked_at.is_none() && now <= i.expires_at);
                if open {
                    return Err(Error::RecoveryKeyMissing { path });
                }
                Ok(tx.create_recovery_key()?)
            }
            Err(other) => Err(other.into()),
        }
    }

    pub(super) fn new_secrets(&self, tx: &Tx<'_>) -> Result<Secrets> {
        let key = self.issuing_key(tx)?;
        let code = new_code()?;
        let token = new_token()?;
        Ok(Secrets {
            code_hash: keyed_hash(&key, &code)?,
            token_hash: keyed_hash(&key, &token)?,
            code,
            token,
        })
    }

    /// An invite with its fresh secrets, as the issuer sees it (no deliveries yet).
    pub(super) fn invitation(
        &self,
        public_url: &str,
        invite: &InviteRow,
        secrets: Secrets,
    ) -> Invitation {
        Invitation {
            invite_id: invite.id,
            identity_id: invite.identity_id,
            recovery_link: format!(
                "{}?flow={}&token={}",
                self.recovery_base(public_url),
                invite.flow_id,
                secrets.token
            ),
            recovery_code: secrets.code,
            expires_at: invite.expires_at,
            deliveries: Vec::new(),
        }
    }

    pub(super) fn recovery_base(&self, public_url: &str) -> String {
        format!("{}/self-service/recovery", public_url.trim_end_matches('/'))
    }

    /// Invites someone: finds the identity whose identifier or recovery address is the email
    /// (or creates it, active and without a password), revokes its older invites, stores the
    /// new one, and then hands it to every enabled delivery plugin unless the request says
    /// not to. A delivery that fails is recorded in the result, never returned as an error:
    /// the invite stands and can be resent.
    ///
    /// # Errors
    /// 400 for a bad lifespan or traits, 404 for an unknown `identity_id`, and whatever
    /// creating the identity refuses.
    pub fn invite(&self, request: &InviteRequest) -> Result<Invitation> {
        let mut invitation = self.issue_invite(request)?;
        if !request.skip_delivery {
            self.deliver_invite(&mut invitation)?;
        }
        Ok(invitation)
    }

    /// Stores a new invite and returns its code and link, delivered to no one yet.
    fn issue_invite(&self, request: &InviteRequest) -> Result<Invitation> {
        let settings = self.settings()?;
        let lifespan = lifespan(
            request.expires_in.as_deref(),
            &settings.invite_lifespan,
            Some((MIN_INVITE_LIFESPAN, MAX_INVITE_LIFESPAN)),
        )?;
        let email = request.email.as_deref().map(normalize_email);
        let (invitation, _) = self.write(|tx| {
            let now = self.clock.now();
            let identity = match (request.identity_id, &email) {
                (Some(id), _) => tx
                    .get_identity(id, false)?
                    .ok_or(Error::NotFound(NotFound::Identity(id)))?,
                (None, Some(email)) => match tx.identity_by_address(email)? {
                    Some(id) => tx
                        .get_identity(id, false)?
                        .ok_or(Error::NotFound(NotFound::Identity(id)))?,
                    None => self.create_invited(tx, &settings, request, email)?,
                },
                (None, None) => {
                    return Err(Error::BadRequest(
                        "an invite needs an email or an identity".into(),
                    ));
                }
            };
            let address = email.clone().or_else(|| {
                identity
                    .recovery_addresses
                    .first()
                    .map(|a| a.value.clone())
                    .or_else(|| {
                        identity
                            .verifiable_addresses
                            .first()
                            .map(|a| a.value.clone())
                    })
            });
            tx.revoke_invites(Some(identity.id), None, "replaced by a newer invite", now)?;
            let (invite, secrets) = self.open_flow(tx, identity.id, "invite", address, lifespan)?;
            Ok((
                self.invitation(&settings.public_url, &invite, secrets),
                invite,
            ))
        })?;
        Ok(invitation)
    }

    /// Creates the identity an invite is for: active, no password.
    fn create_invited(
        &self,
        tx: &Tx<'_>,
        settings: &super::Settings,
        request: &InviteRequest,
        email: &str,
    ) -> Result<Identity> {
        let body = CreateIdentityBody {
            schema_id: request
                .schema_id
                .clone()
                .unwrap_or_else(|| "preset://email".into()),
            traits: Some(
                request
                    .traits
                    .clone()
                    .unwrap_or_else(|| json!({ "email": email })),
            ),
            ..CreateIdentityBody::default()
        };
        let resolve: SchemaResolver<'_> = &|id| self.schema_in(tx, id);
        let identity = self.build_identity(settings, resolve, body)?;
        let reachable = identity.recovery_addresses.iter().any(|a| a.value == email)
            || identity
                .verifiable_addresses
                .iter()
                .any(|a| a.value == email);
        if !reachable {
            return Err(Error::BadRequest(format!(
                "the traits do not make {email} a recovery or verifiable address of the new identity"
            )));
        }
        tx.insert_identity(&IdentityRows::from(&identity), None)?;
        self.audit(
            tx,
            "identity.created",
            Some(identity.id),
            Some(json!({"by": "invite"})),
        )?;
        Ok(identity)
    }

    /// Issues an admin recovery code, as `POST /admin/recovery/code` does (default 1h).
    ///
    /// # Errors
    /// [`NotFound::RecoveryIdentity`] (404 "could not find identity") for an unknown id; 400 for a bad `expires_in`.
    pub fn create_recovery_code(
        &self,
        identity_id: Uuid,
        expires_in: Option<&str>,
    ) -> Result<RecoveryCode> {
        let settings = self.settings()?;
        let lifespan = lifespan(expires_in, ADMIN_RECOVERY_LIFESPAN, None)?;
        self.write(|tx| {
            tx.get_identity(identity_id, false)?
                .ok_or(Error::NotFound(NotFound::RecoveryIdentity(identity_id)))?;
            let (invite, secrets) =
                self.open_flow(tx, identity_id, "recovery_code", None, lifespan)?;
            Ok(RecoveryCode {
                recovery_link: format!(
                    "{}?flow={}",
                    self.recovery_base(&settings.public_url),
                    invite.flow_id
                ),
                recovery_code: secrets.code,
                expires_at: invite.expires_at,
            })
        })
    }

    /// Issues an admin recovery link, as `POST /admin/recovery/link` does (default 1h).
    ///
    /// # Errors
    /// 400 "The requested identity id does not exist." for an unknown id; 400 for a bad `expires_in`.
    pub fn create_recovery_link(
        &self,
        identity_id: Uuid,
        expires_in: Option<&str>,
    ) -> Result<RecoveryLink> {
        let settings = self.settings()?;
        let lifespan = lifespan(expires_in, ADMIN_RECOVERY_LIFESPAN, None)?;
        self.write(|tx| {
            if tx.get_identity(identity_id, false)?.is_none() {
                return Err(Error::BadRequest(
                    "The requested identity id does not exist.".into(),
                ));
            }
            let (invite, secrets) =
                self.open_flow(tx, identity_id, "recovery_link", None, lifespan)?;
            Ok(RecoveryLink {
                recovery_link: format!(
                    "{}?token={}&flow={}",
                    self.recovery_base(&settings.public_url),
                    secrets.token,
                    invite.flow_id
                ),
                expires_at: invite.expires_at,
            })
        })
    }

    /// Opens a recovery flow of `kind` for an identity: fresh secrets, the row with their
    /// keyed hashes (a code for invites and codes, a token for invites and links), and its
    /// audit event.
    fn open_flow(
        &self,
        tx: &Tx<'_>,
        identity_id: Uuid,
        kind: &str,
        address: Option<String>,
        lifespan: Duration,
    ) -> Result<(InviteRow, Secrets)> {
        let now = self.clock.now();
        let secrets = self.new_secrets(tx)?;
        let invite = InviteRow {
            id: self.ids.new_id(),
            flow_id: self.ids.new_id(),
            identity_id,
            kind: kind.into(),
            address,
            code_hash: (kind != "recovery_link").then(|| secrets.code_hash.clone()),
            token_hash: (kind != "recovery_code").then(|| secrets.token_hash.clone()),
            created_at: now,
            expires_at: expiry(now, lifespan)?,
            submissions: 0,
            used_at: None,
            revoked_at: None,
            revoked_why: None,
            created_by: self.actor.clone(),
        };
        tx.insert_invite(&invite)?;
        self.audit(
            tx,
            &format!("{kind}.issued"),
            Some(identity_id),
            Some(json!({"invite_id": invite.id, "flow": invite.flow_id, "expires_at": invite.expires_at})),
        )?;
        Ok((invite, secrets))
    }
}

impl Kith {
    /// Redeems an invite (or an admin recovery code or link): checks the secret, sets the
    /// password with the configured hasher, marks the invite used and, for invites, the
    /// invited address verified.
    ///
    /// # Errors
    /// Kratos' messages: an invalid, expired or unknown code; a used one; a flow that saw
    /// too many wrong submissions (each wrong one is counted, even though the call fails);
    /// `identity_disabled` for an inactive identity, whose code is then not consumed.
    pub fn redeem(&self, redemption: &Redemption, password: &str) -> Result<Redeemed> {
        // Refused before the secret is looked at, so a short password costs no attempt.
        let length = password.chars().count();
        if length < MIN_PASSWORD_LENGTH {
            return Err(Error::BadRequest(format!(
                "The password must be at least {MIN_PASSWORD_LENGTH} characters long, but got {length}."
            )));
        }
        let (flow, secret, by_code) = match redemption {
            Redemption::Code { flow, code } => (*flow, code.trim().to_string(), true),
            Redemption::Token { flow, token } => (*flow, token.clone(), false),
            Redemption::Link(link) => {
                let (flow, token) = parse_link(link)?;
                (flow, token, false)
            }
        };
        let settings = self.settings()?;
        // A refusal that changes nothing (unknown, used, dead or locked flow; an inactive
        // identity) is decided on a read, so guessing at flows never takes the write lock.
        // Only a wrong secret on a live flow (an attempt to count) or a right one writes; the
        // write checks everything again, as the flow may have changed meanwhile.
        let hash = match self.read(|tx| self.check_redemption(tx, flow, &secret, by_code))? {
            Checked::Refused(error) => return Err(error),
            Checked::Wrong => None,
            // Hashed before the write lock is taken: it costs tens of milliseconds.
            Checked::Right => Some(crate::password::hash_password(
                password.as_bytes(),
                &settings.hasher,
            )?),
        };
        // The outer Result is the store's; the inner one the redemption's, so that wrong
        // submissions are committed even though the call is refused.
        self.write(|tx| {
            let Some(invite) = tx.get_invite(flow)?.filter(|i| i.flow_id == flow) else {
                return Ok(Err(Error::RecoveryCodeInvalid));
            };
            if invite.used_at.is_some() {
                return Ok(Err(Error::BadRequest(CODE_USED.into())));
            }
            if invite.revoked_why.as_deref() == Some(REVOKED_FOR_ATTEMPTS) {
                return Ok(Err(Error::BadRequest(SUBMITTED_TOO_OFTEN.into())));
            }
            let key = tx.recovery_key()?.ok_or_else(|| Error::broken("the store has an invite but no recovery key"))?;
            let stored = if by_code { invite.code_hash.as_deref() } else { invite.token_hash.as_deref() };
            let now = self.clock.now();
            if !hashes_match(stored, &keyed_hash(&key, &secret)?) {
                // Counted and committed although the call fails: guessing has a budget.
                if tx.count_submission(invite.id)? >= MAX_WRONG_SUBMISSIONS {
                    tx.revoke_invites(None, Some(invite.id), REVOKED_FOR_ATTEMPTS, now)?;
                }
                self.audit(tx, "invite.wrong_code", Some(invite.identity_id), Some(json!({"invite_id": invite.id})))?;
                return Ok(Err(Error::RecoveryCodeInvalid));
            }
            if invite.revoked_at.is_some() || now > invite.expires_at {
                return Ok(Err(Error::RecoveryCodeInvalid));
            }
            let mut identity = tx
                .get_identity(invite.identity_id, true)?
                .ok_or(Error::NotFound(NotFound::Identity(invite.identity_id)))?;
            if identity.state == IdentityState::Inactive {
                return Ok(Err(Error::IdentityDisabled(identity.id)));
            }
            let hash = match &hash {
                Some(hash) => hash.clone(),
                None => crate::password::hash_password(password.as_bytes(), &settings.hasher)?,
            };
            set_password(&mut identity, hash, now);
            tx.replace_identity(&IdentityRows::from(&identity))?;
            tx.use_invite(invite.id, now)?;
            let verified_address = match (&invite.kind[..], &invite.address) {
                ("invite", Some(address)) if tx.verify_address(identity.id, address, now)? => Some(address.clone()),
                _ => None,
            };
            self.audit(
                tx,
                "invite.redeemed",
                Some(identity.id),
                Some(json!({"invite_id": invite.id, "kind": invite.kind, "verified_address": verified_address})),
            )?;
            Ok(Ok(Redeemed {
                identity_id: identity.id,
                verified_address,
            }))
        })?
    }

    /// The read-only half of [`Kith::redeem`]: whether a submission can be refused without
    /// writing anything.
    fn check_redemption(
        &self,
        tx: &Tx<'_>,
        flow: Uuid,
        secret: &str,
        by_code: bool,
    ) -> Result<Checked> {
        let Some(invite) = tx.get_invite(flow)?.filter(|i| i.flow_id == flow) else {
            return Ok(Checked::Refused(Error::RecoveryCodeInvalid));
        };
        if invite.used_at.is_some() {
            return Ok(Checked::Refused(Error::BadRequest(CODE_USED.into())));
        }
        if invite.revoked_why.as_deref() == Some(REVOKED_FOR_ATTEMPTS) {
            return Ok(Checked::Refused(Error::BadRequest(
                SUBMITTED_TOO_OFTEN.into(),
            )));
        }
        let Some(key) = tx.recovery_key()? else {
            return Err(Error::broken("the store has an invite but no recovery key"));
        };
        let stored = if by_code {
            invite.code_hash.as_deref()
        } else {
            invite.token_hash.as_deref()
        };
        // A dead flow is refused alike for a right and a wrong secret; counting guesses at
        // it protects nothing.
        if invite.revoked_at.is_some() || self.clock.now() > invite.expires_at {
            return Ok(Checked::Refused(Error::RecoveryCodeInvalid));
        }
        if !hashes_match(stored, &keyed_hash(&key, secret)?) {
            return Ok(Checked::Wrong);
        }
        match tx.get_identity(invite.identity_id, false)? {
            Some(identity) if identity.state == IdentityState::Inactive => {
                Ok(Checked::Refused(Error::IdentityDisabled(identity.id)))
            }
            _ => Ok(Checked::Right),
        }
    }

    /// Every invite and admin recovery flow, newest first, optionally of one status.
    ///
    /// # Errors
    /// Only if the store fails.
    pub fn list_invites(&self, only: Option<InviteStatus>) -> Result<Vec<InviteSummary>> {
        let now = self.clock.now();
        self.read(|tx| {
            let mut summaries = Vec::new();
            for invite in tx.list_invites()? {
                let deliveries = tx.deliveries(invite.id)?;
                let status = status(&invite, &deliveries, now);
                if only.is_some_and(|wanted| wanted != status) {
                    continue;
                }
                summaries.push(InviteSummary {
                    id: invite.id,
                    flow_id: invite.flow_id,
                    identity_id: invite.identity_id,
                    kind: invite.kind,
                    address: invite.address,
                    status,
                    created_at: invite.created_at,
                    expires_at: invite.expires_at,
                    wrong_submissions: invite.submissions,
                    revoked_why: invite.revoked_why,
                    deliveries: deliveries.iter().map(report).collect(),
                });
            }
            Ok(summaries)
        })
    }

    /// Revokes an open invite.
    ///
    /// # Errors
    /// 404 for an unknown invite; 400 when it is already used or revoked.
    pub fn revoke_invite(&self, id: Uuid) -> Result<()> {
        self.write(|tx| {
            let invite = tx
                .get_invite(id)?
                .ok_or(Error::NotFound(NotFound::Invite(id)))?;
            if tx.revoke_invites(
                None,
                Some(invite.id),
                "revoked by an administrator",
                self.clock.now(),
            )? == 0
            {
                return Err(Error::BadRequest(format!(
                    "invite {id} is already redeemed or revoked"
                )));
            }
            self.audit(
                tx,
                "invite.revoked",
                Some(invite.identity_id),
                Some(json!({"invite_id": invite.id})),
            )
        })
    }
}

/// What a read says about a redemption before anything is written.
enum Checked {
    Refused(Error),
    Wrong,
    Right,
}

/// Sets (or replaces) the password hash of an identity's password credential.
fn set_password(identity: &mut Identity, hash: String, now: Timestamp) {
    let credentials = identity.credentials.get_or_insert_with(Default::default);
    let credential = credentials
        .entry(CredentialKind::Password)
        .or_insert_with(|| Credential {
            kind: CredentialKind::Password,
            identifiers: Vec::new(),
            config: None,
            version: 1,
            created_at: now,
            updated_at: now,
        });
    credential.config = Some(Credential::config_value(&PasswordConfig {
        hashed_password: hash,
        use_password_migration_hook: false,
    }));
    credential.updated_at = now;
    identity.updated_at = now;
}

/// The `flow` and `token` of a recovery link.
/// The `flow` and `token` parameters of a recovery link, or of its query alone.
pub fn link_parameters(link: &str) -> (Option<Uuid>, Option<String>) {
    let query = link.split_once('?').map_or(link, |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    let mut flow = None;
    let mut token = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "flow" => flow = Uuid::parse_str(&value).ok(),
            "token" => token = Some(value.into_owned()),
            _ => {}
        }
    }
    (flow, token)
}

fn parse_link(link: &str) -> Result<(Uuid, String)> {
    match link_parameters(link) {
        (Some(flow), Some(token)) => Ok((flow, token)),
        _ => Err(Error::BadRequest(
            "the link has no flow and token; pass the recovery_link kith printed, or --flow and --code".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens_have_their_shape() -> Result<()> {
        for _ in 0..200 {
            let code = new_code()?;
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
            let token = new_token()?;
            assert_eq!(token.len(), 32);
            assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        Ok(())
    }

    #[test]
    fn keyed_hashes_are_hex_and_depend_on_the_key() -> Result<()> {
        let a = keyed_hash("key-a", "123456")?;
        assert_eq!(a.len(), 64);
        assert_ne!(a, keyed_hash("key-b", "123456")?);
        assert!(hashes_match(Some(&a), &keyed_hash("key-a", "123456")?));
        assert!(!hashes_match(None, &a));
        Ok(())
    }

    #[test]
    fn links_give_flow_and_token() {
        let flow = Uuid::from_u128(7);
        let link = format!("http://x/self-service/recovery?flow={flow}&token=abc");
        assert_eq!(parse_link(&link).ok(), Some((flow, "abc".to_string())));
        assert!(parse_link("http://x/?flow=nope&token=a").is_err());
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

impl Kith {
    /// The state of the recovery flow `flow`, for the redemption page.
    ///
    /// # Errors
    /// Only if the store fails.
    pub fn recovery_flow_state(&self, flow: Uuid) -> Result<FlowState> {
        let now = self.clock.now();
        self.read(|tx| {
            Ok(match tx.get_invite(flow)?.filter(|i| i.flow_id == flow) {
                None => FlowState::Unknown,
                Some(invite) if invite.used_at.is_some() => FlowState::Used,
                Some(invite) if invite.revoked_why.as_deref() == Some(REVOKED_FOR_ATTEMPTS) => {
                    FlowState::TooManyAttempts
                }
                Some(invite) if invite.revoked_at.is_some() => FlowState::Revoked,
                Some(invite) if now > invite.expires_at => FlowState::Expired,
                Some(_) => FlowState::Open,
            })
        })
    }
}
