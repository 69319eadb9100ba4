//! The secrets of a recovery flow: a 6-digit code and a 32-character token, drawn from the
//! operating system, stored only as HMAC-SHA512/256 under the store's key, compared in
//! constant time.

use super::Kith;
use crate::error::{Error, Result};
use crate::store::{StoreError, Tx};
use ::hmac::digest::KeyInit;
use ::hmac::{Hmac, Mac};
use sha2::Sha512_256;
use subtle::ConstantTimeEq;

/// Secrets drawn from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
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
pub(super) fn keyed_hash(key: &str, secret: &str) -> Result<String> {
    let mut mac = <Hmac<Sha512_256> as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|e| Error::internal("recovery key", e))?;
    mac.update(secret.as_bytes());
    Ok(crate::hex::lower_hex(&mac.finalize().into_bytes()))
}

pub(super) fn hashes_match(stored: Option<&str>, computed: &str) -> bool {
    stored.is_some_and(|stored| stored.as_bytes().ct_eq(computed.as_bytes()).into())
}

/// The secrets of a new flow and their stored form.
pub(super) struct Secrets {
    pub code: String,
    pub token: String,
    pub code_hash: String,
    pub token_hash: String,
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
}
