//! `hash_password`, `needs_rehash`, `verify_dummy`, `HasherConfig` and `HashFormat`.

use super::super::{
    HashError, HashFormat, HasherConfig, check_hash, hash_password, needs_rehash, verify_dummy,
    verify_password,
};
use super::TestResult;

const BCRYPT_4: HasherConfig = HasherConfig::Bcrypt { cost: 4 };
const BCRYPT_12: &str = "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6";
const ARGON2ID_M32_T2_P4: &str =
    "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";

fn argon2id(memory_kib: u32, iterations: u32, parallelism: u32) -> HasherConfig {
    HasherConfig::Argon2id {
        memory_kib,
        iterations,
        parallelism,
    }
}

#[test]
fn default_config_is_owasp_argon2id() {
    assert_eq!(HasherConfig::default(), argon2id(19_456, 2, 1));
}

#[test]
fn argon2id_round_trip_with_defaults() -> TestResult {
    let config = HasherConfig::default();
    let hash = hash_password("pässwörd".as_bytes(), &config)?;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    // 16-byte salt and 32-byte key, unpadded base64: 22 and 43 characters.
    let fields: Vec<&str> = hash.split('$').collect();
    assert_eq!(
        fields.iter().map(|f| f.len()).skip(4).collect::<Vec<_>>(),
        [22, 43]
    );
    assert_eq!(check_hash(&hash)?, HashFormat::Argon2id);
    assert!(verify_password("pässwörd".as_bytes(), &hash)?);
    assert!(!verify_password(b"passwort", &hash)?);
    assert!(!needs_rehash(&hash, &config));
    assert_ne!(
        hash,
        hash_password("pässwörd".as_bytes(), &config)?,
        "salts must differ"
    );
    verify_dummy(b"anything", &config);
    Ok(())
}

#[test]
fn bcrypt_round_trip() -> TestResult {
    let hash = hash_password(b"hunter2", &BCRYPT_4)?;
    assert!(hash.starts_with("$2a$04$") && hash.len() == 60, "{hash}");
    assert_eq!(check_hash(&hash)?, HashFormat::Bcrypt);
    assert!(verify_password(b"hunter2", &hash)?);
    assert!(!verify_password(b"hunter3", &hash)?);
    assert!(!needs_rehash(&hash, &BCRYPT_4));
    let max = [b'x'; 72];
    let hash = hash_password(&max, &BCRYPT_4)?;
    assert!(verify_password(&max, &hash)?);
    assert!(matches!(
        hash_password(&[b'x'; 73], &BCRYPT_4),
        Err(HashError::PasswordTooLong)
    ));
    verify_dummy(&[b'x'; 100], &BCRYPT_4);
    Ok(())
}

#[test]
fn hash_password_refuses_invalid_config() {
    for config in [HasherConfig::Bcrypt { cost: 3 }, argon2id(0, 2, 1)] {
        assert!(
            matches!(
                hash_password(b"x", &config),
                Err(HashError::InvalidConfig(_))
            ),
            "{config:?}"
        );
    }
}

