//! cli: the `kith` command line, verb before noun as in the kratos CLI.
//!
//! Thin on purpose: parse, call one operation of [`kith::Admin`] on a [`kith::Kith`] (or, with
//! `--endpoint`, on a [`kith::remote::Remote`]), print. It lives in the binary, not the
//! library: only the binary names clap.

mod backup;
mod config;
mod courier;
mod formats;
mod identity;
mod import;
mod invite;
mod output;
mod plugin;
mod schema;
mod serve;

use clap::{Parser, Subcommand};
use kith::remote::Remote;
use kith::{Admin, Kith};
use output::Output;
use std::path::PathBuf;

pub use output::CliError;

/// `kith --version`: the version, the commit and the build date (see build.rs).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KITH_COMMIT"),
    ", built ",
    env!("KITH_BUILD_DATE"),
    ")"
);

/// kith: an offline identity store in one SQLite file that speaks Ory Kratos' admin API.
#[derive(Debug, Parser)]
#[command(name = "kith", version = LONG_VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Store file (default: the platform data dir, e.g. ~/.local/share/kith/kith.db).
    #[arg(long, global = true, env = "KITH_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Output format: table, json, json-pretty, yaml, jsonpath=PATH (gjson syntax, as the
    /// kratos CLI) or jsonpointer=POINTER [default: table on a terminal, json otherwise].
    #[arg(long, global = true, value_name = "FORMAT", value_parser = output::parse_format)]
    pub format: Option<output::FormatArg>,
    /// Print only ids (or nothing) on success.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Run the identity commands (create, get, list, update, patch, delete, import, export,
    /// validate identity; get and list schemas; create recovery-code|recovery-link) against
    /// the Kratos-compatible admin API at URL (a Kratos, Ory Network, or a `kith serve`)
    /// instead of the store file. Also KITH_ENDPOINT, else KRATOS_ADMIN_URL as the kratos
    /// CLI reads it; `--endpoint ''` forces the store file.
    #[arg(
        long,
        short = 'e',
        global = true,
        env = "KITH_ENDPOINT",
        value_name = "URL"
    )]
    pub endpoint: Option<String>,
    /// Bearer token for --endpoint (Ory Network: an ory_pat_... key). Prefer KITH_TOKEN: a
    /// flag is visible to other users in the process list. Never printed or logged.
    #[arg(
        long,
        global = true,
        env = "KITH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Allow --endpoint over plain http to a host other than loopback (the token then
    /// crosses the network in clear: only on a network you trust).
    #[arg(long, global = true)]
    pub insecure_http: bool,
    /// Trust the CA certificates of this PEM file for an https --endpoint (a site's private
    /// CA) instead of the public roots.
    #[arg(long, global = true, env = "KITH_ROOT_CA", value_name = "PEM")]
    pub root_ca: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// How results and errors are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    JsonPretty,
    Yaml,
    /// The part of the JSON a gjson path picks (`--format jsonpath=traits.email`).
    JsonPath,
    /// The part of the JSON a JSON pointer picks (`--format jsonpointer=/traits/email`).
    JsonPointer,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an identity.
    #[command(subcommand)]
    Create(identity::CreateCommand),
    /// Show identities, schemas or settings.
    #[command(subcommand)]
    Get(GetCommand),
    /// List identities, schemas or audit events.
    #[command(subcommand)]
    List(ListCommand),
    /// Replace an identity (PUT semantics).
    #[command(subcommand)]
    Update(identity::UpdateCommand),
    /// Change an identity with an RFC 6902 JSON patch.
    #[command(subcommand)]
    Patch(identity::PatchCommand),
    /// Delete identities.
    #[command(subcommand)]
    Delete(identity::DeleteCommand),
    /// Import identities from files or stdin.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export identities as NDJSON createIdentityBody records.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Check identity bodies without writing anything.
    #[command(subcommand)]
    Validate(identity::ValidateCommand),
    /// Check a password.
    #[command(subcommand)]
    Verify(identity::VerifyCommand),
    /// Invite someone: issue a one-time code and link that sets their password.
    Invite(invite::InviteArgs),
    /// Redeem an invite.
    #[command(subcommand)]
    Accept(invite::AcceptCommand),
    /// Revoke an invite.
    #[command(subcommand)]
    Revoke(invite::RevokeCommand),
    /// Resend an invite through the delivery plugins.
    #[command(subcommand)]
    Resend(invite::ResendCommand),
    /// Add a custom identity schema.
    #[command(subcommand)]
    Add(schema::AddCommand),
    /// Change a setting.
    #[command(subcommand)]
    Set(config::SetCommand),
    /// Restore a setting's default.
    #[command(subcommand)]
    Unset(config::UnsetCommand),
    /// Install a plugin into the store file.
    #[command(subcommand)]
    Install(plugin::InstallCommand),
    /// Remove an installed plugin, or a stored schema no identity uses.
    #[command(subcommand)]
    Remove(RemoveCommand),
    /// Enable an installed plugin.
    #[command(subcommand)]
    Enable(plugin::NamedCommand),
    /// Disable an installed plugin (kept, but never called).
    #[command(subcommand)]
    Disable(plugin::NamedCommand),
    /// Run one call of a plugin, for plugin authors.
    #[command(subcommand)]
    Run(plugin::RunCommand),
    /// Write a new plugin project, for plugin authors.
    #[command(subcommand)]
    New(plugin::NewCommand),
    /// Print the plugin contract (WIT) that plugins are built against.
    Wit(plugin::WitArgs),
    /// Change an installed plugin's config without reinstalling it.
    #[command(subcommand)]
    Configure(plugin::ConfigureCommand),
    /// Run the courier: send queued messages (e-mail, webhooks, outbox files).
    #[command(subcommand)]
    Courier(courier::CourierCommand),
    /// Try a courier message again.
    #[command(subcommand)]
    Retry(RetryCommand),
    /// Serve the Kratos admin API and the invite redemption page over HTTP.
    Serve(serve::ServeArgs),
    /// Write a consistent copy of the store while others write to it (the recovery key file
    /// beside the store is not in it: see --with-key).
    Backup(backup::BackupArgs),
    /// Put a backup in place of the store (refused while another kith process has the store
    /// open).
    Restore(backup::RestoreArgs),
    /// Check the store: SQLite's integrity and foreign keys, and kith's own invariants (exit
    /// 1 when a problem is found). Reads only.
    Check,
    /// Show kith's version, commit and build date (as `kratos version` does; `--format json`
    /// for a script).
    Version,
    /// Print a shell completion script: `kith completions bash > /etc/bash_completion.d/kith`,
    /// `kith completions zsh > "${fpath[1]}/_kith"`, `kith completions fish >
    /// ~/.config/fish/completions/kith.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print kith's man page (roff): `kith man > /usr/local/share/man/man1/kith.1`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import createIdentityBody records (one object, a JSON array, or NDJSON), streamed.
    Identities(import::ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write every identity as an NDJSON createIdentityBody record.
    Identities(import::ExportArgs),
}

