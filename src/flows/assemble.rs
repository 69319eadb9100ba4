//! Assembling an identity from a body: validation, derived identifiers and addresses,
//! imported credentials and verified addresses, merged with what is stored (for updates).
//!
//! Create, update, patch and (later) import all come through here, so Kratos' rules hold the
//! same on each: traits validated, identifiers and addresses derived and normalized, imported
//! addresses kept only when the traits back them, hashes checked before they are stored.

use super::Kith;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::model::{
    Credential, CredentialsBody, Excess, Identity, IdentityState, MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_DEPTH, OidcProviderBody, PasswordConfigBody, RecoveryAddress, RecoveryAddressBody,
    Timestamp, VerifiableAddress, VerifiableAddressBody, VerificationStatus, Via,
};
use crate::password;
use crate::schema::{Derived, IdentitySchema, normalize_email};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Finds the compiled schema of an id. Callers choose how, so that no path asks for the
/// store while it already holds it (a write transaction, or an import's dry run).
pub(super) type SchemaResolver<'a> = &'a dyn Fn(&str) -> Result<Arc<IdentitySchema>>;

/// What a password credential should hold after the change.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum PasswordChange {
    /// Keep whatever is stored (nothing for a new identity).
    #[default]
    Keep,
    /// Hash this cleartext with the configured hasher.
    Cleartext(String),
    /// Store this hash as given, once it passes the format and cost checks.
    Hashed(String),
    /// Kratos' migration-hook marker.
    MigrationHook,
    /// No password: a JSON patch emptied the config.
    Clear,
}

impl PasswordChange {
    /// What a `credentials.password.config` asks for, read as Kratos reads it: the migration
    /// hook first, then a cleartext password, then a hash; nothing usable keeps what is stored.
    pub fn from_config(config: PasswordConfigBody) -> Self {
        if config.use_password_migration_hook == Some(true) {
            PasswordChange::MigrationHook
        } else if let Some(cleartext) = config.password.filter(|p| !p.is_empty()) {
            PasswordChange::Cleartext(cleartext)
        } else if let Some(hash) = config.hashed_password.filter(|h| !h.is_empty()) {
            PasswordChange::Hashed(hash)
        } else {
            PasswordChange::Keep
        }
    }
}

/// The desired state of an identity, whatever body it came from.
#[derive(Clone, Debug, Default)]
pub(super) struct Draft {
    pub schema_id: String,
    pub traits: Value,
    pub state: Option<String>,
    pub metadata_public: Value,
    pub metadata_admin: Value,
    pub external_id: Option<String>,
    pub organization_id: Option<Uuid>,
    pub password: PasswordChange,
    pub oidc: Vec<OidcProviderBody>,
    pub saml: Vec<OidcProviderBody>,
    pub verifiable_addresses: Vec<VerifiableAddressBody>,
    pub recovery_addresses: Vec<RecoveryAddressBody>,
}

impl Draft {
    /// Takes the credentials of a create or update body into the draft.
    ///
    /// # Errors
    /// An oidc or saml provider link without a provider or a subject.
    pub fn set_credentials(&mut self, credentials: Option<CredentialsBody>) -> Result<()> {
        let Some(credentials) = credentials else {
            return Ok(());
        };
        if let Some(password) = credentials.password {
            self.password = PasswordChange::from_config(password.config);
        }
        if let Some(oidc) = credentials.oidc {
            self.oidc = oidc.config.providers;
        }
        if let Some(saml) = credentials.saml {
            self.saml = saml.config.providers;
        }
        check_providers("oidc", &self.oidc)?;
        check_providers("saml", &self.saml)
    }
}

/// Refuses a document that nests deeper or is larger than kith stores, naming where.
fn check_document(pointer: &str, document: &Value) -> Result<()> {
    match crate::model::measure(document, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_BYTES) {
        Ok(_) => Ok(()),
        Err(Excess::Depth { pointer: inner }) => Err(Error::DocumentTooDeep {
            pointer: crate::model::shorten_pointer(format!("{pointer}{inner}")),
            limit: MAX_DOCUMENT_DEPTH,
        }),
        Err(Excess::Size) => Err(Error::DocumentTooLarge {
            pointer: pointer.to_string(),
            limit: MAX_DOCUMENT_BYTES,
        }),
    }
}

fn check_providers(kind: &str, providers: &[OidcProviderBody]) -> Result<()> {
    for (index, provider) in providers.iter().enumerate() {
        if provider.provider.trim().is_empty() || provider.subject.trim().is_empty() {
            return Err(Error::BadRequest(format!(
                "credentials.{kind}.config.providers[{index}] needs a provider and a subject"
            )));
        }
    }
    Ok(())
}

