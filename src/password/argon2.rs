//! argon2: `$argon2id$` and `$argon2i$` hashes (PHC strings, version 19 only).
//!
//! Parsing follows Kratos' `decodeArgon2idHash`: six `$` fields, `v=19`, then
//! `m=,t=,p=` (bounds checked here, before anything is decoded or allocated),
//! then unpadded strict base64 salt and key; the key length is the decoded
//! length. The `RustCrypto` `argon2` crate is stricter than Go's in two corners, refused
//! here as unparsable: salts under 8 bytes, and `m` below `8 × p` (Go quietly
//! raises the memory; the reference implementation refuses).

use ::argon2::{Algorithm, Argon2, Params, Version};

use super::encoding::{self, B64};
use super::error::check_bound;
use super::limits::{
    ARGON2_VERSION, MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM,
};
use super::{HashError, HashFormat};

const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// The minimum salt length of the `RustCrypto` crate and the reference implementation.
const MIN_SALT_LEN: usize = ::argon2::MIN_SALT_LEN;

/// A parsed argon2 hash.
pub(super) struct Argon2Hash {
    format: HashFormat,
    m: u32,
    t: u32,
    p: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

pub(super) fn parse(hash: &str, format: HashFormat) -> Result<Argon2Hash, HashError> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, _, version, params, salt, key] = parts[..] else {
        return Err(HashError::unparsable(
            format,
            format!("expected 6 `$`-separated fields, found {}", parts.len()),
        ));
    };
    let [v] = encoding::scan_params(format, version, ["v"])?;
    if v != u64::from(ARGON2_VERSION) {
        return Err(HashError::unparsable(
            format,
            format!("version {v} is not supported; only v={ARGON2_VERSION} is"),
        ));
    }
    let [m, t, p] = encoding::scan_params(format, params, ["m", "t", "p"])?;
    check_bound(format, "m", m, 1, MAX_ARGON2_MEMORY_KIB.into())?;
    check_bound(format, "t", t, 1, MAX_ARGON2_ITERATIONS.into())?;
    check_bound(format, "p", p, 1, MAX_ARGON2_PARALLELISM.into())?;
    // All three fit in u32 after the bounds above.
    let (m, t, p) = (to_u32(m), to_u32(t), to_u32(p));
    if m < 8 * p {
        return Err(HashError::unparsable(
            format,
            format!(
                "m={m} is below 8 × p ({}), which argon2 does not allow",
                8 * p
            ),
        ));
    }
    let salt = encoding::decode(format, "salt", salt, B64::RawStrict)?;
    if salt.len() < MIN_SALT_LEN {
        return Err(HashError::unparsable(
            format,
            format!(
                "the salt is {} bytes; argon2 needs at least {MIN_SALT_LEN}",
                salt.len()
            ),
        ));
    }
    let key = encoding::decode(format, "key", key, B64::RawStrict)?;
    encoding::check_key_len(format, key.len())?;
    Ok(Argon2Hash {
        format,
        m,
        t,
        p,
        salt,
        key,
    })
}

fn to_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn derive(
    algorithm: Algorithm,
    (m, t, p): (u32, u32, u32),
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), ::argon2::Error> {
    let params = Params::new(m, t, p, Some(out.len()))?;
    Argon2::new(algorithm, Version::V0x13, params).hash_password_into(password, salt, out)
}

impl Argon2Hash {
    pub(super) fn format(&self) -> HashFormat {
        self.format
    }

    /// What argon2 allocates: `m` KiB.
    pub(super) fn memory_kib(&self) -> u64 {
        self.m.into()
    }

    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let algorithm = match self.format {
            HashFormat::Argon2i => Algorithm::Argon2i,
            _ => Algorithm::Argon2id,
        };
        let mut out = vec![0u8; self.key.len()];
        derive(
            algorithm,
            (self.m, self.t, self.p),
            password,
            &self.salt,
            &mut out,
        )
        .map_err(|e| HashError::unparsable(self.format, e.to_string()))?;
        Ok(encoding::ct_eq(&out, &self.key))
    }

    /// Whether this is not argon2id, or any of m, t, p is below the given ones.
    pub(super) fn weaker_than(&self, m: u32, t: u32, p: u32) -> bool {
        self.format != HashFormat::Argon2id || self.m < m || self.t < t || self.p < p
    }
}

pub(super) fn validate_config(m: u32, t: u32, p: u32) -> Result<(), HashError> {
    let bad = |what: &str, value: u32, max: u32| {
        HashError::InvalidConfig(format!("argon2id {what} {value} is outside 1..={max}"))
    };
    if !(1..=MAX_ARGON2_MEMORY_KIB).contains(&m) {
        return Err(bad("memory_kib", m, MAX_ARGON2_MEMORY_KIB));
    }
    if !(1..=MAX_ARGON2_ITERATIONS).contains(&t) {
        return Err(bad("iterations", t, MAX_ARGON2_ITERATIONS));
    }
    if !(1..=MAX_ARGON2_PARALLELISM).contains(&p) {
        return Err(bad("parallelism", p, MAX_ARGON2_PARALLELISM));
    }
    if m < 8 * p {
        return Err(HashError::InvalidConfig(format!(
            "argon2id memory_kib {m} is below 8 × parallelism ({})",
            8 * p
        )));
    }
    Ok(())
}

pub(super) fn hash(password: &[u8], m: u32, t: u32, p: u32) -> Result<String, HashError> {
    let salt = encoding::random_bytes::<SALT_LEN>()?;
    let mut key = [0u8; KEY_LEN];
    derive(Algorithm::Argon2id, (m, t, p), password, &salt, &mut key)
        .map_err(|e| HashError::InvalidConfig(e.to_string()))?;
    Ok(format!(
        "$argon2id$v={ARGON2_VERSION}$m={m},t={t},p={p}${}${}",
        encoding::encode_raw(&salt),
        encoding::encode_raw(&key)
    ))
}

/// Runs argon2id with these parameters on a fixed salt and discards the result.
pub(super) fn dummy(password: &[u8], m: u32, t: u32, p: u32) {
    let mut key = [0u8; KEY_LEN];
    let result = derive(
        Algorithm::Argon2id,
        (m, t, p),
        password,
        &[0x5a; SALT_LEN],
        &mut key,
    );
    std::hint::black_box((result.is_ok(), key));
}
