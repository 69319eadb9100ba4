//! Credentials: the kinds Kratos knows, and the config of each kind in Kratos' JSON.
//!
//! A stored [`Credential`] keeps its config as JSON, as Kratos' `Credentials.Config` does, so
//! a config round-trips byte for byte; the typed configs here are how kith reads and writes
//! it ([`Credential::config_as`], [`Credential::with_config`]).

use super::Timestamp;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A credential type, spelled on the wire as Kratos spells it (`password`, `lookup_secret`).
///
/// Ordered by that spelling, so a map of credentials serializes in the order Go's JSON
/// encoder writes Kratos' map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    Password,
    Oidc,
    Saml,
    Totp,
    LookupSecret,
    Webauthn,
    Passkey,
    /// The one-time-code login credential, derived from the traits.
    Code,
    DeviceAuthn,
    /// Kratos' `include_credential` accepts it; no identity holds one.
    LinkRecovery,
    /// Kratos' `include_credential` accepts it; no identity holds one.
    CodeRecovery,
}

impl CredentialKind {
    /// Every kind, in Kratos' order of `include_credential`'s enum.
    pub const ALL: [CredentialKind; 11] = [
        Self::Password,
        Self::Oidc,
        Self::Saml,
        Self::Totp,
        Self::LookupSecret,
        Self::Webauthn,
        Self::Code,
        Self::LinkRecovery,
        Self::CodeRecovery,
        Self::DeviceAuthn,
        Self::Passkey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Oidc => "oidc",
            Self::Saml => "saml",
            Self::Totp => "totp",
            Self::LookupSecret => "lookup_secret",
            Self::Webauthn => "webauthn",
            Self::Passkey => "passkey",
            Self::Code => "code",
            Self::DeviceAuthn => "deviceauthn",
            Self::LinkRecovery => "link_recovery",
            Self::CodeRecovery => "code_recovery",
        }
    }

    /// The kind Kratos spells `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Kinds whose credentials are first factors when they are usable (Kratos'
    /// `CountActiveFirstFactorCredentials`); the last one of them cannot be deleted.
    pub fn is_first_factor(self) -> bool {
        matches!(
            self,
            Self::Password | Self::Oidc | Self::Saml | Self::Webauthn | Self::Passkey
        )
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CredentialKind {
    type Err = UnknownCredentialKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).ok_or_else(|| UnknownCredentialKind(text.to_string()))
    }
}

/// A credential type Kratos does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown credential type `{0}`")]
pub struct UnknownCredentialKind(pub String);

impl Ord for CredentialKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for CredentialKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for CredentialKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CredentialKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(UnknownCredentialKind(text.into_owned())))
    }
}

/// One credential of an identity. `config` holds secrets and is shown only when asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    #[serde(rename = "type")]
    pub kind: CredentialKind,
    pub identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A password credential flagged `use_password_migration_hook`: the other system's hash
    /// that came with the flag, for the password-migration plugin. Never serialized: Kratos
    /// stores only the flag, so no response shows it (see [`LegacyHash`]).
    #[serde(skip)]
    pub legacy_hash: Option<LegacyHash>,
}

/// A password hash from another system, kept beside a password credential flagged
/// `use_password_migration_hook` for the password-migration plugin to verify (phpass, DES
/// crypt, `{SHA}`: formats neither Kratos nor kith verify).
///
/// It is a secret like any hash, and one that Kratos would not have kept at all, so it is
/// never serialized and its `Debug` does not show it: only the store and the migration call
/// see the text.
#[derive(Clone, PartialEq, Eq)]
pub struct LegacyHash(String);

impl LegacyHash {
    /// Most bytes a legacy hash may take (the longest crypt(3) or LDAP value is a few hundred).
    pub const MAX_BYTES: usize = 4096;

    /// Wraps a stored or imported hash; `None` when it is empty.
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        (!text.is_empty()).then_some(LegacyHash(text))
    }

    /// The hash as imported.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LegacyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyHash(***)")
    }
}

impl Credential {
    /// The config read as `T`, or `None` when there is none or it is not a `T`.
    pub fn config_as<T: DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(self.config.as_ref()?).ok()
    }

    /// `config` in Kratos' JSON, as a credential stores it.
    pub fn config_value(config: &impl Serialize) -> Value {
        // Serializing plain structs of strings, numbers and bytes cannot fail.
        serde_json::to_value(config).unwrap_or(Value::Null)
    }
}

/// `password`'s config: the hash, or the migration hook's marker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hashed_password: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_password_migration_hook: bool,
}

