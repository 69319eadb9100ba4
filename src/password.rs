//! password: hashing new passwords and checking stored hashes the way Ory Kratos does.
//!
//! This module owns every password hash format kith understands: it recognises a
//! stored hash by the same prefixes, in the same order, as Kratos'
//! `hash/hash_comparator.go`, parses it, enforces the cost bounds Kratos HEAD
//! enforces (always *before* any expensive work), and compares in constant time.
//! New passwords are hashed with argon2id or bcrypt as configured.
//!
//! It must not know about identities, storage or HTTP: callers store the string
//! this module returns and map [`HashError`] to a response with
//! [`HashError::kratos_reason`]. Each family lives in its own child module; the
//! numeric limits live in [`limits`] so they are reviewed in one place.
//!
//! ```
//! use kith::password::{self, HasherConfig};
//!
//! let config = HasherConfig::Bcrypt { cost: 4 };
//! let hash = password::hash_password(b"correct horse", &config)?;
//! assert!(password::verify_password(b"correct horse", &hash)?);
//! assert!(!password::verify_password(b"wrong horse", &hash)?);
//! # Ok::<(), password::HashError>(())
//! ```

mod argon2;
mod bcrypt;
mod crypt;
mod encoding;
mod error;
mod foreign;
mod gate;
mod hmac;
pub mod limits;
mod pbkdf2;
mod scrypt;
mod sha;

#[cfg(test)]
mod tests;

use std::fmt;

pub use self::error::HashError;
pub use self::foreign::to_kratos_format;
pub use self::gate::bounds as gate_bounds;

/// What kith hashes new passwords with.
///
/// The default is argon2id with OWASP's recommended parameters (m=19456 KiB,
/// t=2, p=1) and a 16-byte salt and 32-byte key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
pub enum HasherConfig {
    /// Argon2id, version 19.
    Argon2id {
        /// Memory in KiB (`m`).
        memory_kib: u32,
        /// Passes over memory (`t`).
        iterations: u32,
        /// Lanes (`p`).
        parallelism: u32,
    },
    /// bcrypt, written as `$2a$`.
    Bcrypt {
        /// log2 of the number of rounds.
        cost: u32,
    },
}

impl Default for HasherConfig {
    fn default() -> Self {
        Self::Argon2id {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HasherConfig {
    /// Checks that hashes made with this configuration would pass the same
    /// bounds as imported hashes (and that bcrypt's cost is at least 4).
    ///
    /// # Errors
    /// [`HashError::InvalidConfig`] naming the first parameter out of range.
    pub fn validate(&self) -> Result<(), HashError> {
        match *self {
            Self::Argon2id {
                memory_kib,
                iterations,
                parallelism,
            } => argon2::validate_config(memory_kib, iterations, parallelism),
            Self::Bcrypt { cost } => bcrypt::validate_config(cost),
        }
    }

    /// The memory one hash with this configuration allocates, in KiB.
    fn memory_kib(&self) -> u64 {
        match *self {
            Self::Argon2id { memory_kib, .. } => memory_kib.into(),
            Self::Bcrypt { .. } => 4,
        }
    }
}

/// The recognised family of a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashFormat {
    /// `$2a$`, `$2b$`, `$2y$`, `$2z$` and `$2$`.
    Bcrypt,
    /// `$argon2id$`.
    Argon2id,
    /// `$argon2i$`.
    Argon2i,
    /// `$pbkdf2-sha<n>$`.
    Pbkdf2,
    /// `$scrypt$` (with `ln` holding N itself).
    Scrypt,
    /// `$firescrypt$`, Firebase's modified scrypt.
    Firescrypt,
    /// `{SSHA}`, `{SSHA256}` and `{SSHA512}`.
    Ssha,
    /// `$sha1$`, `$sha256$` and `$sha512$` with a `pf=` salting format.
    Sha,
    /// `$md5$`, plain or with a `pf=` salting format.
    Md5,
    /// `$hmac-<digest>$`.
    Hmac,
    /// `$md5-crypt$`, checked as crypt(3) `$1$`.
    Md5Crypt,
    /// `$sha256-crypt$`, checked as crypt(3) `$5$`.
    Sha256Crypt,
    /// `$sha512-crypt$`, checked as crypt(3) `$6$`.
    Sha512Crypt,
}

impl HashFormat {
    /// Recognises the family by prefix, trying Kratos' regexes in Kratos' order.
    /// Returns `None` when no prefix matches.
    #[must_use]
    pub fn detect(hash: &str) -> Option<Self> {
        let checks: [(bool, Self); 13] = [
            (hash.starts_with("$md5-crypt$"), Self::Md5Crypt),
            (bcrypt::is_bcrypt(hash), Self::Bcrypt),
            (hash.starts_with("$sha256-crypt$"), Self::Sha256Crypt),
            (hash.starts_with("$sha512-crypt$"), Self::Sha512Crypt),
            (hash.starts_with("$argon2id$"), Self::Argon2id),
            (hash.starts_with("$argon2i$"), Self::Argon2i),
            (pbkdf2::is_pbkdf2(hash), Self::Pbkdf2),
            (hash.starts_with("$scrypt$"), Self::Scrypt),
            (sha::is_ssha(hash), Self::Ssha),
            (sha::is_sha(hash), Self::Sha),
            (hash.starts_with("$firescrypt$"), Self::Firescrypt),
            (hash.starts_with("$md5$"), Self::Md5),
            (hmac::is_hmac(hash), Self::Hmac),
        ];
        checks.into_iter().find(|(hit, _)| *hit).map(|(_, f)| f)
    }

    /// The short lowercase name used in messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bcrypt => "bcrypt",
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Pbkdf2 => "pbkdf2",
            Self::Scrypt => "scrypt",
            Self::Firescrypt => "firescrypt",
            Self::Ssha => "ssha",
            Self::Sha => "sha",
            Self::Md5 => "md5",
            Self::Hmac => "hmac",
            Self::Md5Crypt => "md5-crypt",
            Self::Sha256Crypt => "sha256-crypt",
            Self::Sha512Crypt => "sha512-crypt",
        }
    }
}

impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stored hash that parsed and passed its bounds: all that is left is the
/// (possibly expensive) comparison.
enum Parsed<'a> {
    Bcrypt(bcrypt::BcryptHash<'a>),
    Argon2(argon2::Argon2Hash),
    Pbkdf2(pbkdf2::Pbkdf2Hash),
    Scrypt(scrypt::ScryptHash),
    Firescrypt(scrypt::FirescryptHash),
    Sha(sha::ShaHash),
    Hmac(hmac::HmacHash),
    Crypt(crypt::CryptHash<'a>),
}

fn parse(hash: &str) -> Result<Parsed<'_>, HashError> {
    let format = HashFormat::detect(hash).ok_or(HashError::UnknownFormat)?;
    if hash.len() > limits::MAX_HASH_LEN {
        return Err(HashError::unparsable(
            format,
            format!(
                "the hash is {} bytes long; the maximum is {}",
                hash.len(),
                limits::MAX_HASH_LEN
            ),
        ));
    }
    Ok(match format {
        HashFormat::Bcrypt => Parsed::Bcrypt(bcrypt::parse(hash)?),
        HashFormat::Argon2id | HashFormat::Argon2i => Parsed::Argon2(argon2::parse(hash, format)?),
        HashFormat::Pbkdf2 => Parsed::Pbkdf2(pbkdf2::parse(hash)?),
        HashFormat::Scrypt => Parsed::Scrypt(scrypt::parse_scrypt(hash)?),
        HashFormat::Firescrypt => Parsed::Firescrypt(scrypt::parse_firescrypt(hash)?),
        HashFormat::Ssha => Parsed::Sha(sha::parse_ssha(hash)?),
        HashFormat::Sha => Parsed::Sha(sha::parse_sha(hash)?),
        HashFormat::Md5 => Parsed::Sha(sha::parse_md5(hash)?),
        HashFormat::Hmac => Parsed::Hmac(hmac::parse(hash)?),
        HashFormat::Md5Crypt | HashFormat::Sha256Crypt | HashFormat::Sha512Crypt => {
            Parsed::Crypt(crypt::parse(hash, format)?)
        }
    })
}

