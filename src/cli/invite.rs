//! `invite`, `accept invite`, `create recovery-code|recovery-link`, `list invites`, `revoke invite`.

use super::Format;
use super::output::{CliError, Output, parse_uuid};
use clap::{Args, Subcommand};
use kith::Admin;
use kith::Kith;
use kith::flows::{Invitation, InviteRequest, InviteStatus, Redemption};
use serde_json::Value;
use std::io::IsTerminal;

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The invitee's email: the identity holding it, or a new one created for it.
    #[arg(required_unless_present = "identity", conflicts_with = "identity")]
    email: Option<String>,
    /// Invite an existing identity instead.
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// Schema of an identity the invite creates (default preset://email).
    #[arg(long, value_name = "ID")]
    schema_id: Option<String>,
    /// Traits of an identity the invite creates (default {"email": EMAIL}).
    #[arg(long, value_name = "JSON")]
    traits: Option<String>,
    /// Lifetime, Go duration syntax (default: the invite.lifespan setting, 72h; 5m to 720h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    expires_in: Option<String>,
    /// Do not hand the invite to delivery plugins: you pass on the code and link yourself.
    #[arg(long)]
    no_deliver: bool,
    /// Where the redemption page sends the invitee once the password is set; it must match
    /// the selfservice.allowed_return_urls setting (Kratos' return_to).
    #[arg(long, value_name = "URL")]
    return_to: Option<String>,
    /// Also print the link as a QR code (on stderr).
    #[arg(long)]
    qr: bool,
}

