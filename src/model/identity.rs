//! The identity in Kratos' admin representation, with its credentials and addresses.

use super::Timestamp;
use super::credential::{Credential, CredentialKind, PasswordConfig};
use super::ids::{IdentityId, SchemaId};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// Whether an identity may sign in and redeem invites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityState {
    #[default]
    Active,
    Inactive,
}

impl IdentityState {
    /// Parses Kratos' wire value; an empty string means active, as in Kratos.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

impl fmt::Display for IdentityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The channel an address is reached through.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    #[default]
    Email,
    Sms,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// Where a verifiable address is in its verification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationStatus {
    #[default]
    Pending,
    Sent,
    Completed,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// An address derived from the traits that can be verified (`verifiable_addresses[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifiableAddress {
    pub id: Uuid,
    pub value: String,
    pub verified: bool,
    pub via: Via,
    pub status: VerificationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An address recovery messages and invites may go to (`recovery_addresses[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryAddress {
    pub id: Uuid,
    pub value: String,
    pub via: Via,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An identity as Kratos' admin API returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub id: IdentityId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<BTreeMap<CredentialKind, Credential>>,
    pub schema_id: SchemaId,
    pub schema_url: String,
    pub state: IdentityState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_changed_at: Option<Timestamp>,
    pub traits: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifiable_addresses: Vec<VerifiableAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_addresses: Vec<RecoveryAddress>,
    pub metadata_public: Value,
    pub metadata_admin: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub organization_id: Option<Uuid>,
}

impl Identity {
    /// The credential of `kind`, if the identity has one.
    pub fn credential(&self, kind: CredentialKind) -> Option<&Credential> {
        self.credentials.as_ref().and_then(|c| c.get(&kind))
    }

    /// The stored password hash, if the password credential carries one.
    pub fn password_hash(&self) -> Option<String> {
        self.credential(CredentialKind::Password)?
            .config_as::<PasswordConfig>()
            .map(|config| config.hashed_password)
            .filter(|hash| !hash.is_empty())
    }

    /// Removes every credential config except those of the `include` types, as Kratos'
    /// admin responses do. Credentials stay listed with their identifiers.
    pub fn redact_credentials(&mut self, include: &[CredentialKind]) {
        if let Some(credentials) = &mut self.credentials {
            for (kind, credential) in credentials.iter_mut() {
                if !include.contains(kind) {
                    credential.config = None;
                }
            }
        }
    }
}

/// `<public_url>/schemas/<base64url(schema_id) without padding>`, as Kratos builds `schema_url`.
pub fn schema_url(public_url: &str, schema_id: &SchemaId) -> String {
    let encoded =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(schema_id.as_str().as_bytes());
    format!("{}/schemas/{encoded}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_url_encodes_the_id_without_padding() {
        assert_eq!(
            schema_url("http://127.0.0.1:4433/", &"preset://email".into()),
            "http://127.0.0.1:4433/schemas/cHJlc2V0Oi8vZW1haWw"
        );
    }

    #[test]
    fn state_parses_kratos_values() {
        assert_eq!(IdentityState::parse(""), Some(IdentityState::Active));
        assert_eq!(
            IdentityState::parse("inactive"),
            Some(IdentityState::Inactive)
        );
        assert_eq!(IdentityState::parse("Active"), None);
    }
}
