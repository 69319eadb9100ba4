//! Assembling an identity from a body: validation, derived identifiers and addresses,
//! imported credentials and verified addresses, merged with what is stored (for updates).
//!
//! Create, update, patch and (later) import all come through here, so Kratos' rules hold the
//! same on each: traits validated, identifiers and addresses derived and normalized, imported
//! addresses kept only when the traits back them, hashes checked before they are stored.

use super::Kith;
use super::call::Call;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::model::{
    Credential, CredentialKind, CredentialsBody, Excess, Identity, IdentityState, LegacyHash,
    LookupCode, LookupSecretConfig, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, OidcProviderBody,
    PasswordConfig, PasswordConfigBody, ProviderLink, ProvidersConfig, RecoveryAddress,
    RecoveryAddressBody, Timestamp, TotpConfig, VerifiableAddress, VerifiableAddressBody,
    VerificationStatus, Via, WebAuthnConfig,
};
use crate::model::{IdentityId, SchemaId};
use crate::password;
use crate::schema::{Derived, normalize_email};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

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
    /// Kratos' migration-hook marker, with the other system's hash when the body sent one
    /// beside it (Kratos ignores it; kith keeps it for the password-migration plugin).
    MigrationHook(Option<LegacyHash>),
    /// No password: a JSON patch emptied the config.
    Clear,
}

impl PasswordChange {
    /// What a `credentials.password.config` asks for, read as Kratos reads it: the migration
    /// hook first, then a cleartext password, then a hash; nothing usable keeps what is stored.
    pub fn from_config(config: PasswordConfigBody) -> Self {
        if config.use_password_migration_hook == Some(true) {
            PasswordChange::MigrationHook(config.hashed_password.and_then(LegacyHash::new))
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
    /// The id a new identity gets; a new one when `None`. An update keeps the stored id.
    pub id: Option<IdentityId>,
    pub schema_id: SchemaId,
    pub traits: Value,
    pub state: Option<String>,
    pub metadata_public: Value,
    pub metadata_admin: Value,
    pub external_id: Option<String>,
    pub organization_id: Option<Uuid>,
    pub password: PasswordChange,
    pub oidc: Vec<OidcProviderBody>,
    pub saml: Vec<OidcProviderBody>,
    /// Replaces any stored totp key.
    pub totp: Option<TotpConfig>,
    /// Appended to any stored lookup secret codes.
    pub lookup_codes: Option<Vec<LookupCode>>,
    /// Merged into the stored authenticators by credential id.
    pub webauthn: Option<WebAuthnConfig>,
    /// Merged into the stored passkeys by credential id.
    pub passkey: Option<WebAuthnConfig>,
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
        self.totp = credentials.totp.map(|totp| totp.config);
        self.lookup_codes = credentials.lookup_secret.map(|lookup| lookup.config.codes);
        self.webauthn = credentials.webauthn.map(|webauthn| webauthn.config);
        self.passkey = credentials.passkey.map(|passkey| passkey.config);
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
        call: &Call,
        draft: Draft,
        existing: Option<&Identity>,
    ) -> Result<Identity> {
        // Before anything else reads them: every write path (create, update, patch, batch,
        // import) comes through here, so no document past the bounds is ever stored.
        check_document("/traits", &draft.traits)?;
        check_document("/metadata_public", &draft.metadata_public)?;
        check_document("/metadata_admin", &draft.metadata_admin)?;
        let now = self.clock.now();
        let schema = call.schema(&draft.schema_id)?;
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
        let id = match existing {
            Some(existing) => existing.id,
            None => draft.id.unwrap_or_else(|| self.ids.new_id().into()),
        };
        let (password_config, legacy_hash) =
            password_config(&call.settings, draft.password, existing)?;
        let imported = Imported {
            password: password_config,
            legacy_hash,
            oidc: &draft.oidc,
            saml: &draft.saml,
            totp: draft.totp,
            lookup_codes: draft.lookup_codes,
            webauthn: draft.webauthn,
            passkey: draft.passkey,
        };
        let credentials = credentials(id, &derived, imported, existing, now)?;
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
            id,
            external_id: draft.external_id,
            credentials: Some(credentials),
            // Filled in where the identity is presented; the store does not keep it.
            schema_url: String::new(),
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
                if let Some(body) = imported
                    .iter()
                    .find(|b| is_derived(*via, value, &b.via, &b.value))
                {
                    // A re-applied body that says "verified" without a time keeps the time the
                    // address was verified at, so applying the same record twice changes nothing.
                    let verified_at = address.verified_at.filter(|_| address.verified);
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
                        body.verified_at.or(verified_at).or(Some(now))
                    } else {
                        None
                    };
                    keep_imported(
                        (
                            &mut address.id,
                            &mut address.created_at,
                            &mut address.updated_at,
                        ),
                        (body.id, body.created_at),
                        now,
                    );
                }
                address
            })
            .collect()
    }

    fn recovery_addresses(
        &self,
        derived: &Derived,
        imported: &[RecoveryAddressBody],
        existing: Option<&Identity>,
        now: Timestamp,
    ) -> Vec<RecoveryAddress> {
        // The derived set is the whole truth: an imported address that matches one lends it
        // its id and creation time (as Kratos keeps them); one that matches none is dropped.
        derived
            .recovery_addresses
            .iter()
            .map(|(via, value)| {
                let mut address = existing
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
                    });
                if let Some(body) = imported
                    .iter()
                    .find(|b| is_derived(*via, value, &b.via, &b.value))
                {
                    keep_imported(
                        (
                            &mut address.id,
                            &mut address.created_at,
                            &mut address.updated_at,
                        ),
                        (body.id, body.created_at),
                        now,
                    );
                }
                address
            })
            .collect()
    }
}

