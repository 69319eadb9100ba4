//! ldif-import: a kith import mapper for the person entries of an LDIF file (OpenLDAP's
//! slapcat or ldapsearch, 389-DS' db2ldif, Active Directory's ldifde).
//!
//! kith reads the LDIF and hands over each entry as `{"dn": "...", "<attr>": ["v1", ...]}`:
//! names as written, values in file order, base64 values decoded (binary ones as
//! `{"base64": "..."}`). Names are matched here without regard to case, as LDAP does.
//!
//! - Entries that are not people (organizational units, groups, AD computers) are refused
//!   with code `not_a_person`, so a whole-directory dump imports its people and reports the rest.
//! - Attributes go to traits and metadata by config (`"/traits/email" = "mail,userPrincipalName"`:
//!   the first attribute present wins).
//! - `userPassword`: what kith verifies, or rewrites into a Kratos format itself ({SSHA*},
//!   {CRYPT} around md5/sha-crypt or bcrypt, {PBKDF2*}, {ARGON2}), goes through as
//!   `hashed_password`; what it cannot ({SHA}, {MD5}, {SMD5}, DES or yescrypt {CRYPT}, ...)
//!   is imported with `use_password_migration_hook: true`, for a password-migration plugin;
//!   a value without a scheme is the cleartext password, which kith hashes.
//! - Disabled accounts (AD's userAccountControl bit 0x2, 389-DS' nsAccountLock, OpenLDAP's
//!   administrative lock) are imported inactive.

wit_bindgen::generate!({
    path: "../wit",
    world: "import-mapper",
    with: { "kith:plugin/log@0.1.0": kith_plugin_sdk::bindings::kith::plugin::log },
    generate_all,
});

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kith_plugin_sdk::mapper::{
    Refusal, email_address, escape, mappings, refusal, set_pointer, yes_no,
};
use kith_plugin_sdk::{config, config_list};
use serde_json::{Map, Value, json};

/// An attribute's value: text, or bytes that are not UTF-8.
enum Data<'a> {
    Text(&'a str),
    Binary(Vec<u8>),
}

/// One entry's attributes, found by name as LDAP finds them.
struct Entry<'a> {
    attributes: &'a Map<String, Value>,
}

impl<'a> Entry<'a> {
    /// The attribute `name` as written and its values; without regard to case, the plain
    /// attribute before one with options (`cn` before `cn;lang-en`).
    fn get(&self, name: &str) -> Option<(&'a str, Vec<&'a Value>)> {
        let base = |key: &str| key.split(';').next().unwrap_or(key).to_string();
        let (key, value) = self
            .attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .or_else(|| {
                self.attributes
                    .iter()
                    .find(|(key, _)| base(key).eq_ignore_ascii_case(name))
            })?;
        let values = match value {
            Value::Array(values) => values.iter().collect(),
            single => vec![single],
        };
        Some((key.as_str(), values))
    }

    /// The first value of the first of `names` the entry has, with its pointer; binary
    /// where text is needed is an error.
    fn first_text(&self, names: &str, errors: &mut Vec<Refusal>) -> Option<(String, String)> {
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some((key, values)) = self.get(name) else {
                continue;
            };
            let Some(value) = values.first() else {
                continue;
            };
            let pointer = format!("/{}/0", escape(key));
            match data(value) {
                Some(Data::Text(text)) if !text.trim().is_empty() => {
                    return Some((pointer, text.trim().to_string()));
                }
                Some(Data::Text(_)) => continue,
                _ => {
                    errors.push(refusal(
                        &pointer,
                        "not_text",
                        format!("`{key}` holds binary data, not text"),
                    ));
                    return None;
                }
            }
        }
        None
    }

    /// Every object class, lowercased.
    fn classes(&self) -> Option<Vec<String>> {
        let (_, values) = self.get("objectClass")?;
        Some(
            values
                .iter()
                .filter_map(|v| v.as_str())
                .map(|class| class.trim().to_ascii_lowercase())
                .collect(),
        )
    }
}

fn data(value: &Value) -> Option<Data<'_>> {
    match value {
        Value::String(text) => Some(Data::Text(text)),
        Value::Object(object) => object
            .get("base64")
            .and_then(Value::as_str)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .map(Data::Binary),
        _ => None,
    }
}

