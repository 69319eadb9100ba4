//! Create, read, list, update, patch and delete identities, with Kratos' semantics.

use super::Kith;
use super::assemble::{Draft, PasswordChange};
use super::call::Call;
use super::commit::Commit;
use super::patch::Operation;
use super::settings::Settings;
use crate::error::{Error, NotFound, Result};
use crate::model::{
    CreateIdentityBody, Credential, CredentialKind, Identity, PasswordConfig, PasswordConfigBody,
    ProvidersConfig, UpdateIdentityBody, VerifiableAddressBody, WebAuthnConfig,
};
use crate::model::{IdentityId, SchemaId};
use crate::schema::normalize_identifier;
use crate::store::{IdentifierQuery, IdentityFilter, IdentityRows, Window};
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_PAGE_SIZE: usize = 250;
const MAX_PAGE_SIZE: usize = 500;
const MAX_IDS: usize = 500;

/// The `region` values Kratos accepts on a create body.
const KRATOS_REGIONS: &[&str] = &[
    "eu-central",
    "asia-northeast",
    "us-east",
    "us-west",
    "eu",
    "asia",
    "us",
    "global",
];

/// Legacy page-number pagination reaches this far and no further, as in Kratos.
const MAX_PAGED_ITEMS: i64 = 1000;