/// Whether an imported address (its `via` and value as sent) is the derived one: the same
/// channel, and the same value once normalized as the traits' is.
fn is_derived(via: Via, value: &str, imported_via: &str, imported_value: &str) -> bool {
    address_via(imported_via) == Some(via) && normalize_address(via, imported_value) == value
}

/// Kratos keeps an imported address's id and creation time, and stamps the write's time as
/// its update.
fn keep_imported(
    (id, created_at, updated_at): (&mut Uuid, &mut Timestamp, &mut Timestamp),
    (imported_id, imported_created_at): (Option<Uuid>, Option<Timestamp>),
    now: Timestamp,
) {
    if let Some(imported) = imported_id.filter(|id| !id.is_nil()) {
        *id = imported;
    }
    if let Some(imported) = imported_created_at {
        *created_at = imported;
    }
    *updated_at = now;
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

/// The password credential's config after the change, or `None` for "no secret"; and the
/// legacy hash kept beside it, only ever with a config that asks for migration.
fn password_config(
    settings: &Settings,
    change: PasswordChange,
    existing: Option<&Identity>,
) -> Result<(Option<PasswordConfig>, Option<LegacyHash>)> {
    let hashed = |hashed_password| PasswordConfig {
        hashed_password,
        use_password_migration_hook: false,
    };
    Ok(match change {
        PasswordChange::Keep => {
            let stored = existing.and_then(|e| e.credential(CredentialKind::Password));
            let config = stored
                .and_then(Credential::config_as::<PasswordConfig>)
                .filter(|config| *config != PasswordConfig::default());
            let legacy = stored
                .and_then(|c| c.legacy_hash.clone())
                .filter(|_| config.as_ref().is_some_and(PasswordConfig::needs_migration));
            (config, legacy)
        }
        PasswordChange::Cleartext(cleartext) => (
            Some(hashed(password::hash_password(
                cleartext.as_bytes(),
                &settings.hasher,
            )?)),
            None,
        ),
        PasswordChange::Hashed(hash) => {
            // Another system's spelling of a Kratos format (Django, crypt(3), LDAP) is stored
            // as Kratos spells it, so the hash also carries over to Kratos itself.
            let hash = password::to_kratos_format(&hash).unwrap_or(hash);
            password::check_hash(&hash)?;
            (Some(hashed(hash)), None)
        }
        PasswordChange::MigrationHook(legacy) => {
            if let Some(legacy) = &legacy
                && legacy.expose().len() > LegacyHash::MAX_BYTES
            {
                return Err(Error::BadRequest(format!(
                    "credentials.password.config.hashed_password is {} bytes; a hash kept for \
                     password migration may take at most {} bytes",
                    legacy.expose().len(),
                    LegacyHash::MAX_BYTES
                )));
            }
            let config = PasswordConfig {
                hashed_password: String::new(),
                use_password_migration_hook: true,
            };
            (Some(config), legacy)
        }
        PasswordChange::Clear => (None, None),
    })
}

/// The credentials a body brings, after the password is hashed or checked.
struct Imported<'a> {
    password: Option<PasswordConfig>,
    legacy_hash: Option<LegacyHash>,
    oidc: &'a [OidcProviderBody],
    saml: &'a [OidcProviderBody],
    totp: Option<TotpConfig>,
    lookup_codes: Option<Vec<LookupCode>>,
    webauthn: Option<WebAuthnConfig>,
    passkey: Option<WebAuthnConfig>,
}