#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Show identities by id.
    Identity(identity::GetIdentityArgs),
    /// Show an identity schema (by id or its base64url form).
    Schema(schema::GetSchemaArgs),
    /// Show every setting with its value.
    Config,
    /// Show a courier message with every attempt to send it.
    Message { id: String },
    /// Show an installed plugin: manifest, config, grants, limits, and its component's
    /// sha256 and size.
    Plugin { name: String },
}

/// `retry message ID`.
#[derive(Debug, Subcommand)]
pub enum RetryCommand {
    /// Send a queued message now; for an abandoned one, resend its invite (new code and link).
    Message { id: String },
}

/// `remove plugin NAME`, `remove schema ID`.
#[derive(Debug, Subcommand)]
pub enum RemoveCommand {
    /// An installed plugin, by the name in its plugin.toml.
    Plugin { name: String },
    /// A stored identity schema; refused while identities use it.
    Schema { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// List invites and admin recovery flows with their state.
    Invites(invite::ListInvitesArgs),
    /// List identities, a page at a time.
    Identities(identity::ListIdentitiesArgs),
    /// List identity schemas.
    Schemas,
    /// List audit events.
    Events(config::ListEventsArgs),
    /// List installed plugins.
    Plugins,
    /// List the API tokens of `kith serve` (names only; tokens are shown once).
    Tokens,
    /// List courier messages, newest first (body and subject redacted, as in Kratos).
    Messages(courier::ListMessagesArgs),
}

/// The default store file: `<platform data dir>/kith.db`.
pub fn default_db_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "kith").map(|dirs| dirs.data_dir().join("kith.db"))
}

