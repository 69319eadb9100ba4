//! Printing results and errors: tables for people, Kratos JSON for programs.

use super::Format;
use comfy_table::{Table, presets};
use kith::error::{Error, nearest};
use kith::model::{ErrorBody, ErrorEnvelope, Identity};
use serde::Serialize;
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// A failed command: a library error, or input the CLI itself could not read.
#[derive(Debug)]
pub enum CliError {
    /// A flow refused or failed; `source` names the file the input came from, if any.
    Kith {
        error: Error,
        source: Option<String>,
    },
    /// The CLI could not read or understand its own input (a file, a flag).
    Input {
        message: String,
        source: Option<String>,
    },
    /// Input was refused and the details were already printed (an import's failed records).
    Quiet,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Input {
            message: message.into(),
            source: None,
        }
    }

    pub fn input(source: &str, message: impl Into<String>) -> Self {
        CliError::Input {
            message: message.into(),
            source: Some(source.to_string()),
        }
    }

    /// Attaches the name of the file the failing input came from.
    pub fn from_source(error: Error, source: &str) -> Self {
        CliError::Kith {
            error,
            source: Some(source.to_string()),
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            CliError::Quiet => 1,
            CliError::Kith { error, .. } if !error.is_refusal() => 2,
            _ => 1,
        }
    }

    fn envelope(&self) -> ErrorEnvelope {
        match self {
            CliError::Kith { error, source } => {
                let mut envelope = error.to_envelope();
                if let Some(source) = source {
                    envelope
                        .error
                        .details
                        .insert("source".into(), source.clone().into());
                }
                envelope
            }
            CliError::Quiet => ErrorBody::new(400).into_envelope(),
            CliError::Input { message, source } => {
                let mut body = ErrorBody::new(400).with_reason(message.clone());
                if let Some(source) = source {
                    body = body.with_detail("source", source.clone());
                }
                body.into_envelope()
            }
        }
    }
}

/// `text` as a UUID, or a refusal naming what it should have been (`an identity id`).
pub fn parse_uuid<T: From<uuid::Uuid>>(text: &str, what: &str) -> Result<T, CliError> {
    uuid::Uuid::parse_str(text)
        .map(T::from)
        .map_err(|_| CliError::usage(format!("`{text}` is not {what} (a UUID)")))
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        CliError::Kith {
            error,
            source: None,
        }
    }
}

/// Prints `error` on stderr and gives the exit code.
pub fn report(error: &CliError, format: Option<Format>) -> u8 {
    if let CliError::Quiet = error {
        return error.exit_code();
    }
    let text = match resolve(format) {
        // A filter picks from results, not from errors: the whole envelope goes out.
        Format::Json | Format::JsonPath | Format::JsonPointer => {
            serde_json::to_string(&error.envelope()).unwrap_or_default()
        }
        Format::JsonPretty => serde_json::to_string_pretty(&error.envelope()).unwrap_or_default(),
        Format::Yaml => {
            super::formats::yaml(&serde_json::to_value(error.envelope()).unwrap_or_default())
                .trim_end()
                .to_string()
        }
        Format::Table => paint_error_label(human_error(error)),
    };
    let _ = writeln!(std::io::stderr(), "{text}");
    error.exit_code()
}

/// A red, bold `error:` where stderr is a terminal that shows colour: not when `NO_COLOR` is
/// set (no-color.org) or the terminal is `dumb`.
fn paint_error_label(text: String) -> String {
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb");
    match text.strip_prefix("error:") {
        Some(rest) if colour => format!("\x1b[1;31merror:\x1b[0m{rest}"),
        _ => text,
    }
}

