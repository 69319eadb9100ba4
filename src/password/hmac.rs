//! hmac: `$hmac-<digest>$<b64(hex(mac))>$<b64(key)>` hashes.
//!
//! The stored value is the base64 of the **lowercase hex** text of
//! `HMAC_digest(key, password)`, not of the raw MAC; Kratos compares the hex
//! text. Digests: md4, md5, sha1, sha224, sha256, sha384, sha512 (real SHA-2
//! here, unlike PBKDF2's names). Both fields are padded strict base64; the key
//! may be empty. A value that is not lowercase hex of the right length could
//! never match in Kratos and is refused as unparsable.

use ::hmac::digest::KeyInit;
use ::hmac::{Hmac, Mac};
use md4::Md4;
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use super::encoding::{self, B64};
use super::{HashError, HashFormat};

const FORMAT: HashFormat = HashFormat::Hmac;

/// The digest after `$hmac-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Digest {
    Md4,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "md4" => Self::Md4,
            "md5" => Self::Md5,
            "sha1" => Self::Sha1,
            "sha224" => Self::Sha224,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            _ => return None,
        })
    }

    const fn output_len(self) -> usize {
        match self {
            Self::Md4 | Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A parsed HMAC hash.
pub(super) struct HmacHash {
    digest: Digest,
    /// The lowercase hex text of the MAC, as stored.
    hex_mac: Vec<u8>,
    key: Vec<u8>,
}

/// Kratos' `^\$hmac-(md4|md5|sha1|sha224|sha256|sha384|sha512)\$` prefix.
pub(super) fn is_hmac(hash: &str) -> bool {
    hash.strip_prefix("$hmac-")
        .and_then(|rest| rest.split_once('$'))
        .is_some_and(|(name, _)| Digest::from_name(name).is_some())
}

pub(super) fn parse(hash: &str) -> Result<HmacHash, HashError> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, ident, mac, key] = parts[..] else {
        return Err(HashError::unparsable(
            FORMAT,
            format!("expected 4 `$`-separated fields, found {}", parts.len()),
        ));
    };
    let digest = ident
        .strip_prefix("hmac-")
        .and_then(Digest::from_name)
        .ok_or(HashError::UnknownFormat)?;
    let hex_mac = encoding::decode(FORMAT, "mac", mac, B64::StdStrict)?;
    let want = 2 * digest.output_len();
    if hex_mac.len() != want
        || !hex_mac
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(HashError::unparsable(
            FORMAT,
            format!("the mac must decode to {want} lowercase hex characters"),
        ));
    }
    let key = encoding::decode(FORMAT, "key", key, B64::StdStrict)?;
    Ok(HmacHash {
        digest,
        hex_mac,
        key,
    })
}

fn mac<M: Mac + KeyInit>(key: &[u8], password: &[u8]) -> Result<Vec<u8>, HashError> {
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .map_err(|e| HashError::unparsable(FORMAT, format!("the key is unusable: {e}")))?;
    mac.update(password);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn to_lower_hex(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]])
        .collect()
}

impl HmacHash {
    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let key = &self.key[..];
        let raw = match self.digest {
            Digest::Md4 => mac::<Hmac<Md4>>(key, password),
            Digest::Md5 => mac::<Hmac<Md5>>(key, password),
            Digest::Sha1 => mac::<Hmac<Sha1>>(key, password),
            Digest::Sha224 => mac::<Hmac<Sha224>>(key, password),
            Digest::Sha256 => mac::<Hmac<Sha256>>(key, password),
            Digest::Sha384 => mac::<Hmac<Sha384>>(key, password),
            Digest::Sha512 => mac::<Hmac<Sha512>>(key, password),
        }?;
        Ok(encoding::ct_eq(&to_lower_hex(&raw), &self.hex_mac))
    }
}
