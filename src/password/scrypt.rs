//! scrypt: `$scrypt$` hashes and Firebase's `$firescrypt$` variant.
//!
//! In `$scrypt$ln=<N>,r=<r>,p=<p>$<salt>$<dk>` the `ln` field is **N itself**
//! (e.g. 16384), not its log2; it must be a power of two above 1. In
//! `$firescrypt$ln=<log2 N>,r,p$<salt>$<hash>$<salt sep>$<signer key>` it is
//! log2 N, and the check is Firebase's: `ck = scrypt(pw, salt‖sep, N, r, p, 32)`,
//! then the signer key encrypted with AES-256-CTR under `ck` and a zero IV must
//! equal `hash`. Every binary field is padded strict base64. Bounds are checked
//! right after the parameters are read, as Kratos does, before decoding.

use aes::Aes256;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit as _, StreamCipher as _};

use super::encoding::{self, B64};
use super::error::check_bound;
use super::limits::{MAX_FIRESCRYPT_LOG_N, MAX_SCRYPT_N, MAX_SCRYPT_P, MAX_SCRYPT_R};
use super::{HashError, HashFormat};

/// Firebase derives a 256-bit AES key.
const FIRESCRYPT_KEY_LEN: usize = 32;

/// The scrypt cost parameters, already bounds-checked.
#[derive(Clone, Copy, Debug)]
struct Cost {
    log_n: u8,
    r: u32,
    p: u32,
}

impl Cost {
    fn derive(
        self,
        format: HashFormat,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), HashError> {
        let params = ::scrypt::Params::new(self.log_n, self.r, self.p)
            .map_err(|e| HashError::unparsable(format, e.to_string()))?;
        ::scrypt::scrypt(password, salt, &params, out)
            .map_err(|e| HashError::unparsable(format, e.to_string()))
    }
}

impl Cost {
    /// What scrypt allocates: its 128·r·N-byte table plus 128·r·p bytes of blocks.
    fn memory_kib(self) -> u64 {
        let (n, r, p) = (1u64 << self.log_n, u64::from(self.r), u64::from(self.p));
        (128 * r * n + 128 * r * p).div_ceil(1024)
    }
}

/// Reads and bounds-checks `r` and `p`, shared by both formats.
fn check_r_p(format: HashFormat, r: u64, p: u64) -> Result<(u32, u32), HashError> {
    check_bound(format, "r", r, 1, MAX_SCRYPT_R.into())?;
    check_bound(format, "p", p, 1, MAX_SCRYPT_P.into())?;
    Ok((
        u32::try_from(r).unwrap_or(MAX_SCRYPT_R),
        u32::try_from(p).unwrap_or(MAX_SCRYPT_P),
    ))
}

/// A parsed `$scrypt$` hash.
pub(super) struct ScryptHash {
    cost: Cost,
    salt: Vec<u8>,
    key: Vec<u8>,
}

pub(super) fn parse_scrypt(hash: &str) -> Result<ScryptHash, HashError> {
    const FORMAT: HashFormat = HashFormat::Scrypt;
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, _, params, salt, key] = parts[..] else {
        return Err(HashError::unparsable(
            FORMAT,
            format!("expected 5 `$`-separated fields, found {}", parts.len()),
        ));
    };
    let [n, r, p] = encoding::scan_params(FORMAT, params, ["ln", "r", "p"])?;
    check_bound(FORMAT, "N", n, 1, MAX_SCRYPT_N)?;
    let (r, p) = check_r_p(FORMAT, r, p)?;
    if n < 2 || !n.is_power_of_two() {
        return Err(HashError::unparsable(
            FORMAT,
            format!("N={n} (the `ln` field) must be a power of two greater than 1"),
        ));
    }
    let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(u8::MAX);
    let salt = encoding::decode(FORMAT, "salt", salt, B64::StdStrict)?;
    let key = encoding::decode(FORMAT, "key", key, B64::StdStrict)?;
    encoding::check_key_len(FORMAT, key.len())?;
    Ok(ScryptHash {
        cost: Cost { log_n, r, p },
        salt,
        key,
    })
}

impl ScryptHash {
    pub(super) fn memory_kib(&self) -> u64 {
        self.cost.memory_kib()
    }

    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let mut out = vec![0u8; self.key.len()];
        self.cost
            .derive(HashFormat::Scrypt, password, &self.salt, &mut out)?;
        Ok(encoding::ct_eq(&out, &self.key))
    }
}

/// A parsed `$firescrypt$` hash.
pub(super) struct FirescryptHash {
    cost: Cost,
    /// The salt followed by the salt separator, as scrypt consumes them.
    salt: Vec<u8>,
    hash: Vec<u8>,
    signer_key: Vec<u8>,
}

pub(super) fn parse_firescrypt(hash: &str) -> Result<FirescryptHash, HashError> {
    const FORMAT: HashFormat = HashFormat::Firescrypt;
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, _, params, salt, digest, separator, signer_key] = parts[..] else {
        return Err(HashError::unparsable(
            FORMAT,
            format!("expected 7 `$`-separated fields, found {}", parts.len()),
        ));
    };
    let [log_n, r, p] = encoding::scan_params(FORMAT, params, ["ln", "r", "p"])?;
    check_bound(FORMAT, "ln", log_n, 0, MAX_FIRESCRYPT_LOG_N.into())?;
    let (r, p) = check_r_p(FORMAT, r, p)?;
    if log_n == 0 {
        return Err(HashError::unparsable(
            FORMAT,
            "ln=0 gives N=1; scrypt needs N > 1",
        ));
    }
    let mut salt = encoding::decode(FORMAT, "salt", salt, B64::StdStrict)?;
    let digest = encoding::decode(FORMAT, "hash", digest, B64::StdStrict)?;
    let separator = encoding::decode(FORMAT, "salt separator", separator, B64::StdStrict)?;
    let signer_key = encoding::decode(FORMAT, "signer key", signer_key, B64::StdStrict)?;
    if digest.len() != signer_key.len() || digest.len() < super::limits::MIN_KEY_LEN {
        return Err(HashError::unparsable(
            FORMAT,
            format!(
                "the hash ({} bytes) must be as long as the signer key ({} bytes) and at least {} bytes",
                digest.len(),
                signer_key.len(),
                super::limits::MIN_KEY_LEN
            ),
        ));
    }
    salt.extend_from_slice(&separator);
    Ok(FirescryptHash {
        cost: Cost {
            log_n: u8::try_from(log_n).unwrap_or(u8::MAX),
            r,
            p,
        },
        salt,
        hash: digest,
        signer_key,
    })
}

impl FirescryptHash {
    pub(super) fn memory_kib(&self) -> u64 {
        self.cost.memory_kib()
    }

    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, HashError> {
        let mut ck = [0u8; FIRESCRYPT_KEY_LEN];
        self.cost
            .derive(HashFormat::Firescrypt, password, &self.salt, &mut ck)?;
        let mut out = self.signer_key.clone();
        let mut cipher = Ctr128BE::<Aes256>::new(&ck.into(), &[0u8; 16].into());
        cipher.apply_keystream(&mut out);
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}
