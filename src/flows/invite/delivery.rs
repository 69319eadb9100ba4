//! Delivering invites: while an invite is issued (or resent), every enabled delivery plugin
//! turns it into a plan, and each plan becomes a sealed courier message queued in the same
//! transaction as the invite. The courier carries them out (`flows::courier`): a worker
//! inside `kith serve` or `kith courier run`, or, when none holds the store, the issuing call
//! itself, once, right after the commit.
//!
//! A plugin that fails to plan never loses the invite: it is recorded as a failed delivery,
//! and the invite can be resent.

use super::{DeliveryReport, Invitation, InviteStatus, Kith, report};
use crate::courier::Sendable;
use crate::error::{Error, NotFound, Result};
use crate::flows::commit::Commit;
use crate::flows::courier::queued_message;
use crate::flows::plugins::{grants_of, plugin_of};
use crate::plugin_host::{Invite, Kind, Plan, Plugin};
use crate::store::{InviteRow, MessageFilter, MessageRow, MessageStatus, Tx};
use serde_json::{Value, json};
use uuid::Uuid;

/// An enabled delivery plugin and the capabilities it was granted.
pub(super) type DeliveryPlugin = (Vec<String>, Plugin);

impl Kith {
    /// The delivery plugins enabled now, read before the invite's transaction.
    pub(super) fn delivery_plugins(&self) -> Result<Vec<DeliveryPlugin>> {
        self.read(|tx| {
            tx.enabled_plugins(Kind::InviteDelivery.as_str())?
                .into_iter()
                .map(|record| Ok((grants_of(&record)?, plugin_of(record)?)))
                .collect()
        })
    }

    /// Asks every plugin for its plan of a just-issued invite and queues what they planned,
    /// in the invite's transaction; records a failed delivery for a plugin that could not
    /// plan. Returns the queued messages.
    ///
    /// # Errors
    /// Only if the store fails: a plugin's failure is recorded, not returned.
    pub(super) fn queue_deliveries(
        &self,
        tx: &Commit<'_>,
        plugins: &[DeliveryPlugin],
        invite: &InviteRow,
        invitation: &Invitation,
        traits: &Value,
    ) -> Result<Vec<Uuid>> {
        let now = self.clock.now();
        let recipient = invite.address.as_deref().filter(|a| !a.is_empty());
        let failed = |plugin: &Plugin, why: &str| -> Result<()> {
            tx.record_delivery(invite.id, &plugin.manifest.name, false, Some(why), now)?;
            tx.record(
                "invite.delivery_failed",
                Some(invite.identity_id),
                Some(
                    json!({"invite_id": invite.id, "plugin": plugin.manifest.name, "detail": why}),
                ),
            )
        };
        let Some(recipient) = recipient else {
            // An identity with neither a recovery nor a verifiable address gets its invite
            // (for the issuer to hand over), but no message.
            let why = format!(
                "no recovery address: identity {} has no recovery or verifiable address to \
                 deliver to; hand the code and link over yourself",
                invite.identity_id
            );
            for (_, plugin) in plugins {
                failed(plugin, &why)?;
            }
            return Ok(Vec::new());
        };
        if plugins.is_empty() {
            return Ok(Vec::new());
        }
        let key = tx.recovery_key()?.ok_or_else(|| {
            Error::broken(
                "an invite was issued, but the store has no recovery key to seal its messages",
            )
        })?;
        let message = Invite {
            recipient: recipient.to_string(),
            recovery_link: invitation.recovery_link.clone(),
            recovery_code: invitation.recovery_code.clone(),
            expires_unix_ms: u64::try_from(invitation.expires_at.unix_millis()).unwrap_or(0),
            traits_json: traits.to_string(),
        };
        let now_ms = u64::try_from(now.unix_millis()).unwrap_or(0);
        let mut queued = Vec::new();
        for (grants, plugin) in plugins {
            let name = &plugin.manifest.name;
            let planned = self
                .shared
                .plugins
                .deliver(plugin, &message, now_ms)
                .map_err(|fault| fault.to_string())
                .and_then(|report| check_grants(plugin, grants, report.output))
                .and_then(|plan| check_addressed_to(plugin, plan, recipient));
            match planned.map(Sendable::of) {
                Err(why) => failed(plugin, &why)?,
                Ok(None) => {
                    tx.record_delivery(
                        invite.id,
                        name,
                        true,
                        Some("the plugin planned nothing"),
                        now,
                    )?;
                }
                Ok(Some(sendable)) => {
                    let row = queued_message(self, &key, invite.id, name, recipient, &sendable)?;
                    tx.forget_delivery(invite.id, name)?;
                    tx.insert_message(&row)?;
                    tx.record(
                        "invite.queued",
                        Some(invite.identity_id),
                        Some(json!({
                            "invite_id": invite.id,
                            "message_id": row.id,
                            "plugin": name,
                            "channel": row.channel,
                        })),
                    )?;
                    queued.push(row.id);
                }
            }
        }
        Ok(queued)
    }

