//! The admin listener: Kratos' admin routes for identities, batch and recovery, each behind
//! a bearer token, with and without the `/admin` prefix.

use super::reply::{ApiError, json, no_store_on_get};
use super::{AppState, MAX_BODY_BYTES, public};
use crate::error::Error;
use crate::flows::{Kith, ListIdentities};
use crate::model::{BatchPatchBody, CreateIdentityBody, UpdateIdentityBody, parse_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
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
            "/identities/{id}/credentials/{kind}",
            delete(delete_credential),
        )
        .route("/recovery/code", post(create_recovery_code))
        .route("/recovery/link", post(create_recovery_link));
    // Kratos registers every admin route under /admin and adds the prefix when it is missing.
    Router::new()
        .nest("/admin", routes.clone())
        .merge(routes)
        .merge(public::shared_routes())
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()) })
        .layer(axum::middleware::from_fn(no_store_on_get))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

impl AppState {
    /// Checks the bearer token, then runs `work` crediting the token's name in the audit
    /// trail; both on one blocking thread.
    async fn admin<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        work: impl FnOnce(&Kith) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let presented = bearer(headers);
        self.blocking(move |kith| {
            let presented = presented?;
            let Some(name) = kith.token_name(&presented)? else {
                return Err(ApiError::unauthorized(
                    "The bearer token is not valid: it was revoked or never made by this store.",
                ));
            };
            kith.acting_as(&format!("http:{name}"), || work(kith))
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

/// The request body as text, or the envelope Kratos answers an unreadable one with.
fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status().as_u16();
        let mut error = ApiError::bad_request(rejection.body_text());
        if status == 413 {
            error.status = 413;
            error.body = Box::new(crate::model::ErrorBody::new(413).with_reason(format!(
                "The request body is larger than {} MB.",
                MAX_BODY_BYTES / (1024 * 1024)
            )));
        }
        error
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("The request body is not UTF-8 text."))
}

/// The `http://host` clients reached this server by, for `Location` and `Link`.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4434");
    format!("http://{host}")
}

/// A path id: a bad UUID reads as an unknown identity, as in Kratos.
fn identity_id(text: &str) -> Result<Uuid, ApiError> {
    // The envelope of an unknown identity; it names no id, so the nil one stands in.
    Uuid::parse_str(text).map_err(|_| ApiError::from(Error::IdentityNotFound(Uuid::nil())))
}

/// Query parameters, repeatable ones included (`ids=a&ids=b`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Self {
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
    let identity = state
        .admin(&headers, move |kith| {
            let body: CreateIdentityBody =
                parse_body(&body_text(body)?, true).map_err(Error::from)?;
            Ok(kith.create_identity(body)?)
        })
        .await?;
    let location = format!("{}/admin/identities/{}", base_url(&headers), identity.id);
    let mut response = json(StatusCode::CREATED, &identity);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
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

async fn list_identities(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = Query::parse(raw);
    if query.one("page").is_some() {
        return Err(ApiError::bad_request(
            "kith pages with page_token and page_size only; follow the Link header instead of passing page.",
        ));
    }
    for unsupported in ["preview_credentials_identifier_similar", "organization_id"] {
        if query.one(unsupported).is_some() {
            return Err(ApiError::bad_request(format!(
                "kith does not support the `{unsupported}` filter."
            )));
        }
    }
    let page_size = match query.one("page_size").or_else(|| query.one("per_page")) {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("The page_size `{text}` is not a whole number."))
        })?),
    };
    let list = ListIdentities {
        page_size,
        page_token: query.one("page_token").map(str::to_string),
        identifier: query
            .one("credentials_identifier")
            .filter(|i| !i.is_empty())
            .map(str::to_string),
        include_credential: query.all("include_credential"),
        ids: query.all("ids"),
    };
    let paginated = list.ids.is_empty();
    let page = state
        .admin(&headers, move |kith| Ok(kith.list_identities(&list)?))
        .await?;
    let mut response = json(StatusCode::OK, &page.identities);
    if paginated {
        let link = link_header(
            &base_url(&headers),
            &query,
            page.page_size,
            page.next_page_token,
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Kratos' keyset `Link` header: `first` always, `next` unless this is the last page. The
/// filters of the request are carried along, so following `next` keeps them.
fn link_header(base: &str, query: &Query, page_size: usize, next: Option<Uuid>) -> String {
    let page_url = |token: &str| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        serializer.append_pair("page_size", &page_size.to_string());
        serializer.append_pair("page_token", token);
        for (key, value) in &query.0 {
            if !matches!(key.as_str(), "page_size" | "per_page" | "page_token") {
                serializer.append_pair(key, value);
            }
        }
        format!("{base}/admin/identities?{}", serializer.finish())
    };
    let mut link = format!("<{}>; rel=\"first\"", page_url(&Uuid::nil().to_string()));
    if let Some(next) = next {
        link.push_str(&format!(",<{}>; rel=\"next\"", page_url(&next.to_string())));
    }
    link
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
            let body: UpdateIdentityBody =
                parse_body(&body_text(body)?, false).map_err(Error::from)?;
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
    identity_id: Uuid,
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

async fn create_recovery_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let code = state
        .admin(&headers, move |kith| {
            let body = recovery_body(body)?;
            Ok(kith.create_recovery_code(body.identity_id, body.expires_in.as_deref())?)
        })
        .await?;
    Ok(json(StatusCode::CREATED, &code))
}

async fn create_recovery_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let link = state
        .admin(&headers, move |kith| {
            let body = recovery_body(body)?;
            Ok(kith.create_recovery_link(body.identity_id, body.expires_in.as_deref())?)
        })
        .await?;
    Ok(json(StatusCode::OK, &link))
}
