use super::*;

/// The defaults of plugin.toml's `[config]`, `extra` first (the first of equal keys wins).
fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let manifest = include_str!("../plugin.toml");
    let table = manifest.split("[config]").nth(1).expect("a [config] table");
    let mut all: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
    {
        let (key, value) = line.split_once(" = ").expect("key = value");
        let unquote = |s: &str| s.trim().trim_matches('"').to_string();
        all.push((unquote(key), unquote(value)));
    }
    all
}

fn openldap() -> Value {
    json!({
        "dn": "uid=ada,ou=people,dc=example,dc=org",
        "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson", "posixAccount"],
        "uid": ["ada"],
        "cn": ["Ada Lovelace"],
        "givenName": ["Ada"],
        "sn": ["Lovelace"],
        "mail": ["ada@example.org", "countess@example.org"],
        "userPassword": ["{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g/2SZ6cRtpEQ=="],
        "entryUUID": ["6f0c3a52-7b1e-103c-8b1f-2f6d1c3e9a10"]
    })
}

fn active_directory() -> Value {
    json!({
        "dn": "CN=Grace Hopper,OU=Staff,DC=corp,DC=example,DC=com",
        "objectclass": ["top", "person", "organizationalPerson", "user"],
        "CN": ["Grace Hopper"],
        "GIVENNAME": ["Grace"],
        "sn": ["Hopper"],
        "sAMAccountName": ["ghopper"],
        "userPrincipalName": ["ghopper@corp.example.com"],
        "objectGUID": [{"base64": "hFB3pKjGUkaX7+O2n7ovvg=="}],
        "userAccountControl": ["514"],
        "pwdLastSet": ["133500000000000000"]
    })
}

#[test]
fn an_openldap_person_maps_to_traits_external_id_and_its_ssha_hash() {
    let body = map(&settings(&[]), &openldap()).unwrap();
    assert_eq!(
        body,
        json!({
            "schema_id": "preset://email",
            "traits": {"email": "ada@example.org", "name": {"first": "Ada", "last": "Lovelace"}},
            "metadata_admin": {"ldap": {"cn": "Ada Lovelace", "uid": "ada",
                                        "dn": "uid=ada,ou=people,dc=example,dc=org"}},
            "external_id": "6f0c3a52-7b1e-103c-8b1f-2f6d1c3e9a10",
            "credentials": {"password": {"config": {
                "hashed_password": "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g/2SZ6cRtpEQ=="}}},
        })
    );
}

#[test]
fn an_ad_user_is_found_by_any_case_and_its_disabled_bit_makes_it_inactive() {
    let body = map(&settings(&[]), &active_directory()).unwrap();
    assert_eq!(
        body["traits"],
        json!({"email": "ghopper@corp.example.com", "name": {"first": "Grace", "last": "Hopper"}})
    );
    assert_eq!(body["state"], "inactive");
    // objectGUID a4775084-c6a8-4652-97ef-e3b69fba2fbe, as AD writes it.
    assert_eq!(body["external_id"], "a4775084-c6a8-4652-97ef-e3b69fba2fbe");
    assert_eq!(body["metadata_admin"]["ldap"]["uid"], "ghopper");
    assert_eq!(
        body["metadata_admin"]["ldap"]["pwd_last_set"],
        "2024-01-17T21:20:00Z"
    );
    assert!(body.get("credentials").is_none());

    let mut enabled = active_directory();
    enabled["userAccountControl"] = json!(["512"]);
    enabled["pwdLastSet"] = json!(["0"]);
    let body = map(&settings(&[]), &enabled).unwrap();
    assert!(body.get("state").is_none(), "{body}");
    assert_eq!(body["metadata_admin"]["ldap"]["must_change_password"], true);
}

#[test]
fn a_389ds_locked_person_is_inactive_and_keeps_its_unique_id() {
    let record = json!({
        "dn": "uid=alan,ou=people,dc=example,dc=com",
        "objectClass": ["top", "nsPerson", "nsAccount", "nsOrgPerson", "posixAccount"],
        "uid": ["alan"],
        "displayName": ["Alan Turing"],
        "mail": ["alan@example.com"],
        "nsUniqueId": ["66446001-1dd211b2-800000a0-00000000"],
        "nsAccountLock": ["TRUE"],
        "userPassword": ["{PBKDF2-SHA512}10000$hbMHmUXNh3UoHNlDu+NJBOW+hVAhP3C0$ax9v"]
    });
    let body = map(&settings(&[]), &record).unwrap();
    assert_eq!(body["state"], "inactive");
    assert_eq!(body["external_id"], "66446001-1dd211b2-800000a0-00000000");
    assert_eq!(
        body["credentials"]["password"]["config"],
        json!({"hashed_password": "{PBKDF2-SHA512}10000$hbMHmUXNh3UoHNlDu+NJBOW+hVAhP3C0$ax9v"})
    );
}