    /// After the invite committed: sends its messages now when no worker holds the store
    /// (otherwise the worker does), then reports where each delivery stands.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(super) fn hand_to_courier(
        &self,
        invitation: &mut Invitation,
        queued: &[Uuid],
    ) -> Result<()> {
        let said = self.send_now(queued)?;
        let mut reports = self.read(|tx| delivery_reports(tx, invitation.invite_id))?;
        // Where a message just sent went (the file written, the relay's answer) says more
        // than its stored state; a failure's own words are stored already.
        for report in &mut reports {
            if report.status == "delivered"
                && let Some(text) = report.message_id.and_then(|id| said.get(&id))
            {
                report.detail = Some(text.clone());
            }
        }
        invitation.deliveries = reports;
        Ok(())
    }

    /// Resends an open invite: new code and link (the old ones stop working: only their
    /// hashes were kept, so they cannot be sent again), same expiry, delivered again. Its
    /// messages still queued carry the old secrets and are dropped.
    ///
    /// # Errors
    /// 404 for an unknown invite; 400 when it is redeemed, revoked or expired.
    pub(crate) fn resend_invite(&self, id: Uuid) -> Result<Invitation> {
        let settings = self.settings()?;
        let plugins = self.delivery_plugins()?;
        let (mut invitation, queued) = self.commit(|tx| {
            let invite = tx
                .get_invite(id)?
                .ok_or(Error::NotFound(NotFound::Invite(id)))?;
            let status =
                super::status(&invite, &delivery_reports(tx, invite.id)?, self.clock.now());
            if matches!(
                status,
                InviteStatus::Redeemed | InviteStatus::Revoked | InviteStatus::Expired
            ) {
                let status = serde_json::to_value(status).unwrap_or_default();
                return Err(Error::BadRequest(format!(
                    "invite {id} is {}; issue a new one with `kith invite`",
                    status.as_str().unwrap_or("closed")
                )));
            }
            // An identity disabled since its invite was issued gets no new secrets to redeem.
            let identity = tx
                .get_identity(invite.identity_id, false)?
                .ok_or(Error::NotFound(NotFound::Identity(invite.identity_id)))?;
            if identity.state == crate::model::IdentityState::Inactive {
                return Err(Error::IdentityDisabled(identity.id));
            }
            let secrets = self.new_secrets(tx)?;
            tx.rotate_invite_secrets(invite.id, &secrets.code_hash, &secrets.token_hash)?;
            tx.overwriting_freed_space(|| tx.drop_queued_messages(Some(invite.id), None))?;
            tx.record(
                "invite.resent",
                Some(invite.identity_id),
                Some(json!({"invite_id": invite.id})),
            )?;
            let invitation = self.invitation(&settings.public_url, &invite, secrets);
            let queued =
                self.queue_deliveries(tx, &plugins, &invite, &invitation, &identity.traits)?;
            Ok((invitation, queued))
        })?;
        self.hand_to_courier(&mut invitation, &queued)?;
        Ok(invitation)
    }
}

/// Where each delivery of an invite stands: a plugin that planned nothing or failed to plan,
/// then its messages in the queue, newest first.
pub(super) fn delivery_reports(tx: &Tx<'_>, invite_id: Uuid) -> Result<Vec<DeliveryReport>> {
    let mut reports: Vec<DeliveryReport> = tx.deliveries(invite_id)?.iter().map(report).collect();
    let messages = tx.list_messages(&MessageFilter {
        invite_id: Some(invite_id),
        limit: 64,
        ..MessageFilter::default()
    })?;
    for message in &messages {
        reports.push(message_report(tx, message)?);
    }
    Ok(reports)
}

fn message_report(tx: &Tx<'_>, message: &MessageRow) -> Result<DeliveryReport> {
    let last_error = tx
        .dispatches(message.id)?
        .into_iter()
        .find_map(|d| d.error)
        .and_then(|error| serde_json::from_str::<Value>(&error).ok())
        .and_then(|error| error["message"].as_str().map(str::to_string));
    let status = match message.status {
        MessageStatus::Sent => "delivered",
        MessageStatus::Queued | MessageStatus::Processing => "queued",
        MessageStatus::Abandoned => "failed",
    };
    let detail = match message.status {
        MessageStatus::Sent => Some(format!("sent by {}", message.channel)),
        MessageStatus::Queued if message.send_count > 0 => Some(format!(
            "{}; next attempt at {}",
            last_error.as_deref().unwrap_or("failed"),
            message.next_attempt_at
        )),
        MessageStatus::Queued | MessageStatus::Processing => {
            Some(format!("queued for {}", message.channel))
        }
        MessageStatus::Abandoned => last_error,
    };
    Ok(DeliveryReport {
        plugin: message.plugin.clone(),
        status: status.to_string(),
        attempts: message.send_count,
        detail,
        message_id: Some(message.id),
        channel: Some(message.channel.clone()),
    })
}

/// Passes `plan` on only if the plugin was granted what carrying it out needs: the manifest
/// was checked at install, but the plan is what the plugin actually asks for. The courier
/// checks again when it carries the plan out.
fn check_grants(
    plugin: &Plugin,
    grants: &[String],
    plan: Plan,
) -> std::result::Result<Plan, String> {
    match plan.required_capability() {
        Some(needed) if !grants.iter().any(|g| g == needed) => Err(format!(
            "plugin {} {}: its plan needs the capability `{needed}`, which it was not granted; \
             nothing was carried out (reinstall it with --grant {needed} if its manifest requests it)",
            plugin.manifest.name, plugin.manifest.version
        )),
        _ => Ok(plan),
    }
}

/// An e-mail plan goes to the invite's address and nowhere else: a plugin cannot send the
/// invitee's code to someone else.
fn check_addressed_to(
    plugin: &Plugin,
    plan: Plan,
    recipient: &str,
) -> std::result::Result<Plan, String> {
    if let Plan::Email(email) = &plan {
        let bare = |text: &str| {
            let text = text.trim();
            let inner = match (text.rfind('<'), text.ends_with('>')) {
                (Some(open), true) => &text[open + 1..text.len() - 1],
                _ => text,
            };
            inner.trim().to_lowercase()
        };
        if bare(&email.to) != bare(recipient) {
            return Err(format!(
                "plugin {} {} planned an e-mail to {:?}, but the invite is for {recipient}; \
                 nothing was sent",
                plugin.manifest.name, plugin.manifest.version, email.to
            ));
        }
    }
    Ok(plan)
}