#[test]
fn needs_rehash_cases() {
    let strong = argon2id(19_456, 2, 1);
    let cases: [(&str, &str, &HasherConfig, bool); 11] = [
        ("bcrypt under argon2id config", BCRYPT_12, &strong, true),
        (
            "argon2id under bcrypt config",
            ARGON2ID_M32_T2_P4,
            &BCRYPT_4,
            true,
        ),
        ("bcrypt cost 12 under cost 4", BCRYPT_12, &BCRYPT_4, false),
        (
            "bcrypt cost 12 under cost 12",
            BCRYPT_12,
            &HasherConfig::Bcrypt { cost: 12 },
            false,
        ),
        (
            "bcrypt cost 12 under cost 13",
            BCRYPT_12,
            &HasherConfig::Bcrypt { cost: 13 },
            true,
        ),
        (
            "argon2id same params",
            ARGON2ID_M32_T2_P4,
            &argon2id(32, 2, 4),
            false,
        ),
        (
            "argon2id lower memory",
            ARGON2ID_M32_T2_P4,
            &argon2id(64, 2, 4),
            true,
        ),
        (
            "argon2id lower iterations",
            ARGON2ID_M32_T2_P4,
            &argon2id(32, 3, 4),
            true,
        ),
        (
            "argon2id lower parallelism",
            ARGON2ID_M32_T2_P4,
            &argon2id(32, 2, 8),
            true,
        ),
        (
            "argon2i is not argon2id",
            "$argon2i$v=19$m=65536,t=3,p=4$kk51rW/vxIVCYn+EG4kTSg$NyT88uraJ6im6dyha/M5jhXvpqlEdlS/9fEm7ScMb8c",
            &argon2id(32, 1, 1),
            true,
        ),
        ("unknown format", "$unknown$", &strong, true),
    ];
    for (name, hash, config, want) in cases {
        assert_eq!(needs_rehash(hash, config), want, "{name}");
    }
}

#[test]
fn validate_bounds() {
    let ok = [
        HasherConfig::default(),
        argon2id(1 << 20, 10, 16),
        argon2id(8, 1, 1),
        HasherConfig::Bcrypt { cost: 4 },
        HasherConfig::Bcrypt { cost: 15 },
    ];
    for config in ok {
        assert!(config.validate().is_ok(), "{config:?}");
    }
    let bad = [
        argon2id(0, 2, 1),
        argon2id((1 << 20) + 1, 2, 1),
        argon2id(19_456, 0, 1),
        argon2id(19_456, 11, 1),
        argon2id(19_456, 2, 0),
        argon2id(19_456, 2, 17),
        argon2id(8, 2, 2),
        HasherConfig::Bcrypt { cost: 3 },
        HasherConfig::Bcrypt { cost: 16 },
    ];
    for config in bad {
        assert!(
            matches!(config.validate(), Err(HashError::InvalidConfig(_))),
            "{config:?}"
        );
    }
}

#[test]
fn config_serde_shape() -> TestResult {
    let json = serde_json::to_value(HasherConfig::default())?;
    assert_eq!(
        json,
        serde_json::json!({"algorithm": "argon2id", "memory_kib": 19456, "iterations": 2, "parallelism": 1})
    );
    let bcrypt: HasherConfig = serde_json::from_str(r#"{"algorithm":"bcrypt","cost":12}"#)?;
    assert_eq!(bcrypt, HasherConfig::Bcrypt { cost: 12 });
    Ok(())
}

#[test]
fn detection_follows_kratos_order_and_prefixes() {
    let cases = [
        ("$2$", Some(HashFormat::Bcrypt)),
        ("$2z$", Some(HashFormat::Bcrypt)),
        ("$2ab$", None),
        ("$argon2i$", Some(HashFormat::Argon2i)),
        ("$argon2id$", Some(HashFormat::Argon2id)),
        ("$pbkdf2-sha1$", Some(HashFormat::Pbkdf2)),
        ("$pbkdf2-sha999$", Some(HashFormat::Pbkdf2)),
        ("$sha256-crypt$", Some(HashFormat::Sha256Crypt)),
        ("$sha256$", Some(HashFormat::Sha)),
        ("$md5-crypt$", Some(HashFormat::Md5Crypt)),
        ("$md5$", Some(HashFormat::Md5)),
        ("{SSHA512}", Some(HashFormat::Ssha)),
        ("{ssha}", None),
        ("$firescrypt$", Some(HashFormat::Firescrypt)),
        ("$hmac-md4$", Some(HashFormat::Hmac)),
        ("$hmac-md4", None),
        ("$1$", None),
    ];
    for (hash, want) in cases {
        assert_eq!(HashFormat::detect(hash), want, "{hash}");
    }
    let names: Vec<String> = [
        HashFormat::Md5Crypt,
        HashFormat::Sha512Crypt,
        HashFormat::Argon2id,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(names, ["md5-crypt", "sha512-crypt", "argon2id"]);
}
