//! `create|get|list|update|patch|delete|validate identity` and `verify password`.

use super::output::{CliError, Output};
use clap::{Args, Subcommand};
use kith::Admin;
use kith::Kith;
use kith::flows::ListIdentities;
use kith::model::IdentityId;
use kith::model::{CreateIdentityBody, MAX_DOCUMENT_BYTES, UpdateIdentityBody, parse_body};
use serde_json::Value;
use std::io::Read;

#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// Create an identity from flags or a createIdentityBody file.
    Identity(CreateIdentityArgs),
    /// Issue an admin recovery code, as POST /admin/recovery/code does.
    RecoveryCode(super::invite::RecoveryArgs),
    /// Issue an admin recovery link, as POST /admin/recovery/link does.
    RecoveryLink(super::invite::RecoveryArgs),
    /// Make an API token for `kith serve`; it is printed once and stored only as a hash.
    Token(super::serve::CreateTokenArgs),
}

#[derive(Debug, Args)]
pub struct CreateIdentityArgs {
    /// Identity schema id, e.g. preset://email.
    #[arg(
        long,
        required_unless_present = "file",
        conflicts_with = "file",
        requires = "traits"
    )]
    schema_id: Option<String>,
    /// Traits as a JSON object.
    #[arg(long, requires = "schema_id", value_name = "JSON")]
    traits: Option<String>,
    /// A whole createIdentityBody (JSON); `-` reads stdin.
    #[arg(long, short = 'f', value_name = "BODY.json")]
    file: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetIdentityArgs {
    /// Identity ids.
    #[arg(required_unless_present = "external_id", value_name = "ID")]
    ids: Vec<String>,
    /// The identity with this external id (exact), as `GET /admin/identities/by/external/{id}`.
    #[arg(long, value_name = "EXTERNAL_ID")]
    external_id: Option<String>,
    /// Include the config of this credential type (repeatable): password, oidc, ...
    #[arg(long = "include-credential", short = 'i', value_name = "TYPE")]
    include_credential: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListIdentitiesArgs {
    /// Identities per page (default 250, at most 500).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    page_size: Option<i64>,
    /// Token of the page to show (printed after the previous page).
    #[arg(long, value_name = "TOKEN")]
    page_token: Option<String>,
    /// Only identities with this credential identifier (normalized, exact).
    #[arg(long, value_name = "IDENTIFIER")]
    identifier: Option<String>,
    /// Only identities with a credential identifier starting with this.
    #[arg(long, value_name = "PREFIX", conflicts_with = "identifier")]
    identifier_prefix: Option<String>,
    /// Only identities of this organization.
    #[arg(long, value_name = "UUID")]
    organization_id: Option<String>,
    /// Accepted as the kratos CLI takes it; one file is always read consistently.
    #[arg(long, value_name = "LEVEL", value_parser = ["strong", "eventual"])]
    consistency: Option<String>,
    /// Include the config of this credential type (repeatable).
    #[arg(long = "include-credential", short = 'i', value_name = "TYPE")]
    include_credential: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Replace an identity with an updateIdentityBody (Kratos PUT semantics).
    Identity {
        id: String,
        /// The updateIdentityBody (JSON); `-` reads stdin.
        #[arg(long, short = 'f', value_name = "BODY.json")]
        file: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PatchCommand {
    /// Apply an RFC 6902 JSON patch to an identity.
    Identity {
        id: String,
        /// The patch (a JSON array of operations); `-` reads stdin.
        #[arg(long, short = 'f', value_name = "PATCH.json")]
        file: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeleteCommand {
    /// Delete identities and everything of theirs (all or none).
    Identity {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Delete many identities at once: those an import run created.
    Identities(super::import::DeleteIdentitiesArgs),
}

#[derive(Debug, Subcommand)]
pub enum ValidateCommand {
    /// Check createIdentityBody records against kith's rules and the stored identities,
    /// writing nothing: what `import identities` takes (objects, arrays, NDJSON; `-` or no
    /// FILE reads stdin), every record of every file, each reported with its position.
    /// With --endpoint (Kratos has no dry run): kith's rules against the identity schema the
    /// server serves (GET /schemas/{id}), and each credential identifier and the external_id
    /// looked up on the server; a conflict on an address alone, or within the input, shows
    /// only on import.
    Identity(super::import::InputArgs),
}

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Check a password; exit 0 on a match, 1 otherwise.
    Password {
        /// The identifier the password belongs to (e.g. an email).
        #[arg(long)]
        identifier: String,
        /// Read the password from the first line of stdin instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Reads a whole input: a file, or stdin for `-`. Returns the text and a name for errors.
/// One document is at most [`MAX_DOCUMENT_BYTES`], as over HTTP: reading stops one byte past
/// it, so `/dev/zero` or a huge file cannot exhaust memory.
pub(super) fn read_input(path: &str) -> Result<(String, String), CliError> {
    let source = if path == "-" { "<stdin>" } else { path };
    let reader: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| CliError::input(path, format!("could not read {path}: {e}")))?,
        )
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::input(source, format!("could not read {source}: {e}")))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(too_large(source));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        CliError::input(
            source,
            format!("could not read {source}: stream did not contain valid UTF-8 ({e})"),
        )
    })?;
    Ok((text, source.to_string()))
}

fn too_large(source: &str) -> CliError {
    CliError::input(
        source,
        format!(
            "{source} is larger than {MAX_DOCUMENT_BYTES} bytes; one document may take at most {} MB",
            MAX_DOCUMENT_BYTES / (1024 * 1024)
        ),
    )
}

fn parse_id(text: &str) -> Result<IdentityId, CliError> {
    super::output::parse_uuid(text, "an identity id")
}

pub fn create(kith: &dyn Admin, out: &Output, args: CreateIdentityArgs) -> Result<(), CliError> {
    let (body, source) = match args.file {
        Some(path) => {
            let (text, source) = read_input(&path)?;
            let body = parse_body::<CreateIdentityBody>(&text, true)
                .map_err(|e| CliError::from_source(e.into(), &source))?;
            (body, Some(source))
        }
        None => {
            let traits = match args.traits.as_deref() {
                None => None,
                Some(text) if text.len() > MAX_DOCUMENT_BYTES => return Err(too_large("--traits")),
                Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
                    CliError::input("--traits", format!("--traits is not valid JSON: {e}"))
                })?),
            };
            let body = CreateIdentityBody {
                schema_id: args.schema_id.unwrap_or_default().into(),
                traits,
                ..CreateIdentityBody::default()
            };
            (body, None)
        }
    };
    let identity = kith.create_identity(body).map_err(|error| match &source {
        Some(source) => CliError::from_source(error, source),
        None => error.into(),
    })?;
    out.identity(&identity);
    Ok(())
}