impl Parsed<'_> {
    fn format(&self) -> HashFormat {
        match self {
            Self::Bcrypt(_) => HashFormat::Bcrypt,
            Self::Argon2(h) => h.format(),
            Self::Pbkdf2(_) => HashFormat::Pbkdf2,
            Self::Scrypt(_) => HashFormat::Scrypt,
            Self::Firescrypt(_) => HashFormat::Firescrypt,
            Self::Sha(h) => h.format(),
            Self::Hmac(_) => HashFormat::Hmac,
            Self::Crypt(h) => h.format(),
        }
    }

    /// The memory a comparison allocates, in KiB, for the costly families; `None` for those
    /// that cost microseconds (plain digests, HMAC, md5-crypt), which need no gate.
    fn gated_kib(&self) -> Option<u64> {
        match self {
            Self::Argon2(h) => Some(h.memory_kib()),
            Self::Scrypt(h) => Some(h.memory_kib()),
            Self::Firescrypt(h) => Some(h.memory_kib()),
            // bcrypt's state is 4 KiB; PBKDF2 and sha-crypt hold a few digests: CPU, not memory.
            Self::Bcrypt(_) => Some(4),
            Self::Pbkdf2(_) => Some(0),
            Self::Crypt(h) if h.format() != HashFormat::Md5Crypt => Some(0),
            Self::Sha(_) | Self::Hmac(_) | Self::Crypt(_) => None,
        }
    }

    fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let _permit = self.gated_kib().map(gate::enter);
        match self {
            Self::Bcrypt(h) => h.verify(password),
            Self::Argon2(h) => h.verify(password),
            Self::Pbkdf2(h) => Ok(h.verify(password)),
            Self::Scrypt(h) => h.verify(password),
            Self::Firescrypt(h) => h.verify(password),
            Self::Sha(h) => Ok(h.verify(password)),
            Self::Hmac(h) => h.verify(password),
            Self::Crypt(h) => h.verify(password),
        }
    }
}

/// Hashes `password` with `config`.
///
/// # Errors
/// [`HashError::InvalidConfig`] when `config` fails [`HasherConfig::validate`],
/// [`HashError::PasswordTooLong`] for bcrypt and a password over 72 bytes, and
/// [`HashError::RandomUnavailable`] when no salt can be drawn.
pub fn hash_password(password: &[u8], config: &HasherConfig) -> Result<String, HashError> {
    config.validate()?;
    let _permit = gate::enter(config.memory_kib());
    match *config {
        HasherConfig::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } => argon2::hash(password, memory_kib, iterations, parallelism),
        HasherConfig::Bcrypt { cost } => bcrypt::hash(password, cost),
    }
}

/// Parses and bounds-checks a stored hash without a password: what create and
/// import call before storing `hashed_password`.
///
/// # Errors
/// [`HashError::UnknownFormat`], [`HashError::Unparsable`] or
/// [`HashError::CostOutOfBounds`].
pub fn check_hash(hash: &str) -> Result<HashFormat, HashError> {
    parse(hash).map(|parsed| parsed.format())
}

/// Checks `password` against a stored hash: `Ok(true)` on a match, `Ok(false)`
/// on a mismatch.
///
/// # Errors
/// Those of [`check_hash`], plus [`HashError::PasswordTooLong`] for a bcrypt
/// hash and a password over 72 bytes (checked first, as Kratos does).
pub fn verify_password(password: &[u8], hash: &str) -> Result<bool, HashError> {
    if HashFormat::detect(hash) == Some(HashFormat::Bcrypt) {
        bcrypt::check_password_len(password)?;
    }
    parse(hash)?.verify(password)
}

/// True when `hash` was not made by the configured algorithm, or is weaker than
/// its configured cost (bcrypt cost lower; argon2id m, t or p lower).
///
/// This goes further than Kratos, which only checks the prefix. A hash that
/// does not parse also needs rehashing.
#[must_use]
pub fn needs_rehash(hash: &str, config: &HasherConfig) -> bool {
    match (parse(hash), config) {
        (Ok(Parsed::Bcrypt(h)), HasherConfig::Bcrypt { cost }) => h.cost() < *cost,
        (
            Ok(Parsed::Argon2(h)),
            HasherConfig::Argon2id {
                memory_kib,
                iterations,
                parallelism,
            },
        ) => h.weaker_than(*memory_kib, *iterations, *parallelism),
        _ => true,
    }
}

/// Spends about the time a real verification with `config` takes, for unknown
/// identifiers, so that an attacker cannot tell them apart by timing. The
/// result is ignored; an invalid `config` costs nothing.
pub fn verify_dummy(password: &[u8], config: &HasherConfig) {
    if config.validate().is_err() {
        return;
    }
    let _permit = gate::enter(config.memory_kib());
    match *config {
        HasherConfig::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } => argon2::dummy(password, memory_kib, iterations, parallelism),
        HasherConfig::Bcrypt { cost } => bcrypt::dummy(password, cost),
    }
}