#[derive(Debug, Subcommand)]
pub enum AcceptCommand {
    /// Redeem an invite: set a password with its link, or with its flow id and code.
    ///
    /// The link and the code are secrets: rather than on the command line (where `ps` and
    /// the shell history see them), pass `-` to read one from stdin, or leave them out on a
    /// terminal to be asked. With `--password-stdin` too, stdin holds the link or code on its
    /// first line and the password on the next.
    Invite {
        /// The recovery_link of the invite; `-` reads it from stdin.
        #[arg(long, conflicts_with_all = ["flow", "code"])]
        link: Option<String>,
        /// The flow id (the `flow` parameter of the link).
        #[arg(long)]
        flow: Option<String>,
        /// The 6-digit code; `-` reads it from stdin (asked for on a terminal when left out).
        #[arg(long, requires = "flow")]
        code: Option<String>,
        /// Read the new password from the first line of stdin (after the link or code, when
        /// those are read from stdin too) instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    /// The identity to recover.
    id: String,
    /// Lifetime, Go duration syntax (default 1h, as in Kratos).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    expires_in: Option<String>,
    /// Where the redemption page sends the user once the password is set; it must match
    /// the selfservice.allowed_return_urls setting (Kratos' return_to).
    #[arg(long, value_name = "URL")]
    return_to: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListInvitesArgs {
    /// Only invites in this state: pending, queued, delivered, delivery-failed, redeemed,
    /// expired, revoked.
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ResendCommand {
    /// Resend an open invite: a new code and link (the old ones stop working), delivered again.
    Invite { id: String },
}

#[derive(Debug, Subcommand)]
pub enum RevokeCommand {
    /// Revoke an open invite: its code and link stop working.
    Invite { id: String },
    /// Revoke an API token of `kith serve`: requests bearing it are refused from now on.
    Token { name: String },
}

pub fn invite(kith: &Kith, out: &Output, args: InviteArgs) -> Result<(), CliError> {
    let traits = args
        .traits
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .map_err(|e| CliError::input("--traits", format!("--traits is not valid JSON: {e}")))?;
    let request = InviteRequest {
        email: args.email,
        identity_id: args
            .identity
            .as_deref()
            .map(|id| parse_uuid(id, "an identity id"))
            .transpose()?,
        schema_id: args.schema_id,
        traits,
        expires_in: args.expires_in,
        skip_delivery: args.no_deliver,
        return_to: args.return_to,
    };
    let invitation = kith.invite(&request)?;
    print_invitation(out, &invitation, args.no_deliver);
    if args.qr {
        let code = qrcode::QrCode::new(invitation.recovery_link.as_bytes())
            .map_err(|e| CliError::usage(format!("the link does not fit a QR code: {e}")))?;
        let picture = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        out.note(&picture);
    }
    Ok(())
}

/// The invite, then on a terminal how each delivery went, or why there was none.
fn print_invitation(out: &Output, invitation: &Invitation, delivery_skipped: bool) {
    match out.format {
        Format::Table => out.pairs(vec![
            ("INVITE", invitation.invite_id.to_string()),
            ("IDENTITY", invitation.identity_id.to_string()),
            ("RECOVERY LINK", invitation.recovery_link.clone()),
            ("RECOVERY CODE", invitation.recovery_code.clone()),
            ("EXPIRES AT", invitation.expires_at.to_string()),
        ]),
        _ => out.json(invitation),
    }
    if out.format == Format::Table {
        for delivery in &invitation.deliveries {
            out.note(&format!(
                "delivery by {}: {} ({})",
                delivery.plugin,
                delivery.status,
                delivery.detail.as_deref().unwrap_or("")
            ));
        }
        if delivery_skipped {
            out.note("delivery skipped (--no-deliver): hand the code and link over yourself");
        } else if invitation.deliveries.is_empty() {
            out.note("no delivery plugin is enabled: hand the code and link over yourself");
        }
        let queued = invitation
            .deliveries
            .iter()
            .filter(|d| d.status == "queued")
            .count();
        if queued > 0 {
            out.note(&format!(
                "{queued} message(s) still queued: a courier worker sends them (kith serve, or \
                 kith courier run); see kith list messages --status queued"
            ));
        }
    }
}

pub fn resend(kith: &Kith, out: &Output, command: ResendCommand) -> Result<(), CliError> {
    let ResendCommand::Invite { id } = command;
    let invitation = kith.resend_invite(parse_uuid(&id, "an invite id")?)?;
    print_invitation(out, &invitation, false);
    Ok(())
}

pub fn accept(kith: &Kith, out: &Output, command: AcceptCommand) -> Result<(), CliError> {
    let AcceptCommand::Invite {
        link,
        flow,
        code,
        password_stdin,
    } = command;
    let redemption = match (link, flow, code) {
        (Some(link), _, _) => Redemption::Link(secret_value(link, "link", "Recovery link: ")?),
        (None, Some(flow), code) => {
            let flow = parse_uuid(&flow, "a flow id")?;
            refuse_closed(kith, flow)?;
            Redemption::Code {
                flow,
                code: secret_value(code.unwrap_or_default(), "code", "Recovery code: ")?,
            }
        }
        (None, None, _) => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "pass --link, or --flow and --code (`-` reads either from stdin)",
                ));
            }
            Redemption::Link(secret_value(String::new(), "link", "Recovery link: ")?)
        }
    };
    // Before the password is asked for: an expired, used or revoked link is said to be so,
    // in the redemption page's words.
    if let Redemption::Link(link) = &redemption
        && let (Some(flow), _) = kith::flows::link_parameters(link)
    {
        refuse_closed(kith, flow)?;
    }
    let password = super::output::read_password(password_stdin, "New password: ")?;
    if !password_stdin {
        let again = super::output::read_password(false, "Repeat the new password: ")?;
        if again != password {
            return Err(CliError::usage(
                "the two passwords differ; nothing was changed, run kith accept invite again",
            ));
        }
    }
    let redeemed = kith.redeem(&redemption, &password)?;
    match out.format {
        Format::Table => out.emit(&format!(
            "password set for identity {}{}",
            redeemed.identity_id,
            redeemed
                .verified_address
                .as_deref()
                .map(|a| format!("; {a} is verified"))
                .unwrap_or_default()
        )),
        _ => out.json(&redeemed),
    }
    Ok(())
}

