//! legacy-hashes: a kith password-migration plugin for hashes kith cannot verify itself.
//!
//! Identities imported with `use_password_migration_hook: true` and their old hash as
//! `hashed_password` are signed in through this plugin once: on a match kith stores a hash
//! of its own and clears the flag. Formats:
//!
//! - phpass portable hashes, `$P$` (WordPress before 6.8, Drupal 7's `$P$`) and `$H$` (phpBB3);
//! - traditional DES crypt(3) (13 characters) and BSDi extended DES (`_`, 20 characters);
//! - yescrypt `$y$` (current Debian, Ubuntu and Fedora `/etc/shadow`);
//! - LDAP `userPassword` schemes: `{SHA}`, `{SHA256}`, `{SHA384}`, `{SHA512}`, `{MD5}`
//!   (unsalted), `{SSHA}`, `{SSHA256}`, `{SSHA384}`, `{SSHA512}`, `{SMD5}` (digest then salt),
//!   and `{CRYPT}` before a DES, BSDi or yescrypt value. Scheme names are matched without
//!   regard to case, as OpenLDAP does.
//!
//! A hash in any other format is an error (a fault kith reports and audits, the flag kept),
//! never a "no match": a wrong password and a hash nobody can check are different problems,
//! and only the second one is the operator's to fix. Digests are compared in constant time.
//! Errors never repeat the hash or the password.

