//! The stored-hash parsers: any string as `hashed_password`, checked and verified against a
//! fixed password. Entry points: `kith::password::{HashFormat::detect, check_hash,
//! verify_password, needs_rehash}`.
//!
//! `check_hash` enforces Kratos' cost bounds, whose worst case (argon2 at 1 GiB, bcrypt 15)
//! is seconds per compare by design; the comparison is run only when the parameters are
//! far below them, so that a timeout here means a bound that does not hold.
#![no_main]

use kith::password::{self, HashError, HashFormat, HasherConfig};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &[u8] = b"correct horse battery staple";

fuzz_target!(|data: &[u8]| {
    let Ok(hash) = std::str::from_utf8(data) else {
        return;
    };
    let detected = HashFormat::detect(hash);
    let checked = password::check_hash(hash);
    match (&checked, detected) {
        (Err(HashError::UnknownFormat), None) => return,
        (Err(HashError::UnknownFormat), Some(format)) => {
            panic!("{format} detected but check_hash says unknown format")
        }
        (_, None) => panic!("no format detected but check_hash says {checked:?}"),
        (Ok(format), Some(detected)) => assert_eq!(*format, detected),
        (Err(_), Some(_)) => {}
    }
    // Refusals are stable whatever the config.
    let _ = password::needs_rehash(hash, &HasherConfig::default());
    let _ = password::needs_rehash(hash, &HasherConfig::Bcrypt { cost: 10 });
    let format = detected.expect("checked above");
    if checked.is_err() || !cheap(hash, format) {
        return;
    }
    // A hash that passed check_hash must compare without an error: parse and verify agree.
    match password::verify_password(PASSWORD, hash) {
        Ok(_) => {}
        Err(error) => panic!("check_hash accepted {format} but verify refused: {error}"),
    }
});

/// True when comparing against `hash` costs at most a few milliseconds.
fn cheap(hash: &str, format: HashFormat) -> bool {
    let fields: Vec<&str> = hash.split('$').collect();
    let params = |field: usize| -> Option<Vec<(&str, u64)>> {
        fields
            .get(field)?
            .split(',')
            .map(|pair| {
                let (key, value) = pair.split_once('=')?;
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some((key, value.parse().ok()?))
            })
            .collect()
    };
    let within = |field: usize, limits: &[(&str, u64)]| {
        params(field).is_some_and(|found| {
            found.iter().all(|(key, value)| {
                limits
                    .iter()
                    .find(|(name, _)| name == key)
                    .is_none_or(|(_, max)| value <= max)
            })
        })
    };
    match format {
        HashFormat::Bcrypt => fields
            .get(2)
            .and_then(|cost| cost.parse::<u32>().ok())
            .is_some_and(|cost| cost <= 6),
        HashFormat::Argon2id | HashFormat::Argon2i => within(3, &[("m", 4096), ("t", 2), ("p", 4)]),
        HashFormat::Pbkdf2 => within(2, &[("i", 20_000)]),
        HashFormat::Scrypt => within(2, &[("ln", 4096), ("r", 8), ("p", 2)]),
        HashFormat::Firescrypt => within(2, &[("ln", 12), ("r", 8), ("p", 2)]),
        HashFormat::Sha256Crypt | HashFormat::Sha512Crypt => {
            // `rounds=` is optional (5000 by default); a 2-field form has none.
            fields.len() != 5 || within(2, &[("rounds", 20_000)])
        }
        HashFormat::Md5Crypt
        | HashFormat::Ssha
        | HashFormat::Sha
        | HashFormat::Md5
        | HashFormat::Hmac => true,
    }
}