/// Kratos' credentials after a change (its `importCredentials`, then the identity's
/// validation): password and totp replaced; oidc, saml and lookup codes appended; webauthn
/// and passkey authenticators merged by credential id; the identifier-only credentials
/// re-derived from the traits.
///
/// # Errors
/// A passkey without a user handle or without authenticators, as Kratos refuses them.
fn credentials(
    id: IdentityId,
    derived: &Derived,
    imported: Imported<'_>,
    existing: Option<&Identity>,
    now: Timestamp,
) -> Result<BTreeMap<CredentialKind, Credential>> {
    let stored = |kind| existing.and_then(|e| e.credential(kind));
    let make = |kind, identifiers: Vec<String>, config: Value, version: i64| Credential {
        kind,
        identifiers,
        config: Some(config),
        version,
        created_at: stored(kind).map_or(now, |c| c.created_at),
        updated_at: now,
        legacy_hash: None,
    };
    let mut credentials = BTreeMap::new();
    // Kinds this change does not touch are carried over untouched.
    if let Some(existing) = existing.and_then(|e| e.credentials.as_ref()) {
        for (kind, credential) in existing {
            if !matches!(
                kind,
                CredentialKind::Password
                    | CredentialKind::Webauthn
                    | CredentialKind::Code
                    | CredentialKind::Oidc
                    | CredentialKind::Saml
            ) {
                credentials.insert(*kind, credential.clone());
            }
        }
    }
    if !derived.password_identifiers.is_empty() || imported.password.is_some() {
        let config = Credential::config_value(&imported.password.unwrap_or_default());
        let mut password = make(
            CredentialKind::Password,
            derived.password_identifiers.clone(),
            config,
            1,
        );
        password.legacy_hash = imported.legacy_hash;
        credentials.insert(CredentialKind::Password, password);
    }
    let webauthn = merge_authenticators(stored(CredentialKind::Webauthn), imported.webauthn);
    if !derived.webauthn_identifiers.is_empty() || webauthn.is_some() {
        let config = match webauthn {
            Some(config) => Credential::config_value(&config),
            None => stored(CredentialKind::Webauthn)
                .and_then(|c| c.config.clone())
                .unwrap_or_else(|| json!({})),
        };
        credentials.insert(
            CredentialKind::Webauthn,
            make(
                CredentialKind::Webauthn,
                derived.webauthn_identifiers.clone(),
                config,
                1,
            ),
        );
    }
    let stored_passkey = stored(CredentialKind::Passkey);
    if let Some(config) = merge_authenticators(stored_passkey, imported.passkey) {
        let mut identifiers = stored_passkey.map_or_else(Vec::new, |c| c.identifiers.clone());
        let Some(handle) = config.user_handle.as_ref().filter(|h| !h.0.is_empty()) else {
            return Err(Error::BadRequest(
                "Passkey credential import requires a non-empty user_handle. It must match the WebAuthn user handle stored on the authenticator.".into(),
            ));
        };
        // Kratos keys passkey sign-in on the user handle, taken as a string.
        let handle = String::from_utf8_lossy(&handle.0).into_owned();
        if !identifiers.contains(&handle) {
            identifiers.push(handle);
        }
        if config.credentials.is_empty() {
            return Err(Error::BadRequest(
                "Passkey credential import requires at least one entry in credentials.passkey.config.credentials.".into(),
            ));
        }
        credentials.insert(
            CredentialKind::Passkey,
            make(
                CredentialKind::Passkey,
                identifiers,
                Credential::config_value(&config),
                0,
            ),
        );
    }
    if let Some(codes) = imported.lookup_codes {
        let mut config = stored(CredentialKind::LookupSecret)
            .and_then(Credential::config_as::<LookupSecretConfig>)
            .unwrap_or_default();
        config.recovery_codes.extend(codes);
        credentials.insert(
            CredentialKind::LookupSecret,
            make(
                CredentialKind::LookupSecret,
                own_identifiers(stored(CredentialKind::LookupSecret), id),
                Credential::config_value(&config),
                0,
            ),
        );
    }
    if let Some(totp) = imported.totp {
        credentials.insert(
            CredentialKind::Totp,
            make(
                CredentialKind::Totp,
                own_identifiers(stored(CredentialKind::Totp), id),
                Credential::config_value(&totp),
                0,
            ),
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
            CredentialKind::Code,
            make(
                CredentialKind::Code,
                identifiers,
                json!({ "addresses": addresses }),
                1,
            ),
        );
    }
    for (kind, added) in [
        (CredentialKind::Oidc, imported.oidc),
        (CredentialKind::Saml, imported.saml),
    ] {
        let mut providers = stored(kind)
            .and_then(Credential::config_as::<ProvidersConfig>)
            .unwrap_or_default()
            .providers;
        for provider in added {
            let link = provider_link(kind, provider);
            if !providers
                .iter()
                .any(|p| p.identifier() == link.identifier())
            {
                providers.push(link);
            }
        }
        if providers.is_empty() {
            continue;
        }
        let identifiers = providers.iter().map(ProviderLink::identifier).collect();
        credentials.insert(
            kind,
            make(
                kind,
                identifiers,
                Credential::config_value(&ProvidersConfig { providers }),
                0,
            ),
        );
    }
    Ok(credentials)
}