wit_bindgen::generate!({
    path: "../wit",
    world: "password-migration",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use exports::kith::plugin::migration::{Attempt, Guest, Verdict};
use kith::plugin::types::CallContext;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

struct LegacyHashes;

impl Guest for LegacyHashes {
    fn verify(ctx: CallContext, attempt: Attempt) -> Result<Verdict, String> {
        kith_plugin_sdk::install_panic_hook();
        let limits = Limits::from_config(&ctx.config)?;
        match verify(&attempt.legacy_hash, attempt.password.as_bytes(), &limits)? {
            true => Ok(Verdict::PasswordMatch),
            false => Ok(Verdict::NoMatch),
        }
    }
}

export!(LegacyHashes);

/// What the config allows.
struct Limits {
    /// The highest phpass cost computed (log2 of its MD5 rounds).
    max_phpass_log2: u32,
}

impl Limits {
    fn from_config(config: &[(String, String)]) -> Result<Self, String> {
        let max_phpass_log2 = match kith_plugin_sdk::config(config, "max_phpass_log2") {
            None => 20,
            Some(text) => text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (7..=30).contains(n))
                .ok_or_else(|| {
                    format!("config max_phpass_log2 = {text:?} must be a number from 7 to 30")
                })?,
        };
        Ok(Limits { max_phpass_log2 })
    }
}

/// Whether `password` is the one `hash` was made from; `Err` for a hash this plugin cannot
/// check, saying why without repeating it.
fn verify(hash: &str, password: &[u8], limits: &Limits) -> Result<bool, String> {
    if hash.is_empty() {
        return Err(
            "the identity has no legacy hash to verify (it was imported with \
                    use_password_migration_hook but without hashed_password); \
                    import its hash, or set a new password"
                .into(),
        );
    }
    if let Some(rest) = hash.strip_prefix('{') {
        let Some((scheme, value)) = rest.split_once('}') else {
            return Err(
                "the legacy hash starts with `{` but has no `}` closing an LDAP scheme".into(),
            );
        };
        return verify_ldap(scheme, value, password, limits);
    }
    verify_crypt(hash, password, limits)
}

/// A crypt(3)-style value: phpass, DES, BSDi DES or yescrypt.
fn verify_crypt(hash: &str, password: &[u8], limits: &Limits) -> Result<bool, String> {
    if hash.starts_with("$P$") || hash.starts_with("$H$") {
        return verify_phpass(hash, password, limits);
    }
    if hash.starts_with("$y$") {
        return verify_yescrypt(hash, password);
    }
    if hash.len() == 13 && hash.bytes().all(is_crypt64) {
        return Ok(pwhash::unix_crypt::verify(password, hash));
    }
    if hash.len() == 20 && hash.starts_with('_') && hash[1..].bytes().all(is_crypt64) {
        return Ok(pwhash::bsdi_crypt::verify(password, hash));
    }
    Err(unknown_format(hash))
}

/// Names what the hash looks like, never the hash itself.
fn unknown_format(hash: &str) -> String {
    let known = "phpass $P$/$H$, DES or BSDi crypt, yescrypt $y$, LDAP {SHA}, {SHA256}, \
                 {SHA384}, {SHA512}, {MD5}, {SSHA}, {SSHA256}, {SSHA384}, {SSHA512}, {SMD5}, {CRYPT}";
    let id = hash
        .strip_prefix('$')
        .and_then(|rest| rest.split_once('$'))
        .map(|(id, _)| id)
        .filter(|id| id.len() <= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    match id {
        Some(id) => {
            format!("unsupported legacy hash format `${id}$`; legacy-hashes verifies {known}")
        }
        None => format!(
            "unsupported legacy hash format ({} characters, no known prefix); legacy-hashes verifies {known}",
            hash.chars().count()
        ),
    }
}

fn is_crypt64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

/// The alphabet of phpass and crypt(3) base-64.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// phpass `crypt_private`: MD5(salt ‖ password), then 2^n times MD5(previous ‖ password).
fn verify_phpass(hash: &str, password: &[u8], limits: &Limits) -> Result<bool, String> {
    let bytes = hash.as_bytes();
    if bytes.len() != 34 || !bytes[3..].iter().all(|&b| is_crypt64(b)) {
        return Err("a phpass hash ($P$ or $H$) must be 34 characters of ./0-9A-Za-z".into());
    }
    let log2 = ITOA64.iter().position(|&c| c == bytes[3]).unwrap_or(0) as u32;
    if !(7..=30).contains(&log2) {
        return Err(format!(
            "a phpass cost of 2^{log2} rounds is outside phpass' 2^7 to 2^30"
        ));
    }
    if log2 > limits.max_phpass_log2 {
        return Err(format!(
            "the phpass cost 2^{log2} rounds is above this plugin's max_phpass_log2 = {}; \
             raise it (and the plugin's fuel) to verify such hashes",
            limits.max_phpass_log2
        ));
    }
    let salt = &bytes[4..12];
    let mut digest = Md5::new_with_prefix(salt).chain_update(password).finalize();
    for _ in 0..(1u64 << log2) {
        digest = Md5::new_with_prefix(digest)
            .chain_update(password)
            .finalize();
    }
    let mut computed = bytes[..12].to_vec();
    computed.extend(phpass_encode64(&digest));
    Ok(constant_time_eq(&computed, bytes))
}

/// phpass' `encode64`: little-endian groups of three bytes as four characters.
fn phpass_encode64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, &b)| v | u32::from(b) << (8 * i));
        for i in 0..=chunk.len() {
            out.push(ITOA64[(value >> (6 * i) & 0x3f) as usize]);
        }
    }
    out
}

fn verify_yescrypt(hash: &str, password: &[u8]) -> Result<bool, String> {
    use yescrypt::password_hash::Error;
    use yescrypt::{PasswordVerifier, Yescrypt};
    match Yescrypt::default().verify_password(password, hash) {
        Ok(()) => Ok(true),
        Err(Error::PasswordInvalid) => Ok(false),
        Err(error) => Err(format!("the yescrypt hash ($y$) cannot be used: {error}")),
    }
}

