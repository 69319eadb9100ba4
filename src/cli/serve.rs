//! `kith serve` and the API tokens that guard its admin listener.

use super::Format;
use super::output::{CliError, Output};
use clap::Args;
use kith::Admin as _;
use kith::Kith;
use kith::http::{Bound, Limits, RequestLog, ServeOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the admin API (identities, batch, recovery; bearer tokens required).
    #[arg(long, default_value = "127.0.0.1:4434", value_name = "ADDR")]
    admin: SocketAddr,
    /// Address of the public pages (invite redemption, /schemas, health).
    #[arg(long, default_value = "127.0.0.1:4433", value_name = "ADDR")]
    public: SocketAddr,
    /// Time a client has to send a request's head; an idle keep-alive connection is closed
    /// after it too.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = duration)]
    header_timeout: Duration,
    /// Time a client has to send a whole request body.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = duration)]
    body_timeout: Duration,
    /// Connections open at once on the admin listener [default: sized from the open-file limit, at most 1024].
    #[arg(long, value_name = "N")]
    admin_connections: Option<usize>,
    /// Connections open at once on the public listener [default: sized from the open-file limit, at most 4096].
    #[arg(long, value_name = "N")]
    public_connections: Option<usize>,
    /// Connections one client address may hold open on the public listener (raise it behind a
    /// reverse proxy) [default: 64].
    #[arg(long, value_name = "N")]
    public_per_peer: Option<usize>,
    /// Serve the admin API without tokens, as Kratos OSS does (for local development with
    /// clients written for it). Loopback addresses only.
    #[arg(long)]
    no_auth: bool,
    /// How each request is logged on stderr (method, path without its query, status,
    /// duration, actor); `--quiet` logs none.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `<time> <listener> <method> <path> <status> <duration> <actor>`
    Text,
    /// One JSON object per line.
    Json,
}

/// `500ms`, `10s` or `2m`: the timeouts of `kith serve`.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s or 2m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(format!("{text:?} is not a duration like 500ms, 10s or 2m")),
    };
    if duration.is_zero() {
        return Err("a timeout must be longer than zero".into());
    }
    Ok(duration)
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// A name to tell the token by (letters, digits, '-', '_', '.'); revoke it by this name.
    #[arg(long)]
    name: String,
}

pub fn serve(db: &Path, out: &Output, args: ServeArgs, actor: String) -> Result<(), CliError> {
    let options = ServeOptions {
        db: db.to_path_buf(),
        admin: args.admin,
        public: args.public,
        actor,
        limits: Limits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            admin_connections: args.admin_connections,
            public_connections: args.public_connections,
            public_per_peer: args.public_per_peer,
        },
        no_auth: args.no_auth,
        request_log: match (out.quiet, args.log_format) {
            (true, _) => RequestLog::Off,
            (false, LogFormat::Text) => RequestLog::Text,
            (false, LogFormat::Json) => RequestLog::Json,
        },
    };
    kith::http::serve(&options, |bound: &Bound| {
        if bound.no_auth {
            // On stderr in every format: the ready line on stdout stays one JSON object.
            eprintln!(
                "kith serve: warning: --no-auth: the admin API at {} answers every request without a token; anyone who can reach it can read and change every identity",
                bound.admin
            );
        }
        serve_ready(db, out, bound)
    })?;
    Ok(())
}

fn serve_ready(db: &Path, out: &Output, bound: &Bound) {
    match out.format {
        Format::Table => {
            out.emit(&format!(
                    "kith {} serving {}\n  admin API:    {}/admin/identities\n  public pages: {}\nStop with Ctrl-C or SIGTERM.",
                    bound.version,
                    db.display(),
                    bound.admin,
                    bound.public
                ));
            if !bound.tokens && !bound.no_auth {
                out.note("no API token yet: every admin request is refused until one exists (kith create token --name NAME)");
            }
        }
        _ => out.json(bound),
    }
}

pub fn create_token(kith: &Kith, out: &Output, args: CreateTokenArgs) -> Result<(), CliError> {
    let made = kith.create_token(&args.name)?;
    match out.format {
        _ if out.quiet => out.emit(&made.token),
        Format::Table => {
            out.emit(&made.token);
            out.note(&format!(
                "token `{}` made; it is shown only this once. Send it as Authorization: Bearer <token>.",
                made.name
            ));
        }
        _ => out.json(&made),
    }
    Ok(())
}

pub fn list_tokens(kith: &Kith, out: &Output) -> Result<(), CliError> {
    let tokens = kith.list_tokens()?;
    if out.quiet {
        for token in &tokens {
            out.emit(&token.name);
        }
        return Ok(());
    }
    match out.format {
        Format::Table => out.table(
            &["NAME", "CREATED", "CREATED BY"],
            tokens
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.created_at.to_string(),
                        t.created_by.clone(),
                    ]
                })
                .collect(),
        ),
        _ => out.json(&tokens),
    }
    Ok(())
}

pub fn revoke_token(kith: &Kith, out: &Output, name: &str) -> Result<(), CliError> {
    kith.revoke_token(name)?;
    if !out.quiet {
        out.note(&format!("token `{name}` revoked"));
    }
    Ok(())
}
