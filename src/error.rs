//! The library's typed errors and how each one reads in Kratos' error envelope.
//!
//! Every refusal a user can fix is its own variant, named by its condition; the envelope,
//! HTTP status and CLI exit code are derived here and nowhere else.

use crate::model::{BodyError, ErrorBody, ErrorEnvelope};
use crate::model::{IdentityId, SchemaId};
use crate::password::HashError;
use crate::plugin_host::Fault;
use uuid::Uuid;

// The types the variants carry, named here because their modules are the library's own.
pub use crate::plugin_host::{FaultKind, FieldError};
pub use crate::schema::Violation;
pub use crate::store::StoreError;

/// What a kith call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request body is not valid JSON for its shape (or has an unknown field).
    #[error("{message}")]
    MalformedBody {
        message: String,
        pointer: String,
        line: usize,
        column: usize,
        /// For an unknown field, the known field it most likely meant.
        did_you_mean: Option<String>,
    },
    /// The traits break the identity schema.
    #[error("the traits do not match schema `{schema_id}`: {}", violations_text(.violations))]
    InvalidTraits {
        schema_id: SchemaId,
        violations: Vec<Violation>,
    },
    /// No schema has this id; `known` lists the ids there are (presets and stored schemas).
    #[error("Unable to find JSON Schema ID: {id}")]
    UnknownSchema { id: String, known: Vec<String> },
    /// A schema handed to `add schema` is not a valid identity schema.
    #[error("schema `{schema_id}` is not a valid identity schema: {}", .problems.join("; "))]
    InvalidSchema {
        schema_id: SchemaId,
        problems: Vec<String>,
    },
    /// A schema with this id exists already (presets cannot be replaced).
    #[error(
        "schema `{0}` exists already; replace it (`kith add schema --replace`), remove it, or pick another id"
    )]
    SchemaExists(String),
    /// A schema may not replace a stored one that identities use when they would not match it.
    #[error(
        "schema `{schema_id}` was not replaced: {broken} stored {} would not match it",
        if *.broken == 1 { "identity" } else { "identities" }
    )]
    SchemaWouldBreak {
        schema_id: String,
        broken: u64,
        /// The first few, each `<identity id>: <pointer>: <violation>`.
        examples: Vec<String>,
    },
    /// A unique identifier, address or external_id is held by another identity.
    #[error("This identity conflicts with another identity that already exists.")]
    Conflict {
        field: Option<String>,
        clash: Option<Box<crate::model::Clash>>,
    },
    /// A recovery code or link token that is wrong, expired or unknown (Kratos' 4060006).
    #[error("The recovery code is invalid or has already been used. Please try again.")]
    RecoveryCodeInvalid,
    /// The state is not `active` or `inactive`.
    #[error("identity state is not valid")]
    InvalidState(String),
    /// A page token that kith did not hand out.
    #[error("The page token is invalid, do not craft your own page tokens")]
    InvalidPageToken(String),
    /// A JSON patch touches a path Kratos does not let patches change.
    #[error("patch includes denied path: {0}")]
    PatchDeniedPath(String),
    /// A JSON patch could not be applied.
    #[error("failed to apply JSON patch: {0}")]
    PatchFailed(String),
    /// A password hash kith does not accept.
    #[error("{0}")]
    InvalidHash(#[from] HashError),
    /// A body or value kith refuses for a reason of its own, with Kratos-style reason text.
    #[error("{0}")]
    BadRequest(String),
    /// Wrong password or unknown identifier: the two read the same on purpose.
    #[error(
        "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number."
    )]
    InvalidCredentials,
    /// The identity is inactive.
    #[error("identity is disabled")]
    IdentityDisabled(IdentityId),

    #[error("Requested return_to URL \"{url}\" is not allowed.")]
    ReturnToForbidden { url: String },
    /// A settings key kith does not know, or a value it cannot use.
    #[error("setting `{key}`: {problem}")]
    InvalidSetting { key: String, problem: String },
    /// `kith set|unset config KEY` with a key kith does not know.
    #[error("setting `{key}`: unknown key; known keys are {}", .known.join(", "))]
    UnknownSetting { key: String, known: Vec<String> },
    /// The store file was written by a newer kith.
    #[error(
        "the store was written by a newer kith (schema version {found}, this kith knows up to {supported}); upgrade kith to open it"
    )]
    StoreTooNew { found: i64, supported: i64 },
    /// A restore was refused: another kith process has the store open.
    #[error(
        "another kith process (kith serve, kith courier run, or a command still running) has the store {} open; stop it, then restore again",
        path.display()
    )]
    StoreInUse { path: std::path::PathBuf },
    /// A file offered as a backup is not a whole kith store.
    #[error("{} is not a kith store that can be restored: {problem}", path.display())]
    NotAStore {
        path: std::path::PathBuf,
        problem: String,
    },
    /// A file kith would write (a backup, its key file) is there already.
    #[error("{} exists already; pass --force to replace it", path.display())]
    FileExists { path: std::path::PathBuf },
    /// A restore would replace a store that holds identities; `identities` is `None` when
    /// the store could not be read to count them.
    #[error(
        "the store {} {}",
        path.display(),
        match .identities {
            Some(n) => format!(
                "holds {n} {}, which restoring would replace; back it up first (kith backup FILE), then restore with --force",
                if *n == 1 { "identity" } else { "identities" }
            ),
            None => "cannot be read to count its identities; restore with --force to replace it all the same".to_string(),
        }
    )]
    StoreHoldsIdentities {
        path: std::path::PathBuf,
        identities: Option<u64>,
    },
    /// A plugin folder or component that kith refuses to install.
    #[error("plugin {plugin} cannot be installed: {problem}")]
    PluginInvalid { plugin: String, problem: String },
    /// A plugin of this name is installed already.
    #[error(
        "plugin `{0}` is installed already; replace it with `kith install plugin DIR --upgrade` (its config and enabled state are kept), or remove it first (kith remove plugin {0})"
    )]
    PluginExists(String),
    /// A plugin folder `kith run plugin` cannot run: its manifest or its component.
    #[error("plugin {plugin} cannot be run: {problem}")]
    PluginNotRunnable { plugin: String, problem: String },
    /// A config key the plugin's manifest does not declare (when it declares a `[config]`).
    #[error(
        "plugin {plugin} has no config key `{key}`{}; its plugin.toml declares {}",
        nearest(key, known.iter().map(String::as_str)).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default(),
        known.join(", ")
    )]
    UnknownPluginConfig {
        plugin: String,
        key: String,
        known: Vec<String>,
    },
    /// A trait validator refused the traits: the plugin's own field errors.
    #[error("plugin {plugin} {version} refused the traits: {}", field_errors_text(.errors))]
    PluginRejected {
        plugin: String,
        version: String,
        errors: Vec<FieldError>,
    },
    /// An import mapper refused a foreign record: the plugin's own field errors, with pointers
    /// into that record.
    #[error("plugin {plugin} {version} refused the record: {}", field_errors_text(.errors))]
    MapperRefused {
        plugin: String,
        version: String,
        errors: Vec<FieldError>,
    },
    /// A plugin misbehaved (trap, limit, bad output). Validators fail closed: the write is
    /// refused. It reads as a 500, not a 400, because the caller's input is not at fault and
    /// resending it cannot help; the administrator must fix or disable the plugin.
    #[error("plugin {plugin} {version} failed ({kind}): {message}")]
    PluginFault {
        plugin: String,
        version: String,
        kind: FaultKind,
        message: String,
    },
    /// A second password-migration plugin would be enabled: a flagged sign-in asks exactly one.
    #[error(
        "plugin `{plugin}` was not enabled: `{enabled}` is the enabled password-migration plugin and only one may be; disable it first (kith disable plugin {enabled})"
    )]
    MigrationPluginEnabled { plugin: String, enabled: String },
    /// An identity flagged `use_password_migration_hook` signs in, and no password-migration
    /// plugin is enabled to verify its password: kith is not set up for it (Kratos' 500).
    #[error(
        "password migration is requested for this identity, but no password-migration plugin is enabled; install one (kith install plugin plugins/legacy-hashes) or enable the installed one (kith enable plugin NAME)"
    )]
    PasswordMigrationNotEnabled,
    /// The password-migration plugin failed (a trap, a limit, or its own error) on a flagged
    /// sign-in: Kratos' 502 for a hook that answers improperly. The flag is kept.
    #[error("password migration plugin {plugin} {version} failed ({kind}): {message}")]
    PasswordMigrationFailed {
        plugin: String,
        version: String,
        kind: FaultKind,
        message: String,
    },
    /// Another process held the store's write lock too long; retrying later can succeed.
    #[error("{0}")]
    Busy(StoreError),
    /// Another courier worker (`kith courier run`, or a `kith serve`) holds the store.
    #[error(
        "another courier worker (kith courier run, or kith serve) is sending this store's messages; one worker per store"
    )]
    CourierBusy,
    /// An API token of this name exists already.
    #[error(
        "a token named `{0}` exists already; revoke it first (kith revoke token {0}) or pick another name"
    )]
    TokenExists(String),
    /// A request to the admin API without a valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// Persistence failed below the flows.
    #[error(transparent)]
    Store(StoreError),
    /// Something kith was asked about is not there.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Any other failure kith did not expect: what it was doing, and why that failed.
    #[error("{}", internal_text(.context, .source.as_deref()))]
    Internal {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An identity document nests deeper than kith can store and read back.
    #[error(
        "{pointer} nests deeper than {limit} levels; identity documents may nest at most {limit} levels"
    )]
    DocumentTooDeep { pointer: String, limit: usize },
    /// An identity document is larger than kith stores.
    #[error(
        "{pointer} is larger than {limit} bytes; identity documents may take at most {limit} bytes of JSON"
    )]
    DocumentTooLarge { pointer: String, limit: usize },
    /// A JSON patch asks for more work than one patch may do (values copied, compared, moved).
    #[error(
        "the JSON patch copies or compares more than {limit} bytes of values; split it into smaller patches"
    )]
    PatchTooCostly { limit: usize },
    /// The store's recovery key file is gone while invites issued under it may be redeemed.
    #[error(
        "the recovery key file {} is missing: restore it from the backup (a backup is the store file and this key file), or revoke the open invites and issue new ones",
        path.display()
    )]
    RecoveryKeyMissing { path: std::path::PathBuf },
    /// The key file beside the store is not the one its invites were issued under.
    #[error(
        "the recovery key file {} does not belong to this store: restore the store's own key file",
        path.display()
    )]
    RecoveryKeyMismatch { path: std::path::PathBuf },
    /// `kith serve` cannot listen on an address it was given (in use, not this host's, or
    /// privileged); `flag` is the option that picks it.
    #[error(
        "cannot listen on {address} for the {listener} API: {problem}; pick another address with {flag} HOST:PORT"
    )]
    CannotListen {
        listener: &'static str,
        flag: &'static str,
        address: String,
        problem: String,
    },
    /// A remote admin API (`--endpoint`) refused or failed a request: its own error object,
    /// status, reason and message as it sent them.
    #[error("{endpoint} answered {} {}: {}", .body.code, .body.status, .body.reason.as_deref().unwrap_or(&.body.message))]
    Remote {
        endpoint: String,
        body: Box<ErrorBody>,
    },
    /// A remote admin API could not be reached or gave up answering (after the retries an
    /// import makes); `attempts` is how often the request was sent.
    #[error("{endpoint} could not be reached ({problem}){}", if *.attempts > 1 { format!(", gave up after {} attempts", .attempts) } else { String::new() })]
    Unreachable {
        endpoint: String,
        problem: String,
        attempts: u32,
    },
    /// A kith-only operation asked of a remote admin API, which has no such thing.
    #[error(
        "not available against a remote endpoint: `{0}` needs a local store (drop --endpoint, KITH_ENDPOINT and KRATOS_ADMIN_URL)"
    )]
    LocalOnly(String),
    /// A remote endpoint kith will not send a bearer token to: plain http beyond loopback, or
    /// a URL it cannot use.
    #[error("{0}")]
    InsecureEndpoint(String),
}

