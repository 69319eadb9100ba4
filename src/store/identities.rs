//! Identity rows: identities, credentials with their identifiers, and addresses.

use super::{Result, StoreError, Tx};
use crate::model::{
    Credential, CredentialKind, Identity, IdentityState, LegacyHash, RecoveryAddress, Timestamp,
    VerifiableAddress, VerificationStatus, Via,
};
use crate::model::{IdentityId, SchemaId};
use rusqlite::{CachedStatement, OptionalExtension, Row, params};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The `identities` row as stored; turned into an [`Identity`] with `TryFrom`.
struct IdentityRow {
    id: IdentityId,
    schema_id: SchemaId,
    state: String,
    state_changed_at: Option<String>,
    traits: String,
    metadata_public: Option<String>,
    metadata_admin: Option<String>,
    external_id: Option<String>,
    organization_id: Option<Uuid>,
    created_at: String,
    updated_at: String,
}

const IDENTITY_COLUMNS: &str = "id, schema_id, state, state_changed_at, traits, metadata_public, \
     metadata_admin, external_id, organization_id, created_at, updated_at";

impl IdentityRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            schema_id: row.get(1)?,
            state: row.get(2)?,
            state_changed_at: row.get(3)?,
            traits: row.get(4)?,
            metadata_public: row.get(5)?,
            metadata_admin: row.get(6)?,
            external_id: row.get(7)?,
            organization_id: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
        })
    }
}

fn time(text: &str) -> Result<Timestamp> {
    Timestamp::parse(text).map_err(StoreError::Corrupt)
}

fn json(text: Option<&str>) -> Result<Value> {
    match text {
        None => Ok(Value::Null),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
        }
    }
}

fn json_text(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

impl TryFrom<IdentityRow> for Identity {
    type Error = StoreError;

    fn try_from(row: IdentityRow) -> Result<Self> {
        Ok(Identity {
            id: row.id,
            external_id: row.external_id,
            credentials: None,
            schema_id: row.schema_id,
            schema_url: String::new(),
            state: IdentityState::parse(&row.state)
                .ok_or_else(|| StoreError::Corrupt(format!("identity state {:?}", row.state)))?,
            state_changed_at: row.state_changed_at.as_deref().map(time).transpose()?,
            traits: json(Some(&row.traits))?,
            verifiable_addresses: Vec::new(),
            recovery_addresses: Vec::new(),
            metadata_public: json(row.metadata_public.as_deref())?,
            metadata_admin: json(row.metadata_admin.as_deref())?,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
            organization_id: row.organization_id,
        })
    }
}

/// Whose rows a read gathers: one identity, or those of a page already read.
enum Scope {
    One(IdentityId),
    /// The page's ids, as a JSON array of their hex forms: one parameter however many, so
    /// the statement is prepared once.
    Ids(String),
}

impl Scope {
    fn of_rows(rows: &[IdentityRow]) -> Self {
        Scope::Ids(hex_id_array(rows.iter().map(|row| row.id)))
    }

    /// The condition on a table's `identity_id` that picks this scope's rows.
    fn filter(&self) -> &'static str {
        match self {
            Scope::One(_) => "identity_id = ?1",
            Scope::Ids(_) => "identity_id IN (SELECT unhex(value) FROM json_each(?1))",
        }
    }

    /// The one parameter of [`Scope::filter`], borrowed: each of a page's three child
    /// reads binds it without a copy.
    fn params(&self) -> [&dyn rusqlite::ToSql; 1] {
        match self {
            Scope::One(id) => [id],
            Scope::Ids(json) => [json],
        }
    }
}

/// Ids as a JSON array of their 32 hex digits, for `unhex(value) FROM json_each(?)`.
fn hex_id_array(ids: impl Iterator<Item = IdentityId>) -> String {
    let hex: Vec<String> = ids.map(|id| id.as_uuid().simple().to_string()).collect();
    serde_json::to_string(&hex).unwrap_or_else(|_| "[]".into())
}

