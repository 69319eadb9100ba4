//! The admin listener: Kratos' admin routes for identities, batch and recovery, each behind
//! a bearer token, with and without the `/admin` prefix. The token is checked before the
//! body is read, so a client without one cannot make the server buffer anything.

use super::reply::{ApiError, json, no_store_on_get, set_header};
use super::{AppState, MAX_BODY_BYTES, public};
use crate::error::{Error, NotFound};
use crate::flows::{Kith, ListIdentities};
use crate::model::IdentityId;
use crate::model::{BatchPatchBody, CreateIdentityBody, UpdateIdentityBody, parse_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

type Answer = Result<Response, ApiError>;

pub(super) fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/identities",
            get(list_identities)
                .post(create_identity)
                .patch(batch_patch_identities),
        )
        .route(
            "/identities/{id}",
            get(get_identity)
                .put(update_identity)
                .patch(patch_identity)
                .delete(delete_identity),
        )
        .route(
            "/identities/by/external/{external_id}",
            get(get_identity_by_external_id),
        )
        .route(
            "/identities/{id}/credentials/{kind}",
            delete(delete_credential),
        )
        .route("/recovery/code", post(create_recovery_code))
        .route("/recovery/link", post(create_recovery_link))
        .merge(super::sessions::routes())
        .merge(super::courier::routes())
        // On the routes only: an unknown path stays a 404, health and schemas need no token.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            token_first,
        ));
    // Kratos registers every admin route under /admin and adds the prefix when it is missing.
    Router::new()
        .nest("/admin", routes.clone())
        .merge(routes)
        .merge(public::shared_routes())
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()) })
        .method_not_allowed_fallback(super::reply::method_not_allowed)
        .layer(axum::middleware::from_fn(no_store_on_get))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Tokens found valid lately, by their SHA-256, and when. A token seen within
/// [`SeenTokens::FRESH_FOR`] passes the early check without a trip to the store; the handler
/// checks it again with its flow anyway, so a revocation still holds at the next request.
#[derive(Default)]
pub(super) struct SeenTokens {
    /// By the token's SHA-256: when it was last found valid, and its name.
    seen: Mutex<HashMap<[u8; 32], (Instant, String)>>,
}

impl SeenTokens {
    const FRESH_FOR: Duration = Duration::from_secs(10);
    /// Only tokens the store knows get in, so this bounds nothing an attacker controls; it
    /// bounds a store with very many tokens in use at once.
    const MAX: usize = 4096;

    fn key(token: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&Sha256::digest(token.as_bytes()));
        key
    }

    /// The token's name, when it was found valid lately.
    fn fresh(&self, token: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&Self::key(token))
            .filter(|(at, _)| at.elapsed() < Self::FRESH_FOR)
            .map(|(_, name)| name.clone())
    }

    fn remember(&self, token: &str, name: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= Self::MAX {
            seen.retain(|_, (at, _)| at.elapsed() < Self::FRESH_FOR);
            if seen.len() >= Self::MAX {
                seen.clear();
            }
        }
        seen.insert(Self::key(token), (Instant::now(), name.to_string()));
    }
}

/// Refuses a request without a token of this store before anything reads its body: a 401 is
/// answered without polling the body, so hyper never sends `100 Continue` and the upload
/// is never buffered.
async fn token_first(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let actor = match state.no_auth {
        true => NO_AUTH_ACTOR.to_string(),
        false => {
            let presented = match bearer(request.headers()) {
                Ok(presented) => presented,
                Err(refused) => return refused.into_response(),
            };
            let name = match state.tokens.fresh(&presented) {
                Some(name) => name,
                None => {
                    let checked = presented.clone();
                    match state
                        .blocking(move |kith| Ok(kith.token_name(&checked)?))
                        .await
                    {
                        Ok(Some(name)) => {
                            state.tokens.remember(&presented, &name);
                            name
                        }
                        Ok(None) => return not_a_token().into_response(),
                        Err(error) => return error.into_response(),
                    }
                }
            };
            format!("http:{name}")
        }
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(super::log::Actor(actor));
    response
}

/// Whom the audit trail credits for admin calls made without a token (`--no-auth`).
const NO_AUTH_ACTOR: &str = "http:no-auth";

fn not_a_token() -> ApiError {
    ApiError::unauthorized(
        "The bearer token is not valid: it was revoked or never made by this store.",
    )
}

impl AppState {
    /// Checks the bearer token, then runs `work` crediting the token's name in the audit
    /// trail; both on one blocking thread. `token_first` has let only known tokens this
    /// far; this check is the one that holds a revocation made since.
    pub(super) async fn admin<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        work: impl FnOnce(&Kith) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.no_auth {
            return self
                .blocking(move |kith| kith.acting_as(NO_AUTH_ACTOR, work))
                .await;
        }
        let presented = bearer(headers);
        self.blocking(move |kith| {
            let presented = presented?;
            let Some(name) = kith.token_name(&presented)? else {
                return Err(not_a_token());
            };
            kith.acting_as(&format!("http:{name}"), work)
        })
        .await
    }
}

fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "The request carries no bearer token: send Authorization: Bearer <token> (kith create token --name NAME makes one).",
            )
        })?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "The Authorization header must be `Bearer <token>`.",
        ));
    }
    Ok(token.trim().to_string())
}

/// Go's error for a body past the 5 MB Kratos reads, which Kratos answers with.
const BODY_TOO_LARGE: &str = "http: request body too large";

/// The request body as text, or the envelope Kratos answers an unreadable one with: a body
/// over [`MAX_BODY_BYTES`] is a 400 whose message is Go's error, as Kratos' JSON decoder
/// reports it.
pub(super) fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    read_body(
        body,
        crate::model::ErrorBody::new(400).with_message(BODY_TOO_LARGE),
    )
}

/// The request body as text; a body over [`MAX_BODY_BYTES`] gets `too_large`, since
/// Kratos' decoders word it differently route by route.
fn read_body(
    body: Result<Bytes, BytesRejection>,
    too_large: crate::model::ErrorBody,
) -> Result<String, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let mut error = ApiError::bad_request("");
            error.body = Box::new(too_large);
            error
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("The request body is not UTF-8 text."))
}

/// A path id: a bad UUID reads as an unknown identity, as in Kratos.
fn identity_id(text: &str) -> Result<IdentityId, ApiError> {
    // The envelope of an unknown identity; it names no id, so the nil one stands in.
    text.parse()
        .map_err(|_| ApiError::from(Error::NotFound(NotFound::Identity(IdentityId::nil()))))
}

/// Query parameters, repeatable ones included (`ids=a&ids=b`).
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: Option<String>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is there at all, an empty value included (Go's `url.Values.Has`).
    pub(super) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The first non-empty value of `key`, as Kratos reads its repeatable parameters.
    pub(super) fn first_given(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every `(key, value)` pair, in request order.
    pub(super) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn create_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let admin_url = std::sync::Arc::clone(&state.admin_url);
    let (identity, base) = state
        .admin(&headers, move |kith| {
            let body: CreateIdentityBody =
                parse_body(&body_text(body)?, true).map_err(Error::from)?;
            let identity = kith.create_identity(body)?;
            Ok((identity, admin_url.current(kith)))
        })
        .await?;
    // Kratos appends to its admin base URL without the /admin prefix, which its admin
    // listener adds back when a client follows the link.
    let location = format!("{base}/identities/{}", identity.id);
    let mut response = json(StatusCode::CREATED, &identity);
    set_header(&mut response, header::LOCATION, &location);
    Ok(response)
}

async fn get_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let include = Query::parse(query).all("include_credential");
    let identity = state
        .admin(&headers, move |kith| {
            Ok(kith.get_identity(identity_id(&id)?, &include)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &identity))
}

async fn get_identity_by_external_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(external_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let include = Query::parse(query).all("include_credential");
    let identity = state
        .admin(&headers, move |kith| {
            Ok(kith.get_identity_by_external_id(&external_id, &include)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &identity))
}

/// How a list request pages, decided as Kratos decides it: `page_token` or `page_size`
/// mean keyset pages; otherwise `page` means numbered pages; otherwise keyset pages, with a
/// lone `per_page` taken as the page size.
enum Paging {
    Keyset { page_size: Option<i64> },
    Numbered { page: i64, per_page: i64 },
}

impl Paging {
    fn of(query: &Query) -> Result<Self, ApiError> {
        if query.has("page_token") || query.has("page_size") || !query.has("page") {
            let key = if !query.has("page_size") && query.has("per_page") {
                "per_page"
            } else {
                "page_size"
            };
            // The first non-empty value, parsed as Go's strconv.Atoi parses it.
            let page_size = match query.first_given(key) {
                None => None,
                Some(text) => Some(text.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "strconv.Atoi: parsing {}: invalid syntax",
                        serde_json::Value::String(text.to_string())
                    ))
                })?),
            };
            return Ok(Paging::Keyset { page_size });
        }
        // Numbered pages forgive what they cannot read: 0 for the page, 250 per page.
        let page = query.one("page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let per_page = query
            .one("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(250);
        Ok(Paging::Numbered { page, per_page })
    }
}