/// What kith was asked about and could not find: each a 404.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    /// No identity has this id.
    #[error("identity {0} could not be found")]
    Identity(IdentityId),
    /// No identity has this `external_id`.
    #[error("no identity has the external_id `{0}`")]
    ExternalId(String),
    /// A recovery code was asked for an identity that does not exist (Kratos' wording).
    #[error("could not find identity")]
    RecoveryIdentity(IdentityId),
    /// `GET /schemas/{id}` for an id no schema has.
    #[error("Identity schema `{0}` could not be found.")]
    Schema(String),
    /// No import run has this id.
    #[error("import run {0} could not be found")]
    ImportRun(Uuid),
    /// No invite has this id.
    #[error("invite {0} could not be found")]
    Invite(Uuid),
    /// No courier message has this id.
    #[error("courier message {0} could not be found")]
    Message(Uuid),
    /// No plugin has this name.
    #[error("no plugin is installed as `{0}` (see kith list plugins)")]
    Plugin(String),
    /// No API token has this name.
    #[error("no token is named `{0}` (see kith list tokens)")]
    Token(String),
    /// An identity has no credential of this type.
    #[error("You tried to remove a {0} but this user have no {0} set up.")]
    Credential(String),
    /// An oidc or saml credential has no link with this `provider:subject`.
    #[error("The identifier `{identifier}` was not found among {kind} credentials.")]
    Link { identifier: String, kind: String },
    /// A command that does not create a store was pointed at a path with no store.
    #[error(
        "no store at {}; create one with `kith create identity ...` or `kith import identities`, or check --db/KITH_DB",
        path.display()
    )]
    Store { path: std::path::PathBuf },
}

