//! bcrypt: `$2a$`, `$2b$`, `$2y$`, `$2z$` and `$2$` hashes, checked like Go's `x/crypto/bcrypt`.
//!
//! Go ignores the minor version letter when computing, so every prefix above is
//! the same algorithm here (the password gets a NUL terminator and is cut to 72
//! bytes). The salt is read without checking its trailing bits, as Go does; the
//! checksum must be canonical, since Go compares the re-encoded checksum and a
//! non-canonical one can never match. New hashes are written as `$2a$`, like Kratos.

use ::bcrypt::Version;

use super::encoding::{self, B64};
use super::error::check_bound;
use super::limits::{MAX_BCRYPT_COST, MIN_BCRYPT_COST};
use super::{HashError, HashFormat};

const FORMAT: HashFormat = HashFormat::Bcrypt;
/// The longest password bcrypt uses; Kratos refuses longer ones.
const MAX_PASSWORD_LEN: usize = 72;
const SALT_CHARS: usize = 22;
const CHECKSUM_CHARS: usize = 31;

/// A parsed bcrypt hash.
pub(super) struct BcryptHash<'a> {
    cost: u32,
    salt: [u8; 16],
    checksum: &'a str,
}

/// Kratos refuses (rather than truncates) passwords over 72 bytes.
pub(super) fn check_password_len(password: &[u8]) -> Result<(), HashError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(HashError::PasswordTooLong);
    }
    Ok(())
}

/// Kratos' `^\$2[abzy]?\$` prefix.
pub(super) fn is_bcrypt(hash: &str) -> bool {
    match hash.as_bytes() {
        [b'$', b'2', b'$', ..] => true,
        [b'$', b'2', minor, b'$', ..] => matches!(minor, b'a' | b'b' | b'z' | b'y'),
        _ => false,
    }
}

pub(super) fn parse(hash: &str) -> Result<BcryptHash<'_>, HashError> {
    // The prefix was matched by `HashFormat::detect`: `$2$` or `$2?$`.
    let rest = hash
        .strip_prefix("$2$")
        .or_else(|| hash.get(4..))
        .ok_or_else(|| HashError::unparsable(FORMAT, "the hash is truncated"))?;
    let (cost, body) = rest
        .split_once('$')
        .ok_or_else(|| HashError::unparsable(FORMAT, "the cost is not followed by `$`"))?;
    if cost.len() != 2 {
        return Err(HashError::unparsable(
            FORMAT,
            format!("the cost must be two digits, found `{cost}`"),
        ));
    }
    let cost = encoding::parse_decimal(cost).ok_or_else(|| {
        HashError::unparsable(
            FORMAT,
            format!("the cost must be two digits, found `{cost}`"),
        )
    })?;
    check_bound(
        FORMAT,
        "cost",
        cost,
        MIN_BCRYPT_COST.into(),
        MAX_BCRYPT_COST.into(),
    )?;
    if body.len() != SALT_CHARS + CHECKSUM_CHARS || !body.is_ascii() {
        return Err(HashError::unparsable(
            FORMAT,
            format!(
                "expected {} characters of salt and checksum after the cost, found {}",
                SALT_CHARS + CHECKSUM_CHARS,
                body.len()
            ),
        ));
    }
    let (salt, checksum) = body.split_at(SALT_CHARS);
    let salt: [u8; 16] = encoding::decode(FORMAT, "salt", salt, B64::BcryptLenient)?
        .try_into()
        .map_err(|_| HashError::unparsable(FORMAT, "the salt does not decode to 16 bytes"))?;
    let decoded = encoding::decode(FORMAT, "checksum", checksum, B64::BcryptStrict)?;
    if decoded.len() != 23 {
        return Err(HashError::unparsable(
            FORMAT,
            "the checksum does not decode to 23 bytes",
        ));
    }
    Ok(BcryptHash {
        // In range 4..=15 after check_bound.
        cost: u32::try_from(cost).unwrap_or(MAX_BCRYPT_COST),
        salt,
        checksum,
    })
}

impl BcryptHash<'_> {
    pub(super) fn cost(&self) -> u32 {
        self.cost
    }

    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        check_password_len(password)?;
        let parts = ::bcrypt::hash_with_salt(password, self.cost, self.salt)
            .map_err(|e| HashError::unparsable(FORMAT, e.to_string()))?;
        let computed = parts.format_for_version(Version::TwoA);
        let computed = computed
            .get(computed.len().saturating_sub(CHECKSUM_CHARS)..)
            .unwrap_or_default();
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}

pub(super) fn validate_config(cost: u32) -> Result<(), HashError> {
    if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(HashError::InvalidConfig(format!(
            "bcrypt cost {cost} is outside {MIN_BCRYPT_COST}..={MAX_BCRYPT_COST}"
        )));
    }
    Ok(())
}

pub(super) fn hash(password: &[u8], cost: u32) -> Result<String, HashError> {
    check_password_len(password)?;
    let salt = encoding::random_bytes::<16>()?;
    let parts = ::bcrypt::hash_with_salt(password, cost, salt)
        .map_err(|e| HashError::InvalidConfig(e.to_string()))?;
    Ok(parts.format_for_version(Version::TwoA))
}

/// Runs bcrypt at `cost` on a fixed salt and discards the result.
pub(super) fn dummy(password: &[u8], cost: u32) {
    let password = password.get(..MAX_PASSWORD_LEN).unwrap_or(password);
    let result = ::bcrypt::hash_with_salt(password, cost, [0x5a; 16]);
    std::hint::black_box(result.is_ok());
}
