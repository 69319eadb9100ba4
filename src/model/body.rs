//! Request bodies: `createIdentityBody` and `updateIdentityBody`, decoded as Kratos decodes them.
//!
//! Kratos decodes the create body strictly (`DisallowUnknownFields`) and the update body
//! leniently. One set of types serves both: [`parse_body`] reports ignored fields as errors
//! when asked to be strict.

use super::{LookupCode, SchemaId, TotpConfig, WebAuthnConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// `createIdentityBody`: what `POST /admin/identities` and `kith create identity` take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateIdentityBody {
    #[serde(default)]
    pub schema_id: SchemaId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traits: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifiable_addresses: Option<Vec<VerifiableAddressBody>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_addresses: Option<Vec<RecoveryAddressBody>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_public: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_admin: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Ory Network's data region; checked, and not kept (as Kratos outside Ory Network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `updateIdentityBody`: what `PUT /admin/identities/{id}` and `kith update identity` take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateIdentityBody {
    #[serde(default)]
    pub schema_id: SchemaId,
    #[serde(default)]
    pub traits: Value,
    #[serde(default)]
    pub credentials: Option<CredentialsBody>,
    #[serde(default)]
    pub metadata_public: Option<Value>,
    #[serde(default)]
    pub metadata_admin: Option<Value>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `credentials` of a create or update body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialsBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<OidcCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebAuthnCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<WebAuthnCredentialBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_secret: Option<LookupSecretCredentialBody>,
}

/// `credentials.totp`: the key URI of an authenticator app (`identityWithCredentialsTotp`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TotpCredentialBody {
    #[serde(default)]
    pub config: TotpConfig,
}

/// `credentials.webauthn` and `credentials.passkey`: registered authenticators and the user
/// handle they were registered with (`identityWithCredentialsWebAuthn`, `...Passkey`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebAuthnCredentialBody {
    #[serde(default)]
    pub config: WebAuthnConfig,
}

/// `credentials.lookup_secret`: recovery codes, appended to any stored ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LookupSecretCredentialBody {
    #[serde(default)]
    pub config: LookupSecretBodyConfig,
}

/// `credentials.lookup_secret.config`: the body calls the stored `recovery_codes` `codes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LookupSecretBodyConfig {
    #[serde(default)]
    pub codes: Vec<LookupCode>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordCredentialBody {
    #[serde(default)]
    pub config: PasswordConfigBody,
}

/// `credentials.password.config`: a cleartext password, an existing hash, or the migration hook flag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordConfigBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_password_migration_hook: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcCredentialBody {
    #[serde(default)]
    pub config: OidcConfigBody,
}

/// `credentials.oidc.config` (and `saml`): the linked provider accounts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcConfigBody {
    #[serde(default)]
    pub providers: Vec<OidcProviderBody>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcProviderBody {
    pub provider: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_auto_link: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Uuid>,
}

/// An imported verifiable address; kept only when the traits back it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifiableAddressBody {
    /// Kept when the traits back the address, so Kratos' own responses import unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub value: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub via: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<super::Timestamp>,
    /// Kept when given, as Kratos keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<super::Timestamp>,
    /// Accepted and replaced by the time of the write, as Kratos does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<super::Timestamp>,
}

/// An imported recovery address; kept only when the traits back it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryAddressBody {
    /// Kept when the traits back the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub value: String,
    #[serde(default)]
    pub via: String,
    /// Kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<super::Timestamp>,
    /// Accepted and replaced by the time of the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<super::Timestamp>,
}

/// Why a body could not be decoded, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// Kratos' decoder text, e.g. `json: unknown field "schema_url"`.
    pub message: String,
    /// JSON pointer of the offending value (`/credentials/password/config/x`).
    pub pointer: String,
    pub line: usize,
    pub column: usize,
    /// For an unknown field: the fields its object does know, to suggest the one meant.
    pub known_fields: &'static [&'static str],
}