/// `error: <where>: <what>`, then each detail on its own line: read from the error itself,
/// not from the envelope made of it for programs.
fn human_error(error: &CliError) -> String {
    let (source, error) = match error {
        CliError::Quiet => return String::new(),
        CliError::Input { message, source } => {
            return format!(
                "error: {}{message}",
                location_unless_named(source.as_deref(), message)
            );
        }
        CliError::Kith { error, source } => (source.as_deref(), error),
    };
    let position = match error {
        Error::MalformedBody { line, column, .. } if *line > 0 => Some((*line, *column)),
        _ => None,
    };
    let mut text = format!("error: {}", location(source, position));
    match error {
        Error::InvalidTraits { violations, .. } => {
            text.push_str("the traits do not match the identity schema");
            text.push_str(&violation_lines(
                violations
                    .iter()
                    .map(|v| (v.instance_ptr.as_str(), v.message.as_str())),
            ));
        }
        Error::InvalidSchema {
            schema_id,
            problems,
        } => {
            text.push_str(&format!(
                "schema `{schema_id}` is not a valid identity schema:"
            ));
            for problem in problems {
                text.push_str(&format!("\n  {problem}"));
            }
        }
        Error::SchemaWouldBreak {
            broken, examples, ..
        } => {
            text.push_str(&error.to_string());
            for example in examples {
                text.push_str(&format!("\n  {example}"));
            }
            let unnamed = *broken - examples.len() as u64;
            if unnamed > 0 {
                text.push_str(&format!("\n  ... and {unnamed} more"));
            }
            text.push_str(
                "\n  fix or move them (`kith update identity`), or loosen the schema, then try again",
            );
        }
        Error::UnknownSchema { id, known } => {
            text.push_str(&error.to_string());
            if let Some(nearest) = nearest(id, known.iter().map(String::as_str)) {
                text.push_str(&format!("\n  did you mean `{nearest}`?"));
            }
            text.push_str(&format!(
                "\n  known schema ids: {}\n  `kith list schemas` shows them; `kith add schema ID FILE` adds one",
                known.join(", ")
            ));
        }
        Error::UnknownSetting { key, known } => {
            text.push_str(&format!("setting `{key}` is not one kith knows"));
            if let Some(nearest) = nearest(key, known.iter().map(String::as_str)) {
                text.push_str(&format!("\n  did you mean `{nearest}`?"));
            }
            text.push_str("\n  `kith get config` lists every setting with its value");
        }
        Error::MalformedBody {
            message,
            pointer,
            did_you_mean,
            ..
        } => {
            text.push_str(message);
            if !pointer.is_empty() {
                text.push_str(&format!("\n  at {pointer}"));
            }
            if let Some(field) = did_you_mean {
                text.push_str(&format!("\n  did you mean `{field}`?"));
            }
        }
        // The server's own error, rendered as a local one with the same details would be.
        Error::Remote { endpoint, body } => {
            let from = format!("{endpoint} ({} {})", body.code, body.status);
            let from = match source {
                Some(source) => format!("{source}: {from}"),
                None => from,
            };
            text = format!("error: {}", record_error(&from, body));
        }
        Error::DocumentTooDeep { pointer, .. } | Error::DocumentTooLarge { pointer, .. } => {
            text.push_str(&format!("{error}\n  at {pointer}"));
        }
        Error::Conflict {
            field: Some(field),
            clash,
        } => {
            text.push_str(&error.to_string());
            text.push_str(&conflict_hint(field, clash.as_deref()));
        }
        other => {
            let message = other.to_string();
            if position.is_none() {
                text = format!("error: {}", location_unless_named(source, &message));
            }
            text.push_str(&message);
        }
    }
    text
}

/// One record's error for a person: `users.json[3]: <what>`, then what its details say (each
/// schema violation, the value that collided and who holds it, the field meant).
pub fn record_error(source: &str, error: &ErrorBody) -> String {
    let details = &error.details;
    let text = |key: &str| details.get(key).and_then(Value::as_str);
    let mut lines = format!("{source}: ");
    if let Some(Value::Array(violations)) = details.get("violations") {
        lines.push_str("the traits do not match the identity schema");
        lines.push_str(&violation_lines(violations.iter().map(|v| {
            (
                v["instance_ptr"].as_str().unwrap_or_default(),
                v["message"].as_str().unwrap_or_default(),
            )
        })));
        return lines;
    }
    lines.push_str(error.reason.as_deref().unwrap_or(&error.message));
    if let Some(field) = text("conflicting_field") {
        let clash = match (text("conflicting_value"), text("conflicting_identity")) {
            (Some(value), Some(holder)) => holder.parse().ok().map(|holder| kith::model::Clash {
                value: value.to_string(),
                holder,
                holder_source: text("conflicting_source").map(str::to_string),
            }),
            _ => None,
        };
        lines.push_str(&conflict_hint(field, clash.as_ref()));
    }
    if let Some(pointer) = text("pointer") {
        lines.push_str(&format!("\n  at {pointer}"));
        if let (Some(line), Some(column)) = (details.get("line"), details.get("column")) {
            lines.push_str(&format!(" (line {line}, column {column} of the record)"));
        }
    }
    if let Some(field) = text("did_you_mean") {
        lines.push_str(&format!("\n  did you mean `{field}`?"));
    }
    lines
}

/// Each violation as `\n  <pointer>: <message>`, each said once: a value can break one rule
/// twice (an e-mail's `format` and the extension's check of it).
fn violation_lines<'v>(violations: impl Iterator<Item = (&'v str, &'v str)>) -> String {
    let mut said: Vec<String> = Vec::new();
    for (pointer, message) in violations {
        let line = format!("\n  {pointer}: {message}");
        if !said.contains(&line) {
            said.push(line);
        }
    }
    said.concat()
}

