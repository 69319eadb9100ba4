//! remote: [`Admin`] as HTTP calls to a remote Kratos-compatible admin API (a Kratos, Ory
//! Network, or another `kith serve`), so the CLI's identity commands run unchanged against
//! one (`--endpoint URL`).
//!
//! This module owns the wire: URLs, the bearer token, timeouts, bounded reads, and turning
//! the server's error envelope into [`Error::Remote`]. It holds no identity rules of its own:
//! the server is the authority, except for `validate` (Kratos has no dry run), which runs
//! kith's own checks against the server's schema (`check.rs`). Import batches and retries
//! live in `import.rs`. Operations kith alone has (invites, plugins, tokens, settings, the
//! audit trail, import runs) answer [`Error::LocalOnly`].
//!
//! The token is never logged, printed or put in an error, and it is never sent in clear
//! beyond loopback unless the caller insists (`allow_insecure_http`).

mod check;
mod import;

pub use import::{ImportPlan, RetryPolicy};

use crate::Admin;
use crate::error::{Error, Result};
use crate::flows::{
    AuditEvent, BatchOutcome, CourierMessage, IdentityPage, ImportOptions, ImportResult,
    ImportSource, ImportSummary, InstalledPlugin, Invitation, InviteRequest, InviteStatus,
    InviteSummary, ListIdentities, ListMessages, MessagePage, NewToken, PasswordMatch,
    PluginDetails, PluginUpgrade, RecoveryCode, RecoveryLink, Redeemed, Redemption, RunReport,
    SchemaEntry, Setting, TokenRecord,
};
use crate::model::{
    BatchPatchBody, CreateIdentityBody, CredentialKind, ErrorBody, Identity, IdentityId,
    UpdateIdentityBody,
};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to answer one request (a batch of 200 cleartext passwords
/// is hashed before the answer).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// The most of one answer read: a page of 500 identities with their credentials fits.
const MAX_ANSWER_BYTES: u64 = 128 << 20;
/// Identities asked for per page while exporting (Kratos' largest page).
const EXPORT_PAGE_SIZE: usize = 500;

/// The credential kinds an export asks for: those a createIdentityBody can carry.
const EXPORTED_KINDS: [CredentialKind; 7] = [
    CredentialKind::Password,
    CredentialKind::Oidc,
    CredentialKind::Saml,
    CredentialKind::Totp,
    CredentialKind::LookupSecret,
    CredentialKind::Webauthn,
    CredentialKind::Passkey,
];

/// A client of a remote Kratos-compatible admin API.
///
/// ```no_run
/// use kith::Admin as _;
/// use kith::remote::Remote;
///
/// # fn main() -> kith::Result<()> {
/// let remote = Remote::connect("https://kratos.internal:4434", Some("ory_pat_...".into()), false)?;
/// let page = remote.list_identities(&Default::default())?;
/// println!("{} identities on the first page", page.identities.len());
/// # Ok(()) }
/// ```
pub struct Remote {
    agent: ureq::Agent,
    /// The endpoint without a trailing slash; requests go to `<endpoint>/admin/...`.
    endpoint: String,
    token: Option<String>,
    /// A scratch store holding the server's schemas, for `validate` (see `check.rs`).
    scratch: Mutex<Option<crate::Kith>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Remote")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// One answer: its status, the headers kith reads, and its body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub link: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Why a request got no answer: the connection failed, timed out or broke.
#[derive(Debug)]
pub(crate) struct Transport(pub String);

impl Remote {
    /// A client of the admin API at `endpoint` (`https://kratos.internal:4434`), sending
    /// `token` as a bearer token. No request is made yet.
    ///
    /// # Errors
    /// [`Error::InsecureEndpoint`] for a URL that is not http(s), carries a user or password,
    /// or is plain `http://` to a host other than loopback while `allow_insecure_http` is
    /// false: a bearer token must not cross a network in clear.
    pub fn connect(
        endpoint: &str,
        token: Option<String>,
        allow_insecure_http: bool,
    ) -> Result<Self> {
        Ok(Self {
            agent: agent(ureq::tls::RootCerts::WebPki),
            endpoint: checked_endpoint(endpoint, allow_insecure_http)?,
            token: token.filter(|t| !t.is_empty()),
            scratch: Mutex::new(None),
        })
    }

    /// The same client trusting the CA certificates of the PEM bundle `pem` (a site's
    /// private CA) instead of the public roots.
    ///
    /// # Errors
    /// [`Error::InsecureEndpoint`] when `pem` holds no certificate.
    pub fn with_root_ca(mut self, pem: &[u8]) -> Result<Self> {
        let certificates = crate::courier::pem_certificates(pem);
        if certificates.is_empty() {
            return Err(Error::InsecureEndpoint(
                "the root CA file holds no PEM certificate".into(),
            ));
        }
        self.agent = agent(ureq::tls::RootCerts::new_with_certs(&certificates));
        Ok(self)
    }

    /// The endpoint, as requests are built on it (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one request to `<endpoint><path>`; `query` pairs are encoded here.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> std::result::Result<Reply, Transport> {
        let mut url = format!("{}{path}", self.endpoint);
        if !query.is_empty() {
            let mut encoded = form_urlencoded::Serializer::new(String::new());
            encoded.extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
            url.push('?');
            url.push_str(&encoded.finish());
        }
        self.send_to(method, &url, body, true)
    }

    fn send_to(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        with_token: bool,
    ) -> std::result::Result<Reply, Transport> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/json");
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        if let (Some(token), true) = (&self.token, with_token) {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(body.unwrap_or_default().to_vec())
            .map_err(|e| Transport(format!("could not build the request: {e}")))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| Transport(e.to_string()))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let link = header("link");
        let location = header("location");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| Transport(format!("could not read the answer: {e}")))?;
        Ok(Reply {
            status,
            link,
            location,
            retry_after: retry_after.map(Duration::from_secs),
            body,
        })
    }

    /// One request whose answer must be a success: its body as `T`, else the server's
    /// error.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<(T, Reply)> {
        let reply = self.succeed(method, path, query, body)?;
        let value = self.decode(&reply.body)?;
        Ok((value, reply))
    }

    /// One request whose answer must be a success (2xx).
    fn succeed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let reply = self
            .send(method, path, query, body)
            .map_err(|e| self.unreachable(e, 1))?;
        match reply.status {
            200..=299 => Ok(reply),
            _ => Err(self.refusal(&reply)),
        }
    }

    fn decode<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| {
            Error::internal(
                format!("{} answered with JSON kith cannot read", self.endpoint),
                e,
            )
        })
    }

    /// The server's error for an answer that is not a success: its envelope when it sent
    /// one, else an envelope made of the status.
    pub(crate) fn refusal(&self, reply: &Reply) -> Error {
        let body = error_body(reply);
        Error::Remote {
            endpoint: self.endpoint.clone(),
            body: Box::new(body),
        }
    }

    pub(crate) fn unreachable(&self, transport: Transport, attempts: u32) -> Error {
        Error::Unreachable {
            endpoint: self.endpoint.clone(),
            problem: transport.0,
            attempts,
        }
    }

    fn json_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::internal("could not encode a request", e))
    }

    /// One page of `GET /admin/identities` for `query`, with the `next` link's token.
    fn list_page(&self, query: &[(&str, String)]) -> Result<(Vec<Identity>, Option<String>)> {
        let (identities, reply): (Vec<Identity>, _) =
            self.call("GET", "/admin/identities", query, None)?;
        Ok((identities, reply.link.as_deref().and_then(next_page_token)))
    }
}