/// Which identities a listing returns (Kratos allows one filter at a time).
pub enum IdentityFilter<'a> {
    All,
    /// These ids (unknown ones are left out).
    Ids(&'a [IdentityId]),
    /// Members of this organization.
    Organization(Uuid),
    /// Holders of a credential identifier equal to the query.
    Identifier(IdentifierQuery<'a>),
    /// Holders of a credential identifier starting with the query (Kratos'
    /// `preview_credentials_identifier_similar`).
    IdentifierPrefix(IdentifierQuery<'a>),
}

/// Which part of a listing to read, in id order.
#[derive(Clone, Copy)]
pub enum Window {
    /// Up to `limit` after the id `after` (keyset pagination).
    After { after: IdentityId, limit: usize },
    /// Up to `limit` after skipping `offset` (page-number pagination).
    Offset { offset: usize, limit: usize },
}

/// `value` as a LIKE pattern matching what starts with it, `\` escaping `%`, `_` and itself.
fn prefix_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 1);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A `verifiable_addresses` row as read.
struct StoredVerifiable {
    identity_id: IdentityId,
    id: Uuid,
    via: String,
    value: String,
    verified: bool,
    status: String,
    verified_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl StoredVerifiable {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            identity_id: row.get(0)?,
            id: row.get(1)?,
            via: row.get(2)?,
            value: row.get(3)?,
            verified: row.get(4)?,
            status: row.get(5)?,
            verified_at: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        })
    }
}

impl TryFrom<StoredVerifiable> for VerifiableAddress {
    type Error = StoreError;

    fn try_from(row: StoredVerifiable) -> Result<Self> {
        Ok(VerifiableAddress {
            id: row.id,
            value: row.value,
            verified: row.verified,
            via: parse_via(&row.via)?,
            status: VerificationStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("address status {:?}", row.status)))?,
            verified_at: row.verified_at.as_deref().map(time).transpose()?,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
        })
    }
}

/// A `recovery_addresses` row as read.
struct StoredRecovery {
    identity_id: IdentityId,
    id: Uuid,
    via: String,
    value: String,
    created_at: String,
    updated_at: String,
}

impl StoredRecovery {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            identity_id: row.get(0)?,
            id: row.get(1)?,
            via: row.get(2)?,
            value: row.get(3)?,
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
        })
    }
}

impl TryFrom<StoredRecovery> for RecoveryAddress {
    type Error = StoreError;

    fn try_from(row: StoredRecovery) -> Result<Self> {
        Ok(RecoveryAddress {
            id: row.id,
            value: row.value,
            via: parse_via(&row.via)?,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
        })
    }
}

/// A `credentials` row as read, its identifiers gathered into a JSON array.
struct StoredCredential {
    identity_id: IdentityId,
    kind: String,
    config: String,
    version: i64,
    created_at: String,
    updated_at: String,
    identifiers: String,
    legacy_hash: Option<String>,
}

impl StoredCredential {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            identity_id: row.get(0)?,
            kind: row.get(1)?,
            config: row.get(2)?,
            version: row.get(3)?,
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
            identifiers: row.get(6)?,
            legacy_hash: row.get(7)?,
        })
    }
}

impl TryFrom<StoredCredential> for Credential {
    type Error = StoreError;

    fn try_from(row: StoredCredential) -> Result<Self> {
        Ok(Credential {
            kind: CredentialKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("credential type {:?}", row.kind)))?,
            identifiers: serde_json::from_str(&row.identifiers)
                .map_err(|e| StoreError::Corrupt(format!("credential identifiers: {e}")))?,
            config: Some(json(Some(&row.config))?),
            version: row.version,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
            legacy_hash: row.legacy_hash.and_then(LegacyHash::new),
        })
    }
}

/// Which way to look up identities by a credential identifier.
pub struct IdentifierQuery<'a> {
    /// Matched against password, webauthn and code identifiers (already normalized).
    pub normalized: &'a str,
    /// Matched exactly against oidc and saml identifiers (`provider:subject`).
    pub exact: &'a str,
}

/// An identity rendered into the rows the store writes. Rendering (JSON, timestamps) is
/// done where time is cheap (an import's preparing threads), writing where it is not (the
/// one writer).
#[derive(Clone, Debug)]
pub struct IdentityRows {
    id: IdentityId,
    schema_id: SchemaId,
    state: &'static str,
    state_changed_at: Option<String>,
    traits: String,
    metadata_public: Option<String>,
    metadata_admin: Option<String>,
    external_id: Option<String>,
    organization_id: Option<Uuid>,
    created_at: String,
    updated_at: String,
    credentials: Vec<CredentialRow>,
    verifiable_addresses: Vec<VerifiableRow>,
    recovery_addresses: Vec<RecoveryRow>,
}