/// Which value collided and who holds it: `the credential identifier `ada@example.com` is
/// held by identity 0190… (created from more.json[0] in this import)`.
pub fn conflict_hint(field: &str, clash: Option<&kith::model::Clash>) -> String {
    let Some(clash) = clash else {
        return format!("\n  the {field} is held by another identity");
    };
    let mut hint = format!(
        "\n  the {field} `{}` is held by identity {}",
        clash.value, clash.holder
    );
    if let Some(source) = &clash.holder_source {
        hint.push_str(&format!(" (created from {source} in this import)"));
    }
    hint
}

/// `<where>: `, unless the message names it already (`could not read nope.json: ...`).
fn location_unless_named(source: Option<&str>, message: &str) -> String {
    match source {
        Some(source) if message.contains(source) => String::new(),
        _ => location(source, None),
    }
}

/// `file:line:column: ` (or as much of it as is known) before a message.
fn location(source: Option<&str>, position: Option<(usize, usize)>) -> String {
    match (source, position) {
        (Some(source), Some((line, column))) => format!("{source}:{line}:{column}: "),
        (Some(source), None) => format!("{source}: "),
        (None, _) => String::new(),
    }
}

/// `--format`: a format, and the expression of `jsonpath=` and `jsonpointer=`.
#[derive(Clone, Debug)]
pub struct FormatArg {
    pub kind: Format,
    pub expression: Option<String>,
}

/// Parses `--format` as the kratos CLI takes it.
///
/// # Errors
/// An unknown format, or `jsonpath`/`jsonpointer` without its expression.
pub fn parse_format(text: &str) -> Result<FormatArg, String> {
    let (name, expression) = match text.split_once('=') {
        Some((name, expression)) => (name, Some(expression.to_string())),
        None => (text, None),
    };
    let kind = match name {
        "table" => Format::Table,
        "json" => Format::Json,
        "json-pretty" => Format::JsonPretty,
        "yaml" => Format::Yaml,
        "jsonpath" => Format::JsonPath,
        "jsonpointer" => Format::JsonPointer,
        _ => {
            return Err(format!(
                "`{text}` is not a format: table, json, json-pretty, yaml, jsonpath=PATH or jsonpointer=POINTER"
            ));
        }
    };
    match (kind, &expression) {
        (Format::JsonPath, None) => {
            Err("jsonpath needs a path, e.g. --format jsonpath=traits.email (gjson syntax)".into())
        }
        (Format::JsonPointer, None) => {
            Err("jsonpointer needs a pointer, e.g. --format jsonpointer=/traits/email".into())
        }
        (Format::JsonPointer, Some(pointer))
            if !pointer.is_empty() && !pointer.starts_with('/') =>
        {
            Err(format!(
                "`{pointer}` is not a JSON pointer: it starts with /"
            ))
        }
        (Format::JsonPath | Format::JsonPointer, _) => Ok(FormatArg { kind, expression }),
        (_, Some(_)) => Err(format!("the {name} format takes no expression")),
        (_, None) => Ok(FormatArg { kind, expression }),
    }
}

fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    })
}

/// Where command results go.
pub struct Output {
    pub format: Format,
    /// Whether `--format` was given, rather than guessed from the terminal.
    pub format_explicit: bool,
    /// The path or pointer of `jsonpath=` and `jsonpointer=`.
    expression: Option<String>,
    pub quiet: bool,
    /// Set once stdout's reader has gone (`kith ... | head`): nothing more is written.
    closed: std::sync::atomic::AtomicBool,
}