/// Decodes a JSON body into `T`. With `strict`, a field `T` does not know is refused with
/// Go's text (`json: unknown field "x"`), as Kratos' `DisallowUnknownFields` decoder does.
///
/// # Errors
/// Malformed JSON, a value of the wrong type, or (strict) an unknown field.
pub fn parse_body<T: DeserializeOwned>(text: &str, strict: bool) -> Result<T, BodyError> {
    if text.trim().is_empty() {
        return Err(BodyError {
            message: "unexpected end of JSON input".into(),
            pointer: String::new(),
            line: 1,
            column: 0,
            known_fields: &[],
        });
    }
    // Nearly every body is good: decode it without tracking paths, which costs as much again,
    // and decode it once more with them only to say where a bad one went wrong.
    if let Some(value) = parse_untracked(text, strict) {
        return Ok(value);
    }
    let mut unknown: Option<String> = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut note_unknown = |path: serde_ignored::Path<'_>| {
        if unknown.is_none() {
            unknown = Some(path.to_string());
        }
    };
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        &mut deserializer,
        &mut note_unknown,
    ));
    let value = match result {
        Ok(value) => value,
        Err(error) => {
            let pointer = path_to_pointer(&error.path().to_string());
            let inner = error.into_inner();
            let message = strip_location(&inner.to_string());
            return Err(BodyError {
                message: format!("json: {}", redact(&message, &pointer)),
                pointer,
                line: inner.line(),
                column: inner.column(),
                known_fields: &[],
            });
        }
    };
    if let Err(error) = deserializer.end() {
        return Err(BodyError {
            message: format!("json: {}", strip_location(&error.to_string())),
            pointer: String::new(),
            line: error.line(),
            column: error.column(),
            known_fields: &[],
        });
    }
    if strict && let Some(path) = unknown {
        let pointer = path_to_pointer(&path);
        let (line, column) = key_position(text, &pointer).unwrap_or((0, 0));
        return Err(unknown_field::<T>(pointer, "", line, column));
    }
    Ok(value)
}

/// [`parse_body`]'s answer for a good body, or `None` when it has anything to report.
fn parse_untracked<T: DeserializeOwned>(text: &str, strict: bool) -> Option<T> {
    let mut unknown = false;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut note_unknown = |_: serde_ignored::Path<'_>| unknown = true;
    let value = T::deserialize(serde_ignored::Deserializer::new(
        &mut deserializer,
        &mut note_unknown,
    ))
    .ok()?;
    deserializer.end().ok()?;
    (!(strict && unknown)).then_some(value)
}

/// Decodes an already parsed `value` into `T`, as [`parse_body`] decodes text; `base` is the
/// pointer of `value` in its document, prefixed to the pointer of an error.
///
/// # Errors
/// A value of the wrong type, or (strict) an unknown field.
pub(crate) fn parse_value<T: DeserializeOwned>(
    value: Value,
    strict: bool,
    base: &str,
) -> Result<T, BodyError> {
    let mut unknown: Option<String> = None;
    let mut note_unknown = |path: serde_ignored::Path<'_>| {
        if unknown.is_none() {
            unknown = Some(path.to_string());
        }
    };
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        value,
        &mut note_unknown,
    ));
    let value = match result {
        Ok(value) => value,
        Err(error) => {
            let pointer = format!("{base}{}", path_to_pointer(&error.path().to_string()));
            let message = error.into_inner().to_string();
            return Err(BodyError {
                message: format!("json: {}", redact(&message, &pointer)),
                pointer,
                line: 0,
                column: 0,
                known_fields: &[],
            });
        }
    };
    if strict && let Some(path) = unknown {
        let pointer = format!("{base}{}", path_to_pointer(&path));
        return Err(unknown_field::<T>(pointer, base, 0, 0));
    }
    Ok(value)
}

/// Kratos' text for an unknown field at `pointer`, with the fields its object knows. `T` is
/// the type decoded at `base`.
fn unknown_field<T: DeserializeOwned>(
    pointer: String,
    base: &str,
    line: usize,
    column: usize,
) -> BodyError {
    let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", &pointer));
    BodyError {
        message: format!("json: unknown field \"{field}\""),
        known_fields: match parent == base {
            true => fields_of::<T>(),
            false => known_fields_at(parent),
        },
        pointer,
        line,
        column,
    }
}

