//! Issuing recovery flows: invites (with the identity they invite, made if needed) and
//! Kratos' admin recovery codes and links; listing and revoking them.

use super::secrets::Secrets;
use super::*;
use crate::flows::call::Call;
use crate::flows::commit::Commit;
use crate::flows::duration::positive_duration;
use crate::flows::return_to::allowed_return_to;
use crate::flows::settings::{MAX_INVITE_LIFESPAN, MIN_INVITE_LIFESPAN, Settings};
use crate::model::{IdentityId, SchemaId};

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

/// The `return_to` a new flow stores: checked against the allow-list now, when the admin
/// asks for it, so a refused one is reported to them and never reaches an invitee.
fn checked_return_to(settings: &Settings, return_to: Option<&str>) -> Result<Option<String>> {
    match return_to.map(str::trim).filter(|r| !r.is_empty()) {
        Some(return_to) => Ok(Some(allowed_return_to(
            return_to,
            &settings.allowed_return_urls,
        )?)),
        None => Ok(None),
    }
}

fn expiry(now: Timestamp, lifespan: Duration) -> Result<Timestamp> {
    let delta = ChronoDuration::from_std(lifespan).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(Timestamp(now.0 + delta))
}

/// Refuses to invite an identity that exists but cannot take the invite as asked: an
/// inactive one (it could not redeem it), or one given traits or a schema, which are only
/// for an identity the invite creates (they would be silently dropped, and the message
/// would greet nobody).
fn refuse_unusable(identity: &Identity, request: &InviteRequest) -> Result<()> {
    if identity.state == IdentityState::Inactive {
        return Err(Error::IdentityDisabled(identity.id));
    }
    if request.traits.is_some() || request.schema_id.is_some() {
        return Err(Error::BadRequest(format!(
            "identity {} already exists: traits and a schema id are only for an identity the \
             invite creates; change its traits with `kith patch identity {}` (or PATCH \
             /admin/identities/{}), then invite it without them",
            identity.id, identity.id, identity.id
        )));
    }
    Ok(())
}

impl Kith {
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
    pub(crate) fn invite(&self, request: &InviteRequest) -> Result<Invitation> {
        let plugins = match request.skip_delivery {
            true => Vec::new(),
            false => self.delivery_plugins()?,
        };
        let (mut invitation, queued) = self.issue_invite(request, &plugins)?;
        if !request.skip_delivery {
            self.hand_to_courier(&mut invitation, &queued)?;
        }
        Ok(invitation)
    }

