//! Sealing a queued message's plan: AES-256-CTR, then HMAC-SHA-512/256 over the message id,
//! the nonce and the ciphertext (encrypt-then-MAC), under two keys derived from the store's
//! recovery key. The recovery key lives in the key file beside the store, never in it, so a
//! copy of the store alone cannot read a queued message's live code and link; and binding
//! the message id means a sealed plan cannot be moved to another message.

use aes::Aes256;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit as _, StreamCipher as _};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha512_256;
use uuid::Uuid;

/// The format's first byte, so a later one can be told apart.
const VERSION: u8 = 1;
const NONCE: usize = 16;
const TAG: usize = 32;

type Mac512 = Hmac<Sha512_256>;

/// A sealed plan that does not open: the key file is not the one it was sealed under, or the
/// bytes were changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the sealed message does not open under this store's recovery key (changed, or sealed under another key)"
)]
pub struct Unsealable;

/// The two keys of the format, derived from the recovery key.
struct Keys {
    encryption: [u8; 32],
    authentication: [u8; 32],
}

fn derive(recovery_key: &str, label: &[u8]) -> [u8; 32] {
    let mut mac = <Mac512 as KeyInit>::new_from_slice(recovery_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl Keys {
    fn of(recovery_key: &str) -> Self {
        Self {
            encryption: derive(recovery_key, b"kith courier v1 encryption"),
            authentication: derive(recovery_key, b"kith courier v1 authentication"),
        }
    }

    fn tag(&self, message: Uuid, nonce: &[u8], ciphertext: &[u8]) -> Mac512 {
        let mut mac = <Mac512 as KeyInit>::new_from_slice(&self.authentication)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&[VERSION]);
        mac.update(message.as_bytes());
        mac.update(nonce);
        mac.update(ciphertext);
        mac
    }
}

/// Seals `plain` for message `message` under `recovery_key`.
///
/// # Errors
/// Only when the system has no randomness for the nonce.
pub fn seal(recovery_key: &str, message: Uuid, plain: &[u8]) -> Result<Vec<u8>, getrandom::Error> {
    let keys = Keys::of(recovery_key);
    let mut nonce = [0u8; NONCE];
    getrandom::fill(&mut nonce)?;
    let mut sealed = Vec::with_capacity(1 + NONCE + plain.len() + TAG);
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    let start = sealed.len();
    sealed.extend_from_slice(plain);
    Ctr128BE::<Aes256>::new(&keys.encryption.into(), &nonce.into())
        .apply_keystream(&mut sealed[start..]);
    let tag = keys
        .tag(message, &nonce, &sealed[start..])
        .finalize()
        .into_bytes();
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

/// Opens what [`seal`] sealed for `message`.
///
/// # Errors
/// [`Unsealable`] for another key, another message, or changed bytes.
pub fn open(recovery_key: &str, message: Uuid, sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
    if sealed.len() < 1 + NONCE + TAG || sealed[0] != VERSION {
        return Err(Unsealable);
    }
    let keys = Keys::of(recovery_key);
    let (body, tag) = sealed.split_at(sealed.len() - TAG);
    let (nonce, ciphertext) = body[1..].split_at(NONCE);
    keys.tag(message, nonce, ciphertext)
        .verify_slice(tag)
        .map_err(|_| Unsealable)?;
    let mut plain = ciphertext.to_vec();
    let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| Unsealable)?;
    Ctr128BE::<Aes256>::new(&keys.encryption.into(), &nonce.into()).apply_keystream(&mut plain);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_sealed_plan_opens_only_under_its_key_and_for_its_message() {
        let message = Uuid::from_u128(7);
        let plain = b"your code is 123456";
        let sealed = seal(KEY, message, plain).unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"123456"),
            "the code is not in the sealed bytes"
        );
        assert_eq!(open(KEY, message, &sealed).unwrap(), plain);
        assert_eq!(
            open(&KEY.replace('0', "1"), message, &sealed),
            Err(Unsealable)
        );
        assert_eq!(open(KEY, Uuid::from_u128(8), &sealed), Err(Unsealable));
        let mut changed = sealed.clone();
        changed[20] ^= 1;
        assert_eq!(open(KEY, message, &changed), Err(Unsealable));
        assert_eq!(open(KEY, message, &sealed[..10]), Err(Unsealable));
        assert_ne!(
            seal(KEY, message, plain).unwrap(),
            sealed,
            "every seal has its own nonce"
        );
    }
}
