//! The front door: every operation kith offers, in one trait.
//!
//! [`Kith`] implements it on a store file; the CLI and anything embedding kith call it and
//! nothing below it, so validation, hashing and the audit trail hold on every path. The
//! operations on identities, credentials, recovery and schemas are Kratos' admin API, so a
//! client of a remote Kratos-compatible admin API implements the same trait
//! ([`crate::remote::Remote`]); the rest (invites, plugins, tokens, settings, the audit
//! trail, import runs, backups and checks) are kith's own, and a remote answers them with
//! [`crate::Error::LocalOnly`].
//!
//! ```
//! use kith::{Admin, Kith};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! fn count(admin: &dyn Admin) -> kith::Result<usize> {
//!     Ok(admin.list_identities(&Default::default())?.identities.len())
//! }
//! let kith = Kith::open_in_memory()?;
//! assert_eq!(count(&kith)?, 0);
//! # Ok(()) }
//! ```

use crate::Kith;
use crate::error::Result;
use crate::flows::{
    AuditEvent, BackupOptions, BackupReport, BatchOutcome, CourierMessage, IdentityPage,
    ImportOptions, ImportResult, ImportSource, ImportSummary, InstalledPlugin, Invitation,
    InviteRequest, InviteStatus, InviteSummary, ListIdentities, ListMessages, MessagePage,
    NewToken, PasswordMatch, PluginDetails, PluginUpgrade, Problem, RecoveryCode, RecoveryLink,
    Redeemed, Redemption, RunReport, SchemaEntry, Setting, TokenRecord,
};
use crate::model::IdentityId;
use crate::model::{BatchPatchBody, CreateIdentityBody, Identity, UpdateIdentityBody};
use serde_json::Value;
use std::path::Path;
use uuid::Uuid;

/// What kith can be asked to do. Every method is one call; each that writes is one
/// transaction with its audit event.
pub trait Admin {
    // Identities, as Kratos' admin API.

    /// Creates an identity from a createIdentityBody (`POST /admin/identities`).
    fn create_identity(&self, body: CreateIdentityBody) -> Result<Identity>;
    /// Runs every check of a create, conflicts included, and writes nothing.
    fn validate_identity(&self, body: CreateIdentityBody) -> Result<Identity>;
    /// One identity, with the configs of the `include_credential` kinds.
    fn get_identity(&self, id: IdentityId, include_credential: &[String]) -> Result<Identity>;
    /// One identity by its external id (`GET /admin/identities/by/external/{externalID}`).
    fn get_identity_by_external_id(
        &self,
        external_id: &str,
        include_credential: &[String],
    ) -> Result<Identity>;
    /// A page of identities in id order, optionally filtered (`GET /admin/identities`).
    fn list_identities(&self, query: &ListIdentities) -> Result<IdentityPage>;
    /// Replaces an identity with PUT semantics (`PUT /admin/identities/{id}`).
    fn update_identity(&self, id: IdentityId, body: UpdateIdentityBody) -> Result<Identity>;
    /// Applies an RFC 6902 JSON patch (`PATCH /admin/identities/{id}`).
    fn patch_identity(&self, id: IdentityId, patch: &str) -> Result<Identity>;
    /// Deletes identities, all or none (`DELETE /admin/identities/{id}`).
    fn delete_identities(&self, ids: &[IdentityId]) -> Result<()>;
    /// Creates a batch of identities (`PATCH /admin/identities`); `None` for a skipped entry.
    fn batch_patch_identities(
        &self,
        batch: BatchPatchBody,
        dry_run: bool,
    ) -> Result<Vec<Option<BatchOutcome>>>;
    /// Removes one credential (`DELETE /admin/identities/{id}/credentials/{type}`).
    fn delete_credential(&self, id: IdentityId, kind: &str, identifier: Option<&str>)
    -> Result<()>;

    // Recovery, as Kratos' admin API.