#[derive(Clone, Debug)]
struct CredentialRow {
    kind: CredentialKind,
    config: String,
    version: i64,
    created_at: String,
    updated_at: String,
    identifiers: Vec<String>,
    /// Kept in `legacy_password_hashes`, beside the credential (see [`LegacyHash`]).
    legacy_hash: Option<String>,
}

#[derive(Clone, Debug)]
struct VerifiableRow {
    id: Uuid,
    via: &'static str,
    value: String,
    verified: bool,
    status: &'static str,
    verified_at: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Clone, Debug)]
struct RecoveryRow {
    id: Uuid,
    via: &'static str,
    value: String,
    created_at: String,
    updated_at: String,
}

impl IdentityRows {
    /// The identity these rows belong to.
    pub fn id(&self) -> IdentityId {
        self.id
    }

    /// The unique values these rows hold, to find who holds them already.
    pub fn unique_values(&self) -> super::UniqueValues<'_> {
        super::UniqueValues {
            identifiers: self
                .credentials
                .iter()
                .flat_map(|c| {
                    c.identifiers
                        .iter()
                        .map(move |i| (c.kind.as_str(), i.as_str()))
                })
                .collect(),
            verifiable: self
                .verifiable_addresses
                .iter()
                .map(|a| (a.via, a.value.as_str()))
                .collect(),
            recovery: self
                .recovery_addresses
                .iter()
                .map(|a| (a.via, a.value.as_str()))
                .collect(),
            external_id: self.external_id.as_deref(),
        }
    }
}

impl From<&Identity> for IdentityRows {
    fn from(identity: &Identity) -> Self {
        Self {
            id: identity.id,
            schema_id: identity.schema_id.clone(),
            state: identity.state.as_str(),
            state_changed_at: identity.state_changed_at.map(|t| t.to_string()),
            traits: identity.traits.to_string(),
            metadata_public: json_text(&identity.metadata_public),
            metadata_admin: json_text(&identity.metadata_admin),
            external_id: identity.external_id.clone(),
            organization_id: identity.organization_id,
            created_at: identity.created_at.to_string(),
            updated_at: identity.updated_at.to_string(),
            credentials: identity
                .credentials
                .iter()
                .flatten()
                .map(|(kind, credential)| CredentialRow {
                    kind: *kind,
                    config: credential
                        .config
                        .as_ref()
                        .map_or_else(|| "{}".to_string(), Value::to_string),
                    version: credential.version,
                    created_at: credential.created_at.to_string(),
                    updated_at: credential.updated_at.to_string(),
                    identifiers: credential.identifiers.clone(),
                    legacy_hash: credential
                        .legacy_hash
                        .as_ref()
                        .map(|hash| hash.expose().to_string()),
                })
                .collect(),
            verifiable_addresses: identity
                .verifiable_addresses
                .iter()
                .map(|a| VerifiableRow {
                    id: a.id,
                    via: a.via.as_str(),
                    value: a.value.clone(),
                    verified: a.verified,
                    status: a.status.as_str(),
                    verified_at: a.verified_at.map(|t| t.to_string()),
                    created_at: a.created_at.to_string(),
                    updated_at: a.updated_at.to_string(),
                })
                .collect(),
            recovery_addresses: identity
                .recovery_addresses
                .iter()
                .map(|a| RecoveryRow {
                    id: a.id,
                    via: a.via.as_str(),
                    value: a.value.clone(),
                    created_at: a.created_at.to_string(),
                    updated_at: a.updated_at.to_string(),
                })
                .collect(),
        }
    }
}

/// An audit event about to be written, rendered ahead of time (timestamp and JSON as text),
/// so that the rendering happens where time is cheap and the writer only writes. Written
/// alone ([`Tx::record_event`]) or with the identity it is about ([`IdentityWriter::insert`]).
#[derive(Clone, Debug)]
pub struct EventRow {
    pub occurred_at: String,
    pub actor: String,
    pub action: &'static str,
    pub detail: Option<String>,
}

impl EventRow {
    pub fn new(
        occurred_at: Timestamp,
        actor: &str,
        action: &'static str,
        detail: Option<&serde_json::Value>,
    ) -> Self {
        Self {
            occurred_at: occurred_at.to_string(),
            actor: actor.to_string(),
            action,
            detail: detail.map(serde_json::Value::to_string),
        }
    }
}

