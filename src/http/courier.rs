//! Kratos' courier routes (`GET /admin/courier/messages[/{id}]`), and kith's invite routes,
//! an extension Kratos does not have: `POST /admin/invites`, `GET /admin/invites`,
//! `POST /admin/invites/{id}/resend`, `DELETE /admin/invites/{id}`. They run the same flows
//! as `kith invite`, `kith list invites`, `kith resend invite` and `kith revoke invite`.

use super::AppState;
use super::admin::{Query, body_text, listing_url};
use super::reply::{ApiError, json, set_header};
use super::sessions::{bad_request_message, gofrs_uuid};
use crate::error::Error;
use crate::flows::{InviteRequest, InviteStatus, ListMessages};
use crate::model::parse_body;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::Value;

type Answer = Result<Response, ApiError>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/courier/messages", get(list_messages))
        .route("/courier/messages/{id}", get(get_message))
        .route("/invites", post(create_invite).get(list_invites))
        .route("/invites/{id}", delete(revoke_invite))
        .route("/invites/{id}/resend", post(resend_invite))
}

async fn list_messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = Query::parse(raw);
    let first = |key: &str| {
        query
            .pairs()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let list = ListMessages {
        status: first("status"),
        recipient: first("recipient"),
        page_size: first("page_size"),
        page_token: first("page_token"),
    };
    let admin_url = std::sync::Arc::clone(&state.admin_url);
    let (page, base) = state
        .admin(&headers, move |kith| {
            let page = kith.list_messages(&list).map_err(|error| match error {
                // Kratos writes every parse error of this list as a 400 message.
                Error::BadRequest(message) => bad_request_message(message),
                other => ApiError::from(other),
            })?;
            Ok((page, admin_url.current(kith)))
        })
        .await?;
    let page_url = |token: Option<&str>| {
        let mut set = vec![("page_size", page.page_size.to_string())];
        if let Some(token) = token {
            set.push(("page_token", token.to_string()));
        }
        listing_url(
            &base,
            "/admin/courier/messages",
            &query,
            &set,
            &["page_token"],
        )
    };
    let mut link = format!("<{}>; rel=\"first\"", page_url(None));
    if let Some(next) = &page.next_page_token {
        link.push_str(&format!(",<{}>; rel=\"next\"", page_url(Some(next))));
    }
    let mut response = json(StatusCode::OK, &page.messages);
    set_header(&mut response, header::LINK, &link);
    Ok(response)
}

async fn get_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let message = state
        .admin(&headers, move |kith| {
            let id = gofrs_uuid(&id).map_err(bad_request_message)?;
            Ok(kith.get_message(id)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &message))
}

/// `POST /admin/invites`' body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: Option<String>,
    identity_id: Option<crate::model::IdentityId>,
    schema_id: Option<String>,
    traits: Option<Value>,
    expires_in: Option<String>,
    /// False stores the invite without handing it to the delivery plugins.
    #[serde(default = "deliver_by_default")]
    deliver: bool,
    /// Where the redemption page sends the invitee once the password is set; also taken
    /// from `?return_to=`, as Kratos' recovery routes take it.
    return_to: Option<String>,
}

fn deliver_by_default() -> bool {
    true
}

async fn create_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let query_return_to = super::admin::return_to(query).filter(|r| !r.is_empty());
    let invitation = state
        .admin(&headers, move |kith| {
            let body: InviteBody = parse_body(&body_text(body)?, true).map_err(Error::from)?;
            let return_to = match (body.return_to, query_return_to) {
                (Some(body), Some(query)) if body != query => {
                    return Err(ApiError::bad_request(
                        "return_to is given twice, in the body and the query, with different values; give it once.",
                    ));
                }
                (body, query) => body.or(query),
            };
            Ok(kith.invite(&InviteRequest {
                email: body.email,
                identity_id: body.identity_id,
                schema_id: body.schema_id,
                traits: body.traits,
                expires_in: body.expires_in,
                skip_delivery: !body.deliver,
                return_to,
            })?)
        })
        .await?;
    Ok(json(StatusCode::CREATED, &invitation))
}

async fn list_invites(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = Query::parse(raw);
    let status = match query.first_given("status") {
        None => None,
        Some(text) => Some(InviteStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status `{text}` is not one of pending, queued, delivered, delivery-failed, redeemed, expired, revoked"
            ))
        })?),
    };
    let invites = state
        .admin(&headers, move |kith| Ok(kith.list_invites(status)?))
        .await?;
    Ok(json(StatusCode::OK, &invites))
}

fn invite_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    gofrs_uuid(text).map_err(bad_request_message)
}

async fn resend_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let invitation = state
        .admin(&headers, move |kith| {
            Ok(kith.resend_invite(invite_id(&id)?)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &invitation))
}

async fn revoke_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state
        .admin(&headers, move |kith| {
            Ok(kith.revoke_invite(invite_id(&id)?)?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
