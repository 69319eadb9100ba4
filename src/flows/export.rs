//! Export: every identity as a createIdentityBody, one per line, that `kith import
//! identities` and Kratos both accept.

use super::Kith;
use crate::error::Result;
use crate::model::IdentityId;
use crate::model::{
    CreateIdentityBody, Credential, CredentialKind, CredentialsBody, Identity,
    LookupSecretBodyConfig, LookupSecretConfig, LookupSecretCredentialBody, OidcConfigBody,
    OidcCredentialBody, OidcProviderBody, PasswordConfig, PasswordConfigBody,
    PasswordCredentialBody, ProvidersConfig, RecoveryAddressBody, TotpConfig, TotpCredentialBody,
    VerifiableAddressBody, WebAuthnConfig, WebAuthnCredentialBody,
};
use crate::store::{IdentityFilter, Window};
use serde_json::Value;
use uuid::Uuid;

/// Identities read per query while exporting.
const EXPORT_PAGE: usize = 500;

impl Kith {
    /// Calls `emit` with every identity, in id order, as a createIdentityBody. Credentials
    /// (password hashes, social links) are included only when asked for. All pages come
    /// from one snapshot, so a concurrent change never tears the export.
    ///
    /// # Errors
    /// Only if the store fails. Stops early, without error, when `emit` returns `false`.
    pub(crate) fn export_identities(
        &self,
        include_credentials: bool,
        emit: &mut dyn FnMut(IdentityId, &CreateIdentityBody) -> bool,
    ) -> Result<u64> {
        self.read(|tx| {
            let mut after = IdentityId::nil();
            let mut count = 0;
            loop {
                let page = tx.list_identities(
                    &IdentityFilter::All,
                    Window::After {
                        after,
                        limit: EXPORT_PAGE,
                    },
                    include_credentials,
                )?;
                let Some(last) = page.last() else {
                    return Ok(count);
                };
                after = last.id;
                for identity in &page {
                    count += 1;
                    if !emit(identity.id, &export_body(identity, include_credentials)) {
                        return Ok(count);
                    }
                }
            }
        })
    }
}

/// The createIdentityBody that recreates `identity` (ids and timestamps aside).
pub fn export_body(identity: &Identity, include_credentials: bool) -> CreateIdentityBody {
    let non_null = |value: &Value| (!value.is_null()).then(|| value.clone());
    CreateIdentityBody {
        schema_id: identity.schema_id.clone(),
        traits: Some(identity.traits.clone()),
        credentials: include_credentials
            .then(|| credentials_body(identity))
            .flatten(),
        verifiable_addresses: (!identity.verifiable_addresses.is_empty()).then(|| {
            identity
                .verifiable_addresses
                .iter()
                .map(|a| VerifiableAddressBody {
                    value: a.value.clone(),
                    verified: a.verified,
                    via: a.via.as_str().to_string(),
                    status: Some(a.status.as_str().to_string()),
                    verified_at: a.verified_at,
                    ..VerifiableAddressBody::default()
                })
                .collect()
        }),
        recovery_addresses: (!identity.recovery_addresses.is_empty()).then(|| {
            identity
                .recovery_addresses
                .iter()
                .map(|a| RecoveryAddressBody {
                    value: a.value.clone(),
                    via: a.via.as_str().to_string(),
                    ..RecoveryAddressBody::default()
                })
                .collect()
        }),
        metadata_public: non_null(&identity.metadata_public),
        metadata_admin: non_null(&identity.metadata_admin),
        state: Some(identity.state.as_str().to_string()),
        organization_id: identity.organization_id,
        external_id: identity.external_id.clone(),
        region: None,
    }
}

fn credentials_body(identity: &Identity) -> Option<CredentialsBody> {
    let credential = |kind| identity.credential(kind);
    let stored_password = credential(CredentialKind::Password);
    let password = stored_password
        .and_then(Credential::config_as::<PasswordConfig>)
        .filter(PasswordConfig::is_usable)
        .map(|config| PasswordCredentialBody {
            config: PasswordConfigBody {
                password: None,
                // A flagged identity carries the legacy hash it was imported with: Kratos
                // ignores it beside the flag, and another kith keeps it for its plugin.
                hashed_password: match config.use_password_migration_hook {
                    true => stored_password
                        .and_then(|c| c.legacy_hash.as_ref())
                        .map(|hash| hash.expose().to_string()),
                    false => Some(config.hashed_password),
                },
                use_password_migration_hook: config.use_password_migration_hook.then_some(true),
            },
        });
    let providers = |kind| -> Option<OidcCredentialBody> {
        let providers: Vec<OidcProviderBody> = credential(kind)?
            .config_as::<ProvidersConfig>()?
            .providers
            .into_iter()
            .map(|p| OidcProviderBody {
                provider: p.provider,
                subject: p.subject,
                use_auto_link: p.use_auto_link.then_some(true),
                organization: p.organization.and_then(|o| Uuid::parse_str(&o).ok()),
            })
            .collect();
        (!providers.is_empty()).then_some(OidcCredentialBody {
            config: OidcConfigBody { providers },
        })
    };
    let authenticators = |kind| {
        credential(kind)
            .and_then(Credential::config_as::<WebAuthnConfig>)
            .filter(|config| !config.credentials.is_empty())
            .map(|config| WebAuthnCredentialBody { config })
    };
    let body = CredentialsBody {
        password,
        oidc: providers(CredentialKind::Oidc),
        saml: providers(CredentialKind::Saml),
        totp: credential(CredentialKind::Totp)
            .and_then(Credential::config_as::<TotpConfig>)
            .filter(|config| !config.totp_url.is_empty())
            .map(|config| TotpCredentialBody { config }),
        webauthn: authenticators(CredentialKind::Webauthn),
        passkey: authenticators(CredentialKind::Passkey),
        lookup_secret: credential(CredentialKind::LookupSecret)
            .and_then(Credential::config_as::<LookupSecretConfig>)
            .filter(|config| !config.recovery_codes.is_empty())
            .map(|config| LookupSecretCredentialBody {
                config: LookupSecretBodyConfig {
                    codes: config.recovery_codes,
                },
            }),
    };
    (body != CredentialsBody::default()).then_some(body)
}