/// The fields of the body object at `parent` (a pointer from a createIdentityBody,
/// updateIdentityBody or batch body's root), when it is one of Kratos' body objects.
fn known_fields_at(parent: &str) -> &'static [&'static str] {
    let generic: Vec<&str> = parent
        .split('/')
        .skip(1)
        .map(|segment| match segment.parse::<usize>() {
            Ok(_) => "*",
            Err(_) => segment,
        })
        .collect();
    let within_identity = match generic.as_slice() {
        ["identities", "*"] => return fields_of::<IdentityPatch>(),
        ["identities", "*", "create", rest @ ..] => rest,
        other => other,
    };
    match within_identity {
        [] => fields_of::<CreateIdentityBody>(),
        ["credentials"] => fields_of::<CredentialsBody>(),
        ["credentials", "password"] => fields_of::<PasswordCredentialBody>(),
        ["credentials", "password", "config"] => fields_of::<PasswordConfigBody>(),
        ["credentials", "oidc" | "saml"] => fields_of::<OidcCredentialBody>(),
        ["credentials", "oidc" | "saml", "config"] => fields_of::<OidcConfigBody>(),
        ["credentials", "oidc" | "saml", "config", "providers", "*"] => {
            fields_of::<OidcProviderBody>()
        }
        ["credentials", "totp"] => fields_of::<TotpCredentialBody>(),
        ["credentials", "totp", "config"] => fields_of::<TotpConfig>(),
        ["credentials", "webauthn" | "passkey"] => fields_of::<WebAuthnCredentialBody>(),
        ["credentials", "webauthn" | "passkey", "config"] => fields_of::<WebAuthnConfig>(),
        ["credentials", "lookup_secret"] => fields_of::<LookupSecretCredentialBody>(),
        ["credentials", "lookup_secret", "config"] => fields_of::<LookupSecretBodyConfig>(),
        ["credentials", "lookup_secret", "config", "codes", "*"] => fields_of::<LookupCode>(),
        ["verifiable_addresses", "*"] => fields_of::<VerifiableAddressBody>(),
        ["recovery_addresses", "*"] => fields_of::<RecoveryAddressBody>(),
        _ => &[],
    }
}

/// The field names a struct type decodes (as serde names them), read from the list serde
/// hands its deserializer; empty for a type that is no plain struct.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldCatcher(&mut fields));
    fields
}

/// A deserializer that only notes the field list a struct asks it for, then gives up.
struct FieldCatcher<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldCatcher<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields noted"))
    }

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Where the key at `pointer` sits in the JSON `text`, as a 1-based line and column: found by
/// walking the text along the pointer, so that an unknown field is reported where it is typed.
fn key_position(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (depth, segment) in segments.iter().enumerate() {
        skip_space(bytes, &mut at);
        match bytes.get(at)? {
            b'{' => {
                at += 1;
                loop {
                    skip_space(bytes, &mut at);
                    let key_start = at;
                    let key = read_string(text, &mut at)?;
                    skip_space(bytes, &mut at);
                    (bytes.get(at)? == &b':').then_some(())?;
                    at += 1;
                    if key == *segment {
                        if depth + 1 == segments.len() {
                            return Some(line_and_column(text, key_start));
                        }
                        break;
                    }
                    skip_space(bytes, &mut at);
                    skip_value(bytes, &mut at)?;
                    skip_space(bytes, &mut at);
                    (bytes.get(at)? == &b',').then_some(())?;
                    at += 1;
                }
            }
            b'[' => {
                at += 1;
                for _ in 0..segment.parse::<usize>().ok()? {
                    skip_space(bytes, &mut at);
                    skip_value(bytes, &mut at)?;
                    skip_space(bytes, &mut at);
                    (bytes.get(at)? == &b',').then_some(())?;
                    at += 1;
                }
            }
            _ => return None,
        }
    }
    None
}

fn skip_space(bytes: &[u8], at: &mut usize) {
    while bytes.get(*at).is_some_and(u8::is_ascii_whitespace) {
        *at += 1;
    }
}

/// Reads the JSON string starting at `at` (escapes decoded) and moves past it.
fn read_string(text: &str, at: &mut usize) -> Option<String> {
    let bytes = text.as_bytes();
    (bytes.get(*at)? == &b'"').then_some(())?;
    let start = *at;
    *at += 1;
    loop {
        match bytes.get(*at)? {
            b'\\' => *at += 2,
            b'"' => break,
            _ => *at += 1,
        }
    }
    *at += 1;
    serde_json::from_str(text.get(start..*at)?).ok()
}

