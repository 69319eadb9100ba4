//! `plugin.toml`: what a plugin says about itself, parsed and checked before any wasm is read.
//!
//! The manifest is data only; whether its requests are granted, and how its limits are
//! clamped, is decided in `limits` and by the install flow.

use super::PluginError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Component;

/// The contract versions this kith speaks: `kith:plugin@0.2.0` adds e-mail and HTTP plans
/// to invite delivery, and 0.1.0 plugins keep loading unchanged.
pub const API_VERSIONS: &[&str] = &["0.1", "0.2"];

/// Which world a plugin implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `world trait-validator`: checks traits after JSON Schema.
    TraitValidator,
    /// `world invite-delivery`: turns an invite into a delivery plan.
    InviteDelivery,
    /// `world import-mapper`: maps one foreign record to a createIdentityBody.
    ImportMapper,
    /// `world password-migration`: verifies a password against another system's hash, for
    /// identities imported with `use_password_migration_hook`. At most one is enabled.
    PasswordMigration,
}

impl Kind {
    /// The name used in `plugin.toml` and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TraitValidator => "trait-validator",
            Kind::InviteDelivery => "invite-delivery",
            Kind::ImportMapper => "import-mapper",
            Kind::PasswordMigration => "password-migration",
        }
    }

    /// Parses the `plugin.toml` name of a kind.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "trait-validator" => Some(Kind::TraitValidator),
            "invite-delivery" => Some(Kind::InviteDelivery),
            "import-mapper" => Some(Kind::ImportMapper),
            "password-migration" => Some(Kind::PasswordMigration),
            _ => None,
        }
    }

    /// The interface a component of this kind must export (unversioned).
    pub fn export_interface(self) -> &'static str {
        match self {
            Kind::TraitValidator => "kith:plugin/validator",
            Kind::InviteDelivery => "kith:plugin/delivery",
            Kind::ImportMapper => "kith:plugin/mapper",
            Kind::PasswordMigration => "kith:plugin/migration",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits a plugin asks for; the host clamps each to its maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// Fuel per call (about one unit per wasm instruction).
    pub fuel: Option<u64>,
    /// Linear memory, in MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// A parsed `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's unique name in the store: lowercase letters, digits and `-`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    pub kind: Kind,
    /// The contract version the plugin was built against; one of [`API_VERSIONS`].
    pub api: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The compiled component, relative to the plugin's folder.
    pub wasm: String,
    /// Validators: the schema ids they check (`"*"` for every schema). Empty means all.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Capabilities the plugin asks for; each needs a `--grant` at install.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub limits: LimitRequest,
    /// Default configuration, handed to every call; `--config KEY=VALUE` overrides it.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

impl Manifest {
    /// Parses and checks `plugin.toml` text.
    ///
    /// # Errors
    /// [`PluginError::Manifest`] saying what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| PluginError::Manifest(e.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), PluginError> {
        let bad = |problem: String| Err(PluginError::Manifest(problem));
        check_name(&self.name).map_err(PluginError::Manifest)?;
        if self.version.is_empty() || self.version.len() > 64 {
            return bad("version must be set, e.g. \"0.1.0\"".into());
        }
        if !API_VERSIONS.contains(&self.api.as_str()) {
            return bad(format!(
                "api \"{}\" is not supported; this kith speaks plugin api \"0.1\" \
                 (kith:plugin@0.1.0) and \"0.2\" (kith:plugin@0.2.0)",
                self.api
            ));
        }
        if self.api == "0.2" && self.kind != Kind::InviteDelivery {
            return bad(format!(
                "api \"0.2\" changes only invite-delivery plugins; a {} speaks api \"0.1\"",
                self.kind
            ));
        }
        if self.wasm.is_empty() {
            return bad("wasm must name the compiled component, relative to the folder".into());
        }
        // The component is read from inside the plugin's folder only (`folder` checks the
        // resolved path too, for symlinks); say so early for the plain cases.
        if !std::path::Path::new(&self.wasm)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return bad(format!(
                "wasm = {:?} must be a path inside the plugin folder (no `..`, not absolute); \
                 a component built elsewhere can be given with --wasm FILE",
                self.wasm
            ));
        }
        for capability in &self.capabilities {
            if !KNOWN_CAPABILITIES.contains(&capability.as_str()) {
                return bad(format!(
                    "unknown capability `{capability}`; known: {}",
                    KNOWN_CAPABILITIES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The default config as strings (TOML numbers and booleans written as text).
    pub fn default_config(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }

    /// Whether `key` may be set in this plugin's config: any key when the manifest declares
    /// no `[config]` (a plugin that takes keys of its own choosing), else only the keys it
    /// declares, so that a mistyped key is refused rather than silently ignored. An import
    /// mapper also takes JSON-pointer keys (`/traits/name/first = "First name"`): they name
    /// where in the body a source field goes, so no manifest can list them all.
    pub fn accepts_config_key(&self, key: &str) -> bool {
        self.config.is_empty()
            || self.config.contains_key(key)
            || (self.kind == Kind::ImportMapper && key.starts_with('/'))
    }

    /// True when this validator checks identities of `schema_id`.
    pub fn covers_schema(&self, schema_id: &str) -> bool {
        self.schemas.is_empty() || self.schemas.iter().any(|s| s == "*" || s == schema_id)
    }
}

/// Checks a plugin name as a manifest must spell it: 1 to 64 lowercase letters, digits and
/// dashes, not starting with a dash.
///
/// # Errors
/// Why `name` is not one, as a sentence naming it.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with('-')
    {
        return Err(format!(
            "name `{name}` must be 1 to 64 lowercase letters, digits and dashes"
        ));
    }
    Ok(())
}

/// Capabilities a manifest may request. None grants any ambient authority: plugins never
/// get files, environment, clock or network; these only let the host act on a plugin's plan.
pub const KNOWN_CAPABILITIES: &[&str] = &["outbox:write", "email:send", "http:post"];

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "email-domain-policy"
        version = "0.1.0"
        kind = "trait-validator"
        api = "0.1"
        wasm = "plugin.wasm"
        [config]
        denied_domains = "x.org"
        retries = 3
    "#;

    #[test]
    fn a_good_manifest_parses_with_its_config_as_text() -> Result<(), PluginError> {
        let manifest = Manifest::parse(GOOD)?;
        assert_eq!(manifest.kind, Kind::TraitValidator);
        let config = manifest.default_config();
        assert_eq!(config["denied_domains"], "x.org");
        assert_eq!(config["retries"], "3");
        assert!(manifest.covers_schema("anything"));
        Ok(())
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let cases = [
            (GOOD.replace("0.1\"", "9.0\""), "not supported"),
            (GOOD.replace("email-domain-policy", "Bad Name"), "lowercase"),
            (
                GOOD.replace("trait-validator", "validator"),
                "unknown variant",
            ),
            (format!("surprise = 1\n{GOOD}"), "unknown field"),
            (
                GOOD.replace("[config]", "capabilities = [\"net\"]\n[config]"),
                "unknown capability",
            ),
            (
                GOOD.replace("plugin.wasm", "../../x"),
                "inside the plugin folder",
            ),
            (
                GOOD.replace("plugin.wasm", "/dev/zero"),
                "inside the plugin folder",
            ),
        ];
        for (text, expected) in cases {
            match Manifest::parse(&text) {
                Err(PluginError::Manifest(message)) => {
                    assert!(message.contains(expected), "{message} lacks {expected}")
                }
                other => panic!("expected a manifest error with {expected}, got {other:?}"),
            }
        }
    }
}