/// Runs one command line.
///
/// # Errors
/// Whatever the flow refused or failed with, ready to print.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output::new(cli.format, cli.quiet);
    // Only a command that opens the store needs its path (a remote one, in a container
    // without a home, does not).
    let db = || match cli.db.clone().or_else(default_db_path) {
        Some(path) => Ok(path),
        None => Err(CliError::usage(
            "no home folder to keep the store in; pass --db PATH or set KITH_DB",
        )),
    };
    let actor = format!("cli:{}", user_name());
    match cli.command {
        Command::Serve(args) => return serve::serve(&db()?, &out, args, actor),
        // On a path, not an open store: no kith process may have it open meanwhile.
        Command::Restore(args) => return backup::restore(&db()?, &out, args),
        Command::Check => {
            return backup::check(&Kith::open_read_only(&db()?)?.with_actor(actor), &out);
        }
        _ => {}
    }
    match cli.command {
        Command::Version => {
            let version = format!("v{}", env!("CARGO_PKG_VERSION"));
            let (commit, built) = (env!("KITH_COMMIT"), env!("KITH_BUILD_DATE"));
            match out.format {
                Format::Table => out.emit(&format!(
                    "Version:    {version}\nCommit:     {commit}\nBuild date: {built}"
                )),
                _ => out.json(&serde_json::json!({
                    "version": version,
                    "commit": commit,
                    "build_date": built,
                })),
            }
            return Ok(());
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "kith", &mut script);
            return write_stdout(&script);
        }
        Command::New(command) => return plugin::new(&out, command),
        Command::Wit(args) => return plugin::wit(args),
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| CliError::usage(format!("could not render the man page: {e}")))?;
            return write_stdout(&page);
        }
        _ => {}
    }
    let endpoint = remote_endpoint(cli.endpoint.as_deref());
    if let Some(url) = &endpoint
        && remote_capable(&cli.command)
    {
        let mut remote = Remote::connect(url, cli.token.clone(), cli.insecure_http)?;
        if let Some(path) = &cli.root_ca {
            remote = remote.with_root_ca(&read_root_ca(path)?)?;
        }
        return run_identity_command(&Target::Remote(remote), &out, cli.command);
    }
    if endpoint.is_some() && endpoint_flag_given() {
        return Err(kith::Error::LocalOnly(command_words()).into());
    }
    // A plugin folder runs without a store: nothing in one is used, and none is made.
    if let Command::Run(command) = &cli.command
        && plugin::runs_a_folder(command)
    {
        return plugin::run(&Kith::open_in_memory()?.with_actor(actor), &out, command);
    }
    let db = db()?;
    let kith = if creates_store(&cli.command) {
        Kith::open(&db)?
    } else {
        Kith::open_existing(&db)?
    }
    .with_actor(actor);
    // A mapper is called once per record on every core: instances from a pool, made once,
    // cost far less than memory mapped and unmapped per call.
    let kith = match runs_a_mapper(&cli.command) {
        true => kith.with_pooled_plugins(),
        false => kith,
    };
    if remote_capable(&cli.command) {
        return run_identity_command(&Target::Local(kith), &out, cli.command);
    }
    run_local(&kith, &out, cli.command)
}

/// Whether `command` maps records through an import mapper.
fn runs_a_mapper(command: &Command) -> bool {
    match command {
        Command::Import(ImportCommand::Identities(args)) => args.input().mapper.is_some(),
        Command::Validate(identity::ValidateCommand::Identity(input)) => input.mapper.is_some(),
        _ => false,
    }
}

/// Where a command runs: the store file, or a remote admin API.
pub enum Target {
    Local(Kith),
    Remote(Remote),
}

impl Target {
    pub fn admin(&self) -> &dyn Admin {
        match self {
            Target::Local(kith) => kith,
            Target::Remote(remote) => remote,
        }
    }
}

/// The commands that run the same against the store file and a remote admin API.
fn run_identity_command(target: &Target, out: &Output, command: Command) -> Result<(), CliError> {
    let admin = target.admin();
    match command {
        Command::Create(identity::CreateCommand::Identity(args)) => {
            identity::create(admin, out, args)
        }
        Command::Create(identity::CreateCommand::RecoveryCode(args)) => {
            invite::recovery_code(admin, out, args)
        }
        Command::Create(identity::CreateCommand::RecoveryLink(args)) => {
            invite::recovery_link(admin, out, args)
        }
        Command::Get(GetCommand::Identity(args)) => identity::get(admin, out, args),
        Command::Get(GetCommand::Schema(args)) => schema::get(admin, out, args),
        Command::List(ListCommand::Identities(args)) => identity::list(admin, out, args),
        Command::List(ListCommand::Schemas) => schema::list(admin, out),
        Command::Update(command) => identity::update(admin, out, command),
        Command::Patch(command) => identity::patch(admin, out, command),
        Command::Delete(identity::DeleteCommand::Identities(args)) => {
            import::delete_identities(admin, out, args)
        }
        Command::Delete(identity::DeleteCommand::Identity { ids }) => {
            identity::delete(admin, out, &ids)
        }
        Command::Import(ImportCommand::Identities(args)) => import::import(target, out, args),
        Command::Export(ExportCommand::Identities(args)) => import::export(admin, out, args),
        Command::Validate(command) => identity::validate(admin, out, command),
        _ => unreachable!("remote_capable lists exactly the commands above"),
    }
}