impl Kith {
    /// Builds the identity `draft` describes, on top of `existing` when updating.
    pub(super) fn assemble(
        &self,
        settings: &Settings,
        resolve: SchemaResolver<'_>,
        draft: Draft,
        existing: Option<&Identity>,
    ) -> Result<Identity> {
        // Before anything else reads them: every write path (create, update, patch, batch,
        // import) comes through here, so no document past the bounds is ever stored.
        check_document("/traits", &draft.traits)?;
        check_document("/metadata_public", &draft.metadata_public)?;
        check_document("/metadata_admin", &draft.metadata_admin)?;
        let now = self.clock.now();
        let schema = resolve(&draft.schema_id)?;
        let traits = if draft.traits.is_null() {
            json!({})
        } else {
            draft.traits
        };
        let derived = schema
            .validate(&traits)
            .map_err(|violations| Error::InvalidTraits {
                schema_id: draft.schema_id.clone(),
                violations,
            })?;
        // Plugins see only traits that passed the schema; a refusal or fault stops the write.
        self.run_validators(&draft.schema_id, &traits)?;
        let state = match draft.state.as_deref() {
            None | Some("") => existing.map_or(IdentityState::Active, |e| e.state),
            Some(text) => {
                IdentityState::parse(text).ok_or_else(|| Error::InvalidState(text.to_string()))?
            }
        };
        let state_changed_at = match existing {
            Some(existing) if existing.state == state => existing.state_changed_at.or(Some(now)),
            _ => Some(now),
        };
        let password_config = password_config(settings, draft.password, existing)?;
        let credentials = credentials(
            &derived,
            password_config,
            &draft.oidc,
            &draft.saml,
            existing,
            now,
        );
        let verifiable_addresses =
            self.verifiable_addresses(&derived, &draft.verifiable_addresses, existing, now);
        let recovery_addresses =
            self.recovery_addresses(&derived, &draft.recovery_addresses, existing, now);
        if let Some(external_id) = &draft.external_id
            && external_id.is_empty()
        {
            return Err(Error::BadRequest(
                "external_id must not be empty when given".into(),
            ));
        }
        Ok(Identity {
            id: existing.map_or_else(|| self.ids.new_id(), |e| e.id),
            external_id: draft.external_id,
            credentials: Some(credentials),
            schema_url: crate::model::schema_url(&settings.public_url, &draft.schema_id),
            schema_id: draft.schema_id,
            state,
            state_changed_at,
            traits,
            verifiable_addresses,
            recovery_addresses,
            metadata_public: draft.metadata_public,
            metadata_admin: draft.metadata_admin,
            created_at: existing.map_or(now, |e| e.created_at),
            updated_at: now,
            organization_id: draft.organization_id,
        })
    }

    fn verifiable_addresses(
        &self,
        derived: &Derived,
        imported: &[VerifiableAddressBody],
        existing: Option<&Identity>,
        now: Timestamp,
    ) -> Vec<VerifiableAddress> {
        derived
            .verifiable_addresses
            .iter()
            .map(|(via, value)| {
                let stored = existing.and_then(|e| {
                    e.verifiable_addresses
                        .iter()
                        .find(|a| a.via == *via && a.value == *value)
                });
                let mut address = match stored {
                    Some(stored) => stored.clone(),
                    None => VerifiableAddress {
                        id: self.ids.new_id(),
                        value: value.clone(),
                        verified: false,
                        via: *via,
                        status: VerificationStatus::Pending,
                        verified_at: None,
                        created_at: now,
                        updated_at: now,
                    },
                };
                // An imported address replaces the derived defaults only when the traits back it.
                if let Some(body) = imported.iter().find(|b| {
                    address_via(&b.via) == Some(*via) && normalize_address(*via, &b.value) == *value
                }) {
                    address.verified = body.verified;
                    address.status = body
                        .status
                        .as_deref()
                        .and_then(VerificationStatus::parse)
                        .unwrap_or(if body.verified {
                            VerificationStatus::Completed
                        } else {
                            VerificationStatus::Pending
                        });
                    address.verified_at = if body.verified {
                        body.verified_at.or(Some(now))
                    } else {
                        None
                    };
                    address.updated_at = now;
                }
                address
            })
            .collect()
    }

    fn recovery_addresses(
        &self,
        derived: &Derived,
        _imported: &[RecoveryAddressBody],
        existing: Option<&Identity>,
        now: Timestamp,
    ) -> Vec<RecoveryAddress> {
        // Recovery addresses carry no state of their own: the derived set is the whole truth,
        // and an imported one either matches it (and changes nothing) or is dropped.
        derived
            .recovery_addresses
            .iter()
            .map(|(via, value)| {
                existing
                    .and_then(|e| {
                        e.recovery_addresses
                            .iter()
                            .find(|a| a.via == *via && a.value == *value)
                    })
                    .cloned()
                    .unwrap_or_else(|| RecoveryAddress {
                        id: self.ids.new_id(),
                        value: value.clone(),
                        via: *via,
                        created_at: now,
                        updated_at: now,
                    })
            })
            .collect()
    }
}

fn address_via(text: &str) -> Option<Via> {
    Via::parse(text)
}

