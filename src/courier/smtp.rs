//! E-mail through the relay in `courier.smtp.connection_uri`, in Kratos' URI format:
//!
//! - `smtps://HOST[:PORT]`: TLS from the first byte (default port 465);
//! - `smtp://HOST[:PORT]`: STARTTLS is required (default port 587), as Kratos requires it;
//! - `smtp://HOST[:PORT]?disable_starttls=true`: STARTTLS only if the relay offers it (Kratos'
//!   mail library does the same), otherwise plain;
//! - `USER:PASSWORD@` (percent-encoded) logs in; `?skip_ssl_verify=true` accepts any
//!   certificate; `?server_name=NAME` checks the certificate for NAME instead of HOST.
//!
//! Kratos dials port 0 when the URI names none; kith takes the scheme's usual port instead.
//! Certificates are checked against the system's roots, or only against the private CA in
//! `courier.root_ca_file` when it is set (air-gapped relays are signed by internal CAs).

use super::{CourierSettings, SEND_TIMEOUT, SendError, read_root_ca};
use crate::plugin_host::EmailMessage;
use lettre::address::{Address, Envelope};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

/// Connections kept open to the relay, so messages do not each pay a handshake: one per
/// sender of a pass (`flows::courier`).
const POOL_SIZE: u32 = 16;

/// `courier.smtp.connection_uri`, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayUri {
    /// TLS from the first byte (`smtps://`).
    pub implicit_tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub disable_starttls: bool,
    pub skip_ssl_verify: bool,
    pub server_name: Option<String>,
}

/// Go's `strconv.ParseBool`, as Kratos reads the URI's switches: what does not parse is false.
fn go_bool(text: &str) -> bool {
    matches!(text, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a percent-escape is not UTF-8".to_string())
}

/// Parses a relay URI; the error says what is wrong, never the password.
///
/// # Errors
/// A scheme other than `smtp`/`smtps`, no host, a bad port or escape.
pub fn parse_relay_uri(uri: &str) -> Result<RelayUri, String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or("must look like smtp://HOST:PORT or smtps://HOST:PORT")?;
    let implicit_tls = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => false,
        "smtps" => true,
        other => return Err(format!("scheme {other:?} is not smtp or smtps")),
    };
    let (authority, query) = match rest.split_once('?') {
        Some((authority, query)) => (authority, query),
        None => (rest, ""),
    };
    let authority = authority.split(['/', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, password)) => {
                (Some(percent_decode(user)?), Some(percent_decode(password)?))
            }
            None => (Some(percent_decode(info)?), None),
        },
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 host lacks its `]`")?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(
            "names no host (a `/`, `#`, `?` or `@` in a user or password must be \
                    percent-encoded)"
                .into(),
        );
    }
    let port = match port {
        // The text is not repeated: with an unescaped `/`, `#` or `?` in a password, what
        // stands where the port should be is part of the password.
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(
            "has no port number after its host (a `/`, `#`, `?` or `@` in a user or password \
             must be percent-encoded)",
        )?,
        None if implicit_tls => 465,
        None => 587,
    };
    let mut relay = RelayUri {
        implicit_tls,
        host,
        port,
        user,
        password,
        disable_starttls: false,
        skip_ssl_verify: false,
        server_name: None,
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "disable_starttls" => relay.disable_starttls = go_bool(&value),
            "skip_ssl_verify" => relay.skip_ssl_verify = go_bool(&value),
            "server_name" if !value.is_empty() => relay.server_name = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(relay)
}

/// A connection pool to the relay, built from the settings.
#[derive(Clone)]
pub(super) struct Relay {
    transport: SmtpTransport,
}

impl Relay {
    pub(super) fn new(settings: &CourierSettings) -> Result<Self, SendError> {
        if settings.smtp_uri.is_empty() {
            return Err(SendError::Retry(
                "no SMTP relay is set: kith set config courier.smtp.connection_uri smtp://HOST:PORT"
                    .into(),
            ));
        }
        let uri = parse_relay_uri(&settings.smtp_uri).map_err(|problem| {
            SendError::Retry(format!("courier.smtp.connection_uri {problem}"))
        })?;
        let server_name = uri.server_name.clone().unwrap_or_else(|| uri.host.clone());
        let mut tls = TlsParameters::builder(server_name)
            .dangerous_accept_invalid_certs(uri.skip_ssl_verify && !uri.disable_starttls);
        if let Some(path) = &settings.root_ca_file {
            let pem = read_root_ca(path)?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                SendError::Retry(format!(
                    "courier.root_ca_file {} holds no usable certificate: {e}",
                    path.display()
                ))
            })?;
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(certificate);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| SendError::Retry(format!("could not set up TLS for the relay: {e}")))?;
        let tls = match (uri.implicit_tls, uri.disable_starttls) {
            (true, _) => Tls::Wrapper(tls),
            (false, false) => Tls::Required(tls),
            (false, true) => Tls::Opportunistic(tls),
        };
        let mut builder = SmtpTransport::builder_dangerous(uri.host.clone())
            .port(uri.port)
            .tls(tls)
            .hello_name(ClientId::Domain(settings.local_name.clone()))
            .timeout(Some(SEND_TIMEOUT))
            .pool_config(PoolConfig::new().max_size(POOL_SIZE));
        if let Some(user) = &uri.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                uri.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
        })
    }

    pub(super) fn send(
        &self,
        settings: &CourierSettings,
        recipient: &str,
        email: &EmailMessage,
    ) -> Result<String, SendError> {
        let (message, envelope) = build_message(settings, recipient, email)?;
        match self.transport.send_raw(&envelope, &message.formatted()) {
            Ok(response) => Ok(format!(
                "sent to {recipient} through the relay ({})",
                response.code()
            )),
            Err(error) => Err(SendError::Retry(format!(
                "the relay did not take the message: {}",
                describe(&error)
            ))),
        }
    }
}

