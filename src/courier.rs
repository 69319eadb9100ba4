//! courier: carries out the messages delivery plugins planned. It sends e-mail through an
//! SMTP relay (lettre), posts JSON to allow-listed URLs (ureq) and writes outbox files; the
//! queue itself (retries, one dispatch per attempt) is in the store, and the worker that
//! drains it is `flows::courier`.
//!
//! What is sent is decided by plugins, where it may go by settings: the relay, the HTTP
//! allow-list and the outbox folder come from [`CourierSettings`], never from a plan.

mod http;
pub(crate) use http::pem_certificates;
mod outbox;
pub mod seal;
mod smtp;

pub use http::is_plain_url;
pub use outbox::write_outbox;
pub use smtp::parse_relay_uri;

use crate::model::Timestamp;
use crate::plugin_host::{EmailMessage, HttpPost, OutboxFile, Plan};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// A planned message as it waits in the queue (sealed): what the courier carries out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Sendable {
    Outbox { files: Vec<StoredFile> },
    Email(EmailMessage),
    Http(HttpPost),
}

/// An outbox file in the queue, its bytes in base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub name: String,
    pub content_type: String,
    pub body_base64: String,
}

impl Sendable {
    /// The plan as the courier keeps it; `None` for a plan that sends nothing.
    pub fn of(plan: Plan) -> Option<Self> {
        Some(match plan {
            Plan::Nothing => return None,
            Plan::Email(email) => Sendable::Email(email),
            Plan::Http(post) => Sendable::Http(post),
            Plan::Outbox(files) => Sendable::Outbox {
                files: files
                    .into_iter()
                    .map(|f| StoredFile {
                        name: f.name,
                        content_type: f.content_type,
                        body_base64: base64::engine::general_purpose::STANDARD.encode(f.body),
                    })
                    .collect(),
            },
        })
    }

    /// Kratos' `channel` of the message.
    pub fn channel(&self) -> &'static str {
        match self {
            Sendable::Outbox { .. } => "outbox",
            Sendable::Email(_) => "email",
            Sendable::Http(_) => "http",
        }
    }

    /// The capability its plugin must hold when it is carried out.
    pub fn capability(&self) -> &'static str {
        match self {
            Sendable::Outbox { .. } => "outbox:write",
            Sendable::Email(_) => "email:send",
            Sendable::Http(_) => "http:post",
        }
    }

    /// Kratos' `subject`: the e-mail's subject, empty for other channels.
    pub fn subject(&self) -> &str {
        match self {
            Sendable::Email(email) => &email.subject,
            _ => "",
        }
    }

    /// Kratos' `body`: the text part, the JSON posted, or the outbox files' text.
    pub fn body(&self) -> String {
        match self {
            Sendable::Email(email) => email.text.clone(),
            Sendable::Http(post) => post.body_json.clone(),
            Sendable::Outbox { files } => files
                .iter()
                .filter_map(|f| {
                    base64::engine::general_purpose::STANDARD
                        .decode(&f.body_base64)
                        .ok()
                })
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Where and how the courier may send, read from the settings once per pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CourierSettings {
    /// `courier.smtp.connection_uri`, in Kratos' format; empty when no relay is set.
    pub smtp_uri: String,
    pub from_address: String,
    pub from_name: String,
    /// The EHLO name (`courier.smtp.local_name`).
    pub local_name: String,
    /// A PEM file of the CA that signs the relay's and webhooks' certificates; `None` for
    /// the system's roots.
    pub root_ca_file: Option<PathBuf>,
    /// URL prefixes HTTP plans may post to (`courier.http.allowed_urls`).
    pub allowed_urls: Vec<String>,
    /// The outbox folder; `None` for an in-memory store without an `outbox_dir` setting.
    pub outbox_dir: Option<PathBuf>,
}

/// Why a send did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// It may work later (the relay is down, answered 4xx or 5xx, timed out): retried.
    Retry(String),
    /// It can never work as planned (a recipient that is no address, a URL outside the
    /// allow-list, a capability no longer granted): abandoned at once.
    Abandon(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retry(message) | SendError::Abandon(message) => message,
        }
    }
}

