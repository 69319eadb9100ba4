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
    Invite, KNOWN_CAPABILITIES, Kind, LogLine, Manifest, Plan, Plugin, PluginError, read_component,
    read_manifest, sha256_hex,
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
    /// capabilities); [`Error::PluginExists`] when the name is taken.
    pub(crate) fn install_plugin_with_wasm(
        &self,
        dir: &Path,
        wasm: Option<&Path>,
        config: &[(String, String)],
        grants: &[String],
    ) -> Result<InstalledPlugin> {
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
        if let Some(missing) = manifest.capabilities.iter().find(|c| !grants.contains(c)) {
            return Err(invalid(format!(
                "it requests the capability `{missing}`; pass --grant {missing} to allow it"
            )));
        }
        let inspection = self
            .shared
            .plugins
            .inspect(manifest.kind, &wasm)
            .map_err(|e| invalid(e.to_string()))?;
        let mut effective = manifest.default_config();
        effective.extend(config.iter().cloned());
        let record = PluginRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind.as_str().to_string(),
            manifest: serde_json::to_string(&manifest).map_err(internal)?,
            config: serde_json::to_string(&effective).map_err(internal)?,
            grants: serde_json::to_string(grants).map_err(internal)?,
            sha256: inspection.sha256.clone(),
            enabled: true,
            installed_at: self.clock.now().to_string(),
            wasm,
        };
        self.commit(|tx| {
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
            )
        })?;
        self.reload_validators()?;
        installed(&record)
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
        let path = Path::new(name_or_dir);
        let plugin = if path.join("plugin.toml").exists() {
            self.plugin_from_dir_with_wasm(path, wasm)?
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
                    Ok(body) => json!({"body": body}),
                    Err(errors) => json!({"errors": errors}),
                };
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

    /// Runs every enabled validator that covers `schema_id`, in name order. The first
    /// refusal or fault ends the write: validators fail closed.
    /// The plugin of folder `dir`, not installed: checked as an install checks it, with the
    /// manifest's default config.
    pub(super) fn plugin_from_dir(&self, dir: &Path) -> Result<Plugin> {
        self.plugin_from_dir_with_wasm(dir, None)
    }

    fn plugin_from_dir_with_wasm(&self, dir: &Path, wasm: Option<&Path>) -> Result<Plugin> {
        let (manifest, wasm) = read_plugin_dir(dir, wasm)?;
        self.shared
            .plugins
            .inspect(manifest.kind, &wasm)
            .map_err(|e| Error::PluginInvalid {
                plugin: manifest.name.clone(),
                problem: e.to_string(),
            })?;
        Ok(Plugin {
            config: manifest.default_config(),
            sha256: sha256_hex(&wasm),
            wasm: Arc::new(wasm),
            manifest,
        })
    }

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
