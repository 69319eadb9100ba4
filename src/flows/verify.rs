//! Checking a password, upgrading its hash when it matches, and migrating it when the
//! identity was imported with `use_password_migration_hook`.
//!
//! A flagged identity has no hash of kith's own, only (maybe) another system's kept beside
//! the flag. Kratos asks its migration web hook; kith asks the enabled password-migration
//! plugin, with no network. Its three answers are Kratos' three: a match (the password is
//! hashed with kith's own hasher, stored, and the flag cleared, in one write), no match (a
//! wrong password), a fault (Kratos' 502: the flag is kept, and the audit log names the
//! plugin and what went wrong). The password and the legacy hash never reach an error, a log
//! line or the audit log.

use super::Kith;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::model::{
    Credential, CredentialKind, Identity, IdentityId, IdentityState, PasswordConfig,
};
use crate::password;
use crate::plugin_host::{MigrationAttempt, Verdict};
use crate::schema::normalize_identifier;
use serde::Serialize;
use serde_json::json;

/// A successful password check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PasswordMatch {
    pub identity_id: IdentityId,
    /// True when the stored hash was upgraded to the configured hasher.
    pub rehashed: bool,
    /// For an identity flagged for password migration: who verified the legacy hash (a
    /// password-migration plugin's name, or `kith` for a format kith verifies itself). The
    /// password is now stored as kith's own hash and the flag is cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrated_by: Option<String>,
}

/// Who answered a migration: kith itself or the plugin, and its version.
struct Verifier {
    name: String,
    version: Option<String>,
}

impl Kith {
    /// Checks `password` for the identity whose password identifier is `identifier`.
    ///
    /// A wrong password and an unknown identifier give the same error after about the same
    /// time. On a match with a hash that is not the configured algorithm, or weaker than its
    /// configured cost, the password is re-hashed and stored. An identity flagged for password
    /// migration is checked by the enabled password-migration plugin (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] on a mismatch or unknown identifier;
    /// [`Error::IdentityDisabled`] when the password matches an inactive identity;
    /// [`Error::PasswordMigrationNotEnabled`] for a flagged identity with no plugin enabled;
    /// [`Error::PasswordMigrationFailed`] when that plugin fails.
    pub(crate) fn verify_password(
        &self,
        identifier: &str,
        password: &str,
    ) -> Result<PasswordMatch> {
        let settings = self.settings()?;
        let normalized = normalize_identifier(identifier);
        let found = self.read(|tx| {
            let Some(id) = tx.identity_id_by_password_identifier(&normalized)? else {
                return Ok(None);
            };
            Ok(tx.get_identity(id, true)?)
        })?;
        let config = found.as_ref().and_then(|identity| {
            identity
                .credential(CredentialKind::Password)?
                .config_as::<PasswordConfig>()
        });
        if let (Some(identity), Some(config)) = (&found, &config)
            && config.needs_migration()
        {
            return self.migrate_password(&settings, identity, identifier, password);
        }
        let Some((identity, hash)) =
            found.and_then(|identity| identity.password_hash().map(|hash| (identity, hash)))
        else {
            // Spend what a real check would, so timing does not tell unknown identifiers apart.
            password::verify_dummy(password.as_bytes(), &settings.hasher);
            return Err(Error::InvalidCredentials);
        };
        if !matches!(
            password::verify_password(password.as_bytes(), &hash),
            Ok(true)
        ) {
            return Err(Error::InvalidCredentials);
        }
        if identity.state == IdentityState::Inactive {
            return Err(Error::IdentityDisabled(identity.id));
        }
        if !password::needs_rehash(&hash, &settings.hasher) {
            return Ok(PasswordMatch {
                identity_id: identity.id,
                rehashed: false,
                migrated_by: None,
            });
        }
        // Hash outside the lock: argon2 takes tens of milliseconds and writers should not wait.
        let upgraded = password::hash_password(password.as_bytes(), &settings.hasher)?;
        let rehashed = self.commit(|tx| {
            // Store only if the hash is still the one that matched: a concurrent password
            // change must not be overwritten with the old password.
            let current = tx.get_identity(identity.id, true)?;
            if current.as_ref().and_then(Identity::password_hash).as_ref() != Some(&hash) {
                return Ok(false);
            }
            let now = self.clock.now();
            tx.set_credential_config(
                identity.id,
                CredentialKind::Password,
                &Credential::config_value(&PasswordConfig {
                    hashed_password: upgraded,
                    use_password_migration_hook: false,
                }),
                now,
            )?;
            tx.record("password.rehashed",
                Some(identity.id),
                Some(json!({"from": password::check_hash(&hash).map(|f| f.to_string()).unwrap_or_default()})),
            )?;
            Ok(true)
        })?;
        Ok(PasswordMatch {
            identity_id: identity.id,
            rehashed,
            migrated_by: None,
        })
    }

