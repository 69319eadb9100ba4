//! Redeeming a recovery flow: the secret checked on a read first, then the password set,
//! the flow used and, for invites, the address verified, in one write.

use super::secrets::{hashes_match, keyed_hash};
use super::*;
use crate::flows::Settings;
use crate::flows::return_to::allowed_return_to;

impl Kith {
    /// Redeems an invite (or an admin recovery code or link): checks the secret, sets the
    /// password with the configured hasher, marks the invite used and, for invites, the
    /// invited address verified.
    ///
    /// # Errors
    /// Kratos' messages: an invalid, expired or unknown code; a used one; a flow that saw
    /// too many wrong submissions (each wrong one is counted, even though the call fails);
    /// `identity_disabled` for an inactive identity, whose code is then not consumed.
    pub(crate) fn redeem(&self, redemption: &Redemption, password: &str) -> Result<Redeemed> {
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
        self.commit(|tx| {
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
                tx.record("invite.wrong_code", Some(invite.identity_id), Some(json!({"invite_id": invite.id})))?;
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
            let kind = FlowKind::of(&invite)?;
            let verified_address = match (kind, &invite.address) {
                (FlowKind::Invite, Some(address)) if mark_verified(&mut identity, address, now) => Some(address.clone()),
                _ => None,
            };
            tx.replace(
                &identity,
                "invite.redeemed",
                Some(json!({"invite_id": invite.id, "kind": kind, "verified_address": verified_address})),
            )?;
            tx.use_invite(invite.id, now)?;
            Ok(Ok(Redeemed {
                identity_id: identity.id,
                verified_address,
                return_to: still_allowed(invite.return_to, &settings),
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
}

/// What a read says about a redemption before anything is written.
enum Checked {
    Refused(Error),
    Wrong,
    Right,
}

/// Sets (or replaces) the password hash of an identity's password credential.
/// Marks the verifiable address `value` verified, as following the invite's link proves it;
/// `false` when the identity has no such address (its traits changed since the invite).
fn mark_verified(identity: &mut Identity, value: &str, now: Timestamp) -> bool {
    let Some(address) = identity
        .verifiable_addresses
        .iter_mut()
        .find(|a| a.value == value)
    else {
        return false;
    };
    address.verified = true;
    address.status = VerificationStatus::Completed;
    address.verified_at = Some(now);
    address.updated_at = now;
    true
}

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
            legacy_hash: None,
        });
    credential.config = Some(Credential::config_value(&PasswordConfig {
        hashed_password: hash,
        use_password_migration_hook: false,
    }));
    // A new password ends any pending migration: the old system's hash is no longer needed.
    credential.legacy_hash = None;
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

impl Kith {
    /// The state of the recovery flow `flow`, for the redemption page and `kith accept
    /// invite`, which say why a flow cannot be redeemed before they ask for a password.
    ///
    /// # Errors
    /// Only if the store fails.
    pub fn recovery_flow_state(&self, flow: Uuid) -> Result<FlowState> {
        let now = self.clock.now();
        self.read(|tx| {
            Ok(flow_state(
                tx.get_invite(flow)?.filter(|i| i.flow_id == flow).as_ref(),
                now,
            ))
        })
    }

    /// What the redemption page shows before anything is submitted: the flow's state and,
    /// while it is open, the account the password is for and where the page goes after.
    ///
    /// The account is shown on the flow id alone: the id is as unguessable as a token, is
    /// only ever sent to the invitee, and the account name is what they sign in with, not a
    /// secret. The code or token is still needed to set anything.
    ///
    /// # Errors
    /// Only if the store fails.
    pub fn recovery_flow_page(&self, flow: Uuid) -> Result<FlowPage> {
        let now = self.clock.now();
        let settings = self.settings()?;
        self.read(|tx| {
            let invite = tx.get_invite(flow)?.filter(|i| i.flow_id == flow);
            let state = flow_state(invite.as_ref(), now);
            let Some(invite) = invite.filter(|_| state == FlowState::Open) else {
                return Ok(FlowPage {
                    state,
                    account: None,
                    return_to: None,
                });
            };
            // Credentials are needed for their identifiers; their configs are not shown.
            let identity = tx.get_identity(invite.identity_id, true)?;
            let account = identity
                .as_ref()
                .and_then(|identity| identity.credentials.as_ref())
                .and_then(|credentials| credentials.get(&CredentialKind::Password))
                .and_then(|password| password.identifiers.first().cloned())
                .or(invite.address);
            Ok(FlowPage {
                state,
                account,
                return_to: still_allowed(invite.return_to, &settings),
            })
        })
    }
}

/// What the redemption page shows of a flow before anything is submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowPage {
    pub state: FlowState,
    /// The identifier the new password signs in with (the schema's password identifier, or
    /// else the invited address), for an open flow.
    pub account: Option<String>,
    /// Where the page sends the invitee once the password is set, for an open flow.
    pub return_to: Option<String>,
}

fn flow_state(invite: Option<&InviteRow>, now: Timestamp) -> FlowState {
    match invite {
        None => FlowState::Unknown,
        Some(invite) if invite.used_at.is_some() => FlowState::Used,
        Some(invite) if invite.revoked_why.as_deref() == Some(REVOKED_FOR_ATTEMPTS) => {
            FlowState::TooManyAttempts
        }
        Some(invite) if invite.revoked_at.is_some() => FlowState::Revoked,
        Some(invite) if now > invite.expires_at => FlowState::Expired,
        Some(_) => FlowState::Open,
    }
}

/// A stored `return_to`, if the allow-list still lets it through: one removed from the list
/// since the flow opened is no longer followed.
fn still_allowed(return_to: Option<String>, settings: &Settings) -> Option<String> {
    return_to.filter(|url| allowed_return_to(url, &settings.allowed_return_urls).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_give_flow_and_token() {
        let flow = Uuid::from_u128(7);
        let link = format!("http://x/self-service/recovery?flow={flow}&token=abc");
        assert_eq!(parse_link(&link).ok(), Some((flow, "abc".to_string())));
        assert!(parse_link("http://x/?flow=nope&token=a").is_err());
    }
}