/// Network timeout of one SMTP or HTTP exchange, as Kratos' dialer and HTTP client use.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Carries out queued messages. One per worker: it keeps the relay connections (a pool) and
/// the HTTP agent between messages, rebuilt when the settings change.
#[derive(Default)]
pub struct Courier {
    smtp: Mutex<Option<(CourierSettings, smtp::Relay)>>,
    http: Mutex<Option<(CourierSettings, http::Poster)>>,
}

impl Courier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends one message to `recipient` (the address its invite was for). Returns a line
    /// saying where it went.
    ///
    /// # Errors
    /// [`SendError::Retry`] for what may pass later, [`SendError::Abandon`] for what cannot.
    pub fn send(
        &self,
        settings: &CourierSettings,
        message_id: Uuid,
        recipient: &str,
        sendable: &Sendable,
        now: Timestamp,
    ) -> Result<String, SendError> {
        match sendable {
            Sendable::Outbox { files } => {
                let files = files
                    .iter()
                    .map(|f| {
                        Ok(OutboxFile {
                            name: f.name.clone(),
                            content_type: f.content_type.clone(),
                            body: base64::engine::general_purpose::STANDARD
                                .decode(&f.body_base64)
                                .map_err(|e| SendError::Abandon(e.to_string()))?,
                        })
                    })
                    .collect::<Result<Vec<_>, SendError>>()?;
                let outbox = settings.outbox_dir.as_deref().ok_or_else(|| {
                    SendError::Retry(
                        "an in-memory store has no folder for its outbox; set outbox_dir".into(),
                    )
                })?;
                let written = write_outbox(outbox, message_id, &files, now).map_err(|e| {
                    SendError::Retry(format!(
                        "could not write to the outbox {}: {e}",
                        outbox.display()
                    ))
                })?;
                Ok(written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "))
            }
            Sendable::Email(email) => {
                let mut cached = self.smtp.lock().unwrap_or_else(|p| p.into_inner());
                let relay = match cached.as_ref() {
                    Some((built_for, relay)) if built_for == settings => relay.clone(),
                    _ => {
                        let relay = smtp::Relay::new(settings)?;
                        *cached = Some((settings.clone(), relay.clone()));
                        relay
                    }
                };
                // The pool is shared; sending does not need the cache's lock.
                drop(cached);
                relay.send(settings, recipient, email)
            }
            Sendable::Http(post) => {
                let mut cached = self.http.lock().unwrap_or_else(|p| p.into_inner());
                let poster = match cached.as_ref() {
                    Some((built_for, poster)) if built_for == settings => poster.clone(),
                    _ => {
                        let poster = http::Poster::new(settings)?;
                        *cached = Some((settings.clone(), poster.clone()));
                        poster
                    }
                };
                drop(cached);
                poster.post(settings, post)
            }
        }
    }
}

/// Reads a PEM file of CA certificates, for a relay or webhook signed by a private CA.
fn read_root_ca(path: &std::path::Path) -> Result<Vec<u8>, SendError> {
    // A CA bundle is kilobytes; a path pointed at something huge is a mistake.
    const MAX_CA_FILE: u64 = 1 << 20;
    use std::io::Read as _;
    // Only a regular file: opening a FIFO put in its place would block the worker.
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(SendError::Retry(format!(
                "courier.root_ca_file {} is not a regular file",
                path.display()
            )));
        }
        Err(e) => {
            return Err(SendError::Retry(format!(
                "could not read courier.root_ca_file {}: {e}",
                path.display()
            )));
        }
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CA_FILE).read_to_end(&mut pem))
        .map_err(|e| {
            SendError::Retry(format!(
                "could not read courier.root_ca_file {}: {e}",
                path.display()
            ))
        })?;
    Ok(pem)
}
