//! Kratos' admin session routes, answered as a Kratos that has issued no sessions answers
//! them: kith signs no one in, so every list is empty and every session unknown. Parameters
//! are still checked as Kratos checks them, so a client learns of a bad request here, not
//! when it later talks to a real Kratos.

use super::AppState;
use super::admin::Query;
use super::reply::{ApiError, json, set_header};
use crate::model::ErrorBody;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, patch};
use base64::Engine as _;
use serde_json::json as value;
use uuid::Uuid;

type Answer = Result<Response, ApiError>;

/// The routes, to be nested under the admin router's token check.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/identities/{id}/sessions",
            // Kratos answers 404 for deleting the sessions of an identity that has none.
            get(list_identity_sessions).delete(no_session),
        )
        .route(
            "/sessions",
            get(list_sessions)
                .post(manage_sessions)
                .delete(to_public_sessions),
        )
        .route("/sessions/{id}", get(get_session).delete(no_session))
        .route("/sessions/{id}/extend", patch(no_session))
}

/// Kratos' 404 for a row its store does not have.
fn no_such_row() -> ApiError {
    ApiError {
        status: 404,
        body: Box::new(ErrorBody::new(404).with_message("Unable to locate the resource")),
        headers: Vec::new(),
    }
}

/// A 400 whose message (not reason) says what was wrong, as Kratos writes these.
pub(super) fn bad_request_message(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        body: Box::new(ErrorBody::new(400).with_message(message)),
        headers: Vec::new(),
    }
}

/// A path id parsed as Kratos' UUID library parses it, with its error messages: the
/// canonical form, 32 hex digits, braces, or a `urn:uuid:` prefix.
fn session_uuid(text: &str) -> Result<Uuid, ApiError> {
    gofrs_uuid(text).map_err(bad_request_message)
}

/// [`session_uuid`]'s parse, with the library's error text.
pub(super) fn gofrs_uuid(text: &str) -> Result<Uuid, String> {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    let hex = match text.len() {
        32 => text.to_string(),
        36 | 38 | 45 => {
            let canonical = match text.len() {
                36 => Some(text),
                38 => text.strip_prefix('{').and_then(|t| t.strip_suffix('}')),
                _ => text
                    .get(..9)
                    .filter(|p| p.eq_ignore_ascii_case("urn:uuid:"))
                    .map(|_| &text[9..]),
            };
            let shown = if text.len() == 45 {
                serde_json::Value::String(text.chars().take(9).collect()).to_string()
            } else {
                quoted.clone()
            };
            let canonical = canonical.filter(|c| {
                let bytes = c.as_bytes();
                [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'))
            });
            match canonical {
                Some(canonical) => canonical.replace('-', ""),
                None => return Err(format!("uuid: incorrect UUID format in string {shown}")),
            }
        }
        n => {
            return Err(format!(
                "uuid: incorrect UUID length {n} in string {quoted}"
            ));
        }
    };
    Uuid::try_parse(&hex).map_err(|_| "uuid: invalid UUID format".to_string())
}

/// `active`, which Kratos reads with Go's `strconv.ParseBool`.
fn check_active(query: &Query) -> Result<(), ApiError> {
    for (key, value) in query.pairs() {
        if key == "active"
            && !matches!(
                value.as_str(),
                "1" | "t"
                    | "T"
                    | "TRUE"
                    | "true"
                    | "True"
                    | "0"
                    | "f"
                    | "F"
                    | "FALSE"
                    | "false"
                    | "False"
            )
        {
            return Err(bad_request_message("could not parse parameter active"));
        }
    }
    Ok(())
}

/// `expand`: `identity` or `devices`, in any case.
fn check_expand(query: &Query) -> Result<(), ApiError> {
    for (key, value) in query.pairs() {
        if key == "expand" && !["identity", "devices"].contains(&value.to_lowercase().as_str()) {
            return Err(ApiError::bad_request(format!(
                "Could not parse expand option: {value}"
            )));
        }
    }
    Ok(())
}

/// Only a caller with a token of this store learns even that nothing is there.
async fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    state.admin(headers, |_| Ok(())).await
}

/// `GET /admin/identities/{id}/sessions`: `[]`, with the pagination headers Kratos sends for
/// an empty list (numbered pages whose links carry page tokens too).
async fn list_identity_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let id = session_uuid(&id)?;
    let query = Query::parse(raw);
    check_active(&query)?;
    authorized(&state, &headers).await?;
    let per_page = query
        .first_given("page_size")
        .or_else(|| query.first_given("per_page"))
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(250)
        .clamp(1, 1000);
    let page_url = |page: i64| {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(value!({"offset": (page * per_page).to_string(), "v": 2}).to_string());
        format!(
            "/admin/identities/{id}/sessions?page={page}&page_size={per_page}&page_token={token}&per_page={per_page}"
        )
    };
    let link = format!(
        "<{}>; rel=\"first\",<{}>; rel=\"next\",<{}>; rel=\"prev\"",
        page_url(0),
        page_url(1),
        page_url(-1)
    );
    let mut response = json(StatusCode::OK, &value!([]));
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from_static("0"));
    set_header(&mut response, header::LINK, &link);
    Ok(response)
}

