//! Checking a password, and upgrading its hash when it matches.

use super::Kith;
use crate::error::{Error, Result};
use crate::model::IdentityId;
use crate::model::{Credential, CredentialKind, Identity, IdentityState, PasswordConfig};
use crate::password;
use crate::schema::normalize_identifier;
use serde::Serialize;
use serde_json::json;

/// A successful password check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PasswordMatch {
    pub identity_id: IdentityId,
    /// True when the stored hash was upgraded to the configured hasher.
    pub rehashed: bool,
}

impl Kith {
    /// Checks `password` for the identity whose password identifier is `identifier`.
    ///
    /// A wrong password and an unknown identifier give the same error after about the same
    /// time. On a match with a hash that is not the configured algorithm, or weaker than its
    /// configured cost, the password is re-hashed and stored.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] on a mismatch or unknown identifier;
    /// [`Error::IdentityDisabled`] when the password matches an inactive identity.
    pub(crate) fn verify_password(
        &self,
        identifier: &str,
        password: &str,
    ) -> Result<PasswordMatch> {
        let settings = self.settings()?;
        let identifier = normalize_identifier(identifier);
        let found = self.read(|tx| {
            let Some(id) = tx.identity_id_by_password_identifier(&identifier)? else {
                return Ok(None);
            };
            Ok(tx.get_identity(id, true)?)
        })?;
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
        })
    }
}