async fn list_identities(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = Query::parse(raw);
    let paging = Paging::of(&query)?;
    let (page_size, page) = match paging {
        Paging::Keyset { page_size } => (page_size, None),
        Paging::Numbered { page, per_page } => (Some(per_page), Some(page)),
    };
    let list = ListIdentities {
        page_size,
        page_token: query.first_given("page_token").map(str::to_string),
        page,
        identifier: query.one("credentials_identifier").map(str::to_string),
        identifier_prefix: query
            .one("preview_credentials_identifier_similar")
            .map(str::to_string),
        organization_id: query.one("organization_id").map(str::to_string),
        include_credential: query.all("include_credential"),
        ids: query.all("ids"),
    };
    let admin_url = std::sync::Arc::clone(&state.admin_url);
    let (listed, base) = state
        .admin(&headers, move |kith| {
            Ok((kith.list_identities(&list)?, admin_url.current(kith)))
        })
        .await?;
    let mut response = json(StatusCode::OK, &listed.identities);
    let link = match (paging, listed.total) {
        (Paging::Numbered { page, .. }, Some(total)) => {
            let total_header = HeaderValue::from(total);
            response.headers_mut().insert("x-total-count", total_header);
            numbered_link_header(&base, &query, total, page.max(0), listed.page_size)
        }
        _ => keyset_link_header(&base, &query, listed.page_size, listed.next_page_token),
    };
    set_header(&mut response, header::LINK, &link);
    Ok(response)
}

/// `<base>/admin/identities?` with the request's parameters, `set` replacing any of the
/// same name, keys in sorted order (as Go's `url.Values.Encode` writes them).
fn list_url(base: &str, query: &Query, set: &[(&str, String)], drop: &[&str]) -> String {
    listing_url(base, "/admin/identities", query, set, drop)
}

/// `<base><path>?` with the request's parameters, as [`list_url`] writes them.
pub(super) fn listing_url(
    base: &str,
    path: &str,
    query: &Query,
    set: &[(&str, String)],
    drop: &[&str],
) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .0
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()) && !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.extend(set.iter().map(|(k, v)| (*k, v.as_str())));
    pairs.sort_by_key(|(k, _)| *k);
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(pairs);
    format!("{base}{path}?{}", serializer.finish())
}

/// Kratos' keyset `Link` header: `first` always, `next` unless this is the last page. The
/// filters of the request are carried along, so following `next` keeps them.
fn keyset_link_header(
    base: &str,
    query: &Query,
    page_size: usize,
    next: Option<IdentityId>,
) -> String {
    let page_url = |token: String| {
        list_url(
            base,
            query,
            &[("page_size", page_size.to_string()), ("page_token", token)],
            &["per_page"],
        )
    };
    let mut link = format!("<{}>; rel=\"first\"", page_url(Uuid::nil().to_string()));
    if let Some(next) = next {
        link.push_str(&format!(",<{}>; rel=\"next\"", page_url(next.to_string())));
    }
    link
}