const INSERT_IDENTITY: &str = "INSERT INTO identities (id, schema_id, state, state_changed_at, traits, \
     metadata_public, metadata_admin, external_id, organization_id, created_at, updated_at, import_run) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
const INSERT_CREDENTIAL: &str = "INSERT INTO credentials (identity_id, type, config, version, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const INSERT_LEGACY_HASH: &str =
    "INSERT INTO legacy_password_hashes (identity_id, type, hash) VALUES (?1, ?2, ?3)";
const INSERT_IDENTIFIER: &str = "INSERT INTO credential_identifiers (type, identifier, identity_id, position) VALUES (?1, ?2, ?3, ?4)";
const INSERT_VERIFIABLE: &str = "INSERT INTO verifiable_addresses (id, identity_id, via, value, verified, \
     status, verified_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const INSERT_RECOVERY: &str = "INSERT INTO recovery_addresses (id, identity_id, via, value, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
pub(super) const INSERT_EVENT: &str = "INSERT INTO audit_events (occurred_at, actor, action, identity_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Inserts identities with statements prepared once, for callers writing many in one
/// transaction (an import writes a chunk of them).
pub struct IdentityWriter<'t> {
    tx: &'t Tx<'t>,
    identity: CachedStatement<'t>,
    credential: CachedStatement<'t>,
    identifier: CachedStatement<'t>,
    legacy_hash: CachedStatement<'t>,
    verifiable: CachedStatement<'t>,
    recovery: CachedStatement<'t>,
    event: CachedStatement<'t>,
}

impl<'t> IdentityWriter<'t> {
    /// Inserts a whole identity (row, credentials, identifiers, addresses) and, when given,
    /// its audit event. `import_run` names the import run that created it, if one did.
    ///
    /// On a conflict the rows already written for this identity are removed again, so the
    /// transaction holds either the whole identity or nothing of it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an identifier, address, external_id or the id is taken.
    pub fn insert(
        &mut self,
        rows: &IdentityRows,
        import_run: Option<Uuid>,
        event: Option<&EventRow>,
    ) -> Result<()> {
        let result = self.insert_rows(rows, import_run, event);
        if let Err(StoreError::Conflict { field, .. }) = &result
            && *field != "id"
        {
            // Each failed INSERT undid itself; the identity's earlier rows go with their parent.
            // (A clash on the id itself would mean the row belongs to someone else: left alone.)
            self.tx.delete_identity(rows.id)?;
            if let Some(named) = self.tx.clash(&rows.unique_values(), rows.id)? {
                return Err(named);
            }
        }
        result
    }

    fn insert_rows(
        &mut self,
        rows: &IdentityRows,
        import_run: Option<Uuid>,
        event: Option<&EventRow>,
    ) -> Result<()> {
        self.identity.execute(params![
            rows.id,
            rows.schema_id,
            rows.state,
            rows.state_changed_at,
            rows.traits,
            rows.metadata_public,
            rows.metadata_admin,
            rows.external_id,
            rows.organization_id,
            rows.created_at,
            rows.updated_at,
            import_run,
        ])?;
        insert_children(
            rows,
            [
                &mut self.credential,
                &mut self.identifier,
                &mut self.legacy_hash,
                &mut self.verifiable,
                &mut self.recovery,
            ],
        )?;
        if let Some(event) = event {
            self.event.execute(params![
                event.occurred_at,
                event.actor,
                event.action,
                rows.id,
                event.detail
            ])?;
        }
        Ok(())
    }
}