/// The endpoint of the admin API to run identity commands against: `--endpoint` or
/// `KITH_ENDPOINT`, else `KRATOS_ADMIN_URL` (as the kratos CLI reads it: the flag first,
/// then that variable). An empty value means the store file.
fn remote_endpoint(flag: Option<&str>) -> Option<String> {
    match flag {
        Some(url) => Some(url.to_string()),
        None => std::env::var("KRATOS_ADMIN_URL").ok(),
    }
    .filter(|url| !url.trim().is_empty())
}

/// The PEM file `--root-ca` names: a CA bundle is kilobytes, so at most 1 MiB is read.
fn read_root_ca(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(1 << 20).read_to_end(&mut pem))
        .map_err(|e| {
            CliError::usage(format!("--root-ca: could not read {}: {e}", path.display()))
        })?;
    Ok(pem)
}

/// Whether `--endpoint` is on the command line (an endpoint from the environment does not
/// stop the commands only a store file has).
fn endpoint_flag_given() -> bool {
    std::env::args_os().skip(1).any(|arg| {
        let arg = arg.to_string_lossy();
        arg == "-e"
            || arg == "--endpoint"
            || arg.starts_with("--endpoint=")
            || (arg.starts_with("-e") && !arg.starts_with("--"))
    })
}

/// `kith <verb> <noun>` as typed, for messages.
fn command_words() -> String {
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if ["-e", "--endpoint", "--db", "--format", "--token"].contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') && words.len() < 2 {
            words.push(arg);
        }
    }
    format!("kith {}", words.join(" "))
}

/// Whether a command runs against a remote admin API when there is an endpoint. Exhaustive
/// on purpose: a new command must choose.
fn remote_capable(command: &Command) -> bool {
    match command {
        Command::Create(
            identity::CreateCommand::Identity(_)
            | identity::CreateCommand::RecoveryCode(_)
            | identity::CreateCommand::RecoveryLink(_),
        )
        | Command::Get(GetCommand::Identity(_) | GetCommand::Schema(_))
        | Command::List(ListCommand::Identities(_) | ListCommand::Schemas)
        | Command::Update(_)
        | Command::Patch(_)
        | Command::Delete(_)
        | Command::Import(_)
        | Command::Export(_)
        | Command::Validate(_) => true,
        Command::Create(identity::CreateCommand::Token(_))
        | Command::Get(
            GetCommand::Config | GetCommand::Message { .. } | GetCommand::Plugin { .. },
        )
        | Command::List(
            ListCommand::Invites(_)
            | ListCommand::Events(_)
            | ListCommand::Plugins
            | ListCommand::Tokens
            | ListCommand::Messages(_),
        )
        | Command::Verify(_)
        | Command::Invite(_)
        | Command::Accept(_)
        | Command::Revoke(_)
        | Command::Resend(_)
        | Command::Add(_)
        | Command::Set(_)
        | Command::Unset(_)
        | Command::Install(_)
        | Command::Remove(_)
        | Command::Enable(_)
        | Command::Disable(_)
        | Command::Run(_)
        | Command::New(_)
        | Command::Wit(_)
        | Command::Configure(_)
        | Command::Courier(_)
        | Command::Retry(_)
        | Command::Serve(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Check
        | Command::Version
        | Command::Completions { .. }
        | Command::Man => false,
    }
}

/// The commands only a store file has.
fn run_local(kith: &Kith, out: &Output, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(_)
        | Command::Restore(_)
        | Command::Check
        | Command::Version
        | Command::New(_)
        | Command::Wit(_)
        | Command::Completions { .. }
        | Command::Man => {
            unreachable!("answered above, without a store or with one of their own")
        }
        Command::Get(GetCommand::Plugin { name }) => plugin::get(kith, out, &name),
        Command::Configure(command) => plugin::configure(kith, out, command),
        Command::Backup(args) => backup::backup(kith, out, args),
        Command::Create(identity::CreateCommand::Token(args)) => {
            serve::create_token(kith, out, args)
        }
        Command::List(ListCommand::Tokens) => serve::list_tokens(kith, out),
        Command::Revoke(invite::RevokeCommand::Token { name }) => {
            serve::revoke_token(kith, out, &name)
        }
        Command::Get(GetCommand::Config) => config::get(kith, out),
        Command::Get(GetCommand::Message { id }) => courier::get(kith, out, &id),
        Command::List(ListCommand::Messages(args)) => courier::list(kith, out, args),
        Command::Retry(RetryCommand::Message { id }) => courier::retry(kith, out, &id),
        Command::Courier(command) => courier::run(kith, out, command),
        Command::List(ListCommand::Events(args)) => config::list_events(kith, out, args),
        Command::Verify(command) => identity::verify(kith, out, command),
        Command::Add(command) => schema::add(kith, out, command),
        Command::Invite(args) => invite::invite(kith, out, args),
        Command::Accept(command) => invite::accept(kith, out, command),
        Command::Revoke(invite::RevokeCommand::Invite { id }) => invite::revoke(kith, out, &id),
        Command::Resend(command) => invite::resend(kith, out, command),
        Command::List(ListCommand::Invites(args)) => invite::list(kith, out, args),
        Command::Set(command) => config::set(kith, out, command),
        Command::Unset(command) => config::unset(kith, out, command),
        Command::List(ListCommand::Plugins) => plugin::list(kith, out),
        Command::Install(command) => plugin::install(kith, out, command),
        Command::Remove(RemoveCommand::Plugin { name }) => {
            plugin::remove(kith, out, plugin::NamedCommand::Plugin { name })
        }
        Command::Remove(RemoveCommand::Schema { id }) => schema::remove(kith, out, &id),
        Command::Enable(command) => plugin::enable(kith, out, command, true),
        Command::Disable(command) => plugin::enable(kith, out, command, false),
        Command::Run(command) => plugin::run(kith, out, &command),
        _ => unreachable!("run_identity_command runs the rest (see remote_capable)"),
    }
}

