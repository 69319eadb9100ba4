//! API tokens for `kith serve`'s admin listener: shown once, stored as SHA-256 only.
//!
//! A token carries 256 random bits, so a plain SHA-256 is enough to make the stored value
//! useless to whoever reads the file; a slow hash would only slow every request.

use super::Kith;
use super::invite::secrets::random_bytes;
use crate::error::{Error, NotFound, Result};
use crate::store::TokenRecord;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

/// Every token starts with this, so secret scanners and people can tell what it is.
const TOKEN_PREFIX: &str = "kith_pat_";

/// A new token: the only time its secret exists outside the caller's hands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewToken {
    pub name: String,
    pub token: String,
    pub created_at: crate::model::Timestamp,
}

fn token_hash(token: &str) -> String {
    crate::plugin_host::sha256_hex(token.as_bytes())
}

fn check_token_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fine {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "token name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

impl Kith {
    /// Makes a new API token named `name` and stores only its hash.
    ///
    /// # Errors
    /// [`Error::TokenExists`] when the name is taken; 400 for a name kith cannot show safely.
    pub(crate) fn create_token(&self, name: &str) -> Result<NewToken> {
        check_token_name(name)?;
        let secret = random_bytes::<32>()?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let record = TokenRecord {
            name: name.to_string(),
            created_at: self.clock.now(),
            created_by: self.actor.clone(),
        };
        self.commit(|tx| {
            tx.insert_token(&record, &token_hash(&token))
                .map_err(|e| match e {
                    e if e.is_conflict() => Error::TokenExists(name.to_string()),
                    e => e.into(),
                })?;
            tx.record("token.created", None, Some(json!({"name": name})))
        })?;
        Ok(NewToken {
            name: record.name,
            token,
            created_at: record.created_at,
        })
    }

    /// Every token's name and birth; never a secret.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(crate) fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|tx| Ok(tx.list_tokens()?))
    }

    /// Deletes a token; requests bearing it are refused from then on.
    ///
    /// # Errors
    /// [`NotFound::Token`].
    pub(crate) fn revoke_token(&self, name: &str) -> Result<()> {
        self.commit(|tx| {
            if !tx.delete_token(name)? {
                return Err(Error::NotFound(NotFound::Token(name.to_string())));
            }
            tx.record("token.revoked", None, Some(json!({"name": name})))
        })
    }

    /// The name of the token `presented` is, or `None` when it is no token of this store.
    ///
    /// # Errors
    /// Only if the store fails.
    #[cfg(feature = "server")]
    pub(crate) fn token_name(&self, presented: &str) -> Result<Option<String>> {
        // The lookup is by hash, so its timing tells nothing about any stored token.
        let hash = token_hash(presented);
        self.read(|tx| Ok(tx.token_name(&hash)?))
    }

    /// Whether any token exists (`kith serve` will not leave loopback without one).
    ///
    /// # Errors
    /// Only if the store fails.
    #[cfg(feature = "server")]
    pub(crate) fn has_tokens(&self) -> Result<bool> {
        self.read(|tx| Ok(tx.token_count()? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shown_once_and_only_its_hash_matches() -> Result<()> {
        let kith = Kith::open_in_memory()?;
        let made = kith.create_token("ci")?;
        assert!(made.token.starts_with(TOKEN_PREFIX));
        assert_eq!(made.token.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(kith.token_name(&made.token)?, Some("ci".into()));
        assert_eq!(kith.token_name(&made.token[..made.token.len() - 1])?, None);
        assert!(matches!(
            kith.create_token("ci"),
            Err(Error::TokenExists(_))
        ));
        kith.revoke_token("ci")?;
        assert_eq!(kith.token_name(&made.token)?, None);
        assert!(matches!(
            kith.revoke_token("ci"),
            Err(Error::NotFound(NotFound::Token(_)))
        ));
        assert!(matches!(
            kith.create_token("a b"),
            Err(Error::BadRequest(_))
        ));
        Ok(())
    }
}
