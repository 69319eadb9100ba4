//! password: TEMPORARY stand-in until the full hash-format module lands.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
pub enum HasherConfig {
    Argon2id {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
    Bcrypt {
        cost: u32,
    },
}

impl Default for HasherConfig {
    fn default() -> Self {
        HasherConfig::Argon2id {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HasherConfig {
    pub fn validate(&self) -> Result<(), HashError> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFormat {
    Bcrypt,
    Argon2id,
}

impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashFormat::Bcrypt => "bcrypt",
            HashFormat::Argon2id => "argon2id",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the hash does not match any known hash format")]
    UnknownFormat,
    #[error("{format} hash could not be parsed: {detail}")]
    Unparsable { format: HashFormat, detail: String },
    #[error("{format} hash cost out of bounds: {detail}")]
    CostOutOfBounds { format: HashFormat, detail: String },
    #[error("the password is longer than bcrypt's 72 bytes")]
    PasswordTooLong,
    #[error("invalid hasher configuration: {0}")]
    InvalidConfig(String),
}

impl HashError {
    pub fn kratos_reason(&self) -> String {
        match self {
            HashError::UnknownFormat => {
                "The imported password does not match any known hash format.".into()
            }
            HashError::Unparsable { .. } => {
                "The imported password hash could not be parsed.".into()
            }
            other => other.to_string(),
        }
    }
}

pub fn hash_password(password: &[u8], config: &HasherConfig) -> Result<String, HashError> {
    match config {
        HasherConfig::Bcrypt { cost } => {
            bcrypt::hash(password, *cost).map_err(|e| HashError::InvalidConfig(e.to_string()))
        }
        HasherConfig::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } => {
            use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
            let params = argon2::Params::new(*memory_kib, *iterations, *parallelism, Some(32))
                .map_err(|e| HashError::InvalidConfig(e.to_string()))?;
            let argon =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let salt = SaltString::generate(&mut OsRng);
            Ok(argon
                .hash_password(password, &salt)
                .map_err(|e| HashError::InvalidConfig(e.to_string()))?
                .to_string())
        }
    }
}

pub fn check_hash(hash: &str) -> Result<HashFormat, HashError> {
    if hash.starts_with("$2") {
        Ok(HashFormat::Bcrypt)
    } else if hash.starts_with("$argon2id$") {
        Ok(HashFormat::Argon2id)
    } else {
        Err(HashError::UnknownFormat)
    }
}

pub fn verify_password(password: &[u8], hash: &str) -> Result<bool, HashError> {
    match check_hash(hash)? {
        HashFormat::Bcrypt => bcrypt::verify(password, hash).map_err(|e| HashError::Unparsable {
            format: HashFormat::Bcrypt,
            detail: e.to_string(),
        }),
        HashFormat::Argon2id => {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            let parsed = PasswordHash::new(hash).map_err(|e| HashError::Unparsable {
                format: HashFormat::Argon2id,
                detail: e.to_string(),
            })?;
            Ok(argon2::Argon2::default()
                .verify_password(password, &parsed)
                .is_ok())
        }
    }
}

pub fn needs_rehash(hash: &str, config: &HasherConfig) -> bool {
    match (check_hash(hash), config) {
        (Ok(HashFormat::Bcrypt), HasherConfig::Bcrypt { .. }) => false,
        (Ok(HashFormat::Argon2id), HasherConfig::Argon2id { .. }) => false,
        _ => true,
    }
}

pub fn verify_dummy(password: &[u8], config: &HasherConfig) {
    let _ = hash_password(password, config);
}
