//! `install plugin [--upgrade]`, `list plugins`, `get plugin`, `configure plugin`,
//! `remove|enable|disable plugin`, `run plugin`, and for authors `new plugin` and `wit`.

use super::Format;
use super::identity::read_input;
use super::output::{CliError, Output};
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use kith::Admin as _;
use kith::Kith;
use kith::flows::{InstalledPlugin, names_a_folder};
use kith::scaffold;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum InstallCommand {
    /// Check a plugin folder (plugin.toml + component) and store it in the file, enabled.
    Plugin(InstallArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The plugin's folder, holding plugin.toml.
    dir: PathBuf,
    /// Override a [config] value of plugin.toml (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
    config: Vec<(String, String)>,
    /// Grant a capability the plugin requests (repeatable).
    #[arg(long = "grant", value_name = "CAP")]
    grants: Vec<String>,
    /// Read the component from FILE instead of the manifest's `wasm` (which must be inside
    /// the folder), e.g. a build output under plugins/target.
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
    /// Replace the installed plugin of the same name, keeping its config (values you set;
    /// keys the new plugin.toml no longer declares are dropped), its grants and whether it is
    /// enabled. Installs it when none is installed.
    #[arg(long)]
    upgrade: bool,
}

/// `configure plugin NAME`.
#[derive(Debug, Subcommand)]
pub enum ConfigureCommand {
    /// Change an installed plugin's config; it takes effect at its next call (in a running
    /// `kith serve` too).
    Plugin(ConfigureArgs),
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// The plugin, by the name in its plugin.toml.
    name: String,
    /// Set a config key (repeatable). When plugin.toml has a [config], only its keys.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
    config: Vec<(String, String)>,
    /// Return a key to plugin.toml's default (repeatable); a key with no default is removed.
    #[arg(long = "unset", value_name = "KEY")]
    unset: Vec<String>,
}

/// `new plugin NAME`.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Write a plugin project of its own into a new folder: the plugin with a working
    /// example, the contract (wit/), plugin.toml, a README and ./test.sh, which builds it and
    /// runs it through `kith run plugin`. Nothing in it points into kith's sources.
    Plugin(NewPluginArgs),
}