/// One LDIF entry as a createIdentityBody, or every reason it cannot be one.
fn map(settings: &[(String, String)], record: &Value) -> Result<Value, Vec<Refusal>> {
    let Some(attributes) = record.as_object() else {
        return Err(vec![refusal(
            "",
            "not_object",
            "the record is not a JSON object (an LDIF entry is one)",
        )]);
    };
    let entry = Entry { attributes };
    let Some(dn) = entry.get("dn").and_then(|(_, v)| v.first()?.as_str()) else {
        return Err(vec![refusal("/dn", "missing", "the entry has no dn")]);
    };
    if let Some(refusal) = not_a_person(settings, &entry, dn) {
        return Err(vec![refusal]);
    }
    let mut errors = Vec::new();
    let mut body = json!({
        "schema_id": config(settings, "schema_id").unwrap_or("preset://email"),
        "traits": {},
    });
    match mappings(settings) {
        Ok(found) => {
            for mapping in found {
                if let Some((_, value)) = entry.first_text(&mapping.source, &mut errors)
                    && let Err(problem) = set_pointer(&mut body, &mapping.target, json!(value))
                {
                    errors.push(refusal("", "bad_config", problem));
                }
            }
        }
        Err(problems) => {
            for problem in problems {
                errors.push(refusal("", "bad_config", problem));
            }
        }
    }
    if let Some(id) = external_id(settings, &entry) {
        body["external_id"] = json!(id);
    }
    if disabled(&entry) {
        body["state"] = json!("inactive");
    }
    match config(settings, "verified").map(yes_no) {
        None | Some(Some(false)) => {}
        Some(Some(true)) => {
            let address = config(settings, "verified_address").unwrap_or("/traits/email");
            if let Some(value) = body.pointer(address).and_then(Value::as_str) {
                body["verifiable_addresses"] = json!([email_address(value, true, None)]);
            }
        }
        Some(None) => errors.push(refusal(
            "",
            "bad_config",
            "config `verified` is neither true nor false",
        )),
    }
    if let Some(password) = password(&entry, &mut errors) {
        body["credentials"] = json!({"password": {"config": password}});
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut ldap = json!({"dn": dn});
    if let Some((_, last_set)) = entry.first_text("pwdLastSet", &mut Vec::new()) {
        match last_set.parse::<u64>() {
            // 0: the user must set a new password at next logon.
            Ok(0) => ldap["must_change_password"] = json!(true),
            Ok(filetime) => {
                if let Some(ms) = (filetime / 10_000).checked_sub(11_644_473_600_000) {
                    ldap["pwd_last_set"] = json!(kith_plugin_sdk::time::rfc3339(ms));
                }
            }
            Err(_) => {}
        }
    }
    let admin = body
        .as_object_mut()
        .expect("the body is an object")
        .entry("metadata_admin")
        .or_insert_with(|| json!({}));
    if let Some(Value::Object(mapped)) = admin.get_mut("ldap") {
        // Mappings into /metadata_admin/ldap/... come first; the dn joins them.
        for (key, value) in ldap.as_object().into_iter().flatten() {
            mapped.entry(key.clone()).or_insert(value.clone());
        }
    } else if let Some(admin) = admin.as_object_mut() {
        admin.entry("ldap").or_insert(ldap);
    }
    Ok(body)
}

/// The refusal of an entry whose object classes are not a person's: none of
/// `person_classes`, or one of `refuse_classes` (AD computers are `user`s too). An entry
/// without objectClass (an ldapsearch that did not ask for it) is taken as a person.
fn not_a_person(settings: &[(String, String)], entry: &Entry, dn: &str) -> Option<Refusal> {
    let classes = entry.classes()?;
    let listed = |key: &str, default: &str| -> Vec<String> {
        match config(settings, key) {
            Some(_) => config_list(settings, key),
            None => default.split(',').map(str::to_string).collect(),
        }
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect()
    };
    let people = listed("person_classes", PERSON_CLASSES);
    let refused = listed("refuse_classes", "computer");
    let pointer = entry
        .get("objectClass")
        .map_or("/objectClass".to_string(), |(key, _)| {
            format!("/{}", escape(key))
        });
    if let Some(class) = classes.iter().find(|c| refused.contains(c)) {
        return Some(refusal(
            &pointer,
            "not_a_person",
            format!("`{dn}` is a {class} (config refuse_classes), not a person"),
        ));
    }
    if classes.iter().any(|c| people.contains(c)) {
        return None;
    }
    Some(refusal(
        &pointer,
        "not_a_person",
        format!(
            "`{dn}` is not a person: its object classes ({}) include none of config person_classes",
            classes.join(", ")
        ),
    ))
}

/// The default of config `person_classes`.
const PERSON_CLASSES: &str = "person,organizationalPerson,inetOrgPerson,user,posixAccount,\
                              shadowAccount,account,nsPerson,nsAccount,inetUser";

/// The first of config `external_id`'s attributes the entry has; AD's binary objectGUID
/// written as the GUID AD shows.
fn external_id(settings: &[(String, String)], entry: &Entry) -> Option<String> {
    let names = config(settings, "external_id").unwrap_or("entryUUID,nsUniqueId,objectGUID");
    names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .find_map(|name| {
            let (key, values) = entry.get(name)?;
            let bytes = match data(values.first()?)? {
                Data::Text(text) if key.eq_ignore_ascii_case("objectGUID") && text.len() == 16 => {
                    text.as_bytes().to_vec()
                }
                Data::Text(text) => return Some(text.trim().to_string()),
                Data::Binary(bytes) => bytes,
            };
            Some(match <[u8; 16]>::try_from(bytes.as_slice()) {
                Ok(guid) if key.eq_ignore_ascii_case("objectGUID") => guid_text(guid),
                _ => STANDARD.encode(&bytes),
            })
        })
}

/// AD's objectGUID bytes as text: the first three fields are little-endian.
fn guid_text(b: [u8; 16]) -> String {
    let hex = |bytes: &[u8]| bytes.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(&[b[3], b[2], b[1], b[0]]),
        hex(&[b[5], b[4]]),
        hex(&[b[7], b[6]]),
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

/// A disabled account: AD's ACCOUNTDISABLE bit, 389-DS' nsAccountLock, or OpenLDAP
/// ppolicy's administrative lock (a pwdAccountLockedTime of 000001010000Z; any other time is
/// a lockout that expires by itself).
fn disabled(entry: &Entry) -> bool {
    let first = |name: &str| {
        entry
            .get(name)
            .and_then(|(_, values)| values.first()?.as_str().map(str::trim))
    };
    let control = first("userAccountControl").and_then(|v| v.parse::<i64>().ok());
    control.is_some_and(|flags| flags & 0x2 != 0)
        || first("nsAccountLock").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || first("pwdAccountLockedTime") == Some("000001010000Z")
}

/// What `userPassword` becomes, and how kith should take it.
#[derive(Debug, PartialEq)]
enum Password {
    /// A hash kith verifies, or rewrites into a Kratos format at import.
    Hash(String),
    /// No scheme: the password itself, which kith hashes.
    Cleartext(String),
    /// A scheme neither kith nor Kratos verifies: for a password-migration plugin.
    Migrate(String),
}

/// One `userPassword` value, its `{SCHEME}` in upper case (Kratos matches upper case only;
/// LDAP ignores case).
fn classify(value: &str) -> Password {
    let Some((scheme, rest)) = value
        .strip_prefix('{')
        .and_then(|inner| inner.split_once('}'))
    else {
        return Password::Cleartext(value.to_string());
    };
    let scheme = scheme.to_ascii_uppercase();
    let spelled = format!("{{{scheme}}}{rest}");
    match scheme.as_str() {
        "SSHA" | "SSHA256" | "SSHA512" => Password::Hash(spelled),
        "PBKDF2" | "PBKDF2-SHA1" | "PBKDF2-SHA256" | "PBKDF2-SHA512" | "PBKDF2_SHA256"
        | "ARGON2" => Password::Hash(spelled),
        "CRYPT"
            if ["$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$"]
                .iter()
                .any(|p| rest.starts_with(p)) =>
        {
            Password::Hash(spelled)
        }
        "CLEAR" | "CLEARTEXT" => Password::Cleartext(rest.to_string()),
        _ => Password::Migrate(spelled),
    }
}

/// The password config from `userPassword`: of several values, a hash kith takes first, then
/// a cleartext, then one for migration.
fn password(entry: &Entry, errors: &mut Vec<Refusal>) -> Option<Value> {
    let (key, values) = entry.get("userPassword")?;
    let mut found = Vec::new();
    for (index, value) in values.iter().enumerate() {
        match data(value) {
            Some(Data::Text("")) => {}
            Some(Data::Text(text)) => found.push(classify(text)),
            _ => errors.push(refusal(
                &format!("/{}/{index}", escape(key)),
                "bad_hash",
                format!("`{key}` value {index} is binary, not a password or {{SCHEME}} hash"),
            )),
        }
    }
    let rank = |p: &Password| match p {
        Password::Hash(_) => 0,
        Password::Cleartext(_) => 1,
        Password::Migrate(_) => 2,
    };
    Some(match found.into_iter().min_by_key(rank)? {
        Password::Hash(hash) => json!({"hashed_password": hash}),
        Password::Cleartext(password) => json!({"password": password}),
        Password::Migrate(legacy) => {
            json!({"hashed_password": legacy, "use_password_migration_hook": true})
        }
    })
}

kith_plugin_sdk::export_mapper!(LdifImport, map);

#[cfg(test)]
mod tests;