/// Inserts an identity's children with the statements for credentials, identifiers, legacy
/// hashes, verifiable and recovery addresses, in that order.
fn insert_children(rows: &IdentityRows, statements: [&mut CachedStatement<'_>; 5]) -> Result<()> {
    let [credential, identifier, legacy_hash, verifiable, recovery] = statements;
    for row in &rows.credentials {
        credential.execute(params![
            rows.id,
            row.kind.as_str(),
            row.config,
            row.version,
            row.created_at,
            row.updated_at
        ])?;
        for (position, value) in row.identifiers.iter().enumerate() {
            identifier.execute(params![row.kind.as_str(), value, rows.id, position as i64])?;
        }
        if let Some(hash) = &row.legacy_hash {
            legacy_hash.execute(params![rows.id, row.kind.as_str(), hash])?;
        }
    }
    for address in &rows.verifiable_addresses {
        verifiable.execute(params![
            address.id,
            rows.id,
            address.via,
            address.value,
            address.verified,
            address.status,
            address.verified_at,
            address.created_at,
            address.updated_at,
        ])?;
    }
    for address in &rows.recovery_addresses {
        recovery.execute(params![
            address.id,
            rows.id,
            address.via,
            address.value,
            address.created_at,
            address.updated_at,
        ])?;
    }
    Ok(())
}

impl<'c> Tx<'c> {
    /// A writer for inserting many identities in this transaction.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identity_writer(&'c self) -> Result<IdentityWriter<'c>> {
        Ok(IdentityWriter {
            tx: self,
            identity: self.tx.prepare_cached(INSERT_IDENTITY)?,
            credential: self.tx.prepare_cached(INSERT_CREDENTIAL)?,
            identifier: self.tx.prepare_cached(INSERT_IDENTIFIER)?,
            legacy_hash: self.tx.prepare_cached(INSERT_LEGACY_HASH)?,
            verifiable: self.tx.prepare_cached(INSERT_VERIFIABLE)?,
            recovery: self.tx.prepare_cached(INSERT_RECOVERY)?,
            event: self.tx.prepare_cached(INSERT_EVENT)?,
        })
    }
}