/// A second factor's identifiers: what it had, or else the identity's id, as Kratos'
/// persister defaults them for totp and lookup secrets.
fn own_identifiers(stored: Option<&Credential>, id: IdentityId) -> Vec<String> {
    stored
        .map(|c| c.identifiers.clone())
        .filter(|identifiers| !identifiers.is_empty())
        .unwrap_or_else(|| vec![id.to_string()])
}

/// Kratos' `mergeWebAuthnCredentials`: an imported authenticator replaces the stored one of
/// the same credential id and is appended otherwise; without a user handle the stored one
/// stays. `None` when nothing was imported.
fn merge_authenticators(
    stored: Option<&Credential>,
    imported: Option<WebAuthnConfig>,
) -> Option<WebAuthnConfig> {
    let imported = imported?;
    let Some(mut merged) = stored.and_then(Credential::config_as::<WebAuthnConfig>) else {
        return Some(imported);
    };
    for authenticator in imported.credentials {
        match merged
            .credentials
            .iter_mut()
            .find(|known| known.id == authenticator.id)
        {
            Some(known) => *known = authenticator,
            None => merged.credentials.push(authenticator),
        }
    }
    if imported
        .user_handle
        .as_ref()
        .is_some_and(|h| !h.0.is_empty())
    {
        merged.user_handle = imported.user_handle;
    }
    Some(merged)
}

/// A provider link as Kratos stores it in the credential config.
fn provider_link(kind: CredentialKind, provider: &OidcProviderBody) -> ProviderLink {
    let token = (kind == CredentialKind::Oidc).then(String::new);
    ProviderLink {
        subject: provider.subject.clone(),
        provider: provider.provider.clone(),
        initial_id_token: token.clone(),
        initial_access_token: token.clone(),
        initial_refresh_token: token,
        organization: provider.organization.map(|o| o.to_string()),
        use_auto_link: provider.use_auto_link == Some(true),
    }
}