/// Writes `bytes` to stdout; a reader that went away (`kith man | head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::usage(format!("could not write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Whether a command may create the store when there is none: only commands that put
/// something into it. Every other command (every get, list, export, verify, validate, and
/// changes to what must already exist) refuses a missing store, so a mistyped `--db` or
/// `KITH_DB` is an error rather than a new, empty store. Exhaustive on purpose: a new
/// command must choose.
fn creates_store(command: &Command) -> bool {
    match command {
        Command::Create(
            identity::CreateCommand::Identity(_) | identity::CreateCommand::Token(_),
        )
        | Command::Import(_)
        | Command::Invite(_)
        | Command::Add(_)
        | Command::Set(_)
        | Command::Install(_)
        | Command::Serve(_) => true,
        Command::Create(
            identity::CreateCommand::RecoveryCode(_) | identity::CreateCommand::RecoveryLink(_),
        )
        | Command::Get(_)
        | Command::Unset(_)
        | Command::List(_)
        | Command::Update(_)
        | Command::Patch(_)
        | Command::Delete(_)
        | Command::Export(_)
        | Command::Validate(_)
        | Command::Verify(_)
        | Command::Accept(_)
        | Command::Revoke(_)
        | Command::Resend(_)
        | Command::Courier(_)
        | Command::Retry(_)
        | Command::Remove(_)
        | Command::Enable(_)
        | Command::Disable(_)
        | Command::Run(_)
        | Command::New(_)
        | Command::Wit(_)
        | Command::Configure(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Check
        | Command::Version
        | Command::Completions { .. }
        | Command::Man => false,
    }
}

/// Prints `error` as the chosen format wants it and returns the process exit code:
/// 1 when the input was refused, 2 on an internal failure.
pub fn report(error: &CliError, format: Option<output::FormatArg>) -> u8 {
    output::report(error, format.map(|f| f.kind))
}

/// Who runs the command, for the audit trail: `USER`, else `LOGNAME`, else the account of
/// the process's uid (cron jobs and systemd units set neither), else `uid:N`.
fn user_name() -> String {
    let from_env = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty());
    from_env.unwrap_or_else(account_of_uid)
}

/// The account of this process's uid in /etc/passwd (the uid is read off /proc/self, which
/// the kernel gives the process's effective uid), else `uid:N`. Accounts only a directory
/// service knows (LDAP through NSS) read as `uid:N`.
#[cfg(unix)]
fn account_of_uid() -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".into();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let entry_uid = fields.nth(1)?.parse::<u32>().ok()?;
            (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid:{uid}"))
}

#[cfg(not(unix))]
fn account_of_uid() -> String {
    "unknown".into()
}