/// Moves past one JSON value; strings are skipped whole, so brackets inside them do not count.
fn skip_value(bytes: &[u8], at: &mut usize) -> Option<()> {
    let mut depth = 0usize;
    loop {
        match bytes.get(*at)? {
            b'"' => {
                *at += 1;
                loop {
                    match bytes.get(*at)? {
                        b'\\' => *at += 2,
                        b'"' => break,
                        _ => *at += 1,
                    }
                }
                *at += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                *at += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                *at += 1;
            }
            b',' if depth == 0 => return Some(()),
            _ => *at += 1,
        }
        if depth == 0
            && !bytes.get(*at).is_some_and(|b| {
                b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-' || *b == b'+'
            })
        {
            return Some(());
        }
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Pointer segments under which a value may be a secret: credentials of any kind, passwords,
/// hashes, recovery codes and tokens.
const SECRET_SEGMENTS: &[&str] = &[
    "credentials",
    "password",
    "hashed_password",
    "code",
    "recovery_code",
    "token",
];

/// serde's message without the submitted value when the pointer is under a secret: the type
/// of what was sent and what was expected stay, the value itself never shows.
fn redact(message: &str, pointer: &str) -> String {
    let secret = pointer
        .split('/')
        .any(|segment| SECRET_SEGMENTS.contains(&segment));
    if !secret {
        return message.to_string();
    }
    // serde's shape: `invalid type: <unexpected>, expected <what>`, where <unexpected> quotes
    // the value (`string "..."`, ``integer `5` ``) and <what> comes from the type.
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unexpected, expected) = match rest.rfind(", expected ") {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (rest, ""),
            };
            let kind = unexpected
                .split(['"', '`'])
                .next()
                .unwrap_or_default()
                .trim();
            return format!("{prefix}{kind} (value redacted){expected}");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected = rest.rfind(", expected ").map_or("", |at| &rest[at..]);
        return format!("unknown variant (value redacted){expected}");
    }
    let names_only = [
        "missing field",
        "unknown field",
        "duplicate field",
        "invalid length",
        // Go's base64 decoder names the offending byte's position, never its value.
        "illegal base64 data at input byte",
    ];
    if names_only.iter().any(|start| message.starts_with(start)) {
        return message.to_string();
    }
    "invalid value (value redacted)".to_string()
}

