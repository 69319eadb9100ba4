//! Delivering invites: every enabled delivery plugin turns the invite into a plan, and the
//! host carries it out (for outbox files, an atomic write into a Maildir `new/` folder).
//!
//! A delivery runs after the invite is committed, so a failing plugin never loses the
//! invite: it is recorded as `delivery-failed` and can be resent.

use super::{Invitation, InviteStatus, Kith, report};
use crate::error::{Error, NotFound, Result};
use crate::flows::plugins::{grants_of, plugin_of};
use crate::model::Timestamp;
use crate::plugin_host::{Invite, Kind, OutboxFile, Plan, Plugin, check_outbox_name};
use crate::store::InviteRow;
use serde_json::json;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

impl Kith {
    /// Hands an issued invite to every enabled delivery plugin and carries out their plans,
    /// recording one delivery row per plugin. Fills `invitation.deliveries`.
    ///
    /// # Errors
    /// Only if the store fails: a plugin's failure is recorded, not returned.
    pub(super) fn deliver_invite(&self, invitation: &mut Invitation) -> Result<()> {
        let settings = self.settings()?;
        let (plugins, invite, traits) = self.read(|tx| {
            let plugins = tx
                .enabled_plugins(Kind::InviteDelivery.as_str())?
                .into_iter()
                .map(|record| Ok((grants_of(&record)?, plugin_of(record)?)))
                .collect::<Result<Vec<_>>>()?;
            let invite = tx
                .get_invite(invitation.invite_id)?
                .ok_or(Error::NotFound(NotFound::Invite(invitation.invite_id)))?;
            let identity = tx
                .get_identity(invite.identity_id, false)?
                .ok_or(Error::NotFound(NotFound::Identity(invite.identity_id)))?;
            Ok((plugins, invite, identity.traits))
        })?;
        // With nobody to hand it to, the caller passes the code and link on itself, and a
        // store without a folder (in memory) needs no outbox for that.
        let outbox = match plugins.is_empty() {
            true => PathBuf::new(),
            false => self.outbox_dir(&settings.outbox_dir)?,
        };
        let message = Invite {
            recipient: invite.address.clone().unwrap_or_default(),
            recovery_link: invitation.recovery_link.clone(),
            recovery_code: invitation.recovery_code.clone(),
            expires_unix_ms: u64::try_from(invitation.expires_at.unix_millis()).unwrap_or(0),
            traits_json: traits.to_string(),
        };
        let now = self.clock.now();
        let now_ms = u64::try_from(now.unix_millis()).unwrap_or(0);
        for (grants, plugin) in &plugins {
            let outcome = deliverable(&invite)
                .and_then(|()| {
                    self.shared
                        .plugins
                        .deliver(plugin, &message, now_ms)
                        .map_err(|fault| fault.to_string())
                })
                .and_then(|report| check_grants(plugin, grants, report.output))
                .and_then(|plan| match plan {
                    Plan::Nothing => Ok("the plugin planned nothing".to_string()),
                    Plan::Outbox(files) => write_outbox(&outbox, invite.id, &files, now)
                        .map(|paths| {
                            paths
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .map_err(|e| {
                            format!("could not write to the outbox {}: {e}", outbox.display())
                        }),
                });
            let name = &plugin.manifest.name;
            self.commit(|tx| {
                let now = self.clock.now();
                let (delivered, detail) = match &outcome {
                    Ok(detail) => (true, detail.as_str()),
                    Err(error) => (false, error.as_str()),
                };
                tx.record_delivery(invite.id, name, delivered, Some(detail), now)?;
                tx.record(
                    if delivered {
                        "invite.delivered"
                    } else {
                        "invite.delivery_failed"
                    },
                    Some(invite.identity_id),
                    Some(json!({"invite_id": invite.id, "plugin": name, "detail": detail})),
                )
            })?;
        }
        invitation.deliveries = self
            .read(|tx| Ok(tx.deliveries(invite.id)?))?
            .iter()
            .map(report)
            .collect();
        Ok(())
    }

    /// Resends an open invite: new code and link (the old ones stop working: only their
    /// hashes were kept, so they cannot be sent again), same expiry, delivered again.
    ///
    /// # Errors
    /// 404 for an unknown invite; 400 when it is redeemed, revoked or expired.
    pub(crate) fn resend_invite(&self, id: Uuid) -> Result<Invitation> {
        let settings = self.settings()?;
        let mut invitation = self.commit(|tx| {
            let invite = tx
                .get_invite(id)?
                .ok_or(Error::NotFound(NotFound::Invite(id)))?;
            let deliveries = tx.deliveries(invite.id)?;
            let status = super::status(&invite, &deliveries, self.clock.now());
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
            tx.record(
                "invite.resent",
                Some(invite.identity_id),
                Some(json!({"invite_id": invite.id})),
            )?;
            Ok(self.invitation(&settings.public_url, &invite, secrets))
        })?;
        self.deliver_invite(&mut invitation)?;
        Ok(invitation)
    }

    /// The outbox folder: the setting, or `outbox/` beside the store file.
    fn outbox_dir(&self, setting: &str) -> Result<PathBuf> {
        if !setting.is_empty() {
            return Ok(PathBuf::from(setting));
        }
        match self.path.as_deref().and_then(Path::parent) {
            Some(parent) if !parent.as_os_str().is_empty() => Ok(parent.join("outbox")),
            Some(_) => Ok(PathBuf::from("outbox")),
            None => Err(Error::InvalidSetting {
                key: "outbox_dir".into(),
                problem: "an in-memory store has no folder for its outbox; set outbox_dir".into(),
            }),
        }
    }
}

/// An invite can be delivered only to an address: an identity with neither a recovery nor a
/// verifiable address gets its invite (for the issuer to hand over), but no message.
fn deliverable(invite: &InviteRow) -> std::result::Result<(), String> {
    match invite.address.as_deref() {
        Some(address) if !address.is_empty() => Ok(()),
        _ => Err(format!(
            "no recovery address: identity {} has no recovery or verifiable address to deliver \
             to; hand the code and link over yourself",
            invite.identity_id
        )),
    }
}

/// Passes `plan` on only if the plugin was granted what carrying it out needs: the manifest
/// was checked at install, but the plan is what the plugin actually asks for.
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

/// Writes each file into `outbox/new/` the Maildir way: whole into `tmp/`, then linked into
/// `new/` (which fails rather than replace an existing file), so readers never see half a
/// message. Names are checked again here, and files are created fresh (`create_new` does not
/// follow a planted symlink).
fn write_outbox(
    outbox: &Path,
    invite: Uuid,
    files: &[OutboxFile],
    now: Timestamp,
) -> std::io::Result<Vec<PathBuf>> {
    // Messages carry live codes and links: folders kith makes are owner-only (0700) and
    // files 0600, set at creation whatever the umask.
    let mut folders = fs::DirBuilder::new();
    folders.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
    for folder in ["tmp", "new", "cur"] {
        folders.create(outbox.join(folder))?;
    }
    // The handle's clock, not the machine's: a delivery is stamped with the time it is
    // recorded at, and tests and replays run on a clock of their own.
    let stamp = now.unix_millis();
    let mut written = Vec::new();
    for file in files {
        check_outbox_name(&file.name).map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("file name {:?} {why}", file.name),
            )
        })?;
        let name = format!("{stamp}.{invite}.{}", file.name);
        let temporary = outbox.join("tmp").join(&name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut handle = options.open(&temporary)?;
        handle.write_all(&file.body)?;
        handle.sync_all()?;
        drop(handle);
        let target = outbox.join("new").join(&name);
        let linked = fs::hard_link(&temporary, &target);
        fs::remove_file(&temporary)?;
        linked?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2031-05-06T07:08:09Z").unwrap()
    }

    fn file(name: &str) -> OutboxFile {
        OutboxFile {
            name: name.into(),
            content_type: "message/rfc822".into(),
            body: b"hello".to_vec(),
        }
    }

    #[test]
    fn files_land_in_new_and_path_tricks_are_refused() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let invite = Uuid::from_u128(1);
        let written = write_outbox(dir.path(), invite, &[file("invite.eml")], now())?;
        assert_eq!(written.len(), 1);
        assert!(written[0].starts_with(dir.path().join("new")));
        assert_eq!(fs::read(&written[0])?, b"hello");
        assert_eq!(
            fs::read_dir(dir.path().join("tmp"))?.count(),
            0,
            "nothing is left in tmp/"
        );
        for bad in [
            "../x",
            "/etc/passwd",
            "a/b",
            "nul\0",
            "",
            ".hidden",
            "..\\x",
        ] {
            assert!(
                write_outbox(dir.path(), invite, &[file(bad)], now()).is_err(),
                "{bad:?}"
            );
        }
        assert!(!dir.path().join("x").exists());
        Ok(())
    }
}
