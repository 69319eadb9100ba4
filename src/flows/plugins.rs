//! Plugins as the flows see them: install, list, remove, enable, disable, run one call for
//! an author, and the trait validators that `assemble` runs after JSON Schema.
//!
//! A plugin is stored whole in the file (manifest, config, grants, component bytes), so the
//! one file carries its plugins. Enabled validators are loaded when the store opens and
//! reloaded whenever this handle changes a plugin; another process's changes are seen within
//! half a second: a call compares a fingerprint of the enabled validators (read with its
//! settings) with the loaded one, at most every [`VALIDATOR_CHECK_EVERY`].

use super::Kith;
use crate::error::{Error, NotFound, Result};
use crate::model::SchemaId;
use crate::plugin_host::{
    Invite, KNOWN_CAPABILITIES, Kind, LogLine, Manifest, MigrationAttempt, Plan, Plugin,
    PluginError, PluginHost, read_component, read_manifest, sha256_hex,
};
use crate::store::{PluginRecord, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// An installed plugin, as `kith list plugins` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstalledPlugin {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub schemas: Vec<String>,
    pub config: BTreeMap<String, String>,
    pub grants: Vec<String>,
    pub sha256: String,
    pub installed_at: String,
}

/// What `kith install plugin --upgrade` did: the plugin as it now is, and what it replaced
/// (`None` when nothing was installed under its name, and it was installed afresh).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PluginUpgrade {
    #[serde(flatten)]
    pub plugin: InstalledPlugin,
    pub upgraded_from: Option<Upgraded>,
}

/// The plugin an upgrade replaced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Upgraded {
    pub version: String,
    pub sha256: String,
    /// Config keys the new manifest no longer declares, and which were dropped.
    pub dropped_config: Vec<String>,
}

/// An installed plugin in full, as `kith get plugin` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PluginDetails {
    #[serde(flatten)]
    pub plugin: InstalledPlugin,
    /// The contract version it was built against (`plugin.toml` `api`).
    pub api: String,
    /// The capabilities its manifest requests (`grants` holds those granted).
    pub capabilities: Vec<String>,
    /// The limits each call runs under: the manifest's `[limits]`, clamped to the host's.
    pub limits: PluginLimits,
    /// The component's size in bytes (`sha256` is the hash of the same bytes).
    pub size_bytes: u64,
}

/// The limits of one call of a plugin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PluginLimits {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub timeout_ms: u64,
}

/// One call made by `kith run plugin`: the result and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub plugin: String,
    pub version: String,
    pub kind: Kind,
    pub output: Value,
    pub fuel_used: u64,
    pub fuel_limit: u64,
    pub peak_memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub logs: Vec<LogLine>,
    pub logs_dropped: usize,
    pub stdio: String,
    pub duration_ms: f64,
}

/// What `run plugin` feeds a delivery plugin (`expires_unix_ms` defaults to now + 72 h).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteInput {
    recipient: String,
    recovery_link: String,
    recovery_code: String,
    expires_unix_ms: Option<u64>,
    #[serde(default)]
    traits: Value,
}

/// What `run plugin` feeds a password-migration plugin: one sign-in attempt.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrationInput {
    identifier: String,
    password: String,
    legacy_hash: String,
    #[serde(default)]
    traits: Value,
    #[serde(default)]
    metadata_public: Value,
    #[serde(default)]
    metadata_admin: Value,
}

/// What `run plugin` feeds a validator.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateInput {
    schema_id: String,
    traits: Value,
}

impl Kith {
    /// Checks the plugin in `dir` and stores it in the file, enabled. Its component is read
    /// from `wasm` (a build output outside the folder, named by the user) when set, and from
    /// the manifest's `wasm` path otherwise.
    ///
    /// `config` overrides the manifest's `[config]`; every capability the manifest requests
    /// must be in `grants`.
    ///
    /// # Errors
    /// [`Error::PluginInvalid`] saying what is wrong (manifest, component, imports, exports,
    /// capabilities); [`Error::UnknownPluginConfig`] for a key the manifest does not declare;
    /// [`Error::PluginExists`] when the name is taken.
    pub(crate) fn install_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin> {
        Ok(self.install(dir, wasm, config, grants, false)?.plugin)
    }