impl Tx<'_> {
    /// Replaces an identity's row and all its children with `rows`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] as for inserts; `Ok(false)` when no such identity exists.
    pub fn replace_identity(&self, rows: &IdentityRows) -> Result<bool> {
        // The replaced traits and credentials (an old password hash) are overwritten.
        let result = self.overwriting_freed_space(|| self.replace_identity_rows(rows));
        if let Err(StoreError::Conflict { .. }) = &result
            && let Some(named) = self.clash(&rows.unique_values(), rows.id)?
        {
            // The failed statement undid itself; the caller rolls the rest back.
            return Err(named);
        }
        result
    }

    fn replace_identity_rows(&self, rows: &IdentityRows) -> Result<bool> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE identities SET schema_id = ?2, state = ?3, state_changed_at = ?4, traits = ?5, \
                 metadata_public = ?6, metadata_admin = ?7, external_id = ?8, organization_id = ?9, \
                 updated_at = ?10 WHERE id = ?1",
            )?
            .execute(params![
                rows.id,
                rows.schema_id,
                rows.state,
                rows.state_changed_at,
                rows.traits,
                rows.metadata_public,
                rows.metadata_admin,
                rows.external_id,
                rows.organization_id,
                rows.updated_at,
            ])?;
        if changed == 0 {
            return Ok(false);
        }
        for table in ["credentials", "verifiable_addresses", "recovery_addresses"] {
            self.tx
                .prepare_cached(&format!("DELETE FROM {table} WHERE identity_id = ?1"))?
                .execute([rows.id])?;
        }
        // Deleting the credentials took their legacy hashes with them (a cascade).
        insert_children(
            rows,
            [
                &mut self.tx.prepare_cached(INSERT_CREDENTIAL)?,
                &mut self.tx.prepare_cached(INSERT_IDENTIFIER)?,
                &mut self.tx.prepare_cached(INSERT_LEGACY_HASH)?,
                &mut self.tx.prepare_cached(INSERT_VERIFIABLE)?,
                &mut self.tx.prepare_cached(INSERT_RECOVERY)?,
            ],
        )?;
        Ok(true)
    }

    /// Removes an identity and everything that hangs off it. `Ok(false)` if there was none.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn delete_identity(&self, id: IdentityId) -> Result<bool> {
        let deleted = self.overwriting_freed_space(|| {
            Ok(self
                .tx
                .prepare_cached("DELETE FROM identities WHERE id = ?1")?
                .execute([id])?)
        })?;
        Ok(deleted > 0)
    }

    /// One identity with its addresses, and its credentials when `with_credentials`.
    ///
    /// # Errors
    /// Only if SQLite fails or the row cannot be read back.
    pub fn get_identity(&self, id: IdentityId, with_credentials: bool) -> Result<Option<Identity>> {
        let row = self
            .tx
            .prepare_cached(&format!(
                "SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = ?1"
            ))?
            .query_row([id], IdentityRow::from_row)
            .optional()?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self
                .complete(vec![row], &Scope::One(id), with_credentials)?
                .pop()),
        }
    }

    /// The identities `filter` picks, the part of them `window` says, in id order: four
    /// statements whatever the page size.
    ///
    /// # Errors
    /// Only if SQLite fails or a row cannot be read back.
    pub fn list_identities(
        &self,
        filter: &IdentityFilter<'_>,
        window: Window,
        with_credentials: bool,
    ) -> Result<Vec<Identity>> {
        use rusqlite::types::Value as SqlValue;
        // The first three parameters place the window; a filter's own values follow them.
        // `op` compares an identifier with the normalized value (?4) for the kinds whose
        // identifiers are stored normalized, and with the value as given (?5) for the others.
        let by_identifier = |op: &str, suffix: &str| {
            format!(
                "id IN (SELECT identity_id FROM credential_identifiers \
                 WHERE (type IN ('password', 'webauthn', 'code') AND identifier {op} ?4{suffix}) \
                    OR (type IN ('oidc', 'saml') AND identifier {op} ?5{suffix}))"
            )
        };
        let (condition, filter_values): (String, Vec<SqlValue>) = match filter {
            IdentityFilter::All => ("1".into(), Vec::new()),
            IdentityFilter::Ids(ids) => (
                "id IN (SELECT unhex(value) FROM json_each(?4))".into(),
                vec![hex_id_array(ids.iter().copied()).into()],
            ),
            IdentityFilter::Organization(organization) => (
                "organization_id = ?4".into(),
                vec![organization.as_bytes().to_vec().into()],
            ),
            IdentityFilter::Identifier(query) => (
                by_identifier("=", ""),
                vec![
                    query.normalized.to_string().into(),
                    query.exact.to_string().into(),
                ],
            ),
            IdentityFilter::IdentifierPrefix(query) => (
                by_identifier("LIKE", " ESCAPE '\\'"),
                vec![
                    prefix_pattern(query.normalized).into(),
                    prefix_pattern(query.exact).into(),
                ],
            ),
        };
        let (after, offset, limit) = match window {
            Window::After { after, limit } => (after, 0, limit),
            Window::Offset { offset, limit } => (IdentityId::nil(), offset, limit),
        };
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities WHERE ({condition}) AND id > ?1 \
             ORDER BY id LIMIT ?2 OFFSET ?3"
        );
        let window_values: [SqlValue; 3] = [
            after.as_uuid().as_bytes().to_vec().into(),
            to_i64(limit).into(),
            to_i64(offset).into(),
        ];
        let values = window_values.into_iter().chain(filter_values);
        let rows = self
            .tx
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(values), IdentityRow::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let scope = Scope::of_rows(&rows);
        self.complete(rows, &scope, with_credentials)
    }

    /// How many identities the store holds.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn count_identities(&self) -> Result<u64> {
        let count: i64 = self
            .tx
            .prepare_cached("SELECT count(*) FROM identities")?
            .query_row([], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The identity whose `external_id` is exactly `external_id`, if any.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identity_id_by_external_id(&self, external_id: &str) -> Result<Option<IdentityId>> {
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM identities WHERE external_id = ?1")?
            .query_row([external_id], |row| row.get(0))
            .optional()?)
    }

    /// The identity holding password identifier `identifier` (normalized), if any.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn identity_id_by_password_identifier(
        &self,
        identifier: &str,
    ) -> Result<Option<IdentityId>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT identity_id FROM credential_identifiers WHERE type = 'password' AND identifier = ?1",
            )?
            .query_row([identifier], |row| row.get(0))
            .optional()?)
    }

    /// Replaces one credential's config (and bumps its `updated_at`). A legacy hash kept
    /// beside it goes: the new config is a whole config of kith's own, never a pending
    /// migration.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn set_credential_config(
        &self,
        id: IdentityId,
        kind: CredentialKind,
        config: &Value,
        now: Timestamp,
    ) -> Result<bool> {
        // The replaced hash (and a legacy one) must not linger in the file's free space.
        self.overwriting_freed_space(|| {
            let changed = self
                .tx
                .prepare_cached(
                    "UPDATE credentials SET config = ?3, updated_at = ?4 WHERE identity_id = ?1 AND type = ?2",
                )?
                .execute(params![id, kind.as_str(), config.to_string(), now.to_string()])?;
            self.tx
                .prepare_cached(
                    "DELETE FROM legacy_password_hashes WHERE identity_id = ?1 AND type = ?2",
                )?
                .execute(params![id, kind.as_str()])?;
            Ok(changed > 0)
        })
    }

    /// Turns identity rows into identities, reading the addresses (and credentials) of all
    /// of them at once: a page costs the same few statements whatever its size.
    fn complete(
        &self,
        rows: Vec<IdentityRow>,
        scope: &Scope,
        with_credentials: bool,
    ) -> Result<Vec<Identity>> {
        let mut verifiable = self.verifiable_addresses(scope)?;
        let mut recovery = self.recovery_addresses(scope)?;
        let mut credentials = match with_credentials {
            true => Some(self.credentials(scope)?),
            false => None,
        };
        rows.into_iter()
            .map(|row| {
                let mut identity = Identity::try_from(row)?;
                identity.verifiable_addresses = verifiable.remove(&identity.id).unwrap_or_default();
                identity.recovery_addresses = recovery.remove(&identity.id).unwrap_or_default();
                if let Some(credentials) = &mut credentials {
                    identity.credentials =
                        Some(credentials.remove(&identity.id).unwrap_or_default());
                }
                Ok(identity)
            })
            .collect()
    }

    fn credentials(
        &self,
        scope: &Scope,
    ) -> Result<HashMap<IdentityId, BTreeMap<CredentialKind, Credential>>> {
        let sql = format!(
            "SELECT c.identity_id, c.type, c.config, c.version, c.created_at, c.updated_at, \
                    (SELECT json_group_array(identifier) FROM \
                        (SELECT identifier FROM credential_identifiers i \
                         WHERE i.identity_id = c.identity_id AND i.type = c.type ORDER BY position)), \
                    (SELECT hash FROM legacy_password_hashes l \
                     WHERE l.identity_id = c.identity_id AND l.type = c.type) \
             FROM credentials c WHERE c.{} ORDER BY c.identity_id, c.type",
            scope.filter()
        );
        let rows = self
            .tx
            .prepare_cached(&sql)?
            .query_map(scope.params(), StoredCredential::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut by_identity: HashMap<IdentityId, BTreeMap<CredentialKind, Credential>> =
            HashMap::new();
        for row in rows {
            let identity = row.identity_id;
            let credential = Credential::try_from(row)?;
            by_identity
                .entry(identity)
                .or_default()
                .insert(credential.kind, credential);
        }
        Ok(by_identity)
    }

    fn verifiable_addresses(
        &self,
        scope: &Scope,
    ) -> Result<HashMap<IdentityId, Vec<VerifiableAddress>>> {
        let sql = format!(
            "SELECT identity_id, id, via, value, verified, status, verified_at, created_at, \
                    updated_at \
             FROM verifiable_addresses WHERE {} ORDER BY identity_id, rowid",
            scope.filter()
        );
        let rows = self
            .tx
            .prepare_cached(&sql)?
            .query_map(scope.params(), StoredVerifiable::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut by_identity: HashMap<IdentityId, Vec<VerifiableAddress>> = HashMap::new();
        for row in rows {
            let identity = row.identity_id;
            by_identity
                .entry(identity)
                .or_default()
                .push(VerifiableAddress::try_from(row)?);
        }
        Ok(by_identity)
    }

    fn recovery_addresses(
        &self,
        scope: &Scope,
    ) -> Result<HashMap<IdentityId, Vec<RecoveryAddress>>> {
        let sql = format!(
            "SELECT identity_id, id, via, value, created_at, updated_at FROM recovery_addresses \
             WHERE {} ORDER BY identity_id, rowid",
            scope.filter()
        );
        let rows = self
            .tx
            .prepare_cached(&sql)?
            .query_map(scope.params(), StoredRecovery::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut by_identity: HashMap<IdentityId, Vec<RecoveryAddress>> = HashMap::new();
        for row in rows {
            let identity = row.identity_id;
            by_identity
                .entry(identity)
                .or_default()
                .push(RecoveryAddress::try_from(row)?);
        }
        Ok(by_identity)
    }
}

fn parse_via(text: &str) -> Result<Via> {
    Via::parse(text).ok_or_else(|| StoreError::Corrupt(format!("address via {text:?}")))
}