    /// Stores a new invite with the messages its delivery plugins planned, and returns its
    /// code and link and the queued messages.
    fn issue_invite(
        &self,
        request: &InviteRequest,
        plugins: &[delivery::DeliveryPlugin],
    ) -> Result<(Invitation, Vec<Uuid>)> {
        let call = self.call()?;
        let settings = &call.settings;
        let lifespan = lifespan(
            request.expires_in.as_deref(),
            &settings.invite_lifespan,
            Some((MIN_INVITE_LIFESPAN, MAX_INVITE_LIFESPAN)),
        )?;
        let return_to = checked_return_to(settings, request.return_to.as_deref())?;
        let email = request.email.as_deref().map(normalize_email);
        let invitation = self.commit(|tx| {
            let now = self.clock.now();
            let existing = match (request.identity_id, &email) {
                (Some(id), _) => Some(
                    tx.get_identity(id, false)?
                        .ok_or(Error::NotFound(NotFound::Identity(id)))?,
                ),
                (None, Some(email)) => match tx.identity_by_address(email)? {
                    Some(id) => Some(
                        tx.get_identity(id, false)?
                            .ok_or(Error::NotFound(NotFound::Identity(id)))?,
                    ),
                    None => None,
                },
                (None, None) => None,
            };
            let identity = match (existing, &email) {
                (Some(identity), _) => {
                    refuse_unusable(&identity, request)?;
                    identity
                }
                (None, Some(email)) => self.create_invited(tx, &call, request, email)?,
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
            // Messages of older invites still queued carry secrets this revokes.
            tx.overwriting_freed_space(|| tx.drop_queued_messages(None, Some(identity.id)))?;
            tx.revoke_invites(Some(identity.id), None, "replaced by a newer invite", now)?;
            let (invite, secrets) = self.open_flow(
                tx,
                identity.id,
                FlowKind::Invite,
                address,
                lifespan,
                return_to.clone(),
            )?;
            let invitation = self.invitation(&settings.public_url, &invite, secrets);
            let queued = match request.skip_delivery {
                true => Vec::new(),
                false => {
                    self.queue_deliveries(tx, plugins, &invite, &invitation, &identity.traits)?
                }
            };
            Ok((invitation, queued))
        })?;
        Ok(invitation)
    }

    /// Creates the identity an invite is for: active, no password.
    fn create_invited(
        &self,
        tx: &mut Commit<'_>,
        call: &Call,
        request: &InviteRequest,
        email: &str,
    ) -> Result<Identity> {
        let body = CreateIdentityBody {
            schema_id: request
                .schema_id
                .clone()
                .map_or_else(|| call.settings.default_schema_id.clone(), SchemaId::from),
            traits: Some(
                request
                    .traits
                    .clone()
                    .unwrap_or_else(|| json!({ "email": email })),
            ),
            ..CreateIdentityBody::default()
        };
        let identity = self.build_identity(call, body, None)?;
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
        tx.insert(&identity, Some(json!({"by": "invite"})))?;
        Ok(identity)
    }

    /// Issues an admin recovery code, as `POST /admin/recovery/code` does (default 1h).
    ///
    /// # Errors
    /// [`NotFound::RecoveryIdentity`] (404 "could not find identity") for an unknown id; 400 for a bad `expires_in`.
    pub(crate) fn create_recovery_code(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryCode> {
        let settings = self.settings()?;
        let lifespan = lifespan(expires_in, ADMIN_RECOVERY_LIFESPAN, None)?;
        let return_to = checked_return_to(&settings, return_to)?;
        self.commit(|tx| {
            tx.get_identity(identity_id, false)?
                .ok_or(Error::NotFound(NotFound::RecoveryIdentity(identity_id)))?;
            let (invite, secrets) = self.open_flow(
                tx,
                identity_id,
                FlowKind::RecoveryCode,
                None,
                lifespan,
                return_to,
            )?;
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
    pub(crate) fn create_recovery_link(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryLink> {
        let settings = self.settings()?;
        let lifespan = lifespan(expires_in, ADMIN_RECOVERY_LIFESPAN, None)?;
        let return_to = checked_return_to(&settings, return_to)?;
        self.commit(|tx| {
            if tx.get_identity(identity_id, false)?.is_none() {
                return Err(Error::BadRequest(
                    "The requested identity id does not exist.".into(),
                ));
            }
            let (invite, secrets) = self.open_flow(
                tx,
                identity_id,
                FlowKind::RecoveryLink,
                None,
                lifespan,
                return_to,
            )?;
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
        tx: &Commit<'_>,
        identity_id: IdentityId,
        kind: FlowKind,
        address: Option<String>,
        lifespan: Duration,
        return_to: Option<String>,
    ) -> Result<(InviteRow, Secrets)> {
        let now = self.clock.now();
        let secrets = self.new_secrets(tx)?;
        let invite = InviteRow {
            id: self.ids.new_id(),
            flow_id: self.ids.new_id(),
            identity_id,
            kind: kind.as_str().into(),
            address,
            code_hash: kind.has_code().then(|| secrets.code_hash.clone()),
            token_hash: kind.has_token().then(|| secrets.token_hash.clone()),
            created_at: now,
            expires_at: expiry(now, lifespan)?,
            submissions: 0,
            used_at: None,
            revoked_at: None,
            revoked_why: None,
            created_by: self.actor.clone(),
            return_to,
        };
        tx.insert_invite(&invite)?;
        tx.record(kind.issued_action(),
            Some(identity_id),
            Some(json!({"invite_id": invite.id, "flow": invite.flow_id, "expires_at": invite.expires_at})),
        )?;
        Ok((invite, secrets))
    }
}

impl Kith {
    /// Every invite and admin recovery flow, newest first, optionally of one status.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(crate) fn list_invites(&self, only: Option<InviteStatus>) -> Result<Vec<InviteSummary>> {
        let now = self.clock.now();
        self.read(|tx| {
            let mut summaries = Vec::new();
            for invite in tx.list_invites()? {
                let deliveries = delivery::delivery_reports(tx, invite.id)?;
                let status = status(&invite, &deliveries, now);
                if only.is_some_and(|wanted| wanted != status) {
                    continue;
                }
                summaries.push(InviteSummary {
                    id: invite.id,
                    flow_id: invite.flow_id,
                    identity_id: invite.identity_id,
                    kind: FlowKind::of(&invite)?,
                    address: invite.address,
                    status,
                    created_at: invite.created_at,
                    expires_at: invite.expires_at,
                    wrong_submissions: invite.submissions,
                    revoked_why: invite.revoked_why,
                    deliveries,
                });
            }
            Ok(summaries)
        })
    }

    /// Revokes an open invite.
    ///
    /// # Errors
    /// 404 for an unknown invite; 400 when it is already used or revoked.
    pub(crate) fn revoke_invite(&self, id: Uuid) -> Result<()> {
        self.commit(|tx| {
            let invite = tx
                .get_invite(id)?
                .ok_or(Error::NotFound(NotFound::Invite(id)))?;
            tx.overwriting_freed_space(|| tx.drop_queued_messages(Some(invite.id), None))?;
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
            tx.record(
                "invite.revoked",
                Some(invite.identity_id),
                Some(json!({"invite_id": invite.id})),
            )
        })
    }
}