pub fn get(kith: &dyn Admin, out: &Output, args: GetIdentityArgs) -> Result<(), CliError> {
    let ids = args
        .ids
        .iter()
        .map(|id| parse_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    // As the kratos CLI does: every identity found is printed, and every one missing is
    // reported after them, with exit code 1.
    let include = &args.include_credential;
    let lookups = args
        .external_id
        .iter()
        .map(|external_id| kith.get_identity_by_external_id(external_id, include))
        .chain(ids.into_iter().map(|id| kith.get_identity(id, include)));
    let mut identities = Vec::new();
    let mut missing = Vec::new();
    for lookup in lookups {
        match lookup {
            Ok(identity) => identities.push(identity),
            // A remote server's 404 reads as a local one.
            Err(error) if error.status() == 404 => missing.push(error),
            Err(error) => return Err(error.into()),
        }
    }
    if identities.is_empty() && missing.len() == 1 {
        return Err(missing.remove(0).into());
    }
    match identities.as_slice() {
        [] => {}
        [one] => out.identity(one),
        many => out.identities(many),
    }
    if missing.is_empty() {
        return Ok(());
    }
    for error in &missing {
        out.note(&format!("error: {error}"));
    }
    Err(CliError::Quiet)
}

pub fn list(kith: &dyn Admin, out: &Output, args: ListIdentitiesArgs) -> Result<(), CliError> {
    let page = kith.list_identities(&ListIdentities {
        page_size: args.page_size,
        page_token: args.page_token,
        page: None,
        identifier: args.identifier,
        identifier_prefix: args.identifier_prefix,
        organization_id: args.organization_id,
        include_credential: args.include_credential,
        ids: Vec::new(),
    })?;
    out.identities(&page.identities);
    if let Some(token) = page.next_page_token {
        out.note(&format!("next page: --page-token {token}"));
    }
    Ok(())
}

pub fn update(kith: &dyn Admin, out: &Output, command: UpdateCommand) -> Result<(), CliError> {
    let UpdateCommand::Identity { id, file } = command;
    let id = parse_id(&id)?;
    let (text, source) = read_input(&file)?;
    let body = parse_body::<UpdateIdentityBody>(&text, false)
        .map_err(|e| CliError::from_source(e.into(), &source))?;
    let identity = kith
        .update_identity(id, body)
        .map_err(|e| CliError::from_source(e, &source))?;
    out.identity(&identity);
    Ok(())
}

pub fn patch(kith: &dyn Admin, out: &Output, command: PatchCommand) -> Result<(), CliError> {
    let PatchCommand::Identity { id, file } = command;
    let id = parse_id(&id)?;
    let (text, source) = read_input(&file)?;
    let identity = kith
        .patch_identity(id, &text)
        .map_err(|e| CliError::from_source(e, &source))?;
    out.identity(&identity);
    Ok(())
}

pub fn delete(kith: &dyn Admin, out: &Output, ids: &[String]) -> Result<(), CliError> {
    let ids = ids
        .iter()
        .map(|id| parse_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    kith.delete_identities(&ids)?;
    for id in ids {
        out.emit(&id.to_string());
    }
    Ok(())
}

pub fn validate(kith: &dyn Admin, out: &Output, command: ValidateCommand) -> Result<(), CliError> {
    let ValidateCommand::Identity(input) = command;
    // Every check of an import, conflicts within the input included, and nothing written.
    super::import::check_records(kith, out, &input)
}

pub fn verify(kith: &Kith, out: &Output, command: VerifyCommand) -> Result<(), CliError> {
    let VerifyCommand::Password {
        identifier,
        password_stdin,
    } = command;
    let password = super::output::read_password(password_stdin, "Password: ")?;
    let matched = kith.verify_password(&identifier, &password)?;
    if !out.quiet {
        match out.format {
            super::Format::Table => out.emit(&format!(
                "password matches identity {}{}",
                matched.identity_id,
                match (&matched.migrated_by, matched.rehashed) {
                    (Some(by), _) => format!(" (migrated by {by})"),
                    (None, true) => " (hash upgraded)".to_string(),
                    (None, false) => String::new(),
                }
            )),
            _ => out.json(&matched),
        }
    }
    Ok(())
}