    /// A sign-in on an identity flagged for password migration.
    ///
    /// A legacy hash in a format kith verifies itself (one Kratos knows, in any spelling kith
    /// converts) is checked here, plugin or not; any other is the plugin's. Either way a
    /// match ends the migration.
    fn migrate_password(
        &self,
        settings: &Settings,
        identity: &Identity,
        identifier: &str,
        password: &str,
    ) -> Result<PasswordMatch> {
        let legacy = identity
            .credential(CredentialKind::Password)
            .and_then(|c| c.legacy_hash.clone());
        let legacy_text = legacy.as_ref().map_or("", |h| h.expose());
        let known = (!legacy_text.is_empty())
            .then(|| password::to_kratos_format(legacy_text).unwrap_or(legacy_text.to_string()))
            .filter(|hash| password::check_hash(hash).is_ok());
        let (verdict, verifier) = match known {
            Some(hash) => {
                let matched = matches!(
                    password::verify_password(password.as_bytes(), &hash),
                    Ok(true)
                );
                let verifier = Verifier {
                    name: "kith".into(),
                    version: None,
                };
                match matched {
                    true => (Verdict::PasswordMatch, verifier),
                    false => (Verdict::NoMatch, verifier),
                }
            }
            None => self.ask_migration_plugin(identity, identifier, password, legacy_text)?,
        };
        if verdict == Verdict::NoMatch {
            return Err(Error::InvalidCredentials);
        }
        // Hash outside the lock, as for a rehash.
        let hashed = password::hash_password(password.as_bytes(), &settings.hasher)?;
        let to = password::check_hash(&hashed)
            .map(|f| f.to_string())
            .unwrap_or_default();
        let migrated = self.commit(|tx| {
            // Store only if the identity still waits for this very migration: a password set
            // meanwhile (or a new legacy hash imported) must not be overwritten.
            let current = tx.get_identity(identity.id, true)?;
            let still = current
                .as_ref()
                .and_then(|i| i.credential(CredentialKind::Password))
                .filter(|c| {
                    c.legacy_hash == legacy
                        && c.config_as::<PasswordConfig>()
                            .is_some_and(|config| config.needs_migration())
                });
            if still.is_none() {
                return Ok(false);
            }
            tx.set_credential_config(
                identity.id,
                CredentialKind::Password,
                &Credential::config_value(&PasswordConfig {
                    hashed_password: hashed,
                    use_password_migration_hook: false,
                }),
                self.clock.now(),
            )?;
            tx.record(
                "identity.password_migrated",
                Some(identity.id),
                Some(json!({
                    "verified_by": verifier.name,
                    "version": verifier.version,
                    "to": to,
                })),
            )?;
            Ok(true)
        })?;
        if !migrated {
            // Someone else changed the password between the check and the write: what this
            // attempt verified is no longer what signs in.
            return Err(Error::InvalidCredentials);
        }
        // As Kratos: the password was verified and migrated; a disabled identity still
        // cannot sign in.
        if identity.state == IdentityState::Inactive {
            return Err(Error::IdentityDisabled(identity.id));
        }
        Ok(PasswordMatch {
            identity_id: identity.id,
            rehashed: true,
            migrated_by: Some(verifier.name),
        })
    }

    /// Asks the enabled password-migration plugin. A fault is recorded (naming the plugin,
    /// never the secrets) and returned as Kratos' 502.
    fn ask_migration_plugin(
        &self,
        identity: &Identity,
        identifier: &str,
        password: &str,
        legacy_hash: &str,
    ) -> Result<(Verdict, Verifier)> {
        let plugin = self
            .read(super::plugins::migration_plugin)?
            .ok_or(Error::PasswordMigrationNotEnabled)?;
        let attempt = MigrationAttempt {
            identifier: identifier.to_string(),
            password: password.to_string(),
            legacy_hash: legacy_hash.to_string(),
            traits_json: identity.traits.to_string(),
            metadata_public_json: identity.metadata_public.to_string(),
            metadata_admin_json: identity.metadata_admin.to_string(),
        };
        let now = u64::try_from(self.clock.now().unix_millis()).unwrap_or(0);
        match self
            .shared
            .plugins
            .verify_legacy_password(&plugin, &attempt, now)
        {
            Ok(report) => Ok((
                report.output,
                Verifier {
                    name: plugin.manifest.name.clone(),
                    version: Some(plugin.manifest.version.clone()),
                },
            )),
            Err(fault) => {
                self.commit(|tx| {
                    tx.record(
                        "identity.password_migration_failed",
                        Some(identity.id),
                        Some(json!({
                            "plugin": fault.plugin,
                            "version": fault.version,
                            "fault": fault.kind,
                            "message": fault.message,
                        })),
                    )
                })?;
                Err(Error::PasswordMigrationFailed {
                    plugin: fault.plugin,
                    version: fault.version,
                    kind: fault.kind,
                    message: fault.message,
                })
            }
        }
    }
}
