//! Request bodies: `createIdentityBody` and `updateIdentityBody`, decoded as Kratos decodes them.
//!
//! Kratos decodes the create body strictly (`DisallowUnknownFields`) and the update body
//! leniently. One set of types serves both: [`parse_body`] reports ignored fields as errors
//! when asked to be strict.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// `createIdentityBody`: what `POST /admin/identities` and `kith create identity` take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateIdentityBody {
    #[serde(default)]
    pub schema_id: String,
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
}

/// `updateIdentityBody`: what `PUT /admin/identities/{id}` and `kith update identity` take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateIdentityBody {
    #[serde(default)]
    pub schema_id: String,
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
    pub value: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub via: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<super::Timestamp>,
}

/// An imported recovery address; kept only when the traits back it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryAddressBody {
    pub value: String,
    #[serde(default)]
    pub via: String,
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
        });
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
            return Err(BodyError {
                message: format!("json: {}", strip_location(&inner.to_string())),
                pointer,
                line: inner.line(),
                column: inner.column(),
            });
        }
    };
    if let Err(error) = deserializer.end() {
        return Err(BodyError {
            message: format!("json: {}", strip_location(&error.to_string())),
            pointer: String::new(),
            line: error.line(),
            column: error.column(),
        });
    }
    if strict && let Some(path) = unknown {
        let pointer = path_to_pointer(&path);
        let field = pointer.rsplit('/').next().unwrap_or_default().to_string();
        return Err(BodyError {
            message: format!("json: unknown field \"{field}\""),
            pointer,
            line: 0,
            column: 0,
        });
    }
    Ok(value)
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityPatch {
    #[serde(default)]
    pub patch_id: Option<Uuid>,
    #[serde(default)]
    pub create: Option<CreateIdentityBody>,
}
