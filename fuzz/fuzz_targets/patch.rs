//! JSON-patch application: any bytes as the body of `PATCH /admin/identities/{id}`,
//! applied to a fresh identity on an in-memory store, which must then read back. Entry
//! points: `kith::Kith::{open_in_memory, create_identity, patch_identity, get_identity,
//! list_identities, delete_identities}`.
#![no_main]

use kith::Admin as _;
use kith::Kith;
use kith::flows::ListIdentities;
use kith::model::{CreateIdentityBody, parse_body};
use libfuzzer_sys::fuzz_target;

const IDENTITY: &str = r#"{
    "schema_id": "preset://email",
    "traits": {"email": "fuzz@example.org"},
    "metadata_public": {"plan": "free", "tags": ["a", "b"]},
    "metadata_admin": {"note": {"deep": [1, {"x": null}]}},
    "verifiable_addresses": [{"value": "fuzz@example.org", "verified": true, "via": "email", "status": "completed"}],
    "credentials": {"password": {"config": {"hashed_password": "HASH"}}}
}"#;

thread_local! {
    static BODY: CreateIdentityBody = {
        let hash = kith::password::hash_password(
            b"correct horse battery staple",
            &kith::password::HasherConfig::Bcrypt { cost: 4 },
        )
        .expect("hash");
        parse_body(&IDENTITY.replace("HASH", &hash), true).expect("the seed identity")
    };
    static KITH: Kith = {
        let kith = Kith::open_in_memory().expect("in-memory store");
        kith.set_config("hashers.algorithm", "bcrypt").expect("bcrypt");
        kith.set_config("hashers.bcrypt.cost", "4").expect("cost 4");
        kith
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = std::str::from_utf8(data) else {
        return;
    };
    KITH.with(|kith| {
        let body = BODY.with(Clone::clone);
        let id = kith
            .create_identity(body)
            .expect("create the seed identity")
            .id;
        let patched = kith.patch_identity(id, patch);
        // Documents kith writes are documents kith can read (issue 10, point 1).
        let read = kith.get_identity(id, &["password".to_string()]);
        if patched.is_ok() {
            let read =
                read.unwrap_or_else(|e| panic!("a patched identity does not read back: {e}"));
            let listed = kith
                .list_identities(&ListIdentities::default())
                .unwrap_or_else(|e| panic!("a patched identity breaks the listing: {e}"));
            assert_eq!(listed.identities.len(), 1);
            let _ = serde_json::to_string(&read).expect("a stored identity serializes");
        }
        kith.delete_identities(&[id])
            .expect("delete the seed identity");
    });
});