impl PasswordConfig {
    /// Whether someone can sign in with it: a hash, or a hook that will supply one.
    pub fn is_usable(&self) -> bool {
        !self.hashed_password.is_empty() || self.use_password_migration_hook
    }

    /// Whether signing in must ask the password-migration plugin: the flag without a hash,
    /// as Kratos' `ShouldUsePasswordMigrationHook` decides (a hash beside the flag wins).
    pub fn needs_migration(&self) -> bool {
        self.hashed_password.is_empty() && self.use_password_migration_hook
    }
}

/// `oidc`'s and `saml`'s config: the linked provider accounts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub providers: Vec<ProviderLink>,
}

/// One linked provider account, as Kratos stores it. The `initial_*` tokens are written
/// (empty) for oidc links only, as Kratos' import does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderLink {
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_auto_link: bool,
}

impl ProviderLink {
    /// `provider:subject`, the link's credential identifier.
    pub fn identifier(&self) -> String {
        format!("{}:{}", self.provider, self.subject)
    }
}

/// `totp`'s config: the key URI (`otpauth://totp/...`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpConfig {
    #[serde(default)]
    pub totp_url: String,
}

/// `lookup_secret`'s config: the recovery codes, each usable once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupSecretConfig {
    #[serde(default)]
    pub recovery_codes: Vec<LookupCode>,
}

/// One lookup secret code; `used_at` is `null` until it is used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupCode {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub used_at: Option<Timestamp>,
}

/// `webauthn`'s and `passkey`'s config: the registered authenticators and the user handle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebAuthnConfig {
    #[serde(default)]
    pub credentials: Vec<WebAuthnCredential>,
    #[serde(default)]
    pub user_handle: Option<Bytes>,
}

/// One registered authenticator, field for field Kratos' `identityCredentialsWebAuthn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebAuthnCredential {
    #[serde(default)]
    pub id: Option<Bytes>,
    #[serde(default)]
    pub public_key: Option<Bytes>,
    #[serde(default)]
    pub attestation_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<WebAuthnAuthenticator>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default = "go_zero_time")]
    pub added_at: Timestamp,
    #[serde(default)]
    pub is_passwordless: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<WebAuthnFlags>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<WebAuthnAttestation>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnAuthenticator {
    #[serde(default)]
    pub aaguid: Option<Bytes>,
    #[serde(default)]
    pub sign_count: u32,
    #[serde(default)]
    pub clone_warning: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnFlags {
    #[serde(default)]
    pub user_present: bool,
    #[serde(default)]
    pub user_verified: bool,
    #[serde(default)]
    pub backup_eligible: bool,
    #[serde(default)]
    pub backup_state: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnAttestation {
    #[serde(default, rename = "client_dataJSON")]
    pub client_data_json: Option<Bytes>,
    #[serde(default)]
    pub client_data_hash: Option<Bytes>,
    #[serde(default)]
    pub authenticator_data: Option<Bytes>,
    #[serde(default)]
    pub public_key_algorithm: i64,
    #[serde(default)]
    pub object: Option<Bytes>,
}

/// Bytes as Go's JSON encoder writes a `[]byte`: standard base64 with padding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        // Go's decoder skips line breaks inside base64 and otherwise wants it exact.
        let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(Bytes)
            .map_err(|error| {
                let at = match error {
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                    _ => compact.len(),
                };
                serde::de::Error::custom(format!("illegal base64 data at input byte {at}"))
            })
    }
}

/// Go's zero `time.Time`, which Kratos writes for an `added_at` it was not given.
fn go_zero_time() -> Timestamp {
    Timestamp::parse("0001-01-01T00:00:00Z").unwrap_or(Timestamp(chrono::DateTime::UNIX_EPOCH))
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_order_by_their_wire_names() {
        let mut kinds = CredentialKind::ALL.to_vec();
        kinds.sort();
        let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn every_kind_parses_its_own_name() {
        for kind in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CredentialKind::parse("Password"), None);
    }

    #[test]
    fn webauthn_config_writes_kratos_field_order_and_go_defaults() {
        let config: WebAuthnConfig = serde_json::from_value(json!({
            "credentials": [{"id": "AQI=", "public_key": "AwQ=", "transport": []}]
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"credentials":[{"id":"AQI=","public_key":"AwQ=","attestation_type":"","display_name":"","added_at":"0001-01-01T00:00:00Z","is_passwordless":false}],"user_handle":null}"#
        );
    }

    #[test]
    fn bad_base64_names_the_byte_as_go_does() {
        let error = serde_json::from_value::<Bytes>(json!("AQ!=")).unwrap_err();
        assert_eq!(error.to_string(), "illegal base64 data at input byte 2");
    }
}