impl Error {
    /// An unexpected failure of `source` while kith was doing `context` ("could not start
    /// a write").
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An unexpected state with no underlying error ("a grouped insert failed").
    pub fn broken(context: impl Into<String>) -> Self {
        Error::Internal {
            context: context.into(),
            source: None,
        }
    }
}

fn internal_text(context: &str, source: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    match source {
        Some(source) => format!("{context}: {source}"),
        None => context.to_string(),
    }
}

/// Short for `std::result::Result<T, kith::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn field_errors_text(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.pointer, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn violations_text(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The HTTP status Kratos answers this condition with.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Conflict { .. }
            | Error::SchemaExists(_)
            | Error::SchemaWouldBreak { .. }
            | Error::PluginExists(_)
            | Error::MigrationPluginEnabled { .. }
            | Error::TokenExists(_)
            | Error::FileExists { .. }
            | Error::StoreHoldsIdentities { .. } => 409,
            Error::Unauthorized(_) => 401,
            Error::Busy(_)
            | Error::CannotListen { .. }
            | Error::CourierBusy
            | Error::StoreInUse { .. }
            | Error::Unreachable { .. } => 503,
            Error::Remote { body, .. } => body.code,
            Error::PluginFault { .. } | Error::PasswordMigrationNotEnabled => 500,
            Error::PasswordMigrationFailed { .. } => 502,
            Error::StoreTooNew { .. } | Error::Internal { .. } => 500,
            Error::RecoveryKeyMissing { .. } | Error::RecoveryKeyMismatch { .. } => 500,
            Error::Store(_) => 500,
            _ => 400,
        }
    }

    /// True when the caller's input was refused (a 4xx), false for internal failures.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::StoreTooNew { .. }
                | Error::StoreInUse { .. }
                | Error::RecoveryKeyMissing { .. }
                | Error::RecoveryKeyMismatch { .. }
                | Error::CannotListen { .. }
                | Error::CourierBusy
        ) || self.status() < 500
    }

    /// This error in Kratos' envelope.
    pub fn to_envelope(&self) -> ErrorEnvelope {
        let status = self.status();
        let body = ErrorBody::new(status);
        let body = match self {
            Error::MalformedBody {
                message,
                pointer,
                line,
                column,
                did_you_mean,
            } => {
                let mut body = body.with_message(message.clone());
                if let Some(field) = did_you_mean {
                    body = body.with_detail("did_you_mean", field.clone());
                }
                if !pointer.is_empty() {
                    body = body.with_detail("pointer", pointer.clone());
                }
                if *line > 0 {
                    body = body
                        .with_detail("line", *line)
                        .with_detail("column", *column);
                }
                body
            }
            Error::InvalidTraits { violations, .. } => {
                body.with_reason(violations_text(violations)).with_detail(
                    "violations",
                    serde_json::to_value(violations).unwrap_or_default(),
                )
            }
            Error::UnknownSchema { known, .. } => body
                .with_reason(self.to_string())
                .with_detail("known_schema_ids", known.clone()),
            Error::UnknownSetting { known, .. } => body
                .with_reason(self.to_string())
                .with_detail("known_keys", known.clone()),
            Error::InvalidSchema { problems, .. } => body
                .with_reason(self.to_string())
                .with_detail("problems", problems.clone()),
            Error::SchemaWouldBreak {
                broken, examples, ..
            } => body
                .with_reason(self.to_string())
                .with_detail("violating_identities", *broken)
                .with_detail("examples", examples.clone()),
            Error::Conflict { field, clash } => {
                let mut body = body.with_reason(self.to_string());
                if let Some(field) = field {
                    body = body.with_detail("conflicting_field", field.clone());
                }
                if let Some(clash) = clash {
                    body = body
                        .with_detail("conflicting_value", clash.value.clone())
                        .with_detail("conflicting_identity", clash.holder.to_string());
                    if let Some(source) = &clash.holder_source {
                        body = body.with_detail("conflicting_source", source.clone());
                    }
                }
                body
            }
            Error::NotFound(
                NotFound::Identity(_) | NotFound::ExternalId(_) | NotFound::Message(_),
            ) => body.with_message("Unable to locate the resource"),
            Error::PatchDeniedPath(path) => body
                .with_reason("failed to apply JSON patch")
                .with_message(format!("patch includes denied path: {path}")),
            Error::PatchFailed(detail) => body
                .with_reason("failed to apply JSON patch")
                .with_message(detail.clone()),
            Error::InvalidHash(error) => body.with_reason(error.kratos_reason()),
            Error::IdentityDisabled(identity_id) => body
                .with_id("identity_disabled")
                .with_reason("This account was disabled.")
                .with_message("identity is disabled")
                .with_detail("identity_id", identity_id.to_string()),
            Error::ReturnToForbidden { .. } => body
                .with_id("self_service_flow_return_to_forbidden")
                .with_reason(self.to_string())
                .with_detail(
                    "hint",
                    "allow it (or a URL above it) first: kith set config selfservice.allowed_return_urls URL",
                ),
            Error::PluginRejected {
                plugin,
                version,
                errors,
            }
            | Error::MapperRefused {
                plugin,
                version,
                errors,
            } => body
                .with_reason(self.to_string())
                .with_detail("plugin", plugin.clone())
                .with_detail("version", version.clone())
                .with_detail("errors", serde_json::to_value(errors).unwrap_or_default()),
            Error::PluginFault {
                plugin,
                version,
                kind,
                ..
            } => body
                .with_reason(self.to_string())
                .with_detail("plugin", plugin.clone())
                .with_detail("version", version.clone())
                .with_detail("fault", serde_json::to_value(kind).unwrap_or_default()),
            // Kratos' words for a login whose migration hook is off, and for a hook that
            // answered improperly; kith's own sentence is the message.
            Error::PasswordMigrationNotEnabled => body
                .with_reason(
                    "Password migration hook is not enabled but password migration is requested.",
                )
                .with_message(self.to_string()),
            Error::PasswordMigrationFailed {
                plugin,
                version,
                kind,
                ..
            } => body
                .with_reason(
                    "A third-party upstream service responded improperly. Please try again later.",
                )
                .with_message(self.to_string())
                .with_detail("plugin", plugin.clone())
                .with_detail("version", version.clone())
                .with_detail("fault", serde_json::to_value(kind).unwrap_or_default()),
            Error::Store(_) | Error::Internal { .. } | Error::StoreTooNew { .. } => {
                body.with_reason(self.to_string())
            }
            Error::DocumentTooDeep { pointer, limit }
            | Error::DocumentTooLarge { pointer, limit } => body
                .with_reason(self.to_string())
                .with_detail("pointer", pointer.clone())
                .with_detail("limit", *limit),
            // The server's own error object, as it sent it.
            Error::Remote { body, .. } => (**body).clone(),
            _ => body.with_reason(self.to_string()),
        };
        body.into_envelope()
    }
}