/// Standard base-64, with or without its padding (LDAP tools differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An LDAP `userPassword` value: `{SCHEME}` and what follows it.
fn verify_ldap(
    scheme: &str,
    value: &str,
    password: &[u8],
    limits: &Limits,
) -> Result<bool, String> {
    let scheme = scheme.to_ascii_uppercase();
    if scheme == "CRYPT" {
        // Whatever crypt(3) wrote after the scheme; the Kratos formats among them ($1$, $5$,
        // $6$, $2y$) kith verifies itself and never hands over.
        return verify_crypt(
            value,
            password,
            &Limits {
                max_phpass_log2: 20,
            },
        );
    }
    let (salted, digest): (bool, DigestFn) = match scheme.as_str() {
        "SHA" => (false, digest_of::<Sha1>),
        "SHA256" => (false, digest_of::<Sha256>),
        "SHA384" => (false, digest_of::<Sha384>),
        "SHA512" => (false, digest_of::<Sha512>),
        "MD5" => (false, digest_of::<Md5>),
        "SSHA" => (true, digest_of::<Sha1>),
        "SSHA256" => (true, digest_of::<Sha256>),
        "SSHA384" => (true, digest_of::<Sha384>),
        "SSHA512" => (true, digest_of::<Sha512>),
        "SMD5" => (true, digest_of::<Md5>),
        other => {
            let shown: String = other.chars().take(24).collect();
            return Err(format!(
                "unsupported LDAP password scheme {{{shown}}}; legacy-hashes verifies {{SHA}}, \
                 {{SHA256}}, {{SHA384}}, {{SHA512}}, {{MD5}}, their salted forms {{SSHA}}, \
                 {{SSHA256}}, {{SSHA384}}, {{SSHA512}}, {{SMD5}}, and {{CRYPT}}"
            ));
        }
    };
    let decoded = BASE64
        .decode(value.trim())
        .map_err(|_| format!("the {{{scheme}}} value is not base-64"))?;
    let length = digest(b"", b"").len();
    let (stored, salt) = match salted {
        false if decoded.len() == length => (&decoded[..], &[][..]),
        true if decoded.len() > length => decoded.split_at(length),
        _ => {
            return Err(format!(
                "the {{{scheme}}} value holds {} bytes; it must be {}{length}",
                decoded.len(),
                if salted {
                    "a salt of at least one byte after "
                } else {
                    ""
                }
            ));
        }
    };
    Ok(constant_time_eq(&digest(password, salt), stored))
}

/// A digest of password and salt, as [`digest_of`] makes it.
type DigestFn = fn(&[u8], &[u8]) -> Vec<u8>;

/// `D(password ‖ salt)`, LDAP's salted (or, with no salt, plain) digest.
fn digest_of<D: Digest>(password: &[u8], salt: &[u8]) -> Vec<u8> {
    D::new()
        .chain_update(password)
        .chain_update(salt)
        .finalize()
        .to_vec()
}

