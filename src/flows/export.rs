//! Export: every identity as a createIdentityBody, one per line, that `kith import
//! identities` and Kratos both accept.

use super::Kith;
use crate::error::Result;
use crate::model::{
    CreateIdentityBody, CredentialsBody, Identity, OidcConfigBody, OidcCredentialBody,
    OidcProviderBody, PasswordConfigBody, PasswordCredentialBody, RecoveryAddressBody,
    VerifiableAddressBody,
};
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
    pub fn export_identities(
        &self,
        include_credentials: bool,
        emit: &mut dyn FnMut(&CreateIdentityBody) -> bool,
    ) -> Result<u64> {
        self.read(|tx| {
            let mut after = Uuid::nil();
            let mut count = 0;
            loop {
                let page = tx.list_identities(after, EXPORT_PAGE, include_credentials)?;
                let Some(last) = page.last() else {
                    return Ok(count);
                };
                after = last.id;
                for identity in &page {
                    count += 1;
                    if !emit(&export_body(identity, include_credentials)) {
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
                })
                .collect()
        }),
        metadata_public: non_null(&identity.metadata_public),
        metadata_admin: non_null(&identity.metadata_admin),
        state: Some(identity.state.as_str().to_string()),
        organization_id: identity.organization_id,
        external_id: identity.external_id.clone(),
    }
}

fn credentials_body(identity: &Identity) -> Option<CredentialsBody> {
    let config = |kind: &str| identity.credential(kind).and_then(|c| c.config.as_ref());
    let password = config("password").and_then(|config| {
        let hook = config
            .get("use_password_migration_hook")
            .and_then(Value::as_bool)
            == Some(true);
        let hash = config
            .get("hashed_password")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty());
        (hook || hash.is_some()).then(|| PasswordCredentialBody {
            config: PasswordConfigBody {
                password: None,
                hashed_password: if hook { None } else { hash.map(str::to_string) },
                use_password_migration_hook: hook.then_some(true),
            },
        })
    });
    let providers = |kind: &str| -> Option<OidcCredentialBody> {
        let providers: Vec<OidcProviderBody> = config(kind)?
            .get("providers")?
            .as_array()?
            .iter()
            .map(|p| OidcProviderBody {
                provider: p
                    .get("provider")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                subject: p
                    .get("subject")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                use_auto_link: p
                    .get("use_auto_link")
                    .and_then(Value::as_bool)
                    .filter(|b| *b),
                organization: p
                    .get("organization")
                    .and_then(Value::as_str)
                    .and_then(|o| Uuid::parse_str(o).ok()),
            })
            .collect();
        (!providers.is_empty()).then_some(OidcCredentialBody {
            config: OidcConfigBody { providers },
        })
    };
    let body = CredentialsBody {
        password,
        oidc: providers("oidc"),
        saml: providers("saml"),
    };
    (body != CredentialsBody::default()).then_some(body)
}