/// Refuses a flow that cannot be redeemed (expired, used, revoked, killed by wrong codes,
/// unknown), saying so as the redemption page does.
fn refuse_closed(kith: &Kith, flow: uuid::Uuid) -> Result<(), CliError> {
    match kith.recovery_flow_state(flow)?.closed_message() {
        Some(message) => Err(kith::Error::BadRequest(message.into()).into()),
        None => Ok(()),
    }
}

/// A link or code given as `value`: read from stdin's next line for `-`, asked for (without
/// echo) on a terminal when empty, else taken as given.
fn secret_value(value: String, what: &str, prompt: &str) -> Result<String, CliError> {
    match value.as_str() {
        "-" => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                CliError::input("<stdin>", format!("could not read the {what}: {e}"))
            })?;
            let line = line.trim();
            if line.is_empty() {
                return Err(CliError::input("<stdin>", format!("stdin holds no {what}")));
            }
            Ok(line.to_string())
        }
        "" => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(format!(
                    "no {what} given: pass it, or `-` to read it from stdin"
                )));
            }
            let answer = rpassword::prompt_password(prompt).map_err(|e| {
                CliError::usage(format!(
                    "could not read the {what} from the terminal ({e}); pass `-` to read it from stdin"
                ))
            })?;
            Ok(answer.trim().to_string())
        }
        _ => Ok(value),
    }
}

pub fn recovery_code(kith: &dyn Admin, out: &Output, args: RecoveryArgs) -> Result<(), CliError> {
    let id = parse_uuid(&args.id, "an identity id")?;
    let code =
        kith.create_recovery_code(id, args.expires_in.as_deref(), args.return_to.as_deref())?;
    match out.format {
        Format::Table => out.pairs(vec![
            ("RECOVERY LINK", code.recovery_link),
            ("RECOVERY CODE", code.recovery_code),
            ("EXPIRES AT", code.expires_at.to_string()),
        ]),
        _ => out.json(&code),
    }
    Ok(())
}

pub fn recovery_link(kith: &dyn Admin, out: &Output, args: RecoveryArgs) -> Result<(), CliError> {
    let id = parse_uuid(&args.id, "an identity id")?;
    let link =
        kith.create_recovery_link(id, args.expires_in.as_deref(), args.return_to.as_deref())?;
    match out.format {
        Format::Table => out.pairs(vec![
            ("RECOVERY LINK", link.recovery_link),
            ("EXPIRES AT", link.expires_at.to_string()),
        ]),
        _ => out.json(&link),
    }
    Ok(())
}

pub fn list(kith: &Kith, out: &Output, args: ListInvitesArgs) -> Result<(), CliError> {
    let status = args
        .status
        .as_deref()
        .map(|s| {
            InviteStatus::parse(s).ok_or_else(|| {
                CliError::usage(format!(
                    "`{s}` is not a status: use pending, queued, delivered, delivery-failed, redeemed, expired or revoked"
                ))
            })
        })
        .transpose()?;
    let invites = kith.list_invites(status)?;
    match out.format {
        Format::Table => out.table(
            &[
                "ID",
                "KIND",
                "ADDRESS",
                "STATUS",
                "DELIVERY",
                "EXPIRES AT",
                "IDENTITY",
            ],
            invites
                .iter()
                .map(|i| {
                    vec![
                        i.id.to_string(),
                        i.kind.as_str().to_string(),
                        i.address.clone().unwrap_or_default(),
                        serde_json::to_value(i.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        i.deliveries
                            .iter()
                            .map(|d| match &d.channel {
                                Some(channel) => format!("{} ({channel}): {}", d.plugin, d.status),
                                None => format!("{}: {}", d.plugin, d.status),
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        i.expires_at.to_string(),
                        i.identity_id.to_string(),
                    ]
                })
                .collect(),
        ),
        _ => out.json(&invites),
    }
    Ok(())
}

pub fn revoke(kith: &Kith, out: &Output, id: &str) -> Result<(), CliError> {
    let id = parse_uuid(id, "an invite id")?;
    kith.revoke_invite(id)?;
    if !out.quiet {
        out.note(&format!("invite {id} revoked"));
    }
    Ok(())
}
