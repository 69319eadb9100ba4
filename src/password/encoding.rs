//! encoding: the base64 flavours, field scanners and comparison shared by the families.
//!
//! Kratos decodes with Go's `encoding/base64`. Its "strict" decoders reject
//! non-canonical trailing bits; `StdEncoding` requires `=` padding and
//! `RawStdEncoding` forbids it. Only SSHA uses the non-strict decoder. The
//! engines here reproduce those four behaviours; nothing else in the module
//! may decode base64 another way. Like Go's decoders (strict ones included),
//! the standard flavours skip CR and LF anywhere in the input.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose};
use subtle::ConstantTimeEq as _;

use super::{HashError, HashFormat};

/// Go's `base64.StdEncoding.Strict()`: padded, canonical.
const STD_STRICT: GeneralPurpose = general_purpose::STANDARD;
/// Go's `base64.RawStdEncoding.Strict()`: unpadded, canonical.
const RAW_STRICT: GeneralPurpose = general_purpose::STANDARD_NO_PAD;
/// Go's `base64.StdEncoding` (not strict): padded, any trailing bits.
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);
/// The bcrypt alphabet as Go's `bcrypt` package reads salts: any trailing bits.
const BCRYPT_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::BCRYPT,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);
/// The bcrypt alphabet, canonical: how a checksum must look to ever match.
const BCRYPT_STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::BCRYPT,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Which of Go's decoders a field is read with.
#[derive(Clone, Copy, Debug)]
pub(super) enum B64 {
    StdStrict,
    RawStrict,
    StdLenient,
    BcryptLenient,
    BcryptStrict,
}

/// Decodes `field` (called `what` in the error) of a `format` hash.
pub(super) fn decode(
    format: HashFormat,
    what: &str,
    field: &str,
    flavour: B64,
) -> Result<Vec<u8>, HashError> {
    let engine = match flavour {
        B64::StdStrict => &STD_STRICT,
        B64::RawStrict => &RAW_STRICT,
        B64::StdLenient => &STD_LENIENT,
        B64::BcryptLenient => &BCRYPT_LENIENT,
        B64::BcryptStrict => &BCRYPT_STRICT,
    };
    let unwrapped: String;
    let field = if matches!(flavour, B64::BcryptLenient | B64::BcryptStrict)
        || !field.contains(['\r', '\n'])
    {
        field
    } else {
        unwrapped = field
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        &unwrapped
    };
    engine
        .decode(field)
        .map_err(|e| HashError::unparsable(format, format!("the {what} is not valid base64: {e}")))
}

/// Encodes with Go's `RawStdEncoding` (how argon2 and pbkdf2 hashes are written).
pub(super) fn encode_raw(bytes: &[u8]) -> String {
    RAW_STRICT.encode(bytes)
}

/// Reads a `k1=<n>,k2=<n>,...` field in exactly the given key order, the way
/// Kratos' `fmt.Sscanf(field, "k1=%d,k2=%d", ...)` does, but refusing signs,
/// spaces and trailing text. Values that overflow `u64` are refused too.
pub(super) fn scan_params<const N: usize>(
    format: HashFormat,
    field: &str,
    keys: [&str; N],
) -> Result<[u64; N], HashError> {
    let expected = keys.map(|k| format!("{k}=<n>")).join(",");
    let bad = || {
        HashError::unparsable(
            format,
            format!("expected parameters `{expected}`, found `{field}`"),
        )
    };
    let mut values = [0u64; N];
    let mut parts = field.split(',');
    for (slot, key) in values.iter_mut().zip(keys) {
        let part = parts.next().ok_or_else(bad)?;
        let digits = part
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(bad)?;
        *slot = parse_decimal(digits).ok_or_else(bad)?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(values)
}

/// A non-empty run of ASCII digits that fits in `u64`.
pub(super) fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Constant-time equality; unequal lengths are unequal (lengths are not secret).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks that a decoded derived key is between the kith-wide length bounds.
pub(super) fn check_key_len(format: HashFormat, len: usize) -> Result<(), HashError> {
    use super::limits::{MAX_KEY_LEN, MIN_KEY_LEN};
    if len < MIN_KEY_LEN {
        return Err(HashError::unparsable(
            format,
            format!("the derived key is {len} bytes; at least {MIN_KEY_LEN} are required"),
        ));
    }
    if len > MAX_KEY_LEN {
        return Err(HashError::out_of_bounds(
            format,
            format!("{format} key length {len} exceeds the maximum of {MAX_KEY_LEN}"),
        ));
    }
    Ok(())
}

/// `N` bytes from the operating system's random number generator.
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N], HashError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(HashError::RandomUnavailable)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoders_refuse_what_go_refuses() {
        let f = HashFormat::Sha;
        // "QQ==" is canonical for "A"; "QR==" has non-zero padding bits.
        assert_eq!(
            decode(f, "x", "QQ==", B64::StdStrict).ok(),
            Some(b"A".to_vec())
        );
        assert!(decode(f, "x", "QR==", B64::StdStrict).is_err());
        assert_eq!(
            decode(f, "x", "QR==", B64::StdLenient).ok(),
            Some(b"A".to_vec())
        );
        assert!(
            decode(f, "x", "QQ", B64::StdStrict).is_err(),
            "std requires padding"
        );
        assert!(
            decode(f, "x", "QQ", B64::StdLenient).is_err(),
            "std requires padding"
        );
        assert!(
            decode(f, "x", "QQ==", B64::RawStrict).is_err(),
            "raw forbids padding"
        );
        assert!(decode(f, "x", "QR", B64::RawStrict).is_err());
        assert_eq!(decode(f, "x", "", B64::StdStrict).ok(), Some(Vec::new()));
        assert_eq!(
            decode(f, "x", "Q\r\nQ==\n", B64::StdStrict).ok(),
            Some(b"A".to_vec())
        );
    }

    #[test]
    fn scan_params_is_positional_and_exact() {
        let f = HashFormat::Scrypt;
        assert_eq!(
            scan_params(f, "ln=16384,r=8,p=1", ["ln", "r", "p"]).ok(),
            Some([16384, 8, 1])
        );
        for bad in [
            "r=8,ln=16384,p=1",
            "ln=16384,r=8",
            "ln=16384,r=8,p=1,x=2",
            "ln=-1,r=8,p=1",
            "ln=,r=8,p=1",
            "ln=1 ,r=8,p=1",
            "ln=abc,r=8,p=1",
        ] {
            assert!(scan_params(f, bad, ["ln", "r", "p"]).is_err(), "{bad}");
        }
    }
}