#[derive(Debug, Args)]
pub struct NewPluginArgs {
    /// The plugin's name: lowercase letters, digits and dashes.
    name: String,
    /// Which world it implements.
    #[arg(long, value_parser = PossibleValuesParser::new(scaffold::KINDS))]
    kind: String,
    /// The language it is written in.
    #[arg(long, default_value = "rust", value_parser = PossibleValuesParser::new(scaffold::LANGS))]
    lang: String,
    /// The project's folder, new or empty [default: ./NAME].
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

/// `wit`.
#[derive(Debug, Args)]
pub struct WitArgs {
    /// The contract version: 0.1 (kith:plugin@0.1.0, every kind) or 0.2
    /// (kith:plugin@0.2.0: e-mail and HTTP plans for invite delivery).
    #[arg(long, default_value = "0.1", value_parser = PossibleValuesParser::new(["0.1", "0.2"]))]
    api: String,
}

/// `remove plugin NAME`, `enable plugin NAME`, `disable plugin NAME`.
#[derive(Debug, Subcommand)]
pub enum NamedCommand {
    /// The plugin, by the name in its plugin.toml.
    Plugin { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Run one call of a plugin under production limits and show result, fuel, memory, logs.
    Plugin(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An installed plugin's name, or a plugin folder, run without installing it: a path
    /// (with a `/`, or starting with `.`, as in `./my-plugin`) or a folder that exists.
    plugin: String,
    /// The call's input as JSON (`-` reads stdin); its shape depends on the kind (README).
    #[arg(long, value_name = "FILE")]
    input: String,
    /// For a plugin folder: read the component from FILE instead of the manifest's `wasm`.
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

pub fn install(kith: &Kith, out: &Output, command: InstallCommand) -> Result<(), CliError> {
    let InstallCommand::Plugin(args) = command;
    let (dir, wasm) = (&args.dir, args.wasm.as_deref());
    if !args.upgrade {
        let plugin = kith.install_plugin_with_wasm(dir, wasm, &args.config, &args.grants)?;
        if out.quiet {
            out.emit(&plugin.name);
            return Ok(());
        }
        match out.format {
            Format::Table => out.emit(&format!(
                "plugin {} {} ({}) installed and enabled",
                plugin.name, plugin.version, plugin.kind
            )),
            _ => out.json(&plugin),
        }
        return Ok(());
    }
    let upgrade = kith.upgrade_plugin_with_wasm(dir, wasm, &args.config, &args.grants)?;
    let plugin = &upgrade.plugin;
    if out.quiet {
        out.emit(&plugin.name);
        return Ok(());
    }
    match (out.format, &upgrade.upgraded_from) {
        (Format::Table, None) => out.emit(&format!(
            "plugin {} {} ({}) was not installed; installed and enabled",
            plugin.name, plugin.version, plugin.kind
        )),
        (Format::Table, Some(from)) => {
            let mut text = format!(
                "plugin {} upgraded from {} to {} ({}), config and grants kept, {}",
                plugin.name,
                from.version,
                plugin.version,
                plugin.kind,
                if plugin.enabled {
                    "enabled"
                } else {
                    "still disabled"
                }
            );
            if !from.dropped_config.is_empty() {
                text.push_str(&format!(
                    "\nconfig keys its plugin.toml no longer declares were dropped: {}",
                    from.dropped_config.join(", ")
                ));
            }
            out.emit(&text);
        }
        _ => out.json(&upgrade),
    }
    Ok(())
}

pub fn configure(kith: &Kith, out: &Output, command: ConfigureCommand) -> Result<(), CliError> {
    let ConfigureCommand::Plugin(args) = command;
    let plugin = kith.configure_plugin(&args.name, &args.config, &args.unset)?;
    if out.quiet {
        return Ok(());
    }
    match out.format {
        Format::Table => out.pairs(vec![
            (
                "plugin",
                format!("{} {} ({})", plugin.name, plugin.version, plugin.kind),
            ),
            ("config", config_lines(&plugin)),
        ]),
        _ => out.json(&plugin),
    }
    Ok(())
}

pub fn get(kith: &Kith, out: &Output, name: &str) -> Result<(), CliError> {
    let details = kith.get_plugin(name)?;
    if out.quiet {
        out.emit(&details.plugin.name);
        return Ok(());
    }
    let plugin = &details.plugin;
    let none = |items: &[String]| match items.is_empty() {
        true => "(none)".to_string(),
        false => items.join(", "),
    };
    match out.format {
        Format::Table => out.pairs(vec![
            ("name", plugin.name.clone()),
            ("version", plugin.version.clone()),
            ("kind", plugin.kind.to_string()),
            ("api", details.api.clone()),
            (
                "description",
                plugin.description.clone().unwrap_or_default(),
            ),
            (
                "enabled",
                if plugin.enabled { "yes" } else { "no" }.to_string(),
            ),
            (
                "schemas",
                match plugin.schemas.is_empty() {
                    true => "*".to_string(),
                    false => plugin.schemas.join(", "),
                },
            ),
            ("config", config_lines(plugin)),
            ("capabilities", none(&details.capabilities)),
            ("grants", none(&plugin.grants)),
            (
                "limits",
                format!(
                    "fuel {}, memory {} MiB, timeout {} ms",
                    details.limits.fuel,
                    details.limits.memory_bytes >> 20,
                    details.limits.timeout_ms
                ),
            ),
            ("sha256", plugin.sha256.clone()),
            ("size", format!("{} bytes", details.size_bytes)),
            ("installed at", plugin.installed_at.clone()),
        ]),
        _ => out.json(&details),
    }
    Ok(())
}

/// A plugin's config as `key = value` lines (credentials shown as `***`).
fn config_lines(plugin: &InstalledPlugin) -> String {
    if plugin.config.is_empty() {
        return "(none)".into();
    }
    plugin
        .config
        .iter()
        .map(|(key, value)| format!("{key} = {value:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn new(out: &Output, command: NewCommand) -> Result<(), CliError> {
    let NewCommand::Plugin(args) = command;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let request = scaffold::NewPlugin {
        name: args.name,
        kind: args.kind,
        lang: args.lang,
        dir,
    };
    let files = scaffold::new_plugin(&request)?;
    if out.quiet {
        return Ok(());
    }
    let shown = request.dir.display();
    match out.format {
        Format::Table => out.emit(&format!(
            "wrote the {} plugin `{}` ({}) into {shown}: {}\nnext: cd {shown} && ./test.sh    (builds it and runs tests/*.json through kith run plugin)",
            request.kind,
            request.name,
            request.lang,
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => out.json(&serde_json::json!({
            "name": request.name,
            "kind": request.kind,
            "lang": request.lang,
            "dir": request.dir,
            "files": files,
        })),
    }
    Ok(())
}

pub fn wit(args: WitArgs) -> Result<(), CliError> {
    let text = match args.api.as_str() {
        "0.2" => scaffold::CONTRACT_V0_2,
        _ => scaffold::CONTRACT,
    };
    super::write_stdout(text.as_bytes())
}

pub fn list(kith: &Kith, out: &Output) -> Result<(), CliError> {
    let plugins = kith.list_plugins()?;
    if out.quiet {
        for plugin in &plugins {
            out.emit(&plugin.name);
        }
        return Ok(());
    }
    match out.format {
        Format::Table => out.table(
            &["NAME", "VERSION", "KIND", "ENABLED", "SCHEMAS", "SHA256"],
            plugins.iter().map(row).collect(),
        ),
        _ => out.json(&plugins),
    }
    Ok(())
}

fn row(plugin: &InstalledPlugin) -> Vec<String> {
    vec![
        plugin.name.clone(),
        plugin.version.clone(),
        plugin.kind.to_string(),
        if plugin.enabled { "yes" } else { "no" }.to_string(),
        plugin.schemas.join(","),
        plugin.sha256.chars().take(12).collect(),
    ]
}

pub fn remove(kith: &Kith, out: &Output, command: NamedCommand) -> Result<(), CliError> {
    let NamedCommand::Plugin { name } = command;
    kith.remove_plugin(&name)?;
    if !out.quiet && out.format == Format::Table {
        out.emit(&format!("plugin {name} removed"));
    }
    Ok(())
}

pub fn enable(kith: &Kith, out: &Output, command: NamedCommand, on: bool) -> Result<(), CliError> {
    let NamedCommand::Plugin { name } = command;
    kith.set_plugin_enabled(&name, on)?;
    if !out.quiet && out.format == Format::Table {
        out.emit(&format!(
            "plugin {name} {}",
            if on { "enabled" } else { "disabled" }
        ));
    }
    Ok(())
}

/// Whether `run plugin` runs a folder, which needs no store.
pub fn runs_a_folder(command: &RunCommand) -> bool {
    let RunCommand::Plugin(args) = command;
    names_a_folder(&args.plugin)
}

pub fn run(kith: &Kith, out: &Output, command: &RunCommand) -> Result<(), CliError> {
    let RunCommand::Plugin(args) = command;
    if args.wasm.is_some() && !names_a_folder(&args.plugin) {
        return Err(CliError::usage(format!(
            "--wasm names the component of a plugin folder, and {} is an installed plugin's \
             name (write ./{0} for a folder)",
            args.plugin
        )));
    }
    let (text, source) = read_input(&args.input)?;
    let input = serde_json::from_str(&text)
        .map_err(|e| CliError::input(&source, format!("{source} is not JSON: {e}")))?;
    // Only an input that does not fit the plugin's kind is the input file's fault; a manifest,
    // a component, a trap or a refusal is the plugin's, and its error names it.
    let report = kith
        .run_plugin_with_wasm(&args.plugin, args.wasm.as_deref(), &input)
        .map_err(|e| match e {
            kith::Error::BadRequest(_) => CliError::from_source(e, &source),
            other => other.into(),
        })?;
    match out.format {
        Format::Table => {
            let mut pairs = vec![
                (
                    "plugin",
                    format!("{} {} ({})", report.plugin, report.version, report.kind),
                ),
                (
                    "result",
                    serde_json::to_string_pretty(&report.output).unwrap_or_default(),
                ),
                (
                    "fuel",
                    format!("{} of {}", report.fuel_used, report.fuel_limit),
                ),
                (
                    "peak memory",
                    format!(
                        "{} KiB of {} KiB",
                        report.peak_memory_bytes >> 10,
                        report.memory_limit_bytes >> 10
                    ),
                ),
                ("time", format!("{:.3} ms", report.duration_ms)),
            ];
            let mut logs: Vec<String> = report
                .logs
                .iter()
                .map(|l| format!("[{}] {}", l.level, l.message))
                .collect();
            if report.logs_dropped > 0 {
                logs.push(format!("({} more lines dropped)", report.logs_dropped));
            }
            pairs.push(("logs", logs.join("\n")));
            if !report.stdio.is_empty() {
                pairs.push(("stdout/stderr", report.stdio.trim_end().to_string()));
            }
            out.pairs(pairs);
        }
        _ => out.json(&report),
    }
    Ok(())
}
