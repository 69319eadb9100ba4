//! foreign: hashes other systems write that say exactly what one of Kratos' formats says,
//! rewritten into that format without loss.
//!
//! Kratos accepts none of these as they are; each is the same computation under another
//! spelling, so the rewritten hash verifies the same passwords (the tests check each with its
//! original password) and carries over to Kratos itself. Formats with no Kratos equivalent
//! (phpass, DES and yescrypt crypt, unsalted LDAP digests) are left alone: those need a
//! password-migration plugin.
//!
//! - Django's `pbkdf2_sha256$<iterations>$<salt>$<b64 key>` (and `pbkdf2_sha1`): the salt is
//!   used as its text, so it becomes the base64 of that text.
//! - crypt(3) `$1$`, `$5$` and `$6$` (a Linux shadow file, `{CRYPT}` in LDAP): Kratos names
//!   them `$md5-crypt$`, `$sha256-crypt$` and `$sha512-crypt$`. A sha-crypt hash without
//!   `rounds=` gets glibc's default `rounds=5000$` written out (the same checksum), which is
//!   how Ory documents the format.
//! - LDAP `{CRYPT}` around any of those or bcrypt, `{ARGON2}` around a PHC argon2 string.
//! - LDAP `{PBKDF2-SHA256}<iterations>$<salt>$<key>` (OpenLDAP's adapted base64 with `.` for
//!   `+`, or 389-DS' standard base64 with padding; also `-SHA512`, `-SHA1` and bare
//!   `{PBKDF2}`, which is SHA-1).
//! - 389-DS' older `{PBKDF2_SHA256}` (underscore): base64 of the iterations (4 bytes, big
//!   endian), a 64-byte salt and a 256-byte key. PBKDF2 computes its output block by block,
//!   so the key's first 32 bytes are the 32-byte derivation itself: the Kratos hash keeps
//!   those (kith and Kratos take keys up to 64 bytes), and verifies the same passwords.

use super::encoding;

/// The Kratos spelling of `hash` when it is a foreign spelling of one of Kratos' formats;
/// `None` for anything else (including every hash already in a Kratos format).
#[must_use]
pub fn to_kratos_format(hash: &str) -> Option<String> {
    if let Some(inner) = hash.strip_prefix("{CRYPT}") {
        return Some(crypt(inner).unwrap_or_else(|| inner.to_string()));
    }
    if let Some(inner) = hash.strip_prefix("{ARGON2}") {
        return inner.starts_with("$argon2").then(|| inner.to_string());
    }
    if let Some(blob) = hash.strip_prefix("{PBKDF2_SHA256}") {
        return ds_pbkdf2_sha256(blob);
    }
    if hash.starts_with("{PBKDF2") {
        return ldap_pbkdf2(hash);
    }
    if hash.starts_with("pbkdf2_sha") {
        return django_pbkdf2(hash);
    }
    crypt(hash)
}

/// `$1$`, `$5$` and `$6$` as Kratos' `$md5-crypt$`, `$sha256-crypt$` and `$sha512-crypt$`.
fn crypt(hash: &str) -> Option<String> {
    if let Some(rest) = hash.strip_prefix("$1$") {
        return Some(format!("$md5-crypt${rest}"));
    }
    let (name, rest) = match hash.get(..3)? {
        "$5$" => ("sha256-crypt", &hash[3..]),
        "$6$" => ("sha512-crypt", &hash[3..]),
        _ => return None,
    };
    Some(match rest.starts_with("rounds=") {
        true => format!("${name}${rest}"),
        false => format!("${name}$rounds=5000${rest}"),
    })
}

/// Django's `pbkdf2_sha256$i$salt$key` and `pbkdf2_sha1$…`.
fn django_pbkdf2(hash: &str) -> Option<String> {
    let (algorithm, rest) = hash.split_once('$')?;
    let prf = match algorithm {
        "pbkdf2_sha256" => "sha256",
        "pbkdf2_sha1" => "sha1",
        _ => return None,
    };
    let [iterations, salt, key] = split3(rest)?;
    let iterations = encoding::parse_decimal(iterations)?;
    let key = key.trim_end_matches('=');
    Some(format!(
        "$pbkdf2-{prf}$i={iterations},l={}${}${key}",
        key_length(key),
        encoding::encode_raw(salt.as_bytes()),
    ))
}

/// LDAP's `{PBKDF2-SHA256}i$salt$key` in OpenLDAP's or 389-DS' base64.
fn ldap_pbkdf2(hash: &str) -> Option<String> {
    let (scheme, rest) = hash.split_once('}')?;
    let prf = match scheme {
        "{PBKDF2" | "{PBKDF2-SHA1" => "sha1",
        "{PBKDF2-SHA256" => "sha256",
        "{PBKDF2-SHA512" => "sha512",
        _ => return None,
    };
    let [iterations, salt, key] = split3(rest)?;
    let iterations = encoding::parse_decimal(iterations)?;
    // OpenLDAP's adapted base64 writes `.` for `+` and no padding; 389-DS pads.
    let standard = |text: &str| text.trim_end_matches('=').replace('.', "+");
    let (salt, key) = (standard(salt), standard(key));
    Some(format!(
        "$pbkdf2-{prf}$i={iterations},l={}${salt}${key}",
        key_length(&key)
    ))
}