/// `GET /admin/sessions`: `[]` and the `first` link of Kratos' keyset pages.
async fn list_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = Query::parse(raw);
    check_active(&query)?;
    let page_size = match query.first_given("page_size") {
        None => 250,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| bad_request_message("could not parse parameter page_size"))?,
    };
    let page_size = if page_size <= 0 {
        250
    } else {
        page_size.min(1000)
    };
    if let Some(token) = query.first_given("page_token") {
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(token)
            .map_err(|_| bad_request_message("could not parse parameter page_size"))?;
        let text = String::from_utf8_lossy(&decoded);
        let has_id = text.split('/').any(|pair| {
            pair.strip_prefix("id=")
                .is_some_and(|id| Uuid::parse_str(id).is_ok())
        });
        if !has_id {
            return Err(ApiError::bad_request(
                "The page token is invalid, do not craft your own page tokens",
            ));
        }
    }
    check_expand(&query)?;
    authorized(&state, &headers).await?;
    let first_token = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode("id=00000000-0000-0000-0000-000000000000/created_at=2200-12-31 23:59:59");
    let link =
        format!("</admin/sessions?page_size={page_size}&page_token={first_token}>; rel=\"first\"");
    let mut response = json(StatusCode::OK, &value!([]));
    set_header(&mut response, header::LINK, &link);
    Ok(response)
}

/// `GET /admin/sessions/{id}`: 404, after the id and `expand` are checked; `whoami` is the
/// public API's, where Kratos sends the client.
async fn get_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer {
    if id == "whoami" {
        let query = raw.map(|q| format!("?{q}")).unwrap_or_default();
        return Ok(to_public(&state, &format!("/sessions/whoami{query}")).await);
    }
    session_uuid(&id)?;
    check_expand(&Query::parse(raw))?;
    authorized(&state, &headers).await?;
    Err(no_such_row())
}

/// `DELETE /admin/sessions/{id}`, `PATCH /admin/sessions/{id}/extend` and
/// `DELETE /admin/identities/{id}/sessions`: 404 once the id is a UUID.
async fn no_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    session_uuid(&id)?;
    authorized(&state, &headers).await?;
    Err(no_such_row())
}

/// `DELETE /admin/sessions` belongs to the public API (the caller's own sessions).
async fn to_public_sessions(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let query = raw.map(|q| format!("?{q}")).unwrap_or_default();
    to_public(&state, &format!("/sessions{query}")).await
}

async fn to_public(state: &AppState, path_and_query: &str) -> Response {
    let base = state
        .blocking(|kith| Ok(kith.settings()?.public_url))
        .await
        .unwrap_or_default();
    let location = format!("{}{path_and_query}", base.trim_end_matches('/'));
    super::reply::temporary_redirect(&location, false)
}

/// `POST /admin/sessions` (Kratos' bulk `manageSessions`): the body checked as Kratos checks
/// it, then nothing to disable or delete.
async fn manage_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Answer {
    #[derive(serde::Deserialize)]
    struct ManageSessionsBody {
        #[serde(default)]
        action: String,
        #[serde(default)]
        identities: Vec<String>,
        #[serde(default)]
        sessions: Vec<String>,
    }
    const MAX_IDS: usize = 500;
    let invalid = |message: String| {
        let mut error = ApiError::bad_request("Invalid JSON body.");
        error.body.message = message;
        error
    };
    let bytes = body.map_err(|rejection| invalid(rejection.body_text()))?;
    let body: ManageSessionsBody =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if !matches!(body.action.as_str(), "disable" | "delete") {
        return Err(ApiError::bad_request(
            "The 'action' field must be one of 'disable' or 'delete'.",
        ));
    }
    if body.identities.is_empty() == body.sessions.is_empty() {
        return Err(ApiError::bad_request(
            "Exactly one of 'identities' or 'sessions' must be a non-empty array.",
        ));
    }
    let (field, ids, wildcard_allowed) = match body.identities.is_empty() {
        false => ("identities", &body.identities, true),
        true => ("sessions", &body.sessions, false),
    };
    let wildcard = wildcard_allowed && ids.len() == 1 && ids[0] == "*";
    if !wildcard {
        let problem = if ids.len() > MAX_IDS {
            Some(format!("at most {MAX_IDS} IDs may be provided per call"))
        } else {
            ids.iter().find_map(|id| match id.as_str() {
                "*" => Some("the wildcard '*' is not accepted here".to_string()),
                other => gofrs_uuid(other).err().map(|error| {
                    format!(
                        "could not parse {} as UUID: {error}",
                        serde_json::Value::String(other.to_string())
                    )
                }),
            })
        };
        if let Some(problem) = problem {
            return Err(ApiError::bad_request(format!(
                "Could not parse '{field}' field: {problem}"
            )));
        }
    }
    authorized(&state, &headers).await?;
    Ok(json(
        StatusCode::OK,
        &value!({"processed": 0, "more": false}),
    ))
}
