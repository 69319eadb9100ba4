//! The request-body decoder: any bytes as a createIdentityBody, an updateIdentityBody or a
//! batch, then a decoded create body through every check create runs. Entry points:
//! `kith::model::parse_body` and `kith::Kith::{open_in_memory, set_config, validate_identity}`.
#![no_main]

use kith::Admin as _;
use kith::Kith;
use kith::model::{BatchPatchBody, BodyError, CreateIdentityBody, UpdateIdentityBody, parse_body};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static KITH: Kith = {
        let kith = Kith::open_in_memory().expect("in-memory store");
        // Cleartext passwords in bodies are hashed; bcrypt's minimum cost keeps runs fast.
        kith.set_config("hashers.algorithm", "bcrypt").expect("bcrypt");
        kith.set_config("hashers.bcrypt.cost", "4").expect("cost 4");
        kith
    };
}

fn check_error(error: &BodyError) {
    assert!(
        error.pointer.is_empty() || error.pointer.starts_with('/'),
        "not a JSON pointer: {:?}",
        error.pointer
    );
    assert!(error.message.starts_with("json: ") || error.message == "unexpected end of JSON input");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = parse_body::<UpdateIdentityBody>(text, false) {
        check_error(&error);
    }
    if let Err(error) = parse_body::<BatchPatchBody>(text, true) {
        check_error(&error);
    }
    let body = match parse_body::<CreateIdentityBody>(text, true) {
        Ok(body) => body,
        Err(error) => return check_error(&error),
    };
    // What kith decoded it can write, and what it writes it decodes to the same body.
    let written = serde_json::to_string(&body).expect("a decoded body serializes");
    let again = parse_body::<CreateIdentityBody>(&written, true)
        .unwrap_or_else(|e| panic!("re-reading {written}: {e:?}"));
    assert_eq!(again, body);
    KITH.with(|kith| {
        let _ = kith.validate_identity(body);
    });
});