fn normalize_address(via: Via, value: &str) -> String {
    match via {
        Via::Email => normalize_email(value),
        Via::Sms => {
            crate::schema::normalize_phone(value).unwrap_or_else(|| value.trim().to_string())
        }
    }
}

/// The password credential's config after the change, or `None` for "no secret".
fn password_config(
    settings: &Settings,
    change: PasswordChange,
    existing: Option<&Identity>,
) -> Result<Option<Value>> {
    Ok(match change {
        PasswordChange::Keep => existing
            .and_then(|e| e.credential("password"))
            .and_then(|c| c.config.clone())
            .filter(|config| config.as_object().is_some_and(|o| !o.is_empty())),
        PasswordChange::Cleartext(cleartext) => {
            let hash = password::hash_password(cleartext.as_bytes(), &settings.hasher)?;
            Some(json!({ "hashed_password": hash }))
        }
        PasswordChange::Hashed(hash) => {
            password::check_hash(&hash)?;
            Some(json!({ "hashed_password": hash }))
        }
        PasswordChange::MigrationHook => Some(json!({ "use_password_migration_hook": true })),
        PasswordChange::Clear => None,
    })
}

/// Kratos' credentials after a change: password replaced, oidc and saml appended, the
/// identifier-only credentials re-derived from the traits.
fn credentials(
    derived: &Derived,
    password_config: Option<Value>,
    oidc: &[OidcProviderBody],
    saml: &[OidcProviderBody],
    existing: Option<&Identity>,
    now: Timestamp,
) -> BTreeMap<String, Credential> {
    let stored = |kind: &str| existing.and_then(|e| e.credential(kind));
    let make = |kind: &str, identifiers: Vec<String>, config: Value, version: i64| Credential {
        kind: kind.to_string(),
        identifiers,
        config: Some(config),
        version,
        created_at: stored(kind).map_or(now, |c| c.created_at),
        updated_at: now,
    };
    let mut credentials = BTreeMap::new();
    // Other credential types kith does not derive are carried over untouched.
    if let Some(existing) = existing.and_then(|e| e.credentials.as_ref()) {
        for (kind, credential) in existing {
            if !matches!(
                kind.as_str(),
                "password" | "webauthn" | "code" | "oidc" | "saml"
            ) {
                credentials.insert(kind.clone(), credential.clone());
            }
        }
    }
    if !derived.password_identifiers.is_empty() || password_config.is_some() {
        let config = password_config.unwrap_or_else(|| json!({}));
        credentials.insert(
            "password".into(),
            make("password", derived.password_identifiers.clone(), config, 1),
        );
    }
    if !derived.webauthn_identifiers.is_empty() {
        let config = stored("webauthn")
            .and_then(|c| c.config.clone())
            .unwrap_or_else(|| json!({}));
        credentials.insert(
            "webauthn".into(),
            make("webauthn", derived.webauthn_identifiers.clone(), config, 1),
        );
    }
    if !derived.code_addresses.is_empty() {
        let addresses: Vec<Value> = derived
            .code_addresses
            .iter()
            .map(|a| json!({"channel": a.via.as_str(), "address": a.address}))
            .collect();
        let identifiers = derived
            .code_addresses
            .iter()
            .map(|a| a.address.clone())
            .collect();
        credentials.insert(
            "code".into(),
            make("code", identifiers, json!({ "addresses": addresses }), 1),
        );
    }
    for (kind, added) in [("oidc", oidc), ("saml", saml)] {
        let mut providers: Vec<Value> = stored(kind)
            .and_then(|c| c.config.as_ref())
            .and_then(|c| c.get("providers"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for provider in added {
            let identifier = format!("{}:{}", provider.provider, provider.subject);
            let known = providers.iter().any(|p| {
                format!(
                    "{}:{}",
                    p.get("provider").and_then(Value::as_str).unwrap_or(""),
                    p.get("subject").and_then(Value::as_str).unwrap_or("")
                ) == identifier
            });
            if !known {
                providers.push(provider_config(kind, provider));
            }
        }
        if providers.is_empty() {
            continue;
        }
        let identifiers = providers
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p.get("provider").and_then(Value::as_str).unwrap_or(""),
                    p.get("subject").and_then(Value::as_str).unwrap_or("")
                )
            })
            .collect();
        credentials.insert(
            kind.into(),
            make(kind, identifiers, json!({ "providers": providers }), 0),
        );
    }
    credentials
}

/// A provider link as Kratos stores it in the credential config.
fn provider_config(kind: &str, provider: &OidcProviderBody) -> Value {
    let mut config = json!({"subject": provider.subject, "provider": provider.provider});
    if kind == "oidc" {
        config["initial_id_token"] = json!("");
        config["initial_access_token"] = json!("");
        config["initial_refresh_token"] = json!("");
    }
    if let Some(organization) = provider.organization {
        config["organization"] = json!(organization);
    }
    if provider.use_auto_link == Some(true) {
        config["use_auto_link"] = json!(true);
    }
    config
}
