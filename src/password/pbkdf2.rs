//! pbkdf2: `$pbkdf2-<alg>$i=<iter>,l=<len>$<salt>$<dk>` hashes, as Kratos reads them.
//!
//! The PRF follows Kratos' `getPseudorandomFunctionForPbkdf2`, quirks included:
//! `sha224` means **SHA3-224** and `sha384` means **SHA3-384**, and any other
//! digest name falls back to SHA-256. `l` must be a number but is otherwise
//! ignored: the derived key length is the decoded length of `dk`. Salt and key
//! are unpadded strict base64.

use ::pbkdf2::pbkdf2_hmac;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use sha3::{Sha3_224, Sha3_384};

use super::encoding::{self, B64};
use super::error::check_bound;
use super::limits::MAX_PBKDF2_ITERATIONS;
use super::{HashError, HashFormat};

const FORMAT: HashFormat = HashFormat::Pbkdf2;

/// The pseudo-random function named after `$pbkdf2-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prf {
    Sha1,
    Sha3_224,
    Sha256,
    Sha3_384,
    Sha512,
}

impl Prf {
    fn from_name(name: &str) -> Self {
        match name {
            "sha1" => Self::Sha1,
            "sha224" => Self::Sha3_224,
            "sha384" => Self::Sha3_384,
            "sha512" => Self::Sha512,
            // Kratos' default branch: "sha256" and every other name.
            _ => Self::Sha256,
        }
    }
}

/// A parsed PBKDF2 hash.
pub(super) struct Pbkdf2Hash {
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

/// Kratos' `^\$pbkdf2-sha[0-9]{1,3}\$` prefix.
pub(super) fn is_pbkdf2(hash: &str) -> bool {
    hash.strip_prefix("$pbkdf2-sha").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        (1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'$')
    })
}

pub(super) fn parse(hash: &str) -> Result<Pbkdf2Hash, HashError> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, ident, params, salt, key] = parts[..] else {
        return Err(HashError::unparsable(
            FORMAT,
            format!("expected 5 `$`-separated fields, found {}", parts.len()),
        ));
    };
    // `HashFormat::detect` guarantees `pbkdf2-sha<digits>`.
    let prf = Prf::from_name(ident.split_once('-').map_or("", |(_, alg)| alg));
    let [iterations, _declared_len] = encoding::scan_params(FORMAT, params, ["i", "l"])?;
    check_bound(FORMAT, "i", iterations, 1, MAX_PBKDF2_ITERATIONS.into())?;
    let salt = encoding::decode(FORMAT, "salt", salt, B64::RawStrict)?;
    let key = encoding::decode(FORMAT, "key", key, B64::RawStrict)?;
    encoding::check_key_len(FORMAT, key.len())?;
    Ok(Pbkdf2Hash {
        prf,
        iterations: u32::try_from(iterations).unwrap_or(MAX_PBKDF2_ITERATIONS),
        salt,
        key,
    })
}

impl Pbkdf2Hash {
    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let mut out = vec![0u8; self.key.len()];
        let (salt, rounds) = (&self.salt[..], self.iterations);
        match self.prf {
            Prf::Sha1 => pbkdf2_hmac::<Sha1>(password, salt, rounds, &mut out),
            Prf::Sha3_224 => pbkdf2_hmac::<Sha3_224>(password, salt, rounds, &mut out),
            Prf::Sha256 => pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out),
            Prf::Sha3_384 => pbkdf2_hmac::<Sha3_384>(password, salt, rounds, &mut out),
            Prf::Sha512 => pbkdf2_hmac::<Sha512>(password, salt, rounds, &mut out),
        }
        encoding::ct_eq(&out, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_names_follow_kratos_quirks() {
        assert_eq!(Prf::from_name("sha224"), Prf::Sha3_224);
        assert_eq!(Prf::from_name("sha384"), Prf::Sha3_384);
        assert_eq!(Prf::from_name("sha1"), Prf::Sha1);
        assert_eq!(Prf::from_name("sha512"), Prf::Sha512);
        assert_eq!(Prf::from_name("sha3"), Prf::Sha256);
        assert_eq!(Prf::from_name("sha999"), Prf::Sha256);
    }
}