/// serde's dotted path (`credentials.password.config.x`, `[0]`) as a JSON pointer.
fn path_to_pointer(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut pointer = String::new();
    // serde_ignored writes `?` for the `Some` around optional fields; it is no JSON level.
    for segment in path.split('.').filter(|segment| *segment != "?") {
        // serde_path_to_error renders sequence indices as `[3]`, sometimes glued to a key.
        let mut rest = segment;
        if let Some(open) = rest.find('[') {
            let key = &rest[..open];
            if !key.is_empty() {
                pointer.push('/');
                pointer.push_str(&escape_pointer(key));
            }
            rest = &rest[open..];
            for index in rest.split('[').filter(|s| !s.is_empty()) {
                pointer.push('/');
                pointer.push_str(index.trim_end_matches(']'));
            }
        } else {
            pointer.push('/');
            pointer.push_str(&escape_pointer(rest));
        }
    }
    pointer
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// serde_json appends ` at line L column C`; the location is reported separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_found_where_it_is_typed() {
        let text = "{\"a\": \"x}\\\"y\", \"b\": [1, {\"c\": true}, {\"d\":\n  {\"e\": -1.5e3, \"f\": null}}]}";
        assert_eq!(key_position(text, "/b/2/d/f"), Some((2, 17)));
        assert_eq!(key_position(text, "/b/1/c"), Some((1, 26)));
        assert_eq!(key_position(text, "/nope"), None);
        assert_eq!(key_position("[", "/0/a"), None);
    }

    #[test]
    fn an_unknown_field_knows_the_fields_of_its_object() {
        let error = parse_body::<CreateIdentityBody>(r#"{"schema_id": "x", "stat": 1}"#, true)
            .expect_err("unknown");
        assert!(
            error.known_fields.contains(&"state"),
            "{:?}",
            error.known_fields
        );
        assert_eq!((error.line, error.column), (1, 20));
        let nested = parse_body::<CreateIdentityBody>(
            r#"{"schema_id": "x", "verifiable_addresses": [{"value": "a", "via": "email", "verifed": true}]}"#,
            true,
        )
        .expect_err("unknown");
        assert!(
            nested.known_fields.contains(&"verified"),
            "{:?}",
            nested.known_fields
        );
    }

    #[test]
    fn strict_decoding_refuses_unknown_fields_with_gos_text() {
        let error = parse_body::<CreateIdentityBody>(r#"{"schema_id":"x","schema_url":"y"}"#, true)
            .unwrap_err();
        assert_eq!(error.message, r#"json: unknown field "schema_url""#);
        assert_eq!(error.pointer, "/schema_url");
    }

    #[test]
    fn nested_unknown_fields_name_their_pointer() {
        let error = parse_body::<CreateIdentityBody>(
            r#"{"credentials":{"password":{"config":{"pasword":"x"}}}}"#,
            true,
        )
        .unwrap_err();
        assert_eq!(error.message, r#"json: unknown field "pasword""#);
        assert_eq!(error.pointer, "/credentials/password/config/pasword");
    }

    #[test]
    fn lenient_decoding_ignores_unknown_fields() {
        let body = parse_body::<UpdateIdentityBody>(r#"{"traits":{},"id":"x"}"#, false).unwrap();
        assert_eq!(body.traits, serde_json::json!({}));
    }

    #[test]
    fn type_errors_name_line_and_pointer() {
        let error = parse_body::<CreateIdentityBody>("{\n\"schema_id\": 5}", true).unwrap_err();
        assert!(
            error.message.starts_with("json: invalid type: integer `5`"),
            "{}",
            error.message
        );
        assert_eq!(error.pointer, "/schema_id");
        assert_eq!(error.line, 2);
    }

    #[test]
    fn empty_body_is_unexpected_end() {
        let error = parse_body::<CreateIdentityBody>("  ", true).unwrap_err();
        assert_eq!(error.message, "unexpected end of JSON input");
    }

    #[test]
    fn errors_under_credentials_never_quote_the_value() {
        for (body, kind) in [
            (
                r#"{"credentials":{"password":{"config":{"password":["hunter2-secret"]}}}}"#,
                "sequence",
            ),
            (
                r#"{"credentials":{"password":{"config":{"use_password_migration_hook":"hunter2-secret"}}}}"#,
                "string",
            ),
            (
                r#"{"credentials":{"password":{"config":{"use_password_migration_hook":987654321}}}}"#,
                "integer",
            ),
            (r#"{"credentials":"hunter2-secret"}"#, "string"),
        ] {
            let error = parse_body::<CreateIdentityBody>(body, true).unwrap_err();
            assert!(!error.message.contains("hunter2"), "{}", error.message);
            assert!(!error.message.contains("987654321"), "{}", error.message);
            assert!(
                error
                    .message
                    .contains(&format!("invalid type: {kind} (value redacted)")),
                "{}",
                error.message
            );
            assert!(
                error.pointer.starts_with("/credentials"),
                "{}",
                error.pointer
            );
            assert_eq!(error.line, 1);
        }
        let error = parse_value::<PasswordConfigBody>(
            serde_json::json!({"password": 123456}),
            true,
            "/credentials/password/config",
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "json: invalid type: integer (value redacted), expected a string"
        );
        assert_eq!(error.pointer, "/credentials/password/config/password");
    }

    #[test]
    fn pointers_from_paths() {
        assert_eq!(path_to_pointer("a.b[2].c"), "/a/b/2/c");
        assert_eq!(path_to_pointer("."), "");
        assert_eq!(path_to_pointer("x/y"), "/x~1y");
    }
}

/// `PATCH /admin/identities`: identities to create in one request (Kratos' batch).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchPatchBody {
    pub identities: Vec<IdentityPatch>,
}

/// One entry of a batch: an identity to create, and the caller's id for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IdentityPatch {
    pub patch_id: Option<Uuid>,
    pub create: Option<CreateIdentityBody>,
}

/// An entry is a JSON object and nothing else: Kratos refuses the whole batch for a string,
/// number, boolean or array in its place (serde's derive would take an array as the
/// fields in order).
impl<'de> Deserialize<'de> for IdentityPatch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            patch_id: Option<Uuid>,
            #[serde(default)]
            create: Option<CreateIdentityBody>,
        }
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = IdentityPatch;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object (identity.BatchIdentityPatch)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let fields =
                    Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(IdentityPatch {
                    patch_id: fields.patch_id,
                    create: fields.create,
                })
            }
        }
        deserializer.deserialize_map(Entry)
    }
}