impl Output {
    pub fn new(format: Option<FormatArg>, quiet: bool) -> Self {
        Self {
            format: resolve(format.as_ref().map(|f| f.kind)),
            format_explicit: format.is_some(),
            expression: format.and_then(|f| f.expression),
            quiet,
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether stdout's reader has gone: a command producing a stream of results can stop
    /// early, one that changes the store finishes its work regardless.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes `text` and a newline to stdout. After a closed pipe (`kith ... | head`) it
    /// writes nothing more, and the command still ends in success, as other Unix tools do;
    /// a command that is changing the store is not cut off halfway by its reader leaving.
    pub fn emit(&self, text: &str) {
        if self.is_closed() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{text}").and_then(|_| stdout.flush())
            && error.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Writes a note for people on stderr (never parsed by programs).
    pub fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// Prints `value` as JSON in the chosen flavour.
    pub fn json<T: Serialize>(&self, value: &T) {
        let text = match self.format {
            Format::JsonPretty => serde_json::to_string_pretty(value),
            Format::Yaml => {
                let value = serde_json::to_value(value).unwrap_or_default();
                return self.emit(super::formats::yaml(&value).trim_end());
            }
            Format::JsonPath | Format::JsonPointer => {
                let value = serde_json::to_value(value).unwrap_or_default();
                let expression = self.expression.as_deref().unwrap_or_default();
                let picked = match self.format {
                    Format::JsonPath => super::formats::gjson_path(&value, expression),
                    _ => value.pointer(expression).cloned().unwrap_or(Value::Null),
                };
                serde_json::to_string_pretty(&picked)
            }
            _ => serde_json::to_string(value),
        };
        self.emit(&text.unwrap_or_default());
    }

    /// Prints a table with a header row.
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        // On a terminal, columns wrap to its width instead of running off the right edge.
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_header(header.to_vec());
        for row in rows {
            table.add_row(row);
        }
        self.emit(table.to_string().trim_end());
    }

    /// Prints `key  value` lines.
    pub fn pairs(&self, pairs: Vec<(&str, String)>) {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        for (key, value) in pairs {
            table.add_row(vec![key.to_string(), value]);
        }
        self.emit(table.to_string().trim_end());
    }

    /// One identity: Kratos JSON, or a summary for people.
    pub fn identity(&self, identity: &Identity) {
        if self.quiet {
            return self.emit(&identity.id.to_string());
        }
        match self.format {
            Format::Table => self.pairs(identity_pairs(identity)),
            _ => self.json(identity),
        }
    }

    /// Several identities: a JSON array, or one row each.
    pub fn identities(&self, identities: &[Identity]) {
        if self.quiet {
            for identity in identities {
                self.emit(&identity.id.to_string());
            }
            return;
        }
        match self.format {
            Format::Table => self.table(
                &[
                    "ID",
                    "STATE",
                    "VERIFIABLE ADDRESS 1",
                    "RECOVERY ADDRESS 1",
                    "SCHEMA ID",
                ],
                identities
                    .iter()
                    .map(|identity| {
                        vec![
                            identity.id.to_string(),
                            identity.state.to_string(),
                            first_or_none(identity.verifiable_addresses.iter().map(|a| &a.value)),
                            first_or_none(identity.recovery_addresses.iter().map(|a| &a.value)),
                            identity.schema_id.to_string(),
                        ]
                    })
                    .collect(),
            ),
            _ => self.json(&identities),
        }
    }
}

fn first_or_none<'a>(mut values: impl Iterator<Item = &'a String>) -> String {
    values.next().cloned().unwrap_or_else(|| "<none>".into())
}

fn identity_pairs(identity: &Identity) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("ID", identity.id.to_string()),
        ("STATE", identity.state.to_string()),
        ("SCHEMA ID", identity.schema_id.to_string()),
        ("SCHEMA URL", identity.schema_url.clone()),
        ("TRAITS", identity.traits.to_string()),
    ];
    if let Some(external_id) = &identity.external_id {
        pairs.push(("EXTERNAL ID", external_id.clone()));
    }
    for address in &identity.verifiable_addresses {
        let state = if address.verified {
            "verified"
        } else {
            address.status.as_str()
        };
        pairs.push((
            "VERIFIABLE ADDRESS",
            format!("{} ({}, {state})", address.value, address.via.as_str()),
        ));
    }
    for address in &identity.recovery_addresses {
        pairs.push((
            "RECOVERY ADDRESS",
            format!("{} ({})", address.value, address.via.as_str()),
        ));
    }
    for (kind, credential) in identity.credentials.iter().flatten() {
        let mut text = format!("{kind}: {}", credential.identifiers.join(", "));
        if let Some(config) = &credential.config {
            text.push_str(&format!(" {config}"));
        }
        pairs.push(("CREDENTIAL", text));
    }
    if !identity.metadata_public.is_null() {
        pairs.push(("METADATA PUBLIC", identity.metadata_public.to_string()));
    }
    if !identity.metadata_admin.is_null() {
        pairs.push(("METADATA ADMIN", identity.metadata_admin.to_string()));
    }
    pairs.push(("CREATED AT", identity.created_at.to_string()));
    pairs.push(("UPDATED AT", identity.updated_at.to_string()));
    pairs
}

/// A password from the first line of stdin, or from a prompt on the terminal; never from
/// an argument, where other users and shell history would see it.
pub fn read_password(from_stdin: bool, prompt: &str) -> Result<String, CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::input("<stdin>", format!("could not read the password: {e}")))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    rpassword::prompt_password(prompt).map_err(|e| {
        CliError::usage(format!(
            "could not read the password from the terminal ({e}); use --password-stdin"
        ))
    })
}