/// Kratos' `Link` header for numbered pages (ory/x `pagination.HeaderWithFormatter`), case
/// by case as it writes them, down to a `prev` of page -1 for an empty store.
fn numbered_link_header(
    base: &str,
    query: &Query,
    total: u64,
    page: i64,
    per_page: usize,
) -> String {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let per_page = i64::try_from(per_page.max(1)).unwrap_or(1);
    let offset = page.saturating_mul(per_page);
    let last = if total % per_page == 0 {
        total - per_page
    } else {
        (total / per_page) * per_page
    };
    let link = |rel: &str, per_page: i64, offset: i64| {
        let url = list_url(
            base,
            query,
            &[
                ("page", (offset / per_page).to_string()),
                ("per_page", per_page.to_string()),
            ],
            &["page_size", "page_token"],
        );
        format!("<{url}>; rel=\"{rel}\"")
    };
    let this = offset / per_page;
    let links = if offset >= last {
        if total == 0 {
            vec![
                link("first", per_page, 0),
                link("next", per_page, (this + 1) * per_page),
                link("prev", per_page, (this - 1) * per_page),
            ]
        } else if total <= per_page {
            vec![link("first", total, 0)]
        } else {
            vec![
                link("first", per_page, 0),
                link("prev", per_page, last - per_page),
            ]
        }
    } else if offset < per_page {
        vec![
            link("next", per_page, per_page),
            link("last", per_page, last),
        ]
    } else {
        vec![
            link("first", per_page, 0),
            link("next", per_page, (this + 1) * per_page),
            link("prev", per_page, (this - 1) * per_page),
            link("last", per_page, last),
        ]
    };
    links.join(",")
}

async fn update_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let identity = state
        .admin(&headers, move |kith| {
            let id = identity_id(&id)?;
            // Kratos reads a PUT body with its form decoder, which gives the reason.
            let text = read_body(
                body,
                crate::model::ErrorBody::new(400)
                    .with_reason(format!("Unable to read HTTP POST body: {BODY_TOO_LARGE}")),
            )?;
            let body: UpdateIdentityBody = parse_body(&text, false).map_err(Error::from)?;
            Ok(kith.update_identity(id, body)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &identity))
}

async fn patch_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let identity = state
        .admin(&headers, move |kith| {
            let id = identity_id(&id)?;
            Ok(kith.patch_identity(id, &body_text(body)?)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &identity))
}

async fn delete_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state
        .admin(&headers, move |kith| {
            Ok(kith.delete_identities(&[identity_id(&id)?])?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn batch_patch_identities(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let dry_run = match Query::parse(raw).one("dry_run") {
        None | Some("false") => false,
        Some("" | "true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dry_run must be true or false, not `{other}`."
            )));
        }
    };
    let outcomes = state
        .admin(&headers, move |kith| {
            let batch: BatchPatchBody = parse_body(&body_text(body)?, true).map_err(Error::from)?;
            Ok(kith.batch_patch_identities(batch, dry_run)?)
        })
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "identities": outcomes }),
    ))
}

async fn delete_credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, kind)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let identifier = Query::parse(raw).one("identifier").map(str::to_string);
    state
        .admin(&headers, move |kith| {
            Ok(kith.delete_credential(identity_id(&id)?, &kind, identifier.as_deref())?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `createRecoveryCodeForIdentityBody` and `createRecoveryLinkForIdentityBody`.
#[derive(Deserialize)]
struct RecoveryBody {
    identity_id: IdentityId,
    #[serde(default)]
    expires_in: Option<String>,
    #[serde(default)]
    flow_type: Option<String>,
}

fn recovery_body(body: Result<Bytes, BytesRejection>) -> Result<RecoveryBody, ApiError> {
    let body: RecoveryBody = parse_body(&body_text(body)?, false).map_err(Error::from)?;
    match body.flow_type.as_deref() {
        None | Some("" | "browser" | "api") => Ok(body),
        Some(other) => Err(ApiError::bad_request(format!(
            "flow_type must be browser or api, not `{other}`."
        ))),
    }
}

/// Kratos' `?return_to=`, which both recovery routes take (the code route reads it too,
/// though Kratos' spec lists it only for links).
pub(super) fn return_to(query: Option<String>) -> Option<String> {
    Query::parse(query).one("return_to").map(str::to_string)
}

async fn create_recovery_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let return_to = return_to(query);
    let code = state
        .admin(&headers, move |kith| {
            let body = recovery_body(body)?;
            Ok(kith.create_recovery_code(
                body.identity_id,
                body.expires_in.as_deref(),
                return_to.as_deref(),
            )?)
        })
        .await?;
    Ok(json(StatusCode::CREATED, &code))
}

async fn create_recovery_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let return_to = return_to(query);
    let link = state
        .admin(&headers, move |kith| {
            let body = recovery_body(body)?;
            Ok(kith.create_recovery_link(
                body.identity_id,
                body.expires_in.as_deref(),
                return_to.as_deref(),
            )?)
        })
        .await?;
    Ok(json(StatusCode::OK, &link))
}