/// 389-DS' `{PBKDF2_SHA256}<base64 of iterations ‖ salt ‖ key>`.
fn ds_pbkdf2_sha256(blob: &str) -> Option<String> {
    let bytes = encoding::decode(
        super::HashFormat::Pbkdf2,
        "389-DS PBKDF2_SHA256 value",
        blob,
        encoding::B64::StdStrict,
    )
    .ok()?;
    if bytes.len() != 4 + 64 + 256 {
        return None;
    }
    let (iterations, rest) = bytes.split_at(4);
    let iterations = u32::from_be_bytes(iterations.try_into().ok()?);
    let (salt, key) = rest.split_at(64);
    Some(format!(
        "$pbkdf2-sha256$i={iterations},l=32${}${}",
        encoding::encode_raw(salt),
        encoding::encode_raw(&key[..32]),
    ))
}

fn split3(text: &str) -> Option<[&str; 3]> {
    let mut parts = text.split('$');
    let found = [parts.next()?, parts.next()?, parts.next()?];
    parts.next().is_none().then_some(found)
}

/// The bytes unpadded base64 of this many characters holds.
fn key_length(unpadded: &str) -> usize {
    unpadded.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::to_kratos_format;
    use crate::password::verify_password;

    /// Each foreign hash, its Kratos spelling, and the password it was made from.
    const CONVERTED: &[(&str, &str, &str)] = &[
        // Django's own test vector (`test_pkbdf2`).
        (
            "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
            "$pbkdf2-sha256$i=10000,l=32$c2Vhc2FsdA$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY",
            "lètmein",
        ),
        // `openssl passwd -1|-5|-6 -salt saltsalt 'correct horse'`.
        (
            "$1$saltsalt$NuzA7WTAelpl95xgBGWN60",
            "$md5-crypt$saltsalt$NuzA7WTAelpl95xgBGWN60",
            "correct horse",
        ),
        (
            "$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/",
            "$sha256-crypt$rounds=5000$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/",
            "correct horse",
        ),
        (
            "{CRYPT}$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0",
            "$sha512-crypt$rounds=5000$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0",
            "correct horse",
        ),
        // 389-DS pwdchan's comments (OpenLDAP's adapted base64).
        (
            "{PBKDF2-SHA256}10000$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw",
            "$pbkdf2-sha256$i=10000,l=32$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw",
            "password",
        ),
        // 389-DS' legacy layout, made with Python's hashlib.pbkdf2_hmac (2048 iterations,
        // a 64-byte salt, a 256-byte key).
        (
            "{PBKDF2_SHA256}AAAIAA3uNxFIKT9zu2jcDl4600gwngTWyAYLW9S9pTAJwfNs81DPX/czqlj16okwMIVxqj3U61mAJhZ1/25q7hwhJ82FAhCSLcXj4PdkD66e29pYM8ZPPmZPineD4sRc+1fvhJU0KejXvAW3fnAiRoZqRjkASXSV0y1QKzD8PGquRkJPcAqtaZ1msQSNwm+/Tasxm1K00YCZk/MR/O+zjlldw7BoRe/1oF+8sT+cvJBAOvangbCf87GWhiY6hf5BD4nQKhxXc9maGnpaaEQekxtDBU7VJKjTbHi5fIENFRSXcrwWvtOvii5pGc9ghMjKE2eScIE0v8uNgLZjp3K25kIb2iYrIfTB1g4t8mmIma21riXDHra1Ka+khcF4OfxfqZKAYvcl84M37Cc/pxAXmSAbbx7K9Pq/MEIJ0tE2I1napdts",
            "$pbkdf2-sha256$i=2048,l=32$De43EUgpP3O7aNwOXjrTSDCeBNbIBgtb1L2lMAnB82zzUM9f9zOqWPXqiTAwhXGqPdTrWYAmFnX/bmruHCEnzQ$hQIQki3F4+D3ZA+untvaWDPGTz5mT4p3g+LEXPtX74Q",
            "Simple321Simple321",
        ),
    ];

    #[test]
    fn foreign_spellings_become_kratos_formats_that_verify_the_same_password() {
        for (foreign, kratos, password) in CONVERTED {
            let converted = to_kratos_format(foreign);
            assert_eq!(converted.as_deref(), Some(*kratos), "{foreign}");
            assert_eq!(
                verify_password(password.as_bytes(), kratos).ok(),
                Some(true),
                "{kratos}"
            );
            assert_eq!(
                verify_password(b"wrong", kratos).ok(),
                Some(false),
                "{kratos}"
            );
        }
    }

    #[test]
    fn kratos_formats_and_formats_without_an_equivalent_are_left_alone() {
        for hash in [
            "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2",
            "$md5-crypt$saltsalt$NuzA7WTAelpl95xgBGWN60",
            "$pbkdf2-sha256$i=10000,l=32$c2Vhc2FsdA$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY",
            "{SSHA}AAAA",
            "$P$B12345678abcdefghijklmnopqrstuv",
            "$y$j9T$salt$hash",
            "pbkdf2_md5$1$a$b",
            "{PBKDF2_SHA256}AAAIAA==",
            "",
        ] {
            assert_eq!(to_kratos_format(hash), None, "{hash}");
        }
    }
}