#[test]
fn user_password_schemes_are_passed_hashed_cleartext_or_for_migration() {
    let cases = [
        ("{SSHA}abc", Password::Hash("{SSHA}abc".into())),
        ("{ssha256}abc", Password::Hash("{SSHA256}abc".into())),
        ("{SSHA512}abc", Password::Hash("{SSHA512}abc".into())),
        (
            "{CRYPT}$6$salt$x",
            Password::Hash("{CRYPT}$6$salt$x".into()),
        ),
        (
            "{crypt}$1$salt$x",
            Password::Hash("{CRYPT}$1$salt$x".into()),
        ),
        ("{CRYPT}$2b$10$x", Password::Hash("{CRYPT}$2b$10$x".into())),
        (
            "{PBKDF2-SHA256}10000$a$b",
            Password::Hash("{PBKDF2-SHA256}10000$a$b".into()),
        ),
        (
            "{PBKDF2_SHA256}AAAIAA",
            Password::Hash("{PBKDF2_SHA256}AAAIAA".into()),
        ),
        (
            "{ARGON2}$argon2id$v=19$x",
            Password::Hash("{ARGON2}$argon2id$v=19$x".into()),
        ),
        (
            "{CRYPT}aajfMKNH1hTm2",
            Password::Migrate("{CRYPT}aajfMKNH1hTm2".into()),
        ),
        (
            "{CRYPT}$y$j9T$salt$hash",
            Password::Migrate("{CRYPT}$y$j9T$salt$hash".into()),
        ),
        (
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            Password::Migrate("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=".into()),
        ),
        (
            "{md5}X03MO1qnZdYdgyfeuILPmQ==",
            Password::Migrate("{MD5}X03MO1qnZdYdgyfeuILPmQ==".into()),
        ),
        ("{SMD5}abc", Password::Migrate("{SMD5}abc".into())),
        ("{SSHA384}abc", Password::Migrate("{SSHA384}abc".into())),
        ("{CLEARTEXT}s3cret", Password::Cleartext("s3cret".into())),
        ("s3cret", Password::Cleartext("s3cret".into())),
        (
            "{no closing brace",
            Password::Cleartext("{no closing brace".into()),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(classify(value), expected, "{value}");
    }
}

#[test]
fn a_legacy_hash_is_marked_for_migration_and_a_usable_one_is_preferred() {
    let mut record = openldap();
    record["userPassword"] = json!(["{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="]);
    let body = map(&settings(&[]), &record).unwrap();
    assert_eq!(
        body["credentials"],
        json!({"password": {"config": {"hashed_password": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                                        "use_password_migration_hook": true}}})
    );
    record["userPassword"] = json!([
        "{MD5}X03MO1qnZdYdgyfeuILPmQ==",
        "{CRYPT}$1$saltsalt$NuzA7WTAelpl95xgBGWN60"
    ]);
    let body = map(&settings(&[]), &record).unwrap();
    assert_eq!(
        body["credentials"]["password"]["config"],
        json!({"hashed_password": "{CRYPT}$1$saltsalt$NuzA7WTAelpl95xgBGWN60"})
    );
    record["userPassword"] = json!([{"base64": "/w=="}]);
    let errors = map(&settings(&[]), &record).unwrap_err();
    assert_eq!(errors[0].pointer, "/userPassword/0");
    assert_eq!(errors[0].code, "bad_hash");
}

#[test]
fn groups_units_and_computers_are_refused_as_not_a_person() {
    let unit = json!({"dn": "ou=people,dc=example,dc=org",
                      "objectClass": ["top", "organizationalUnit"], "ou": ["people"]});
    let group = json!({"dn": "cn=admins,ou=groups,dc=example,dc=org",
                       "objectClass": ["top", "groupOfNames"], "member": ["uid=ada,ou=people,dc=example,dc=org"]});
    let mut computer = active_directory();
    computer["objectclass"] = json!(["top", "person", "organizationalPerson", "user", "computer"]);
    for record in [unit, group, computer] {
        let errors = map(&settings(&[]), &record).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].code, "not_a_person");
        assert!(
            errors[0].message.contains(record["dn"].as_str().unwrap()),
            "{}",
            errors[0].message
        );
    }
    // Without objectClass there is nothing to go by: taken as a person.
    let bare = json!({"dn": "uid=x,dc=example,dc=org", "mail": ["x@example.org"]});
    assert_eq!(
        map(&settings(&[]), &bare).unwrap()["traits"]["email"],
        "x@example.org"
    );
    // The classes are config.
    let errors = map(
        &settings(&[("person_classes", "inetOrgPerson")]),
        &active_directory(),
    )
    .unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("top, person, organizationalperson, user"),
        "{}",
        errors[0].message
    );
}

#[test]
fn mappings_verified_and_options_follow_the_config() {
    let mut record = openldap();
    record.as_object_mut().unwrap().remove("givenName");
    record["givenName;lang-en"] = json!(["Augusta Ada"]);
    let body = map(
        &settings(&[
            ("schema_id", "preset://username"),
            ("/traits/email", ""),
            ("/traits/username", "sAMAccountName,uid"),
            ("verified", "yes"),
            ("verified_address", "/traits/username"),
        ]),
        &record,
    )
    .unwrap();
    assert_eq!(body["traits"]["username"], "ada");
    assert_eq!(body["traits"]["name"]["first"], "Augusta Ada");
    assert!(body["traits"].get("email").is_none());
    assert_eq!(body["verifiable_addresses"][0]["value"], "ada");
    assert_eq!(body["verifiable_addresses"][0]["verified"], true);

    record["mail"] = json!([{"base64": "/w=="}]);
    let errors = map(&settings(&[]), &record).unwrap_err();
    assert_eq!(
        (errors[0].pointer.as_str(), errors[0].code.as_str()),
        ("/mail/0", "not_text")
    );
    assert_eq!(
        map(&settings(&[]), &json!({"cn": ["x"]})).unwrap_err()[0].pointer,
        "/dn"
    );
}

#[test]
fn an_object_guid_that_happens_to_be_utf8_is_still_a_guid() {
    let mut record = active_directory();
    record["objectGUID"] = json!(["ABCDEFGHIJKLMNOP"]);
    let body = map(&settings(&[]), &record).unwrap();
    assert_eq!(body["external_id"], "44434241-4645-4847-494a-4b4c4d4e4f50");
}