/// The HTTP agent: timeouts, no redirects followed, every status read, `roots` trusted.
fn agent(roots: ureq::tls::RootCerts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(ANSWER_TIMEOUT))
        .timeout_recv_body(Some(ANSWER_TIMEOUT))
        .timeout_send_body(Some(ANSWER_TIMEOUT))
        .http_status_as_error(false)
        // A redirect is read, never followed with the token (see `get_schema`).
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("kith/", env!("CARGO_PKG_VERSION")))
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into()
}

/// The error object of a failed answer: Kratos' `{"error": {...}}`, a bare error object
/// (as the batch endpoint puts them), or one made of the status when the body is neither.
pub(crate) fn error_body(reply: &Reply) -> ErrorBody {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: ErrorBody,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(&reply.body) {
        return envelope.error;
    }
    let text = String::from_utf8_lossy(&reply.body[..reply.body.len().min(512)])
        .trim()
        .to_string();
    let mut body = ErrorBody::new(reply.status);
    if body.status.is_empty() {
        body.status = format!("HTTP {}", reply.status);
    }
    if !text.is_empty() {
        body = body.with_reason(text);
    }
    body
}

/// The `page_token` of the `rel="next"` link of a `Link` header. Only the token is taken:
/// the link's host is the server's idea of its own address, and the token must go to the
/// endpoint the user named, nowhere else.
fn next_page_token(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let query = target.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "page_token")
            .map(|(_, value)| value.into_owned())
    })
}

