//! `courier run`, `list messages`, `get message`, `retry message`.

use super::Format;
use super::output::{CliError, Output, parse_uuid};
use clap::{Args, Subcommand};
use kith::Admin as _;
use kith::Kith;
use kith::flows::{CourierMessage, ListMessages, StopSignal};

#[derive(Debug, Subcommand)]
pub enum CourierCommand {
    /// Send queued messages: e-mail through the relay, webhooks, outbox files, retrying
    /// failures with a growing delay. Runs until Ctrl-C or SIGTERM. One worker sends per
    /// store (`kith serve` runs one too): while another holds the store, this one waits.
    Run {
        /// Send what is due now, once each, and stop (refused while another worker holds the
        /// store).
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Args)]
pub struct ListMessagesArgs {
    /// Only messages in this state: queued, processing, sent or abandoned.
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// Only messages to this address (exact).
    #[arg(long, value_name = "ADDRESS")]
    recipient: Option<String>,
    /// Messages per page (default 10, at most 500).
    #[arg(long, value_name = "N")]
    page_size: Option<String>,
    /// The page to show: the token the previous page printed.
    #[arg(long, value_name = "TOKEN")]
    page_token: Option<String>,
}

pub fn run(kith: &Kith, out: &Output, command: CourierCommand) -> Result<(), CliError> {
    let CourierCommand::Run { once } = command;
    let totals = match once {
        true => kith.run_courier(true, &StopSignal::new())?,
        false => {
            if kith.courier_lock_is_held()? {
                out.note("courier: another courier worker holds this store (kith serve, or kith courier run); waiting for it to stop");
            }
            out.note("courier: sending queued messages; stop with Ctrl-C or SIGTERM");
            kith::http::until_signal(|stop| {
                kith.run_courier_until_stopped(stop, |error| {
                    eprintln!("kith courier run: {error}; starting again in 5s");
                })
            })?
        }
    };
    match out.format {
        Format::Table => out.emit(&format!(
            "sent {}, retrying {}, abandoned {}; {} still queued",
            totals.sent, totals.retrying, totals.abandoned, totals.still_queued
        )),
        _ => out.json(&totals),
    }
    Ok(())
}

pub fn list(kith: &Kith, out: &Output, args: ListMessagesArgs) -> Result<(), CliError> {
    let page = kith.list_messages(&ListMessages {
        status: args.status,
        recipient: args.recipient,
        page_size: args.page_size,
        page_token: args.page_token,
    })?;
    match out.format {
        Format::Table => {
            out.table(
                &["ID", "STATUS", "CHANNEL", "RECIPIENT", "SENT", "CREATED AT"],
                page.messages
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            m.status.as_str().to_string(),
                            m.channel.clone(),
                            m.recipient.clone(),
                            m.send_count.to_string(),
                            m.created_at.to_string(),
                        ]
                    })
                    .collect(),
            );
            if let Some(token) = &page.next_page_token {
                out.note(&format!("next page: --page-token {token}"));
            }
        }
        _ => out.json(&page.messages),
    }
    Ok(())
}

pub fn get(kith: &Kith, out: &Output, id: &str) -> Result<(), CliError> {
    let message = kith.get_message(parse_uuid(id, "a message id")?)?;
    match out.format {
        Format::Table => print_message(out, &message),
        _ => out.json(&message),
    }
    Ok(())
}

fn print_message(out: &Output, message: &CourierMessage) {
    out.pairs(vec![
        ("ID", message.id.to_string()),
        ("STATUS", message.status.as_str().to_string()),
        ("CHANNEL", message.channel.clone()),
        ("RECIPIENT", message.recipient.clone()),
        ("SEND COUNT", message.send_count.to_string()),
        ("CREATED AT", message.created_at.to_string()),
        ("UPDATED AT", message.updated_at.to_string()),
    ]);
    for dispatch in message.dispatches.iter().flatten() {
        let error = dispatch
            .error
            .as_ref()
            .and_then(|e| e["message"].as_str())
            .unwrap_or("");
        out.note(&format!(
            "attempt at {}: {}{}{}",
            dispatch.created_at,
            dispatch.status,
            if error.is_empty() { "" } else { ": " },
            error
        ));
    }
}

pub fn retry(kith: &Kith, out: &Output, id: &str) -> Result<(), CliError> {
    let id = parse_uuid(id, "a message id")?;
    let queued = kith.retry_message(id)?;
    match out.format {
        Format::Table => {
            for message in &queued {
                let message = kith.get_message(*message)?;
                out.emit(&format!(
                    "message {}: {} (attempts: {})",
                    message.id,
                    message.status.as_str(),
                    message.send_count
                ));
            }
            if queued.is_empty() {
                out.note("the invite was resent, but no delivery plugin planned a message");
            }
        }
        _ => out.json(&serde_json::json!({ "messages": queued })),
    }
    Ok(())
}