/// The `ids` filter, checked as Kratos checks it: UUIDs only, then at most 500, no repeats.
fn parse_ids(ids: &[String]) -> Result<Vec<IdentityId>> {
    let mut parsed = ids
        .iter()
        .map(|text| {
            text.parse::<IdentityId>().map_err(|_| {
                Error::BadRequest(format!("Invalid UUID value `{text}` for parameter `ids`."))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if parsed.len() > MAX_IDS {
        return Err(Error::BadRequest(format!(
            "The number of ids to filter must not exceed {MAX_IDS}."
        )));
    }
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// A non-empty filter value, or none.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// What `list identities` asks for.
#[derive(Clone, Debug, Default)]
pub struct ListIdentities {
    /// ≤ 0 or absent gives 250; above 500 is clamped to 500, as in Kratos. With `page`, the
    /// page's size (`per_page`).
    pub page_size: Option<i64>,
    /// The last id of the previous page; absent or the nil UUID for the first page.
    pub page_token: Option<String>,
    /// Kratos' legacy page-number pagination: this page, counted from 0, of `page_size`
    /// identities each, no further than the 1000th identity.
    pub page: Option<i64>,
    /// Exact match, after normalization, over credential identifiers.
    pub identifier: Option<String>,
    /// Credential identifiers starting with this (Kratos' experimental
    /// `preview_credentials_identifier_similar`).
    pub identifier_prefix: Option<String>,
    /// Members of this organization (a UUID).
    pub organization_id: Option<String>,
    /// Credential types whose config to include.
    pub include_credential: Vec<String>,
    /// Exactly these identities (at most 500, no pagination); unknown ids are left out.
    pub ids: Vec<String>,
}

/// One page of identities and the token of the next page, if there is one.
#[derive(Clone, Debug)]
pub struct IdentityPage {
    pub identities: Vec<Identity>,
    pub page_size: usize,
    pub next_page_token: Option<IdentityId>,
    /// With page-number pagination: the identities in the store, as Kratos counts them
    /// for `X-Total-Count` (all of them, or those of this page for an identifier filter).
    pub total: Option<u64>,
}

/// The `include_credential` values as kinds; any kind Kratos knows is accepted, whether or
/// not kith stores it.
fn check_include(include: &[String]) -> Result<Vec<CredentialKind>> {
    include
        .iter()
        .map(|text| {
            CredentialKind::parse(text).ok_or_else(|| {
                Error::BadRequest(format!(
                    "Invalid value `{text}` for parameter `include_credential`."
                ))
            })
        })
        .collect()
}

impl Kith {
    /// Creates an identity from a `createIdentityBody`, as `POST /admin/identities` does.
    /// The result carries credentials without their config.
    ///
    /// # Errors
    /// Unknown schema, invalid traits or state, an unknown or out-of-bounds hash format
    /// (400), or a conflict with a stored identity (409). Nothing is written on error.
    pub(crate) fn create_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        let call = self.call()?;
        let mut identity = self.build_identity(&call, body, None)?;
        let event = self.event("identity.created", None);
        self.insert_grouped(IdentityRows::from(&identity), event)?;
        self.present(&call.settings, &mut identity, &[]);
        Ok(identity)
    }

    /// Turns a create body into a complete identity without writing it; `id` is the id it
    /// gets (a new one when `None`).
    pub(super) fn build_identity(
        &self,
        call: &Call,
        body: CreateIdentityBody,
        id: Option<IdentityId>,
    ) -> Result<Identity> {
        let mut draft = draft_from_create(body)?;
        if draft.schema_id.is_empty() {
            draft.schema_id = call.settings.default_schema_id.clone();
        }
        draft.id = id;
        self.assemble(call, draft, None)
    }

    /// One identity. Credentials are listed; configs only for the `include_credential` types.
    ///
    /// # Errors
    /// [`NotFound::Identity`]; 400 for an unknown credential type.
    pub(crate) fn get_identity(
        &self,
        id: IdentityId,
        include_credential: &[String],
    ) -> Result<Identity> {
        let include = check_include(include_credential)?;
        let settings = self.settings()?;
        let mut identity = self
            .read(|tx| Ok(tx.get_identity(id, true)?))?
            .ok_or(Error::NotFound(NotFound::Identity(id)))?;
        self.present(&settings, &mut identity, &include);
        Ok(identity)
    }

    /// One identity by its `external_id` (exact, case-sensitive), with the configs of the
    /// `include_credential` kinds, as `GET /admin/identities/by/external/{externalID}`.
    ///
    /// # Errors
    /// [`NotFound::ExternalId`]; then 400 for an unknown credential type, checked after the
    /// lookup as Kratos checks it.
    pub(crate) fn get_identity_by_external_id(
        &self,
        external_id: &str,
        include_credential: &[String],
    ) -> Result<Identity> {
        let settings = self.settings()?;
        let mut identity = self
            .read(|tx| match tx.identity_id_by_external_id(external_id)? {
                Some(id) => Ok(tx.get_identity(id, true)?),
                None => Ok(None),
            })?
            .ok_or_else(|| Error::NotFound(NotFound::ExternalId(external_id.to_string())))?;
        let include = check_include(include_credential)?;
        self.present(&settings, &mut identity, &include);
        Ok(identity)
    }

    /// The identity as callers see it: its `schema_url` (a presentation of the schema id
    /// under the public URL, never stored) filled in, and credential configs only of the
    /// `include_credential` kinds.
    fn present(
        &self,
        settings: &Settings,
        identity: &mut Identity,
        include_credential: &[CredentialKind],
    ) {
        identity.schema_url = crate::model::schema_url(&settings.public_url, &identity.schema_id);
        identity.redact_credentials(include_credential);
    }

    /// A page of identities in id order, optionally filtered by one filter; keyset
    /// pagination, or Kratos' legacy page numbers when `page` is given.
    ///
    /// # Errors
    /// 400, checked in Kratos' order: a bad id in `ids`, more than 500 of them, a bad
    /// `organization_id`, an unknown credential type, two filters at once, a page token that
    /// is not a UUID, page numbers past the 1000th identity.
    pub(crate) fn list_identities(&self, query: &ListIdentities) -> Result<IdentityPage> {
        let ids = parse_ids(&query.ids)?;
        let organization = given(&query.organization_id)
            .map(|text| {
                Uuid::parse_str(text).map_err(|_| {
                    Error::BadRequest(format!(
                        "Invalid UUID value `{text}` for parameter `organization_id`."
                    ))
                })
            })
            .transpose()?;
        let include = check_include(&query.include_credential)?;
        let identifier = given(&query.identifier);
        let prefix = given(&query.identifier_prefix);
        let filters = usize::from(!ids.is_empty())
            + usize::from(organization.is_some())
            + usize::from(identifier.is_some())
            + usize::from(prefix.is_some());
        if filters > 1 {
            return Err(Error::BadRequest(
                "You cannot combine multiple filters in this API".into(),
            ));
        }
        let page_size = match query.page_size {
            Some(size) if size > 0 => (size as usize).min(MAX_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        };
        let window = match query.page {
            Some(page) => {
                let page = page.max(0);
                let per_page = query
                    .page_size
                    .unwrap_or(DEFAULT_PAGE_SIZE as i64)
                    .clamp(1, MAX_PAGE_SIZE as i64);
                if page.saturating_mul(per_page) > MAX_PAGED_ITEMS {
                    return Err(Error::BadRequest("Legacy pagination is not supported for enumerating over 1000 items. Please switch to using page_token and page_size.".into()));
                }
                Window::Offset {
                    offset: (page * per_page) as usize,
                    limit: per_page as usize,
                }
            }
            None => Window::After {
                after: match query.page_token.as_deref() {
                    None | Some("") => IdentityId::nil(),
                    Some(token) => token
                        .parse::<IdentityId>()
                        .map_err(|_| Error::InvalidPageToken(token.to_string()))?,
                },
                // One more than the page: whether it is there says whether a next page is.
                limit: page_size + 1,
            },
        };
        let settings = self.settings()?;
        let with_credentials = identifier.is_some() || prefix.is_some() || !include.is_empty();
        let normalized = identifier.or(prefix).map(normalize_identifier);
        let normalized = normalized.as_deref().unwrap_or_default();
        let filter = if !ids.is_empty() {
            IdentityFilter::Ids(&ids)
        } else if let Some(organization) = organization {
            IdentityFilter::Organization(organization)
        } else if let Some(exact) = identifier {
            IdentityFilter::Identifier(IdentifierQuery { normalized, exact })
        } else if let Some(exact) = prefix {
            IdentityFilter::IdentifierPrefix(IdentifierQuery { normalized, exact })
        } else {
            IdentityFilter::All
        };
        let (mut identities, total) = self.read(|tx| {
            let identities = tx.list_identities(&filter, window, with_credentials)?;
            let total = match (window, identifier) {
                (Window::After { .. }, _) => None,
                (Window::Offset { .. }, Some(_)) => Some(identities.len() as u64),
                (Window::Offset { .. }, None) => Some(tx.count_identities()?),
            };
            Ok((identities, total))
        })?;
        let next_page_token = match window {
            Window::After { .. } if identities.len() > page_size => {
                identities.truncate(page_size);
                identities.last().map(|i| i.id)
            }
            _ => None,
        };
        for identity in &mut identities {
            self.present(&settings, identity, &include);
            if !with_credentials {
                identity.credentials = None;
            }
        }
        let page_size = match window {
            Window::Offset { limit, .. } => limit,
            Window::After { .. } => page_size,
        };
        Ok(IdentityPage {
            identities,
            page_size,
            next_page_token,
            total,
        })
    }

    /// Replaces an identity as `PUT /admin/identities/{id}` does: traits, metadata and
    /// external_id overwritten, addresses re-derived, credentials merged.
    ///
    /// # Errors
    /// As for create, plus [`NotFound::Identity`].
    pub(crate) fn update_identity(
        &self,
        id: IdentityId,
        body: UpdateIdentityBody,
    ) -> Result<Identity> {
        let mut draft = Draft {
            schema_id: body.schema_id,
            traits: body.traits,
            state: body.state,
            metadata_public: body.metadata_public.unwrap_or(Value::Null),
            metadata_admin: body.metadata_admin.unwrap_or(Value::Null),
            external_id: body.external_id.filter(|e| !e.is_empty()),
            ..Draft::default()
        };
        draft.set_credentials(body.credentials)?;
        self.replace_with(id, "identity.updated", |existing| {
            if draft.schema_id.is_empty() {
                draft.schema_id = existing.schema_id.clone();
            }
            draft.organization_id = existing.organization_id;
            Ok(draft)
        })
    }

    /// Applies an RFC 6902 JSON patch to the admin form of an identity, as
    /// `PATCH /admin/identities/{id}` does; Kratos' denied paths are refused.
    ///
    /// # Errors
    /// 400 for a denied path, a patch that does not apply, or a result that does not
    /// validate; 404 and 409 as for update.
    pub(crate) fn patch_identity(&self, id: IdentityId, patch: &str) -> Result<Identity> {
        let operations: Vec<Operation> = crate::model::parse_body(patch, false)?;
        for operation in &operations {
            check_patch_path(operation)?;
        }
        self.replace_with(id, "identity.patched", |existing| {
            let mut document = serde_json::to_value(existing).map_err(|e| {
                Error::internal("could not turn the identity into JSON to patch", e)
            })?;
            super::patch::apply(&mut document, operations)?;
            draft_from_patched(existing, document)
        })
    }

    /// Loads `id`, builds its replacement from `make_draft` and stores it, in one transaction.
    fn replace_with(
        &self,
        id: IdentityId,
        action: &'static str,
        make_draft: impl FnOnce(&Identity) -> Result<Draft>,
    ) -> Result<Identity> {
        let call = self.call()?;
        let mut identity = self.commit(|tx| {
            let existing = tx
                .get_identity(id, true)?
                .ok_or(Error::NotFound(NotFound::Identity(id)))?;
            let draft = make_draft(&existing)?;
            let identity = self.assemble(&call, draft, Some(&existing))?;
            let detail = (existing.state != identity.state)
                .then(|| json!({"state": {"from": existing.state, "to": identity.state}}));
            tx.replace(&identity, action, detail)?;
            Ok(identity)
        })?;
        self.present(&call.settings, &mut identity, &[]);
        Ok(identity)
    }

    /// Deletes identities and everything of theirs, all or none.
    ///
    /// # Errors
    /// [`NotFound::Identity`] naming the first id that does not exist; then nothing is deleted.
    pub(crate) fn delete_identities(&self, ids: &[IdentityId]) -> Result<()> {
        self.commit(|tx| {
            for id in ids {
                if !tx.delete(*id, None)? {
                    return Err(Error::NotFound(NotFound::Identity(*id)));
                }
            }
            Ok(())
        })
    }
}

/// The draft a createIdentityBody describes; its schema id stays empty when the body has none.
///
/// # Errors
/// An unknown Ory region; an oidc or saml link without a provider or subject.
pub(super) fn draft_from_create(body: CreateIdentityBody) -> Result<Draft> {
    // Ory Network's data regions: Kratos checks the value and keeps nothing of it.
    if let Some(region) = body.region.as_deref()
        && !KRATOS_REGIONS.contains(&region)
    {
        return Err(Error::BadRequest(
            "the provided region is not a valid Ory region".into(),
        ));
    }
    let mut draft = Draft {
        schema_id: body.schema_id,
        traits: body.traits.unwrap_or(Value::Null),
        state: body.state,
        metadata_public: body.metadata_public.unwrap_or(Value::Null),
        metadata_admin: body.metadata_admin.unwrap_or(Value::Null),
        external_id: body.external_id,
        organization_id: body.organization_id,
        verifiable_addresses: body.verifiable_addresses.unwrap_or_default(),
        recovery_addresses: body.recovery_addresses.unwrap_or_default(),
        ..Draft::default()
    };
    draft.set_credentials(body.credentials)?;
    Ok(draft)
}

/// Kratos' denied patch paths: identity ids, the state timestamp, and social links.
fn check_patch_path(operation: &Operation) -> Result<()> {
    for path in operation.paths() {
        let denied = matches!(path, "/id" | "/stateChangedAt" | "/credentials")
            || ["/credentials/oidc", "/credentials/saml"]
                .iter()
                .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
        if denied {
            return Err(Error::PatchDeniedPath(path.to_string()));
        }
    }
    Ok(())
}

/// Reads the patched admin JSON back into a draft.
fn draft_from_patched(existing: &Identity, document: Value) -> Result<Draft> {
    let text = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let state = match document.get("state") {
        Some(Value::String(state)) if matches!(state.as_str(), "active" | "inactive") => {
            Some(state.clone())
        }
        None => None,
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            return Err(Error::BadRequest(format!(
                "The supplied state ('{shown}') was not valid. Valid states are ('active', 'inactive')."
            )));
        }
    };
    if let Some(Value::Object(credentials)) = document.get("credentials") {
        for (key, credential) in credentials {
            let kind = credential
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind != key {
                return Err(Error::BadRequest(format!(
                    "credentials.{key}.type must equal \"{key}\", got \"{kind}\""
                )));
            }
        }
    }
    let original_password = existing
        .credential(CredentialKind::Password)
        .and_then(|c| c.config.clone());
    let patched_password = document.pointer("/credentials/password/config").cloned();
    // A patched password config takes the create/update path: cleartext is hashed, a hash is
    // checked against Kratos' formats and cost bounds, unknown fields are refused; it is never
    // stored as sent.
    let password = match patched_password {
        Some(config) if Some(&config) != original_password.as_ref() => {
            let config: PasswordConfigBody =
                crate::model::parse_value(config, true, "/credentials/password/config")?;
            match PasswordChange::from_config(config) {
                PasswordChange::Keep => PasswordChange::Clear,
                change => change,
            }
        }
        _ => PasswordChange::Keep,
    };
    let verifiable_addresses = match document.get("verifiable_addresses") {
        Some(addresses) => serde_json::from_value::<Vec<VerifiableAddressBody>>(addresses.clone())
            .map_err(|e| Error::PatchFailed(format!("verifiable_addresses: {e}")))?,
        None => Vec::new(),
    };
    let organization_id = match document.get("organization_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<Uuid>(value.clone())
                .map_err(|e| Error::PatchFailed(format!("organization_id: {e}")))?,
        ),
    };
    Ok(Draft {
        schema_id: text("schema_id").map_or_else(|| existing.schema_id.clone(), SchemaId::from),
        traits: document.get("traits").cloned().unwrap_or(Value::Null),
        state,
        metadata_public: document
            .get("metadata_public")
            .cloned()
            .unwrap_or(Value::Null),
        metadata_admin: document
            .get("metadata_admin")
            .cloned()
            .unwrap_or(Value::Null),
        external_id: text("external_id").filter(|e| !e.is_empty()),
        organization_id,
        password,
        verifiable_addresses,
        ..Draft::default()
    })
}

impl Kith {
    /// Runs every check `create_identity` runs, stored identities included, and writes nothing.
    ///
    /// # Errors
    /// Exactly what `create_identity` would refuse the body with.
    pub(crate) fn validate_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        let call = self.call()?;
        let mut identity = self.build_identity(&call, body, None)?;
        // Insert in a transaction that is never committed: the unique indexes are the
        // authority on conflicts, and dropping the transaction rolls it back.
        let mut store = self.store();
        let tx = store.write()?;
        Commit::new(&tx, self).insert(&identity, None)?;
        drop(tx);
        identity.schema_url =
            crate::model::schema_url(&call.settings.public_url, &identity.schema_id);
        Ok(identity)
    }
}

/// Usable first factors, counted as Kratos' strategies count them: a password with a hash or
/// the migration hook, each oidc and saml link, each passwordless webauthn authenticator of a
/// credential with identifiers, each passkey of a credential with identifiers.
fn active_first_factors(identity: &Identity) -> usize {
    let Some(credentials) = &identity.credentials else {
        return 0;
    };
    let has_identifiers = |c: &Credential| c.identifiers.iter().any(|i| !i.is_empty());
    credentials
        .values()
        .map(|credential| match credential.kind {
            CredentialKind::Password => credential
                .config_as::<PasswordConfig>()
                .is_some_and(|config| config.is_usable())
                .into(),
            CredentialKind::Oidc | CredentialKind::Saml => credential
                .config_as::<ProvidersConfig>()
                .map_or(0, |config| config.providers.len()),
            CredentialKind::Webauthn if has_identifiers(credential) => credential
                .config_as::<WebAuthnConfig>()
                .map_or(0, |config| {
                    config
                        .credentials
                        .iter()
                        .filter(|c| c.is_passwordless)
                        .count()
                }),
            CredentialKind::Passkey if has_identifiers(credential) => credential
                .config_as::<WebAuthnConfig>()
                .map_or(0, |config| config.credentials.len()),
            _ => 0,
        })
        .sum()
}

impl Kith {
    /// Removes one credential of an identity, as
    /// `DELETE /admin/identities/{id}/credentials/{type}` does: a password is emptied, one
    /// oidc or saml link (named by `identifier`, `provider:subject`) is removed, totp and
    /// lookup secrets are dropped, webauthn keeps only its passwordless authenticators. The
    /// last first factor cannot be removed; other kinds cannot be deleted.
    ///
    /// # Errors
    /// 404 for an unknown identity, a type it does not have, or an unknown link; 400 for a
    /// type that cannot be deleted, a missing `identifier`, or the last first factor.
    pub(crate) fn delete_credential(
        &self,
        id: IdentityId,
        kind: &str,
        identifier: Option<&str>,
    ) -> Result<()> {
        let identifier = identifier.filter(|i| !i.is_empty());
        let parsed = CredentialKind::parse(kind);
        if parsed == Some(CredentialKind::DeviceAuthn) {
            // Kratos revokes one device key named by `identifier`; kith stores none, so every
            // key asked for is one that is not there.
            return match identifier {
                None => Err(Error::BadRequest(
                    "You must provide an identifier to delete this credential.".into(),
                )),
                Some(_) => Err(Error::NotFound(NotFound::Identity(id))),
            };
        }
        self.commit(|tx| {
            let mut identity = tx
                .get_identity(id, true)?
                .ok_or(Error::NotFound(NotFound::Identity(id)))?;
            let before = active_first_factors(&identity);
            let now = self.clock.now();
            let credentials = identity.credentials.get_or_insert_with(Default::default);
            let Some((kind, credential)) =
                parsed.and_then(|kind| Some(kind).zip(credentials.get_mut(&kind)))
            else {
                return Err(Error::NotFound(NotFound::Credential(kind.to_string())));
            };
            match kind {
                CredentialKind::LookupSecret | CredentialKind::Totp => {
                    credentials.remove(&kind);
                }
                CredentialKind::Webauthn => {
                    let mut config = credential.config_as::<WebAuthnConfig>().unwrap_or_default();
                    config.credentials.retain(|c| c.is_passwordless);
                    if config.credentials.is_empty() {
                        credentials.remove(&kind);
                    } else {
                        credential.config = Some(Credential::config_value(&config));
                        credential.updated_at = now;
                    }
                }
                CredentialKind::Password | CredentialKind::Oidc | CredentialKind::Saml => {
                    if before < 2 {
                        return Err(Error::BadRequest(
                            "You cannot remove the last first factor credential.".into(),
                        ));
                    }
                    if kind == CredentialKind::Password {
                        credential.config =
                            Some(Credential::config_value(&PasswordConfig::default()));
                        credential.legacy_hash = None;
                        credential.updated_at = now;
                    } else {
                        remove_provider_link(credentials, kind, identifier, now)?;
                    }
                }
                other => {
                    return Err(Error::BadRequest(format!(
                        "Credentials type {other} cannot be deleted."
                    )));
                }
            }
            identity.updated_at = now;
            tx.replace(
                &identity,
                "credential.deleted",
                Some(json!({"type": kind, "identifier": identifier})),
            )?;
            Ok(())
        })
    }
}

/// Removes the oidc or saml link `identifier` (`provider:subject`), and the credential with
/// its last link.
fn remove_provider_link(
    credentials: &mut std::collections::BTreeMap<CredentialKind, Credential>,
    kind: CredentialKind,
    identifier: Option<&str>,
    now: crate::model::Timestamp,
) -> Result<()> {
    let Some(identifier) = identifier else {
        return Err(Error::BadRequest(format!(
            "The query parameter `identifier` is required to delete a {kind} credential."
        )));
    };
    let Some(credential) = credentials.get_mut(&kind) else {
        return Err(Error::NotFound(NotFound::Credential(kind.to_string())));
    };
    let mut config = credential
        .config_as::<ProvidersConfig>()
        .unwrap_or_default();
    let Some(index) = config
        .providers
        .iter()
        .position(|p| p.identifier() == identifier)
    else {
        return Err(Error::NotFound(NotFound::Link {
            identifier: identifier.to_string(),
            kind: kind.as_str().to_uppercase(),
        }));
    };
    config.providers.remove(index);
    if config.providers.is_empty() {
        credentials.remove(&kind);
    } else {
        credential.identifiers.retain(|i| i != identifier);
        credential.config = Some(Credential::config_value(&config));
        credential.updated_at = now;
    }
    Ok(())
}