/// Compares without stopping at the first difference, so the time taken does not tell how
/// much of a guess was right. Lengths are not secret (they follow from the format).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_phpass_log2: 20,
    };

    /// (hash, right password). Every vector was computed apart from this code: phpass with
    /// a Python transcription of WordPress' `crypt_private` (hashlib.md5); DES, BSDi and
    /// yescrypt with Python's `crypt.crypt` over Debian 12's libxcrypt; LDAP values with
    /// `base64.b64encode(hashlib.<digest>(password + salt).digest() + salt)`, salt
    /// `b"\x01\x02kith"`.
    const VECTORS: &[(&str, &str)] = &[
        (
            "$P$BkithSaltr5BVtw9rT4Xodp/X.78w90",
            "correct horse battery staple",
        ),
        ("$H$9abcdefgh0x3dpRWafM0Gr0e5vgdFV1", "test"),
        ("$P$7saltsalteEEDurn8yFxBfoEz6uV9B.", "pässwörd"),
        ("abJnggxhB/yWI", "password"),
        ("KxCzF.RfNtz26", "s3cret-p4ss"),
        ("_J9..kithu8XXWAkVN36", "s3cret"),
        (
            "$y$j75$kithsalt$6DZ02fZUFkn4SEsyWyIWshp1eArgSeFkUFxWRzTboW4",
            "correct horse",
        ),
        (
            "$y$j9T$kithyescryptsalt$H3XsWl332zpBQnPEHYqHIO8E7NrgKj5WkVRfRPT9V3.",
            "correct horse",
        ),
        ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password"),
        ("{sha}W6ph5Mm5Pz8GgiULbPgzG37mj9g", "password"),
        ("{MD5}X03MO1qnZdYdgyfeuILPmQ==", "password"),
        ("{SMD5}hNeEM7/tXUvCFrfIc1rwgwECa2l0aA==", "password"),
        (
            "{SHA256}XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg=",
            "password",
        ),
        (
            "{SHA512}sQnzu7wkTrgkQZF+0G1hi5AI3Qmzvv0bXgc5THBqi7mAsdd4Xll27ASbRt9fEyavWi6m0QP9B8lThf+rDKy8hg==",
            "password",
        ),
        (
            "{SSHA384}tpE5c3wR5LdyHV+Zq7dYJrIiZfQNTdaFlTaA6W9BdB5EOgQ7qUHyJNHSgVDtqxwaAQJraXRo",
            "password",
        ),
        ("{SSHA}ZsAmWtvk8OstIKdbOpvDwka3KksBAmtpdGg=", "password"),
        ("{CRYPT}abJnggxhB/yWI", "password"),
    ];

    #[test]
    fn every_format_takes_its_password_and_refuses_another() {
        for (hash, password) in VECTORS {
            assert_eq!(
                verify(hash, password.as_bytes(), &LIMITS),
                Ok(true),
                "{hash}"
            );
            assert_eq!(
                verify(hash, b"not the password", &LIMITS),
                Ok(false),
                "{hash} took a wrong password"
            );
        }
    }

    #[test]
    fn a_changed_hash_no_longer_matches() {
        let flipped = "$P$BkithSaltr5BVtw9rT4Xodp/X.78w91";
        assert_eq!(
            verify(flipped, b"correct horse battery staple", &LIMITS),
            Ok(false)
        );
        let salt_changed = "{SSHA}ZsAmWtvk8OstIKdbOpvDwka3KksBAmtpdGk=";
        assert_eq!(verify(salt_changed, b"password", &LIMITS), Ok(false));
    }

    #[test]
    fn unknown_or_broken_hashes_are_errors_that_do_not_repeat_them() {
        let cases = [
            ("", "no legacy hash"),
            ("$whirlpool$c2FsdA$aGFzaA", "`$whirlpool$`"),
            ("plaintext-password", "no known prefix"),
            ("{CLEARTEXT}secret", "{CLEARTEXT}"),
            ("{SHA}not base64!", "not base-64"),
            ("{SHA}AAAA", "must be 20"),
            (
                "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                "a salt of at least one byte",
            ),
            ("{SHA", "no `}`"),
            ("$P$Bshort", "34 characters"),
            ("$P$zkithSaltr5BVtw9rT4Xodp/X.78w90", "outside phpass"),
            ("$P$SkithSaltr5BVtw9rT4Xodp/X.78w90", "max_phpass_log2"),
            ("$y$jX$", "yescrypt"),
        ];
        for (hash, expected) in cases {
            match verify(hash, b"hunter2", &LIMITS) {
                Err(message) => {
                    assert!(
                        message.contains(expected),
                        "{hash}: {message} lacks {expected}"
                    );
                    if hash.len() > 8 {
                        assert!(!message.contains(hash), "{message} repeats the hash");
                    }
                    assert!(
                        !message.contains("hunter2"),
                        "{message} repeats the password"
                    );
                }
                other => panic!("{hash}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_config_bounds_the_phpass_cost() {
        let config = |value: &str| vec![("max_phpass_log2".to_string(), value.to_string())];
        assert!(Limits::from_config(&config("8")).is_ok());
        assert!(Limits::from_config(&config("31")).is_err());
        assert!(Limits::from_config(&config("many")).is_err());
        let low = Limits::from_config(&config("8")).unwrap_or(LIMITS);
        // $P$B is 2^13 rounds.
        assert!(verify("$P$BkithSaltr5BVtw9rT4Xodp/X.78w90", b"x", &low).is_err());
    }

    #[test]
    fn comparison_needs_equal_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