    /// Issues an admin recovery code (`POST /admin/recovery/code`); `return_to` (Kratos'
    /// `?return_to=`) must match `selfservice.allowed_return_urls`.
    fn create_recovery_code(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryCode>;
    /// Issues an admin recovery link (`POST /admin/recovery/link`); `return_to` (Kratos'
    /// `?return_to=`) must match `selfservice.allowed_return_urls`.
    fn create_recovery_link(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryLink>;

    // Schemas.

    /// Every identity schema, presets first (`GET /schemas`).
    fn list_schemas(&self) -> Result<Vec<SchemaEntry>>;
    /// One identity schema, by id or its base64url form (`GET /schemas/{id}`).
    fn get_schema(&self, id: &str) -> Result<SchemaEntry>;
    /// Checks and stores a custom identity schema.
    fn add_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry>;
    /// Checks a custom identity schema and puts it in place of the stored one (or adds it),
    /// refused while stored identities of that schema would not match it.
    fn replace_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry>;
    /// Removes a stored identity schema no identity uses.
    fn remove_schema(&self, id: &str) -> Result<()>;

    // Bulk.

    /// Imports records from streams, reporting each by its source position.
    fn import_identities(
        &self,
        sources: Vec<ImportSource>,
        options: &ImportOptions,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<ImportSummary>;
    /// Deletes exactly the identities one import run created.
    fn delete_import_run(&self, run: Uuid) -> Result<Vec<IdentityId>>;
    /// Calls `emit` with every identity's id and createIdentityBody until it returns `false`.
    fn export_identities(
        &self,
        include_credentials: bool,
        emit: &mut dyn FnMut(IdentityId, &CreateIdentityBody) -> bool,
    ) -> Result<u64>;

    // Passwords and invites.

    /// Checks a password for a password identifier, upgrading an outdated hash, and migrating
    /// an identity flagged `use_password_migration_hook` through the password-migration plugin.
    fn verify_password(&self, identifier: &str, password: &str) -> Result<PasswordMatch>;
    /// Invites someone by email or identity, and delivers the invite unless told not to.
    fn invite(&self, request: &InviteRequest) -> Result<Invitation>;
    /// Draws new secrets for an open invite and delivers it again.
    fn resend_invite(&self, id: Uuid) -> Result<Invitation>;
    /// Revokes an open invite.
    fn revoke_invite(&self, id: Uuid) -> Result<()>;
    /// Every invite and recovery flow, newest first, optionally of one status.
    fn list_invites(&self, only: Option<InviteStatus>) -> Result<Vec<InviteSummary>>;
    /// Redeems an invite, recovery code or link, setting the new password.
    fn redeem(&self, redemption: &Redemption, password: &str) -> Result<Redeemed>;

    // The courier queue, as Kratos' admin API shows it.

    /// A page of courier messages, newest first (`GET /admin/courier/messages`).
    fn list_messages(&self, query: &ListMessages) -> Result<MessagePage>;
    /// One courier message with every attempt (`GET /admin/courier/messages/{id}`).
    fn get_message(&self, id: Uuid) -> Result<CourierMessage>;
    /// Sends a queued message now, or resends the invite of an abandoned one; returns the
    /// messages now queued for it.
    fn retry_message(&self, id: Uuid) -> Result<Vec<Uuid>>;

    // Plugins.

    /// Checks and installs the plugin folder `dir`, enabled.
    fn install_plugin(
        &self,
        dir: &Path,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin>;
    /// Installs the plugin folder `dir` with its component read from `wasm` when given.
    fn install_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin>;
    /// Replaces the installed plugin of the folder's name, keeping its config, grants and
    /// enabled state (installs it when none is installed).
    fn upgrade_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<PluginUpgrade>;
    /// Sets config keys of an installed plugin, and returns others to their defaults.
    fn configure_plugin(
        &self,
        name: &str,
        set: &[(String, String)],
        unset: &[String],
    ) -> Result<InstalledPlugin>;
    /// One installed plugin in full: manifest, config, grants, limits, sha256 and size.
    fn get_plugin(&self, name: &str) -> Result<PluginDetails>;
    /// Every installed plugin, by name.
    fn list_plugins(&self) -> Result<Vec<InstalledPlugin>>;
    /// Enables or disables an installed plugin.
    fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<()>;
    /// Removes an installed plugin.
    fn remove_plugin(&self, name: &str) -> Result<()>;
    /// Runs one call of a plugin (installed, or a folder: see [`crate::flows::names_a_folder`])
    /// and reports what it did and cost.
    fn run_plugin(&self, name_or_dir: &str, input: &Value) -> Result<RunReport>;
    /// Runs a plugin folder with its component read from `wasm` when given.
    fn run_plugin_with_wasm(
        &self,
        name_or_dir: &str,
        wasm: Option<&Path>,
        input: &Value,
    ) -> Result<RunReport>;

    // Tokens, settings and the audit trail.

    /// Makes an API token for `kith serve`; its secret is in the result only.
    fn create_token(&self, name: &str) -> Result<NewToken>;
    /// Every token's name and birth, never a secret.
    fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Revokes a token.
    fn revoke_token(&self, name: &str) -> Result<()>;
    /// Every setting with its value, set or default.
    fn config(&self) -> Result<Vec<Setting>>;
    /// Checks and sets one setting.
    fn set_config(&self, key: &str, value: &str) -> Result<Setting>;
    /// Forgets a setting's value, so its default applies again.
    fn unset_config(&self, key: &str) -> Result<Setting>;
    /// Audit events after `after_id`, oldest first, of one identity when given.
    fn list_events(
        &self,
        identity_id: Option<IdentityId>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;

    // Consistent copies (restoring acts on paths, not on an open store: `Kith::restore`).

    /// Writes a consistent copy of the store to `to` while others write (`kith backup`),
    /// with its recovery key file beside it when asked.
    fn backup(&self, to: &Path, options: &BackupOptions) -> Result<BackupReport>;
    /// Every problem of the store (`kith check`): SQLite's integrity and foreign-key checks
    /// and kith's own invariants. Reads only; an empty list is a clean store.
    fn check(&self) -> Result<Vec<Problem>>;
}

impl Admin for Kith {
    fn create_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        Kith::create_identity(self, body)
    }
    fn validate_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        Kith::validate_identity(self, body)
    }
    fn get_identity(&self, id: IdentityId, include_credential: &[String]) -> Result<Identity> {
        Kith::get_identity(self, id, include_credential)
    }
    fn get_identity_by_external_id(
        &self,
        external_id: &str,
        include_credential: &[String],
    ) -> Result<Identity> {
        Kith::get_identity_by_external_id(self, external_id, include_credential)
    }
    fn list_identities(&self, query: &ListIdentities) -> Result<IdentityPage> {
        Kith::list_identities(self, query)
    }
    fn update_identity(&self, id: IdentityId, body: UpdateIdentityBody) -> Result<Identity> {
        Kith::update_identity(self, id, body)
    }
    fn patch_identity(&self, id: IdentityId, patch: &str) -> Result<Identity> {
        Kith::patch_identity(self, id, patch)
    }
    fn delete_identities(&self, ids: &[IdentityId]) -> Result<()> {
        Kith::delete_identities(self, ids)
    }
    fn batch_patch_identities(
        &self,
        batch: BatchPatchBody,
        dry_run: bool,
    ) -> Result<Vec<Option<BatchOutcome>>> {
        Kith::batch_patch_identities(self, batch, dry_run)
    }
    fn delete_credential(
        &self,
        id: IdentityId,
        kind: &str,
        identifier: Option<&str>,
    ) -> Result<()> {
        Kith::delete_credential(self, id, kind, identifier)
    }
    fn create_recovery_code(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryCode> {
        Kith::create_recovery_code(self, identity_id, expires_in, return_to)
    }
    fn create_recovery_link(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryLink> {
        Kith::create_recovery_link(self, identity_id, expires_in, return_to)
    }
    fn list_schemas(&self) -> Result<Vec<SchemaEntry>> {
        Kith::list_schemas(self)
    }
    fn get_schema(&self, id: &str) -> Result<SchemaEntry> {
        Kith::get_schema(self, id)
    }
    fn add_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry> {
        Kith::add_schema(self, id, raw)
    }
    fn replace_schema(&self, id: &str, raw: Value) -> Result<SchemaEntry> {
        Kith::replace_schema(self, id, raw)
    }
    fn remove_schema(&self, id: &str) -> Result<()> {
        Kith::remove_schema(self, id)
    }
    fn import_identities(
        &self,
        sources: Vec<ImportSource>,
        options: &ImportOptions,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<ImportSummary> {
        Kith::import_identities(self, sources, options, on_result)
    }
    fn delete_import_run(&self, run: Uuid) -> Result<Vec<IdentityId>> {
        Kith::delete_import_run(self, run)
    }
    fn export_identities(
        &self,
        include_credentials: bool,
        emit: &mut dyn FnMut(IdentityId, &CreateIdentityBody) -> bool,
    ) -> Result<u64> {
        Kith::export_identities(self, include_credentials, emit)
    }
    fn verify_password(&self, identifier: &str, password: &str) -> Result<PasswordMatch> {
        Kith::verify_password(self, identifier, password)
    }
    fn invite(&self, request: &InviteRequest) -> Result<Invitation> {
        Kith::invite(self, request)
    }
    fn resend_invite(&self, id: Uuid) -> Result<Invitation> {
        Kith::resend_invite(self, id)
    }
    fn revoke_invite(&self, id: Uuid) -> Result<()> {
        Kith::revoke_invite(self, id)
    }
    fn list_invites(&self, only: Option<InviteStatus>) -> Result<Vec<InviteSummary>> {
        Kith::list_invites(self, only)
    }
    fn list_messages(&self, query: &ListMessages) -> Result<MessagePage> {
        Kith::list_messages(self, query)
    }
    fn get_message(&self, id: Uuid) -> Result<CourierMessage> {
        Kith::get_message(self, id)
    }
    fn retry_message(&self, id: Uuid) -> Result<Vec<Uuid>> {
        Kith::retry_message(self, id)
    }
    fn redeem(&self, redemption: &Redemption, password: &str) -> Result<Redeemed> {
        Kith::redeem(self, redemption, password)
    }
    fn install_plugin(
        &self,
        dir: &Path,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin> {
        Kith::install_plugin_with_wasm(self, dir, None, config, grants)
    }
    fn install_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin> {
        Kith::install_plugin_with_wasm(self, dir, wasm, config, grants)
    }
    fn upgrade_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<PluginUpgrade> {
        Kith::upgrade_plugin_with_wasm(self, dir, wasm, config, grants)
    }
    fn configure_plugin(
        &self,
        name: &str,
        set: &[(String, String)],
        unset: &[String],
    ) -> Result<InstalledPlugin> {
        Kith::configure_plugin(self, name, set, unset)
    }
    fn get_plugin(&self, name: &str) -> Result<PluginDetails> {
        Kith::get_plugin(self, name)
    }
    fn list_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        Kith::list_plugins(self)
    }
    fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        Kith::set_plugin_enabled(self, name, enabled)
    }
    fn remove_plugin(&self, name: &str) -> Result<()> {
        Kith::remove_plugin(self, name)
    }
    fn run_plugin(&self, name_or_dir: &str, input: &Value) -> Result<RunReport> {
        Kith::run_plugin_with_wasm(self, name_or_dir, None, input)
    }
    fn run_plugin_with_wasm(
        &self,
        name_or_dir: &str,
        wasm: Option<&Path>,
        input: &Value,
    ) -> Result<RunReport> {
        Kith::run_plugin_with_wasm(self, name_or_dir, wasm, input)
    }
    fn create_token(&self, name: &str) -> Result<NewToken> {
        Kith::create_token(self, name)
    }
    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        Kith::list_tokens(self)
    }
    fn revoke_token(&self, name: &str) -> Result<()> {
        Kith::revoke_token(self, name)
    }
    fn config(&self) -> Result<Vec<Setting>> {
        Kith::config(self)
    }
    fn set_config(&self, key: &str, value: &str) -> Result<Setting> {
        Kith::set_config(self, key, value)
    }
    fn unset_config(&self, key: &str) -> Result<Setting> {
        Kith::unset_config(self, key)
    }
    fn list_events(
        &self,
        identity_id: Option<IdentityId>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        Kith::list_events(self, identity_id, after_id, limit)
    }
    fn backup(&self, to: &Path, options: &BackupOptions) -> Result<BackupReport> {
        Kith::backup(self, to, options)
    }
    fn check(&self) -> Result<Vec<Problem>> {
        Kith::check(self)
    }
}
