//! Malformed and out-of-bounds hashes, each with the exact error it must give.

use super::super::{HashError, HashFormat, check_hash, limits, verify_password};

/// The error a case must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Unknown,
    Unparsable(HashFormat),
    Bounds(HashFormat),
}

fn classify(result: Result<HashFormat, HashError>) -> Result<Want, String> {
    match result {
        Err(HashError::UnknownFormat) => Ok(Want::Unknown),
        Err(HashError::Unparsable { format, .. }) => Ok(Want::Unparsable(format)),
        Err(HashError::CostOutOfBounds { format, .. }) => Ok(Want::Bounds(format)),
        other => Err(format!("{other:?}")),
    }
}

const BCRYPT_OK: &str = "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6";
const ARGON_SALT_KEY: &str = "cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";
const SCRYPT_SALT_KEY: &str = "c2FsdHNhbHRzYWx0$aGFzaGhhc2g=";
const FIRE_TAIL: &str = "c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5";

/// Every case: a hash and the error `check_hash` must give for it.
fn cases() -> Vec<(String, Want)> {
    use HashFormat as F;
    use Want::{Bounds, Unknown, Unparsable};
    let long_hmac = format!(
        "$hmac-sha1$${}",
        "QUFB".repeat(limits::MAX_HASH_LEN / 4 + 1)
    );
    [
        // Unknown prefixes, including crypt(3)'s own, which Kratos does not accept.
        ("", Unknown),
        ("hunter2", Unknown),
        ("$1$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/", Unknown),
        ("$5$rounds=535000$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3", Unknown),
        ("$6$rounds=656000$0baQbxBrfpKqvizk$Q9cYk1MeNAlECPgpG3jjfNI2Dum", Unknown),
        ("$2x$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", Unknown),
        ("$argon2d$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unknown),
        ("$pbkdf2-sha$i=1,l=1$AA$AA", Unknown),
        ("$pbkdf2-sha1234$i=1,l=1$AA$AA", Unknown),
        ("{SSHA1}AAAA", Unknown),
        ("$sha384$pf=e1NBTFR9e1BBU1NXT1JEfQ==$AA==$AA==", Unknown),
        ("$hmac-sha3$YQ==$YQ==", Unknown),
        ("$hmac$YQ==$YQ==", Unknown),
        // bcrypt
        ("$2a$12$o6hx.Wog", Unparsable(F::Bcrypt)),
        ("$2a$1x$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", Unparsable(F::Bcrypt)),
        ("$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL7", Unparsable(F::Bcrypt)),
        ("$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6x", Unparsable(F::Bcrypt)),
        ("$2a$12$o6hx.Wog/wvFSkT/Bp/6DOx!tLRTDj7lm9on9suF/WaCGNVHbkfL6", Unparsable(F::Bcrypt)),
        ("$2a$16$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", Bounds(F::Bcrypt)),
        ("$2b$31$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", Bounds(F::Bcrypt)),
        ("$2y$03$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", Bounds(F::Bcrypt)),
        // argon2
        ("$argon2id$v=16$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=32,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ==$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bR$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=2,p=4$c2FsdA$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=16,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2id)),
        ("$argon2id$v=19$m=1048577,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2id)),
        ("$argon2id$v=19$m=0,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=11,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2id)),
        ("$argon2id$v=19$m=32,t=0,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2id)),
        ("$argon2id$v=19$m=256,t=2,p=17$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2id)),
        ("$argon2i$v=19$m=99999999999999999999999,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Unparsable(F::Argon2i)),
        ("$argon2i$v=19$m=2097152,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", Bounds(F::Argon2i)),
        // pbkdf2
        ("$pbkdf2-sha256$i=100000$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", Unparsable(F::Pbkdf2)),
        ("$pbkdf2-sha256$I=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", Unparsable(F::Pbkdf2)),
        ("$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc=$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", Unparsable(F::Pbkdf2)),
        ("$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$", Unparsable(F::Pbkdf2)),
        ("$pbkdf2-sha256$i=10000001,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", Bounds(F::Pbkdf2)),
        ("$pbkdf2-sha256$i=0,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", Bounds(F::Pbkdf2)),
        // scrypt: `ln` is N; it must be a power of two above 1 and at most 2^17.
        ("$scrypt$ln=16384,r=8,p=1$c2FsdHNhbHRzYWx0", Unparsable(F::Scrypt)),
        ("$scrypt$ln=16385,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Unparsable(F::Scrypt)),
        ("$scrypt$ln=1,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Unparsable(F::Scrypt)),
        ("$scrypt$ln=16384,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g", Unparsable(F::Scrypt)),
        ("$scrypt$ln=16384,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2h=", Unparsable(F::Scrypt)),
        ("$scrypt$ln=262144,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Bounds(F::Scrypt)),
        ("$scrypt$ln=0,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Bounds(F::Scrypt)),
        ("$scrypt$ln=16384,r=9,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Bounds(F::Scrypt)),
        ("$scrypt$ln=16384,r=8,p=11$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=", Bounds(F::Scrypt)),
        // firescrypt: `ln` is log2 N.
        ("$firescrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==", Unparsable(F::Firescrypt)),
        ("$firescrypt$ln=0,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5", Unparsable(F::Firescrypt)),
        ("$firescrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5", Unparsable(F::Firescrypt)),
        ("$firescrypt$ln=18,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5", Bounds(F::Firescrypt)),
        ("$firescrypt$ln=14,r=0,p=1$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5", Bounds(F::Firescrypt)),
        ("$firescrypt$ln=14,r=8,p=11$c2FsdHNhbHRzYWx0$aGFzaA==$Bw==$a2V5a2V5", Bounds(F::Firescrypt)),
        // ssha, sha, md5
        ("{SSHA}tooshort", Unparsable(F::Ssha)),
        ("{SSHA256}not base64!", Unparsable(F::Ssha)),
        ("{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a=", Unparsable(F::Ssha)),
        ("$sha1$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", Unparsable(F::Sha)),
        ("$sha1$pf=$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", Unparsable(F::Sha)),
        ("$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$5opmkgz03r$2qU2SGWP8viTM1md3FiI3+rjWXQ=", Unparsable(F::Sha)),
        ("$sha1$pf=e1NBTFR9e1BBU1NXT1JEfR==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", Unparsable(F::Sha)),
        ("$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", Unparsable(F::Sha)),
        ("$md5$", Unparsable(F::Md5)),
        ("$md5$$", Unparsable(F::Md5)),
        ("$md5$pf=$$", Unparsable(F::Md5)),
        ("$md5$CY9rzUYh03PK3k6DJie09h==", Unparsable(F::Md5)),
        ("$md5$CY9rzUYh03PK3k6DJie0", Unparsable(F::Md5)),
        // hmac
        ("$hmac-md5$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=", Unparsable(F::Hmac)),
        ("$hmac-md5$$MTIzNDU=", Unparsable(F::Hmac)),
        ("$hmac-md5$RkU4Njk3Rjc0MkQwODA0MDVEMTI3MEU2MTYzMzE2Rjk=$MTIzNDU=", Unparsable(F::Hmac)),
        ("$hmac-md5$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDV=", Unparsable(F::Hmac)),
        // crypt(3) under Kratos' prefixes
        ("$md5-crypt$whuMjZj.HMFoaTaZRRtkO0", Unparsable(F::Md5Crypt)),
        ("$md5-crypt$$", Unparsable(F::Md5Crypt)),
        ("$md5-crypt$TVEiiKNbX$SN6/pUaRQS/E8Jh46As2C/", Unparsable(F::Md5Crypt)),
        ("$md5-crypt$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C", Unparsable(F::Md5Crypt)),
        ("$sha256-crypt$$", Unparsable(F::Sha256Crypt)),
        ("$sha256-crypt$rounds=999$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3", Unparsable(F::Sha256Crypt)),
        ("$sha256-crypt$rounds=abc$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3", Unparsable(F::Sha256Crypt)),
        ("$sha256-crypt$rounds=5000$awpcR7lDlnK/S7WEx$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3", Unparsable(F::Sha256Crypt)),
        ("$sha256-crypt$rounds=10000001$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3", Bounds(F::Sha256Crypt)),
        ("$sha512-crypt$$$", Unparsable(F::Sha512Crypt)),
    ]
    .into_iter()
    .map(|(h, w)| (h.to_owned(), w))
    .chain([
        (format!("$argon2id$v=19$m=32,t=2,p=4${ARGON_SALT_KEY}$extra"), Unparsable(F::Argon2id)),
        // A 66-byte derived key (88 unpadded base64 characters).
        (format!("$pbkdf2-sha256$i=1000,l=66$c2FsdHNhbHQ${}", "A".repeat(88)), Bounds(F::Pbkdf2)),
        (format!("$scrypt$ln=16384,r=8,p=1,x=1${SCRYPT_SALT_KEY}"), Unparsable(F::Scrypt)),
        (format!("$firescrypt$ln=14,r=8,p=1${FIRE_TAIL}$"), Unparsable(F::Firescrypt)),
        (format!("{BCRYPT_OK}$"), Unparsable(F::Bcrypt)),
        (long_hmac, Unparsable(F::Hmac)),
    ])
    .collect()
}

#[test]
fn malformed_hashes_give_the_specific_error() {
    let cases = cases();
    let mut wrong = Vec::new();
    for (hash, want) in &cases {
        match classify(check_hash(hash)) {
            Ok(got) if got == *want => {}
            got => wrong.push(format!("{hash:.120}: want {want:?}, got {got:?}")),
        }
        // verify_password must refuse the same way, whatever the password.
        if verify_password(b"test", hash).is_ok() {
            wrong.push(format!(
                "{hash:.120}: verify_password accepted a hash check_hash refused"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// Kratos checks bcrypt's password length before anything else.
#[test]
fn bcrypt_password_over_72_bytes_is_refused_first() {
    let long = [b'a'; 73];
    assert!(matches!(
        verify_password(&long, BCRYPT_OK),
        Err(HashError::PasswordTooLong)
    ));
    let over_bounds = BCRYPT_OK.replace("$12$", "$31$");
    assert!(matches!(
        verify_password(&long, &over_bounds),
        Err(HashError::PasswordTooLong)
    ));
    assert!(matches!(verify_password(&[b'a'; 72], BCRYPT_OK), Ok(false)));
}

/// Operators read the Display text; Kratos clients read `kratos_reason`.
#[test]
fn messages_and_kratos_reasons() {
    let cost = check_hash(&BCRYPT_OK.replace("$12$", "$31$")).err();
    let cost = cost.as_ref().map(ToString::to_string);
    assert_eq!(
        cost.as_deref(),
        Some("bcrypt cost 31 exceeds the maximum of 15")
    );
    let unknown = HashError::UnknownFormat;
    assert!(
        unknown
            .kratos_reason()
            .starts_with("The imported password does not match any known hash format.")
    );
    let bad = check_hash("$md5$$")
        .err()
        .map(|e| (e.to_string(), e.kratos_reason()));
    assert_eq!(
        bad.as_ref().map(|(_, r)| r.as_str()),
        Some("The imported password hash could not be parsed.")
    );
    assert!(bad.is_some_and(|(m, _)| m.starts_with("md5 hash could not be parsed: ")));
    let bounds = check_hash("$scrypt$ln=262144,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g=").err();
    assert!(bounds.is_some_and(|e| e.kratos_reason().starts_with(
        "The imported password hash declares cost parameters that exceed the bounds enforced by Ory. Re-hash"
    )));
    for e in [
        HashError::UnknownFormat,
        HashError::PasswordTooLong,
        HashError::InvalidConfig("x".into()),
    ] {
        let text = e.to_string();
        assert!(
            !text.ends_with('.') && text.starts_with(char::is_lowercase),
            "{text}"
        );
    }
}
