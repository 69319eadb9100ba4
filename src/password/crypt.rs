//! crypt: `$md5-crypt$`, `$sha256-crypt$` and `$sha512-crypt$`, checked as crypt(3).
//!
//! Kratos swaps the prefix for `$1`, `$5` or `$6` and hands the result to
//! go-crypt. That decoder wants, after the identifier, `salt$key` (md5-crypt,
//! exactly) or `[rounds=N$]salt$key` (sha-crypt); the key must not be empty; an
//! empty salt is allowed. The bare `$1$`/`$5$`/`$6$` prefixes are *not* accepted
//! by Kratos, and `HashFormat::detect` does not recognise them either: a body that
//! brings one has it rewritten first (`foreign.rs`).
//!
//! The computation is `pwhash`'s. Where it would silently differ from go-crypt,
//! the hash is refused as unparsable instead: salts longer than crypt(3)'s 8
//! (md5) or 16 (sha) characters, which pwhash truncates and go-crypt does not,
//! and salt characters outside crypt's alphabet, which pwhash rejects.

use pwhash::HashSetup;

use super::encoding;
use super::error::check_bound;
use super::limits::{MAX_SHA_CRYPT_ROUNDS, MIN_SHA_CRYPT_ROUNDS};
use super::{HashError, HashFormat};

/// crypt(3)'s own alphabet for salts and checksums.
fn is_crypt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

/// A parsed crypt(3)-style hash.
pub(super) struct CryptHash<'a> {
    format: HashFormat,
    rounds: Option<u32>,
    salt: &'a str,
    checksum: &'a str,
}

pub(super) fn parse(hash: &str, format: HashFormat) -> Result<CryptHash<'_>, HashError> {
    let (prefix, max_salt, checksum_len) = match format {
        HashFormat::Md5Crypt => ("$md5-crypt$", 8, 22),
        HashFormat::Sha256Crypt => ("$sha256-crypt$", 16, 43),
        _ => ("$sha512-crypt$", 16, 86),
    };
    let rest = hash.strip_prefix(prefix).unwrap_or_default();
    let fields: Vec<&str> = rest.split('$').collect();
    let (rounds, salt, checksum) = match (format, &fields[..]) {
        (_, &[salt, checksum]) => (None, salt, checksum),
        (HashFormat::Sha256Crypt | HashFormat::Sha512Crypt, &[rounds, salt, checksum]) => {
            (Some(parse_rounds(format, rounds)?), salt, checksum)
        }
        _ => {
            let expected = if format == HashFormat::Md5Crypt {
                "<salt>$<hash>"
            } else {
                "[rounds=<n>$]<salt>$<hash>"
            };
            return Err(HashError::unparsable(
                format,
                format!("expected `{prefix}{expected}`"),
            ));
        }
    };
    if salt.len() > max_salt || !salt.bytes().all(is_crypt_char) {
        return Err(HashError::unparsable(
            format,
            format!("the salt must be at most {max_salt} characters of [./0-9A-Za-z]"),
        ));
    }
    if checksum.len() != checksum_len || !checksum.bytes().all(is_crypt_char) {
        return Err(HashError::unparsable(
            format,
            format!("the hash must be {checksum_len} characters of [./0-9A-Za-z]"),
        ));
    }
    Ok(CryptHash {
        format,
        rounds,
        salt,
        checksum,
    })
}

/// go-crypt's `rounds=N` parameter: 1000..=999,999,999 there; kith also caps the top.
fn parse_rounds(format: HashFormat, field: &str) -> Result<u32, HashError> {
    let [rounds] = encoding::scan_params(format, field, ["rounds"])?;
    if rounds < u64::from(MIN_SHA_CRYPT_ROUNDS) {
        return Err(HashError::unparsable(
            format,
            format!("rounds={rounds} is below crypt's minimum of {MIN_SHA_CRYPT_ROUNDS}"),
        ));
    }
    check_bound(
        format,
        "rounds",
        rounds,
        MIN_SHA_CRYPT_ROUNDS.into(),
        MAX_SHA_CRYPT_ROUNDS.into(),
    )?;
    Ok(u32::try_from(rounds).unwrap_or(MAX_SHA_CRYPT_ROUNDS))
}

impl CryptHash<'_> {
    pub(super) fn format(&self) -> HashFormat {
        self.format
    }

    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let setup = HashSetup {
            salt: Some(self.salt),
            rounds: self.rounds,
        };
        #[allow(deprecated)] // md5-crypt is deprecated for new hashes; we only verify.
        let computed = match self.format {
            HashFormat::Md5Crypt => pwhash::md5_crypt::hash_with(setup, password),
            HashFormat::Sha256Crypt => pwhash::sha256_crypt::hash_with(setup, password),
            _ => pwhash::sha512_crypt::hash_with(setup, password),
        }
        .map_err(|e| HashError::unparsable(self.format, e.to_string()))?;
        let computed = computed.rsplit('$').next().unwrap_or_default();
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}