impl From<BodyError> for Error {
    fn from(error: BodyError) -> Self {
        let field = error.pointer.rsplit('/').next().unwrap_or_default();
        let did_you_mean = nearest(field, error.known_fields.iter().copied()).map(str::to_string);
        Error::MalformedBody {
            message: error.message,
            pointer: error.pointer,
            line: error.line,
            column: error.column,
            did_you_mean,
        }
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        Error::PluginFault {
            plugin: fault.plugin,
            version: fault.version,
            kind: fault.kind,
            message: fault.message,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { field, clash } => Error::Conflict {
                field: Some(field.to_string()),
                clash,
            },
            StoreError::TooNew { found, supported } => Error::StoreTooNew { found, supported },
            StoreError::InUse { path } => Error::StoreInUse { path },
            StoreError::NotAStore { path, problem } => Error::NotAStore { path, problem },
            StoreError::Exists { path } => Error::FileExists { path },
            StoreError::HoldsIdentities { path, identities } => {
                Error::StoreHoldsIdentities { path, identities }
            }
            StoreError::Busy => Error::Busy(StoreError::Busy),
            StoreError::NotFound { path } => Error::NotFound(NotFound::Store { path }),
            StoreError::KeyMissing { path } => Error::RecoveryKeyMissing { path },
            StoreError::KeyMismatch { path } => Error::RecoveryKeyMismatch { path },
            other => Error::Store(other),
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a slip
/// (at most a third of the word's length away).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance > 0 && *distance <= word.chars().count().div_ceil(3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters, with transpositions counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = (0..=b.len()).collect();
    let mut previous = before.clone();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let substitution = before[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            row[j] = substitution.min(before[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(previous[j - 2] + 1);
            }
        }
        previous = std::mem::replace(&mut before, row);
    }
    before[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::HashFormat;
    use std::path::PathBuf;

    #[test]
    fn a_slip_finds_the_known_word_and_a_stranger_finds_none() {
        let known = ["preset://email", "preset://username", "app://users"];
        assert_eq!(nearest("preset://emial", known), Some("preset://email"));
        assert_eq!(
            nearest("preset://usrname", known),
            Some("preset://username")
        );
        assert_eq!(nearest("something-else", known), None);
        assert_eq!(
            nearest("preset://email", known),
            None,
            "an exact match is no slip"
        );
    }

    fn id() -> Uuid {
        Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001)
    }

    /// One of every variant, and of every kind of not-found. The match in `name` has no
    /// wildcard, so a new variant does not compile until it is added here and snapshotted.
    fn all_errors() -> Vec<Error> {
        let not_found = [
            NotFound::Identity(id().into()),
            NotFound::ExternalId("crm-4711".into()),
            NotFound::RecoveryIdentity(id().into()),
            NotFound::Schema("preset://nope".into()),
            NotFound::ImportRun(id()),
            NotFound::Invite(id()),
            NotFound::Message(id()),
            NotFound::Plugin("spam-filter".into()),
            NotFound::Token("ci".into()),
            NotFound::Credential("totp".into()),
            NotFound::Link {
                identifier: "github:7".into(),
                kind: "OIDC".into(),
            },
            NotFound::Store {
                path: PathBuf::from("/srv/kith/kith.db"),
            },
        ];
        let mut errors = vec![
            Error::MalformedBody {
                message: "json: unknown field \"stat\"".into(),
                pointer: "/stat".into(),
                line: 1,
                column: 40,
                did_you_mean: Some("state".into()),
            },
            Error::InvalidTraits {
                schema_id: "preset://email".into(),
                violations: vec![Violation {
                    instance_ptr: "#/traits/email".into(),
                    schema_ptr: "#/properties/traits/properties/email/format".into(),
                    message: "\"nope\" is not valid \"email\"".into(),
                }],
            },
            Error::UnknownSchema {
                id: "preset://emial".into(),
                known: vec!["preset://email".into(), "preset://username".into()],
            },
            Error::InvalidSchema {
                schema_id: "app://users".into(),
                problems: vec!["/properties/traits: missing".into()],
            },
            Error::SchemaExists("app://users".into()),
            Error::SchemaWouldBreak {
                schema_id: "app://users".into(),
                broken: 2,
                examples: vec![format!(
                    "{}: #/traits/email: \"nope\" is not a \"email\"",
                    id()
                )],
            },
            Error::Conflict {
                field: Some("credential identifier".into()),
                clash: Some(Box::new(crate::model::Clash {
                    value: "ada@example.com".into(),
                    holder: IdentityId::nil(),
                    holder_source: Some("more.json[0]".into()),
                })),
            },
            Error::RecoveryCodeInvalid,
            Error::InvalidState("asleep".into()),
            Error::InvalidPageToken("abc".into()),
            Error::PatchDeniedPath("/id".into()),
            Error::PatchFailed("path /traits/x does not exist".into()),
            Error::InvalidHash(HashError::CostOutOfBounds {
                format: HashFormat::Bcrypt,
                detail: "bcrypt cost 31 exceeds the maximum of 15".into(),
            }),
            Error::BadRequest("You cannot remove the last first factor credential.".into()),
            Error::InvalidCredentials,
            Error::IdentityDisabled(id().into()),
            Error::ReturnToForbidden {
                url: "https://evil.example/".into(),
            },
            Error::InvalidSetting {
                key: "hasher".into(),
                problem: "must be argon2 or bcrypt".into(),
            },
            Error::UnknownSetting {
                key: "public_ulr".into(),
                known: vec!["public_url".into(), "admin_url".into()],
            },
            Error::StoreTooNew {
                found: 99,
                supported: 7,
            },
            Error::PluginInvalid {
                plugin: "spam-filter".into(),
                problem: "it imports wasi:sockets".into(),
            },
            Error::PluginExists("spam-filter".into()),
            Error::PluginNotRunnable {
                plugin: "./spam-filter".into(),
                problem: "plugin.toml: missing field `kind`".into(),
            },
            Error::UnknownPluginConfig {
                plugin: "email-domain-policy".into(),
                key: "denied_domain".into(),
                known: vec!["allowed_domains".into(), "denied_domains".into()],
            },
            Error::PluginRejected {
                plugin: "email-domain-policy".into(),
                version: "0.1.0".into(),
                errors: vec![FieldError {
                    pointer: "/email".into(),
                    code: "domain_denied".into(),
                    message: "example.com is not allowed".into(),
                }],
            },
            Error::MapperRefused {
                plugin: "csv-import".into(),
                version: "0.1.0".into(),
                errors: vec![FieldError {
                    pointer: "/Email".into(),
                    code: "missing".into(),
                    message: "the row has no e-mail address".into(),
                }],
            },
            Error::PluginFault {
                plugin: "spin".into(),
                version: "0.1.0".into(),
                kind: FaultKind::OutOfFuel,
                message: "all fuel consumed".into(),
            },
            Error::MigrationPluginEnabled {
                plugin: "my-migration".into(),
                enabled: "legacy-hashes".into(),
            },
            Error::PasswordMigrationNotEnabled,
            Error::PasswordMigrationFailed {
                plugin: "legacy-hashes".into(),
                version: "0.1.0".into(),
                kind: FaultKind::Failed,
                message: "unsupported legacy hash format".into(),
            },
            Error::Busy(StoreError::Busy),
            Error::TokenExists("ci".into()),
            Error::Unauthorized("The bearer token is not valid.".into()),
            Error::Store(StoreError::Corrupt("identity state \"x\"".into())),
            Error::internal("could not start a write", "disk I/O error"),
            Error::broken("a grouped insert failed"),
            Error::DocumentTooDeep {
                pointer: "/metadata_admin/a/a/a".into(),
                limit: 64,
            },
            Error::DocumentTooLarge {
                pointer: "/traits".into(),
                limit: 5 * 1024 * 1024,
            },
            Error::PatchTooCostly { limit: 64 << 20 },
            Error::RecoveryKeyMissing {
                path: PathBuf::from("/srv/kith/kith.db.key"),
            },
            Error::RecoveryKeyMismatch {
                path: PathBuf::from("/srv/kith/kith.db.key"),
            },
            Error::CannotListen {
                listener: "admin",
                flag: "--admin",
                address: "127.0.0.1:4434".into(),
                problem: "Address already in use (os error 98)".into(),
            },
            Error::CourierBusy,
            Error::StoreInUse {
                path: PathBuf::from("/srv/kith/kith.db"),
            },
            Error::NotAStore {
                path: PathBuf::from("/srv/backups/kith.db"),
                problem: "file is not a database".into(),
            },
            Error::FileExists {
                path: PathBuf::from("/srv/backups/kith.db"),
            },
            Error::StoreHoldsIdentities {
                path: PathBuf::from("/srv/kith/kith.db"),
                identities: Some(2),
            },
            Error::StoreHoldsIdentities {
                path: PathBuf::from("/srv/kith/kith.db"),
                identities: None,
            },
            Error::Remote {
                endpoint: "https://kratos.internal:4434".into(),
                body: Box::new(
                    ErrorBody::new(400)
                        .with_reason("I[#/traits/email] S[#/properties/traits/properties/email/format] \"nope\" is not valid \"email\""),
                ),
            },
            Error::Unreachable {
                endpoint: "https://kratos.internal:4434".into(),
                problem: "503 Service Unavailable".into(),
                attempts: 6,
            },
            Error::LocalOnly("kith list invites".into()),
            Error::InsecureEndpoint(
                "refusing to send the token over plain http to kratos.internal; use https, or --insecure-http".into(),
            ),
        ];
        errors.extend(not_found.into_iter().map(Error::NotFound));
        errors
    }

    fn name(error: &Error) -> String {
        match error {
            Error::MalformedBody { .. } => "MalformedBody".into(),
            Error::InvalidTraits { .. } => "InvalidTraits".into(),
            Error::UnknownSchema { .. } => "UnknownSchema".into(),
            Error::InvalidSchema { .. } => "InvalidSchema".into(),
            Error::SchemaExists(_) => "SchemaExists".into(),
            Error::SchemaWouldBreak { .. } => "SchemaWouldBreak".into(),
            Error::Conflict { .. } => "Conflict".into(),
            Error::RecoveryCodeInvalid => "RecoveryCodeInvalid".into(),
            Error::InvalidState(_) => "InvalidState".into(),
            Error::InvalidPageToken(_) => "InvalidPageToken".into(),
            Error::PatchDeniedPath(_) => "PatchDeniedPath".into(),
            Error::PatchFailed(_) => "PatchFailed".into(),
            Error::InvalidHash(_) => "InvalidHash".into(),
            Error::BadRequest(_) => "BadRequest".into(),
            Error::InvalidCredentials => "InvalidCredentials".into(),
            Error::IdentityDisabled(_) => "IdentityDisabled".into(),
            Error::ReturnToForbidden { .. } => "ReturnToForbidden".into(),
            Error::InvalidSetting { .. } => "InvalidSetting".into(),
            Error::UnknownSetting { .. } => "UnknownSetting".into(),
            Error::StoreTooNew { .. } => "StoreTooNew".into(),
            Error::PluginInvalid { .. } => "PluginInvalid".into(),
            Error::PluginExists(_) => "PluginExists".into(),
            Error::PluginNotRunnable { .. } => "PluginNotRunnable".into(),
            Error::UnknownPluginConfig { .. } => "UnknownPluginConfig".into(),
            Error::PluginRejected { .. } => "PluginRejected".into(),
            Error::MapperRefused { .. } => "MapperRefused".into(),
            Error::PluginFault { .. } => "PluginFault".into(),
            Error::MigrationPluginEnabled { .. } => "MigrationPluginEnabled".into(),
            Error::PasswordMigrationNotEnabled => "PasswordMigrationNotEnabled".into(),
            Error::PasswordMigrationFailed { .. } => "PasswordMigrationFailed".into(),
            Error::Busy(_) => "Busy".into(),
            Error::CannotListen { .. } => "CannotListen".into(),
            Error::CourierBusy => "CourierBusy".into(),
            Error::StoreInUse { .. } => "StoreInUse".into(),
            Error::NotAStore { .. } => "NotAStore".into(),
            Error::FileExists { .. } => "FileExists".into(),
            Error::StoreHoldsIdentities { .. } => "StoreHoldsIdentities".into(),
            Error::Remote { .. } => "Remote".into(),
            Error::Unreachable { .. } => "Unreachable".into(),
            Error::LocalOnly(_) => "LocalOnly".into(),
            Error::InsecureEndpoint(_) => "InsecureEndpoint".into(),
            Error::TokenExists(_) => "TokenExists".into(),
            Error::Unauthorized(_) => "Unauthorized".into(),
            Error::Store(_) => "Store".into(),
            Error::Internal { source: None, .. } => "Internal (no source)".into(),
            Error::Internal { .. } => "Internal".into(),
            Error::DocumentTooDeep { .. } => "DocumentTooDeep".into(),
            Error::DocumentTooLarge { .. } => "DocumentTooLarge".into(),
            Error::PatchTooCostly { .. } => "PatchTooCostly".into(),
            Error::RecoveryKeyMissing { .. } => "RecoveryKeyMissing".into(),
            Error::RecoveryKeyMismatch { .. } => "RecoveryKeyMismatch".into(),
            Error::NotFound(kind) => format!(
                "NotFound::{}",
                match kind {
                    NotFound::Identity(_) => "Identity",
                    NotFound::ExternalId(_) => "ExternalId",
                    NotFound::RecoveryIdentity(_) => "RecoveryIdentity",
                    NotFound::Schema(_) => "Schema",
                    NotFound::ImportRun(_) => "ImportRun",
                    NotFound::Invite(_) => "Invite",
                    NotFound::Message(_) => "Message",
                    NotFound::Plugin(_) => "Plugin",
                    NotFound::Token(_) => "Token",
                    NotFound::Credential(_) => "Credential",
                    NotFound::Link { .. } => "Link",
                    NotFound::Store { .. } => "Store",
                }
            ),
        }
    }

    /// Pins every message and envelope: Kratos' wording is part of kith's interface.
    #[test]
    fn every_error_reads_as_pinned() {
        let all: Vec<serde_json::Value> = all_errors()
            .iter()
            .map(|error| {
                serde_json::json!({
                    "variant": name(error),
                    "display": error.to_string(),
                    "refusal": error.is_refusal(),
                    "envelope": error.to_envelope(),
                })
            })
            .collect();
        insta::assert_json_snapshot!(all);
    }

    #[test]
    fn an_internal_error_keeps_its_cause() {
        let cause = std::io::Error::other("disk I/O error");
        let error = Error::internal("could not start a write", cause);
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk I/O error"));
        assert_eq!(error.to_string(), "could not start a write: disk I/O error");
    }
}