/// `endpoint` without a trailing slash, once it is a URL kith may send a token to.
fn checked_endpoint(endpoint: &str, allow_insecure_http: bool) -> Result<String> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| {
        Error::InsecureEndpoint(format!(
            "`{endpoint}` is not a URL ({e}); pass the admin API's base URL, e.g. https://kratos.internal:4434"
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(Error::InsecureEndpoint(format!(
            "`{endpoint}` is not an http(s) URL; pass the admin API's base URL, e.g. https://kratos.internal:4434"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InsecureEndpoint(
            "the endpoint URL carries a user or password; pass the token with KITH_TOKEN instead"
                .into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InsecureEndpoint(format!(
            "`{endpoint}` has a query or fragment; pass the admin API's base URL only"
        )));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback && !allow_insecure_http {
        return Err(Error::InsecureEndpoint(format!(
            "refusing to send the token over plain http to {}: use https, or pass --insecure-http if this network is trusted",
            url.host_str().unwrap_or_default()
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn include_query(include: &[String]) -> Vec<(&'static str, String)> {
    include
        .iter()
        .map(|kind| ("include_credential", kind.clone()))
        .collect()
}

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn local_only<T>(what: &str) -> Result<T> {
    Err(Error::LocalOnly(what.to_string()))
}

impl Admin for Remote {
    fn create_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        let body = Self::json_body(&body)?;
        Ok(self.call("POST", "/admin/identities", &[], Some(&body))?.0)
    }

    /// Kratos has no dry run: the body is checked by kith's own rules against the server's
    /// identity schema, and its password identifiers and external_id are looked up on the
    /// server (see `check.rs`). Nothing is sent that writes.
    fn validate_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        self.check_identity(body)
    }

    fn get_identity(&self, id: IdentityId, include_credential: &[String]) -> Result<Identity> {
        let path = format!("/admin/identities/{id}");
        Ok(self
            .call("GET", &path, &include_query(include_credential), None)?
            .0)
    }

    fn get_identity_by_external_id(
        &self,
        external_id: &str,
        include_credential: &[String],
    ) -> Result<Identity> {
        let path = format!("/admin/identities/by/external/{}", segment(external_id));
        Ok(self
            .call("GET", &path, &include_query(include_credential), None)?
            .0)
    }

    fn list_identities(&self, query: &ListIdentities) -> Result<IdentityPage> {
        let mut pairs = include_query(&query.include_credential);
        let optional = [
            ("page_size", query.page_size.map(|n| n.to_string())),
            ("page_token", query.page_token.clone()),
            ("page", query.page.map(|n| n.to_string())),
            ("credentials_identifier", query.identifier.clone()),
            (
                "preview_credentials_identifier_similar",
                query.identifier_prefix.clone(),
            ),
            ("organization_id", query.organization_id.clone()),
        ];
        pairs.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        pairs.extend(query.ids.iter().map(|id| ("ids", id.to_string())));
        let (identities, next) = self.list_page(&pairs)?;
        Ok(IdentityPage {
            page_size: identities.len(),
            next_page_token: next.and_then(|t| t.parse().ok()),
            identities,
            total: None,
        })
    }

    fn update_identity(&self, id: IdentityId, body: UpdateIdentityBody) -> Result<Identity> {
        // Kratos' spec types `credentials` and `external_id` without null: a field left out
        // reads the same to a PUT (omitted fields are overwritten with nothing).
        let mut body = serde_json::to_value(&body)
            .map_err(|e| Error::internal("could not encode a request", e))?;
        if let Some(fields) = body.as_object_mut() {
            fields.retain(|_, value| !value.is_null());
        }
        let body = Self::json_body(&body)?;
        let path = format!("/admin/identities/{id}");
        Ok(self.call("PUT", &path, &[], Some(&body))?.0)
    }

    fn patch_identity(&self, id: IdentityId, patch: &str) -> Result<Identity> {
        let path = format!("/admin/identities/{id}");
        Ok(self.call("PATCH", &path, &[], Some(patch.as_bytes()))?.0)
    }

    /// One `DELETE` per identity, in order: unlike the local store, a failure part way
    /// leaves the identities before it deleted.
    fn delete_identities(&self, ids: &[IdentityId]) -> Result<()> {
        for id in ids {
            self.succeed("DELETE", &format!("/admin/identities/{id}"), &[], None)?;
        }
        Ok(())
    }

    fn batch_patch_identities(
        &self,
        batch: BatchPatchBody,
        dry_run: bool,
    ) -> Result<Vec<Option<BatchOutcome>>> {
        if dry_run {
            return local_only("a dry run of PATCH /admin/identities");
        }
        let body = Self::json_body(&batch)?;
        let (outcomes, _): (Vec<Option<import::WireOutcome>>, _) = self
            .call("PATCH", "/admin/identities", &[], Some(&body))
            .map(|(answer, reply): (import::BatchAnswer, _)| (answer.identities, reply))?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map(import::WireOutcome::into_outcome))
            .collect())
    }

    fn delete_credential(
        &self,
        id: IdentityId,
        kind: &str,
        identifier: Option<&str>,
    ) -> Result<()> {
        let path = format!("/admin/identities/{id}/credentials/{}", segment(kind));
        let query: Vec<(&str, String)> = identifier
            .map(|i| ("identifier", i.to_string()))
            .into_iter()
            .collect();
        self.succeed("DELETE", &path, &query, None)?;
        Ok(())
    }

    fn create_recovery_code(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryCode> {
        let answer = self.recovery("code", identity_id, expires_in, return_to)?;
        Ok(RecoveryCode {
            recovery_link: answer.recovery_link,
            recovery_code: answer.recovery_code.unwrap_or_default(),
            expires_at: answer.expires_at,
        })
    }

    fn create_recovery_link(
        &self,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryLink> {
        let answer = self.recovery("link", identity_id, expires_in, return_to)?;
        Ok(RecoveryLink {
            recovery_link: answer.recovery_link,
            expires_at: answer.expires_at,
        })
    }

    fn list_schemas(&self) -> Result<Vec<SchemaEntry>> {
        #[derive(serde::Deserialize)]
        struct Entry {
            id: String,
            schema: Value,
        }
        let (entries, _): (Vec<Entry>, _) = self.call("GET", "/schemas", &[], None)?;
        Ok(entries
            .into_iter()
            .map(|e| SchemaEntry {
                id: e.id,
                schema: e.schema,
            })
            .collect())
    }

    /// `GET /schemas/{id}` on the endpoint, by the id's base64url form (which Kratos and kith
    /// both take). Kratos' admin port redirects it to the public port: the redirect is
    /// followed once, without the token (schemas are public).
    fn get_schema(&self, id: &str) -> Result<SchemaEntry> {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes());
        let path = format!("/schemas/{encoded}");
        let mut reply = self
            .send("GET", &path, &[], None)
            .map_err(|e| self.unreachable(e, 1))?;
        if (300..400).contains(&reply.status)
            && let Some(location) = reply.location.clone()
        {
            let target = url::Url::parse(&format!("{}{path}", self.endpoint))
                .and_then(|base| base.join(&location))
                .map_err(|e| Error::internal("the schema's redirect is not a URL", e))?;
            reply = self
                .send_to("GET", target.as_str(), None, false)
                .map_err(|e| self.unreachable(e, 1))?;
        }
        if !(200..300).contains(&reply.status) {
            return Err(self.refusal(&reply));
        }
        Ok(SchemaEntry {
            id: id.to_string(),
            schema: self.decode(&reply.body)?,
        })
    }

    fn add_schema(&self, _id: &str, _raw: Value) -> Result<SchemaEntry> {
        local_only("kith add schema")
    }
    fn replace_schema(&self, _id: &str, _raw: Value) -> Result<SchemaEntry> {
        local_only("kith add schema --replace")
    }
    fn remove_schema(&self, _id: &str) -> Result<()> {
        local_only("kith remove schema")
    }

    /// Streams the records through `PATCH /admin/identities` in batches (see `import.rs`).
    fn import_identities(
        &self,
        sources: Vec<ImportSource>,
        options: &ImportOptions,
        on_result: &mut dyn FnMut(&ImportResult),
    ) -> Result<ImportSummary> {
        self.import(sources, &ImportPlan::new(options), on_result)
    }

    fn delete_import_run(&self, _run: Uuid) -> Result<Vec<IdentityId>> {
        local_only("kith delete identities --import-run")
    }

    fn backup(
        &self,
        _to: &std::path::Path,
        _options: &crate::flows::BackupOptions,
    ) -> Result<crate::flows::BackupReport> {
        local_only("kith backup")
    }

    fn check(&self) -> Result<Vec<crate::flows::Problem>> {
        local_only("kith check")
    }

    /// Follows `GET /admin/identities` page by page, asking for the credentials a
    /// createIdentityBody can carry when `include_credentials`, and hands each identity on
    /// as the body that recreates it (the local export's conversion).
    fn export_identities(
        &self,
        include_credentials: bool,
        emit: &mut dyn FnMut(IdentityId, &CreateIdentityBody) -> bool,
    ) -> Result<u64> {
        let include: Vec<String> = match include_credentials {
            true => EXPORTED_KINDS
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            false => Vec::new(),
        };
        let mut count = 0;
        let mut token: Option<String> = None;
        loop {
            let mut query = include_query(&include);
            query.push(("page_size", EXPORT_PAGE_SIZE.to_string()));
            if let Some(token) = &token {
                query.push(("page_token", token.clone()));
            }
            let (page, next) = self.list_page(&query)?;
            for identity in &page {
                count += 1;
                let body = crate::flows::export_body(identity, include_credentials);
                if !emit(identity.id, &body) {
                    return Ok(count);
                }
            }
            match next {
                // A server that hands back the same token would loop for ever.
                Some(next) if !page.is_empty() && token.as_ref() != Some(&next) => {
                    token = Some(next)
                }
                _ => return Ok(count),
            }
        }
    }

    fn verify_password(&self, _identifier: &str, _password: &str) -> Result<PasswordMatch> {
        local_only("kith verify password")
    }
    fn invite(&self, _request: &InviteRequest) -> Result<Invitation> {
        local_only("kith invite")
    }
    fn resend_invite(&self, _id: Uuid) -> Result<Invitation> {
        local_only("kith resend invite")
    }
    fn revoke_invite(&self, _id: Uuid) -> Result<()> {
        local_only("kith revoke invite")
    }
    fn list_invites(&self, _only: Option<InviteStatus>) -> Result<Vec<InviteSummary>> {
        local_only("kith list invites")
    }
    fn redeem(&self, _redemption: &Redemption, _password: &str) -> Result<Redeemed> {
        local_only("kith accept invite")
    }
    fn list_messages(&self, _query: &ListMessages) -> Result<MessagePage> {
        local_only("kith list messages")
    }
    fn get_message(&self, _id: Uuid) -> Result<CourierMessage> {
        local_only("kith get message")
    }
    fn retry_message(&self, _id: Uuid) -> Result<Vec<Uuid>> {
        local_only("kith retry message")
    }
    fn install_plugin(
        &self,
        _dir: &Path,
        _config: &[(String, String)],
        _grants: &[String],
    ) -> Result<InstalledPlugin> {
        local_only("kith install plugin")
    }
    fn install_plugin_with_wasm(
        &self,
        _dir: &Path,
        _wasm: Option<&Path>,
        _config: &[(String, String)],
        _grants: &[String],
    ) -> Result<InstalledPlugin> {
        local_only("kith install plugin")
    }
    fn upgrade_plugin_with_wasm(
        &self,
        _dir: &Path,
        _wasm: Option<&Path>,
        _config: &[(String, String)],
        _grants: &[String],
    ) -> Result<PluginUpgrade> {
        local_only("kith install plugin --upgrade")
    }
    fn configure_plugin(
        &self,
        _name: &str,
        _set: &[(String, String)],
        _unset: &[String],
    ) -> Result<InstalledPlugin> {
        local_only("kith configure plugin")
    }
    fn get_plugin(&self, _name: &str) -> Result<PluginDetails> {
        local_only("kith get plugin")
    }
    fn list_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        local_only("kith list plugins")
    }
    fn set_plugin_enabled(&self, _name: &str, _enabled: bool) -> Result<()> {
        local_only("kith enable|disable plugin")
    }
    fn remove_plugin(&self, _name: &str) -> Result<()> {
        local_only("kith remove plugin")
    }
    fn run_plugin(&self, _name_or_dir: &str, _input: &Value) -> Result<RunReport> {
        local_only("kith run plugin")
    }
    fn run_plugin_with_wasm(
        &self,
        _name_or_dir: &str,
        _wasm: Option<&Path>,
        _input: &Value,
    ) -> Result<RunReport> {
        local_only("kith run plugin")
    }
    fn create_token(&self, _name: &str) -> Result<NewToken> {
        local_only("kith create token")
    }
    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        local_only("kith list tokens")
    }
    fn revoke_token(&self, _name: &str) -> Result<()> {
        local_only("kith revoke token")
    }
    fn config(&self) -> Result<Vec<Setting>> {
        local_only("kith get config")
    }
    fn set_config(&self, _key: &str, _value: &str) -> Result<Setting> {
        local_only("kith set config")
    }
    fn unset_config(&self, _key: &str) -> Result<Setting> {
        local_only("kith unset config")
    }
    fn list_events(
        &self,
        _identity_id: Option<IdentityId>,
        _after_id: i64,
        _limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        local_only("kith list events")
    }
}

impl Remote {
    /// `POST /admin/recovery/{kind}` (`code` or `link`) with
    /// `createRecoveryCodeForIdentityBody` / `createRecoveryLinkForIdentityBody`.
    fn recovery(
        &self,
        kind: &str,
        identity_id: IdentityId,
        expires_in: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<RecoveryAnswer> {
        let mut body = serde_json::json!({ "identity_id": identity_id });
        if let Some(expires_in) = expires_in {
            body["expires_in"] = expires_in.into();
        }
        let query: Vec<(&str, String)> = return_to
            .map(|r| ("return_to", r.to_string()))
            .into_iter()
            .collect();
        let body = Self::json_body(&body)?;
        let path = format!("/admin/recovery/{kind}");
        Ok(self.call("POST", &path, &query, Some(&body))?.0)
    }
}

/// The answer of either recovery endpoint.
#[derive(serde::Deserialize)]
struct RecoveryAnswer {
    recovery_link: String,
    #[serde(default)]
    recovery_code: Option<String>,
    expires_at: crate::model::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_next_links_token_is_taken() {
        let link = "<http://10.0.0.5:4434/admin/identities?page_size=2&page_token=00000000-0000-0000-0000-000000000000>; rel=\"first\",<http://10.0.0.5:4434/admin/identities?page_size=2&page_token=0192aaaa-0000-7000-8000-000000000001>; rel=\"next\"";
        assert_eq!(
            next_page_token(link).as_deref(),
            Some("0192aaaa-0000-7000-8000-000000000001")
        );
        assert_eq!(
            next_page_token("<http://x/?page_token=a>; rel=\"first\""),
            None
        );
    }

    #[test]
    fn a_token_never_crosses_a_network_in_clear() {
        for refused in [
            "http://kratos.internal:4434",
            "http://10.0.0.5:4434/",
            "ftp://127.0.0.1/",
            "https://user:pw@kratos.internal/",
            "not a url",
        ] {
            assert!(
                matches!(
                    checked_endpoint(refused, false),
                    Err(Error::InsecureEndpoint(_))
                ),
                "{refused}"
            );
        }
        for allowed in [
            "http://127.0.0.1:4434/",
            "http://localhost:4434",
            "http://[::1]:4434",
            "https://kratos.internal:4434/",
        ] {
            assert!(checked_endpoint(allowed, false).is_ok(), "{allowed}");
        }
        assert_eq!(
            checked_endpoint("http://kratos.internal:4434/base/", true).ok(),
            Some("http://kratos.internal:4434/base".to_string())
        );
    }
}