    /// Replaces the installed plugin of the name in `dir`'s manifest with that folder's
    /// manifest and component (or installs it, when none is), keeping what the administrator
    /// chose: whether it is enabled, the config values they set (values left at the old
    /// manifest's default take the new default; keys the new manifest no longer declares are
    /// dropped, and named in the result) and the grants the new manifest still requests.
    /// `config` and `grants` add to those as at install.
    ///
    /// # Errors
    /// As [`Kith::install_plugin_with_wasm`], and [`Error::PluginInvalid`] when the folder's
    /// plugin is of another kind than the installed one.
    pub(crate) fn upgrade_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<PluginUpgrade> {
        self.install(dir, wasm, config, grants, true)
    }

    fn install(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
        upgrade: bool,
    ) -> Result<PluginUpgrade> {
        let (manifest, wasm) = read_plugin_dir(dir, wasm)?;
        let invalid = |problem: String| Error::PluginInvalid {
            plugin: manifest.name.clone(),
            problem,
        };
        for grant in grants {
            if !KNOWN_CAPABILITIES.contains(&grant.as_str()) {
                return Err(invalid(format!(
                    "unknown capability `{grant}`; known: {}",
                    KNOWN_CAPABILITIES.join(", ")
                )));
            }
            if !manifest.capabilities.contains(grant) {
                return Err(invalid(format!(
                    "--grant {grant}: the plugin does not request it"
                )));
            }
        }
        // An upgrade may keep grants given at the first install; it is checked below.
        if !upgrade {
            missing_grant(&manifest, grants).map_err(invalid)?;
        }
        check_config_keys(&manifest, config.iter().map(|(key, _)| key.as_str()))?;
        let inspection = self
            .shared
            .plugins
            .inspect(manifest.kind, &wasm)
            .map_err(|e| invalid(e.to_string()))?;
        let mut record = PluginRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind.as_str().to_string(),
            manifest: serde_json::to_string(&manifest).map_err(internal)?,
            config: String::new(),
            grants: String::new(),
            sha256: inspection.sha256.clone(),
            enabled: true,
            installed_at: self.clock.now().to_string(),
            wasm,
        };
        let upgraded = self.commit(|tx| {
            let previous = match upgrade {
                true => tx.get_plugin(&record.name)?,
                false => None,
            };
            // One migration plugin is enabled at a time: a new one is enabled at install, an
            // upgraded one keeps its state.
            let enabling = previous.as_ref().is_none_or(|p| p.enabled);
            if manifest.kind == Kind::PasswordMigration && enabling {
                only_migration_plugin(tx, &record.name)?;
            }
            let Some(previous) = previous else {
                let mut effective = manifest.default_config();
                effective.extend(config.iter().cloned());
                record.config = serde_json::to_string(&effective).map_err(internal)?;
                record.grants = serde_json::to_string(grants).map_err(internal)?;
                tx.insert_plugin(&record).map_err(|e| {
                    if e.is_conflict() {
                        Error::PluginExists(record.name.clone())
                    } else {
                        e.into()
                    }
                })?;
                tx.record(
                    "plugin.installed",
                    None,
                    Some(json!({"plugin": record.name, "version": record.version,
                                "kind": record.kind, "sha256": record.sha256})),
                )?;
                return Ok(None);
            };
            let old_manifest: Manifest =
                serde_json::from_str(&previous.manifest).map_err(corrupt)?;
            if old_manifest.kind != manifest.kind {
                return Err(invalid(format!(
                    "the installed {} is a {}, and this folder holds a {}; a plugin keeps its \
                     kind across upgrades (remove it first: kith remove plugin {})",
                    record.name, old_manifest.kind, manifest.kind, record.name
                )));
            }
            let mut granted: Vec<String> = grants_of(&previous)?
                .into_iter()
                .filter(|grant| manifest.capabilities.contains(grant))
                .collect();
            for grant in grants {
                if !granted.contains(grant) {
                    granted.push(grant.clone());
                }
            }
            missing_grant(&manifest, &granted).map_err(invalid)?;
            let old_config: BTreeMap<String, String> =
                serde_json::from_str(&previous.config).map_err(corrupt)?;
            let (mut effective, dropped) = carried_config(&old_manifest, old_config, &manifest);
            effective.extend(config.iter().cloned());
            record.config = serde_json::to_string(&effective).map_err(internal)?;
            record.grants = serde_json::to_string(&granted).map_err(internal)?;
            record.enabled = previous.enabled;
            tx.replace_plugin(&record)?;
            tx.record(
                "plugin.upgraded",
                None,
                Some(
                    json!({"plugin": record.name, "from_version": previous.version,
                            "version": record.version, "kind": record.kind,
                            "previous_sha256": previous.sha256, "sha256": record.sha256,
                            "dropped_config": dropped}),
                ),
            )?;
            Ok(Some(Upgraded {
                version: previous.version,
                sha256: previous.sha256,
                dropped_config: dropped,
            }))
        })?;
        self.reload_validators()?;
        Ok(PluginUpgrade {
            plugin: installed(&record)?,
            upgraded_from: upgraded,
        })
    }

    /// Changes the config of the installed plugin `name`: each of `set` is stored, each of
    /// `unset` goes back to the manifest's default (or, for a key the manifest has no default
    /// for, is removed). Takes effect at the plugin's next call, in every process.
    ///
    /// # Errors
    /// [`NotFound::Plugin`]; [`Error::UnknownPluginConfig`] for a key the manifest does not
    /// declare (when it declares a `[config]`); [`Error::BadRequest`] when nothing is asked.
    pub(crate) fn configure_plugin(
        &self,
        name: &str,
        set: &[(String, String)],
        unset: &[String],
    ) -> Result<InstalledPlugin> {
        if set.is_empty() && unset.is_empty() {
            return Err(Error::BadRequest(
                "nothing to change: give --config KEY=VALUE or --unset KEY".into(),
            ));
        }
        let record = self.commit(|tx| {
            let mut record = tx
                .get_plugin(name)?
                .ok_or_else(|| Error::NotFound(NotFound::Plugin(name.to_string())))?;
            let manifest: Manifest = serde_json::from_str(&record.manifest).map_err(corrupt)?;
            check_config_keys(
                &manifest,
                set.iter()
                    .map(|(key, _)| key.as_str())
                    .chain(unset.iter().map(String::as_str)),
            )?;
            let mut config: BTreeMap<String, String> =
                serde_json::from_str(&record.config).map_err(corrupt)?;
            let defaults = manifest.default_config();
            for key in unset {
                match defaults.get(key) {
                    Some(default) => config.insert(key.clone(), default.clone()),
                    None => config.remove(key),
                };
            }
            config.extend(set.iter().cloned());
            record.config = serde_json::to_string(&config).map_err(internal)?;
            tx.set_plugin_config(name, &record.config)?;
            // Keys, not values: a value may be a credential.
            let keys: Vec<&str> = set.iter().map(|(key, _)| key.as_str()).collect();
            tx.record(
                "plugin.configured",
                None,
                Some(json!({"plugin": name, "set": keys, "unset": unset})),
            )?;
            Ok(record)
        })?;
        self.reload_validators()?;
        installed(&record)
    }

    /// The installed plugin `name` in full: manifest, config, grants, limits, and its
    /// component's sha256 and size.
    ///
    /// # Errors
    /// [`NotFound::Plugin`].
    pub(crate) fn get_plugin(&self, name: &str) -> Result<PluginDetails> {
        let record = self
            .read(|tx| Ok(tx.get_plugin(name)?))?
            .ok_or_else(|| Error::NotFound(NotFound::Plugin(name.to_string())))?;
        let manifest: Manifest = serde_json::from_str(&record.manifest).map_err(corrupt)?;
        let limits = crate::plugin_host::Limits::for_plugin(manifest.kind, &manifest.limits);
        Ok(PluginDetails {
            plugin: installed(&record)?,
            api: manifest.api,
            capabilities: manifest.capabilities,
            limits: PluginLimits {
                fuel: limits.fuel,
                memory_bytes: limits.memory_bytes,
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            size_bytes: record.wasm.len() as u64,
        })
    }

    /// Every installed plugin, by name.
    ///
    /// # Errors
    /// Only if the store fails or holds a damaged row.
    pub(crate) fn list_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        self.read(|tx| tx.list_plugins()?.iter().map(installed).collect())
    }

    /// Removes the plugin `name` from the file.
    ///
    /// # Errors
    /// [`NotFound::Plugin`].
    pub(crate) fn remove_plugin(&self, name: &str) -> Result<()> {
        self.commit(|tx| {
            if !tx.delete_plugin(name)? {
                return Err(Error::NotFound(NotFound::Plugin(name.to_string())));
            }
            tx.record("plugin.removed", None, Some(json!({"plugin": name})))
        })?;
        self.reload_validators()
    }

    /// Enables or disables the plugin `name`; a disabled plugin is kept but never called.
    ///
    /// # Errors
    /// [`NotFound::Plugin`].
    pub(crate) fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let action = if enabled {
            "plugin.enabled"
        } else {
            "plugin.disabled"
        };
        self.commit(|tx| {
            if enabled
                && tx
                    .get_plugin(name)?
                    .is_some_and(|p| p.kind == Kind::PasswordMigration.as_str())
            {
                only_migration_plugin(tx, name)?;
            }
            if !tx.set_plugin_enabled(name, enabled)? {
                return Err(Error::NotFound(NotFound::Plugin(name.to_string())));
            }
            tx.record(action, None, Some(json!({"plugin": name})))
        })?;
        self.reload_validators()
    }

    /// Runs one call of a plugin (installed, by name, or a plugin folder, whose component is
    /// read from `wasm` when set) under its production limits, for authors: `input` is what
    /// its kind takes (see the README).
    ///
    /// # Errors
    /// [`NotFound::Plugin`], [`Error::PluginInvalid`] for a bad folder, a fault of the
    /// plugin; [`Error::BadRequest`] when `wasm` is set for an installed plugin (it already
    /// holds its component).
    pub(crate) fn run_plugin_with_wasm(
        &self,
        name_or_dir: &str,
        wasm: Option<&Path>,
        input: &Value,
    ) -> Result<RunReport> {
        let plugin = if names_a_folder(name_or_dir) {
            folder_plugin(&self.shared.plugins, name_or_dir, wasm)?
        } else {
            if wasm.is_some() {
                return Err(Error::BadRequest(format!(
                    "--wasm names the component of a plugin folder, and {name_or_dir} is not one \
                     (an installed plugin already holds its component)"
                )));
            }
            let record = self
                .read(|tx| Ok(tx.get_plugin(name_or_dir)?))?
                .ok_or_else(|| Error::NotFound(NotFound::Plugin(name_or_dir.to_string())))?;
            plugin_of(record)?
        };
        let bad_input = |problem: String| {
            Error::BadRequest(format!(
                "the input does not fit plugin {}, a {}: {problem}",
                plugin.manifest.name, plugin.manifest.kind
            ))
        };
        let now = self.now_unix_ms();
        let host = &self.shared.plugins;
        let (output, report) = match plugin.manifest.kind {
            Kind::TraitValidator => {
                let input: ValidateInput =
                    serde_json::from_value(input.clone()).map_err(|e| bad_input(e.to_string()))?;
                let report =
                    host.validate(&plugin, &input.schema_id, &input.traits.to_string(), now)?;
                let output = match &report.output {
                    Ok(()) => json!({"accepted": true}),
                    Err(errors) => json!({"accepted": false, "errors": errors}),
                };
                (output, report.with_output(()))
            }
            Kind::InviteDelivery => {
                let input: InviteInput =
                    serde_json::from_value(input.clone()).map_err(|e| bad_input(e.to_string()))?;
                let invite = Invite {
                    recipient: input.recipient,
                    recovery_link: input.recovery_link,
                    recovery_code: input.recovery_code,
                    expires_unix_ms: input
                        .expires_unix_ms
                        .unwrap_or(now.saturating_add(72 * 3600 * 1000)),
                    traits_json: input.traits.to_string(),
                };
                let report = host.deliver(&plugin, &invite, now)?;
                let output = plan_json(&report.output);
                (output, report.with_output(()))
            }
            Kind::ImportMapper => {
                let report = host.map_record(&plugin, &input.to_string(), now)?;
                let output = match &report.output {
                    Ok(body) => {
                        json!({"body": serde_json::from_str::<Value>(body).unwrap_or_default()})
                    }
                    Err(errors) => json!({"errors": errors}),
                };
                (output, report.with_output(()))
            }
            Kind::PasswordMigration => {
                let input: MigrationInput =
                    serde_json::from_value(input.clone()).map_err(|e| bad_input(e.to_string()))?;
                let attempt = MigrationAttempt {
                    identifier: input.identifier,
                    password: input.password,
                    legacy_hash: input.legacy_hash,
                    traits_json: input.traits.to_string(),
                    metadata_public_json: input.metadata_public.to_string(),
                    metadata_admin_json: input.metadata_admin.to_string(),
                };
                let report = host.verify_legacy_password(&plugin, &attempt, now)?;
                let output = json!({"verdict": report.output});
                (output, report.with_output(()))
            }
        };
        let limits = plugin.limits();
        Ok(RunReport {
            plugin: plugin.manifest.name.clone(),
            version: plugin.manifest.version.clone(),
            kind: plugin.manifest.kind,
            output,
            fuel_used: report.fuel_used,
            fuel_limit: limits.fuel,
            peak_memory_bytes: report.peak_memory_bytes,
            memory_limit_bytes: limits.memory_bytes,
            logs: report.logs,
            logs_dropped: report.logs_dropped,
            stdio: report.stdio,
            duration_ms: report.duration.as_secs_f64() * 1000.0,
        })
    }

    /// The plugin of folder `dir`, not installed: checked as an install checks it, with the
    /// manifest's default config.
    pub(super) fn plugin_from_dir(&self, dir: &str) -> Result<Plugin> {
        folder_plugin(&self.shared.plugins, dir, None)
    }

    /// Runs every enabled validator that covers `schema_id`, in name order. The first
    /// refusal or fault ends the write: validators fail closed.
    pub(super) fn run_validators(&self, schema_id: &SchemaId, traits: &Value) -> Result<()> {
        let validators = self
            .shared
            .validators
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut covering = validators
            .plugins
            .iter()
            .filter(|p| p.manifest.covers_schema(schema_id.as_str()))
            .peekable();
        if covering.peek().is_none() {
            return Ok(());
        }
        let text = traits.to_string();
        let now = self.now_unix_ms();
        for plugin in covering {
            let report = self
                .shared
                .plugins
                .validate(plugin, schema_id.as_str(), &text, now)?;
            if let Err(errors) = report.output {
                return Err(Error::PluginRejected {
                    plugin: plugin.manifest.name.clone(),
                    version: plugin.manifest.version.clone(),
                    errors,
                });
            }
        }
        Ok(())
    }

    /// Reads the enabled validators into memory (see the module docs for why).
    pub(super) fn reload_validators(&self) -> Result<()> {
        let loaded = self.read(|tx| {
            Ok(Validators {
                fingerprint: tx.plugins_fingerprint(Kind::TraitValidator.as_str())?,
                plugins: load_validators(tx)?,
            })
        })?;
        *self
            .shared
            .validators
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// Whether this call should look for validator changes made elsewhere: at most every
    /// [`VALIDATOR_CHECK_EVERY`], so a busy server pays for the look a few times a second,
    /// not on every call, and a change is in force within that time.
    pub(super) fn validators_check_due(&self) -> bool {
        let now = self.shared.opened.elapsed().as_millis() as u64;
        let next = &self.shared.validators_next_check;
        let due = next.load(std::sync::atomic::Ordering::Relaxed);
        now >= due
            && next
                .compare_exchange(
                    due,
                    now + VALIDATOR_CHECK_EVERY.as_millis() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Reloads the validators when `fingerprint` (read at the start of a call) says another
    /// handle or process has installed, removed, enabled or disabled one since they loaded.
    pub(super) fn refresh_validators(&self, fingerprint: &str) -> Result<()> {
        let stale = self
            .shared
            .validators
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fingerprint
            != fingerprint;
        if stale {
            self.reload_validators()?;
        }
        Ok(())
    }

    pub(super) fn now_unix_ms(&self) -> u64 {
        u64::try_from(self.clock.now().unix_millis()).unwrap_or(0)
    }
}

/// The enabled validators, and the fingerprint of the store rows they were loaded from, kept
/// together so a reload replaces both at once.
#[derive(Default)]
pub(super) struct Validators {
    fingerprint: String,
    plugins: Vec<Plugin>,
}

/// How often a call looks for validators changed by another process.
pub(super) const VALIDATOR_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Refuses a second enabled password-migration plugin. A flagged sign-in asks exactly one
/// plugin: with two, which one answered would depend on an order the operator never chose,
/// and a fault of one could not be told from a wrong password of the other.
fn only_migration_plugin(tx: &Tx<'_>, name: &str) -> Result<()> {
    let enabled = tx
        .list_plugins()?
        .into_iter()
        .find(|p| p.enabled && p.kind == Kind::PasswordMigration.as_str() && p.name != name);
    match enabled {
        Some(other) => Err(Error::MigrationPluginEnabled {
            plugin: name.to_string(),
            enabled: other.name,
        }),
        None => Ok(()),
    }
}

/// The enabled password-migration plugin, if one is (there is never more than one).
pub(super) fn migration_plugin(tx: &Tx<'_>) -> Result<Option<Plugin>> {
    tx.enabled_plugins(Kind::PasswordMigration.as_str())?
        .into_iter()
        .next()
        .map(plugin_of)
        .transpose()
}

/// The enabled validators in `tx`, ready to call.
pub(super) fn load_validators(tx: &Tx<'_>) -> Result<Vec<Plugin>> {
    tx.enabled_plugins(Kind::TraitValidator.as_str())?
        .into_iter()
        .map(plugin_of)
        .collect()
}

fn plan_json(plan: &Plan) -> Value {
    match plan {
        Plan::Nothing => json!({"plan": "nothing"}),
        Plan::Outbox(files) => json!({
            "plan": "outbox",
            "files": files.iter().map(|f| json!({
                "name": f.name,
                "content_type": f.content_type,
                "bytes": f.body.len(),
                "body": String::from_utf8_lossy(&f.body),
            })).collect::<Vec<_>>(),
        }),
        Plan::Email(email) => json!({"plan": "email", "email": email}),
        Plan::Http(post) => json!({"plan": "http", "http": post}),
    }
}

/// The first capability `manifest` requests that `grants` lacks, as a refusal saying how to
/// grant it.
fn missing_grant(manifest: &Manifest, grants: &[String]) -> std::result::Result<(), String> {
    match manifest.capabilities.iter().find(|c| !grants.contains(c)) {
        Some(missing) => Err(format!(
            "it requests the capability `{missing}`; pass --grant {missing} to allow it"
        )),
        None => Ok(()),
    }
}

/// Refuses the first of `keys` that `manifest` does not accept (see
/// [`Manifest::accepts_config_key`]).
fn check_config_keys<'k>(
    manifest: &Manifest,
    mut keys: impl Iterator<Item = &'k str>,
) -> Result<()> {
    match keys.find(|key| !manifest.accepts_config_key(key)) {
        Some(key) => Err(Error::UnknownPluginConfig {
            plugin: manifest.name.clone(),
            key: key.to_string(),
            known: manifest.config.keys().cloned().collect(),
        }),
        None => Ok(()),
    }
}

/// The config an upgrade from `old` to `new` starts from, and the keys it drops. A value the
/// administrator set (one that differs from `old`'s default, or a key `old` has no default
/// for) is kept while `new` accepts the key; a value left at `old`'s default takes `new`'s
/// default, or is dropped when `new` declares no such key.
fn carried_config(
    old: &Manifest,
    stored: BTreeMap<String, String>,
    new: &Manifest,
) -> (BTreeMap<String, String>, Vec<String>) {
    let old_defaults = old.default_config();
    let mut config = new.default_config();
    let mut dropped = Vec::new();
    for (key, value) in stored {
        if old_defaults.get(&key) == Some(&value) {
            if !new.config.contains_key(&key) {
                dropped.push(key);
            }
            continue;
        }
        if new.accepts_config_key(&key) {
            config.insert(key, value);
        } else {
            dropped.push(key);
        }
    }
    (config, dropped)
}

/// Whether `kith run plugin` reads `text` as a plugin folder rather than an installed
/// plugin's name: a path (a separator, or a leading `.`, which no plugin name has) or a
/// folder that exists.
pub fn names_a_folder(text: &str) -> bool {
    text.contains('/')
        || text.contains(std::path::MAIN_SEPARATOR)
        || text.starts_with('.')
        || Path::new(text).is_dir()
}

/// The manifest and component of the plugin folder `dir` (the component from `wasm` when
/// the user names one), read under `plugin_host`'s confinement and size rules.
fn read_plugin_dir(dir: &Path, wasm: Option<&Path>) -> Result<(Manifest, Vec<u8>)> {
    let folder = dir.display().to_string();
    let invalid = |plugin: &str, problem: String| Error::PluginInvalid {
        plugin: plugin.to_string(),
        problem,
    };
    let text = read_manifest(dir).map_err(|e| invalid(&folder, e.to_string()))?;
    let manifest = Manifest::parse(&text).map_err(|e| invalid(&folder, e.to_string()))?;
    let wasm = read_component(dir, &manifest.wasm, wasm).map_err(|e| {
        let hint = match e {
            // Most often: the plugins were not built, or not copied into their folders.
            PluginError::Unreadable { .. } if wasm.is_none() => {
                "; build the plugins first (scripts/build-plugins), or give a build output with --wasm FILE"
            }
            _ => "",
        };
        invalid(&manifest.name, format!("its component: {e}{hint}"))
    })?;
    Ok((manifest, wasm))
}

/// The plugin folder `dir` ready to call, with its manifest's config, as `kith run plugin`
/// loads it without installing it: every problem with the folder is the plugin's, and named
/// by the folder as the user gave it.
fn folder_plugin(host: &PluginHost, dir: &str, wasm: Option<&Path>) -> Result<Plugin> {
    let not_runnable = |problem: String| Error::PluginNotRunnable {
        plugin: dir.to_string(),
        problem,
    };
    let path = Path::new(dir);
    if !path.join("plugin.toml").exists() {
        return Err(not_runnable(match path.is_dir() {
            true => "the folder has no plugin.toml".into(),
            false => "there is no such folder".into(),
        }));
    }
    let (manifest, wasm) = read_plugin_dir(path, wasm).map_err(|e| match e {
        Error::PluginInvalid { problem, .. } => not_runnable(problem),
        other => other,
    })?;
    host.inspect(manifest.kind, &wasm)
        .map_err(|e| not_runnable(e.to_string()))?;
    Ok(Plugin {
        config: manifest.default_config(),
        sha256: sha256_hex(&wasm),
        wasm: Arc::new(wasm),
        manifest,
    })
}

pub(super) fn plugin_of(record: PluginRecord) -> Result<Plugin> {
    let manifest: Manifest = serde_json::from_str(&record.manifest).map_err(corrupt)?;
    let config: BTreeMap<String, String> = serde_json::from_str(&record.config).map_err(corrupt)?;
    Ok(Plugin {
        manifest,
        config,
        wasm: Arc::new(record.wasm),
        sha256: record.sha256,
    })
}

/// The capabilities `record` was granted at install.
pub(super) fn grants_of(record: &PluginRecord) -> Result<Vec<String>> {
    serde_json::from_str(&record.grants).map_err(corrupt)
}

fn installed(record: &PluginRecord) -> Result<InstalledPlugin> {
    let manifest: Manifest = serde_json::from_str(&record.manifest).map_err(corrupt)?;
    Ok(InstalledPlugin {
        name: record.name.clone(),
        version: record.version.clone(),
        kind: manifest.kind,
        enabled: record.enabled,
        description: manifest.description,
        schemas: manifest.schemas,
        config: shown_config(serde_json::from_str(&record.config).map_err(corrupt)?),
        grants: serde_json::from_str(&record.grants).map_err(corrupt)?,
        sha256: record.sha256.clone(),
        installed_at: record.installed_at.clone(),
    })
}

/// Config keys whose values are credentials (a webhook's `authorization`, a gateway's
/// `api_key`): shown as `***`, as the relay's password is.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "authorization",
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|secret| key.contains(secret))
}

fn shown_config(config: BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .into_iter()
        .map(|(key, value)| {
            let value = match is_secret_key(&key) && !value.is_empty() {
                true => "***".to_string(),
                false => value,
            };
            (key, value)
        })
        .collect()
}

fn corrupt(error: serde_json::Error) -> Error {
    Error::internal("a stored plugin cannot be read back; reinstall it", error)
}

fn internal(error: serde_json::Error) -> Error {
    Error::internal("could not turn a plugin's settings into JSON", error)
}
