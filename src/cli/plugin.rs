//! `install plugin`, `list plugins`, `remove|enable|disable plugin`, `run plugin`.

use super::Format;
use super::identity::read_input;
use super::output::{CliError, Output};
use clap::{Args, Subcommand};
use kith::Admin as _;
use kith::Kith;
use kith::flows::InstalledPlugin;
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
    /// An installed plugin's name, or a plugin folder (not installed).
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
    let plugin =
        kith.install_plugin_with_wasm(&args.dir, args.wasm.as_deref(), &args.config, &args.grants)?;
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
    Ok(())
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

pub fn run(kith: &Kith, out: &Output, command: RunCommand) -> Result<(), CliError> {
    let RunCommand::Plugin(args) = command;
    let (text, source) = read_input(&args.input)?;
    let input = serde_json::from_str(&text)
        .map_err(|e| CliError::input(&source, format!("{source} is not JSON: {e}")))?;
    let report = kith
        .run_plugin_with_wasm(&args.plugin, args.wasm.as_deref(), &input)
        .map_err(|e| CliError::from_source(e, &source))?;
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
