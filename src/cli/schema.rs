//! `add schema`, `get schema`, `list schemas`, `remove schema`.

use super::output::{CliError, Output};
use super::{Format, identity::read_input};
use clap::{Args, Subcommand};
use kith::Admin;
use kith::Kith;

#[derive(Debug, Subcommand)]
pub enum AddCommand {
    /// Check an identity schema and store it in the file under ID.
    Schema {
        /// The schema id identities will name in schema_id.
        id: String,
        /// The schema (JSON Schema draft-07 with ory.sh/kratos keys); `-` reads stdin.
        file: String,
        /// Put it in place of the stored schema ID; refused while stored identities of that
        /// schema would not match it (they are listed).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Debug, Args)]
pub struct GetSchemaArgs {
    /// Schema id, or its base64url form as in schema_url.
    id: String,
}

pub fn add(kith: &Kith, out: &Output, command: AddCommand) -> Result<(), CliError> {
    let AddCommand::Schema { id, file, replace } = command;
    let (text, source) = read_input(&file)?;
    let raw = serde_json::from_str(&text)
        .map_err(|e| CliError::input(&source, format!("{source} is not JSON: {e}")))?;
    let entry = match replace {
        true => kith.replace_schema(&id, raw),
        false => kith.add_schema(&id, raw),
    }
    .map_err(|e| CliError::from_source(e, &source))?;
    match out.format {
        Format::Table if replace => out.emit(&format!("schema {} in place", entry.id)),
        Format::Table => out.emit(&format!("schema {} added", entry.id)),
        _ => out.json(&entry),
    }
    Ok(())
}

pub fn get(kith: &dyn Admin, out: &Output, args: GetSchemaArgs) -> Result<(), CliError> {
    let entry = kith.get_schema(&args.id)?;
    // The raw schema, as `GET /schemas/{id}` answers; tables cannot show it better.
    match out.format {
        Format::Json => out.json(&entry.schema),
        _ => out.emit(&serde_json::to_string_pretty(&entry.schema).unwrap_or_default()),
    }
    Ok(())
}

pub fn list(kith: &dyn Admin, out: &Output) -> Result<(), CliError> {
    let entries = kith.list_schemas()?;
    match out.format {
        Format::Table => out.table(
            &["ID", "TITLE", "SOURCE"],
            entries
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.schema
                            .get("title")
                            .and_then(|t| t.as_str())
                            .unwrap_or("")
                            .to_string(),
                        if e.is_preset() { "preset" } else { "stored" }.to_string(),
                    ]
                })
                .collect(),
        ),
        _ => out.json(&entries),
    }
    Ok(())
}

/// `kith remove schema ID`: refused while identities use it.
pub fn remove(kith: &Kith, out: &Output, id: &str) -> Result<(), CliError> {
    kith.remove_schema(id)?;
    if !out.quiet && out.format == Format::Table {
        out.emit(&format!("schema {id} removed"));
    }
    Ok(())
}