/// lettre's error with its sources, which hold the relay's reply or the TLS problem.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    if error.is_timeout() {
        return format!(
            "the relay did not answer within {}s",
            SEND_TIMEOUT.as_secs()
        );
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Headers the courier sets itself, which a plan cannot replace; `Cc` and `Bcc` would send
/// the invite's code to someone it is not for.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "sender",
    "return-path",
    "errors-to",
    "disposition-notification-to",
    "return-receipt-to",
    "resent-from",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-sender",
    "resent-date",
    "resent-message-id",
];

/// The message, and its envelope: always from `courier.smtp.from_address` (bounces and
/// delay notices, which quote the message and its code, go to the site, whatever `From:`
/// the plan chose) to the one recipient.
fn build_message(
    settings: &CourierSettings,
    recipient: &str,
    email: &EmailMessage,
) -> Result<(Message, Envelope), SendError> {
    let abandon = |what: String| SendError::Abandon(what);
    let to: Mailbox = recipient.parse().map_err(|e| {
        abandon(format!(
            "the recipient {recipient:?} is not an address: {e}"
        ))
    })?;
    let from: Mailbox = if email.sender.is_empty() {
        let address = settings.from_address.parse().map_err(|e| {
            abandon(format!(
                "courier.smtp.from_address {:?} is not an address: {e}",
                settings.from_address
            ))
        })?;
        Mailbox::new(
            Some(settings.from_name.clone()).filter(|name| !name.is_empty()),
            address,
        )
    } else {
        email.sender.parse().map_err(|e| {
            abandon(format!(
                "the plan's sender {:?} is not a mailbox: {e}",
                email.sender
            ))
        })?
    };
    let to_address = to.email.clone();
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(None);
    for (name, value) in &email.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(abandon(format!(
                "the plan sets the header {name}, which the courier sets itself"
            )));
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| abandon(format!("the plan's header name {name:?} is not one")))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    let built = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone()),
    };
    let message = built.map_err(|e| abandon(format!("the message cannot be built: {e}")))?;
    let bounces: Address = settings.from_address.parse().map_err(|e| {
        abandon(format!(
            "courier.smtp.from_address {:?} is not an address: {e}",
            settings.from_address
        ))
    })?;
    let envelope = Envelope::new(Some(bounces), vec![to_address])
        .map_err(|e| abandon(format!("the envelope cannot be built: {e}")))?;
    Ok((message, envelope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_uris_are_read_as_kratos_reads_them() {
        let relay = parse_relay_uri(
            "smtps://ops%40example.org:p%3Ass@relay.internal:2465/?server_name=mail.internal",
        )
        .unwrap();
        assert!(relay.implicit_tls);
        assert_eq!(relay.host, "relay.internal");
        assert_eq!(relay.port, 2465);
        assert_eq!(relay.user.as_deref(), Some("ops@example.org"));
        assert_eq!(relay.password.as_deref(), Some("p:ss"));
        assert_eq!(relay.server_name.as_deref(), Some("mail.internal"));

        let relay =
            parse_relay_uri("smtp://127.0.0.1:2525?disable_starttls=true&skip_ssl_verify=yes")
                .unwrap();
        assert!(!relay.implicit_tls);
        assert!(relay.disable_starttls);
        assert!(!relay.skip_ssl_verify, "Go's ParseBool does not read `yes`");
        assert_eq!(parse_relay_uri("smtp://relay").unwrap().port, 587);
        assert_eq!(parse_relay_uri("smtps://relay").unwrap().port, 465);
        assert_eq!(parse_relay_uri("smtp://[::1]:25").unwrap().host, "::1");
        for bad in [
            "http://relay",
            "relay:25",
            "smtp://",
            "smtp://relay:0",
            "smtp://relay:x",
            "smtp://u:%zz@relay",
        ] {
            assert!(parse_relay_uri(bad).is_err(), "{bad}");
        }
        let error = parse_relay_uri("smtp://u:secret@relay:99999").unwrap_err();
        assert!(!error.contains("secret"), "{error}");
    }
}
