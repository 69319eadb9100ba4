//! `get config`, `set config`, `unset config` and `list events`.

use super::Format;
use super::output::{CliError, Output};
use clap::{Args, Subcommand};
use kith::Admin as _;
use kith::Kith;

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Set a setting (see `kith get config` for the keys).
    Config { key: String, value: String },
}

#[derive(Debug, Subcommand)]
pub enum UnsetCommand {
    /// Forget a setting's value, so its default applies again.
    Config { key: String },
}

#[derive(Debug, Args)]
pub struct ListEventsArgs {
    /// Only events about this identity.
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// Only events after this event id.
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

pub fn get(kith: &Kith, out: &Output) -> Result<(), CliError> {
    let settings = kith.config()?;
    match out.format {
        Format::Table => out.table(
            &["KEY", "VALUE", "", "MEANING"],
            settings
                .iter()
                .map(|s| {
                    vec![
                        s.key.clone(),
                        s.value.clone(),
                        if s.default { "(default)" } else { "" }.to_string(),
                        s.description.to_string(),
                    ]
                })
                .collect(),
        ),
        _ => out.json(&settings),
    }
    Ok(())
}

pub fn set(kith: &Kith, out: &Output, command: SetCommand) -> Result<(), CliError> {
    let SetCommand::Config { key, value } = command;
    let setting = kith.set_config(&key, &value)?;
    match out.format {
        Format::Table => out.emit(&format!("{} = {}", setting.key, setting.value)),
        _ => out.json(&setting),
    }
    Ok(())
}

pub fn unset(kith: &Kith, out: &Output, command: UnsetCommand) -> Result<(), CliError> {
    let UnsetCommand::Config { key } = command;
    let setting = kith.unset_config(&key)?;
    match out.format {
        Format::Table => out.emit(&format!("{} = {} (default)", setting.key, setting.value)),
        _ => out.json(&setting),
    }
    Ok(())
}

pub fn list_events(kith: &Kith, out: &Output, args: ListEventsArgs) -> Result<(), CliError> {
    let identity = args
        .identity
        .as_deref()
        .map(|id| super::output::parse_uuid(id, "an identity id"))
        .transpose()?;
    let events = kith.list_events(identity, args.after, args.limit)?;
    match out.format {
        Format::Table => out.table(
            &["ID", "TIME", "ACTOR", "ACTION", "IDENTITY", "DETAIL"],
            events
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        e.occurred_at.to_string(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.identity_id.map(|id| id.to_string()).unwrap_or_default(),
                        e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                    ]
                })
                .collect(),
        ),
        _ => out.json(&events),
    }
    Ok(())
}
