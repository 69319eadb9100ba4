//! A kith password-migration plugin: for an identity imported with
//! `use_password_migration_hook: true`, kith asks `verify` whether a password matches the
//! legacy hash it kept. On a match kith hashes the password with its own hasher and never
//! asks again; on no match it answers as for any wrong password; an error is a fault (kith
//! keeps the flag and records it).
//!
//! This one knows Dovecot's `{PLAIN}` and `{CLEARTEXT}` schemes (the password itself, in
//! clear). Add the schemes of your legacy system in `verify_scheme`: a crate such as `sha2`
//! or `md-5` for digests, compared with `same` below.

wit_bindgen::generate!({
    path: "wit",
    world: "password-migration",
    generate_all,
});

mod kit;

use exports::kith::plugin::migration::{Attempt, Guest, Verdict};
use kith::plugin::types::CallContext;

struct Plugin;

impl Guest for Plugin {
    fn verify(_ctx: CallContext, attempt: Attempt) -> Result<Verdict, String> {
        kit::install_panic_hook();
        let matched = verify_scheme(&attempt.legacy_hash, &attempt.password)?;
        kit::debug!(
            "{}: {}",
            attempt.identifier,
            if matched { "match" } else { "no match" }
        );
        Ok(if matched {
            Verdict::PasswordMatch
        } else {
            Verdict::NoMatch
        })
    }
}

/// Whether `password` matches `legacy_hash`, or why the hash cannot be checked.
fn verify_scheme(legacy_hash: &str, password: &str) -> Result<bool, String> {
    let Some((scheme, rest)) = legacy_hash
        .strip_prefix('{')
        .and_then(|tail| tail.split_once('}'))
    else {
        return Err("the legacy hash has no {SCHEME} prefix".into());
    };
    match scheme {
        "PLAIN" | "CLEARTEXT" => Ok(same(rest.as_bytes(), password.as_bytes())),
        other => Err(format!(
            "the legacy hash scheme {{{other}}} is not one this plugin knows"
        )),
    }
}

/// `a == b` in a time that depends on the lengths only, not on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

export!(Plugin);
