//! `kith serve` and the API tokens that guard its admin listener.

use super::Format;
use super::output::{CliError, Output};
use crate::Kith;
use crate::http::{Bound, ServeOptions};
use clap::Args;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the admin API (identities, batch, recovery; bearer tokens required).
    #[arg(long, default_value = "127.0.0.1:4434", value_name = "ADDR")]
    admin: SocketAddr,
    /// Address of the public pages (invite redemption, /schemas, health).
    #[arg(long, default_value = "127.0.0.1:4433", value_name = "ADDR")]
    public: SocketAddr,
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
    };
    crate::http::serve(&options, |bound: &Bound| match out.format {
        Format::Table => {
            out.emit(&format!(
                    "kith {} serving {}\n  admin API:    {}/admin/identities\n  public pages: {}\nStop with Ctrl-C or SIGTERM.",
                    bound.version,
                    db.display(),
                    bound.admin,
                    bound.public
                ));
            if !bound.tokens {
                out.note("no API token yet: every admin request is refused until one exists (kith create token --name NAME)");
            }
        }
        _ => out.json(bound),
    })?;
    Ok(())
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
