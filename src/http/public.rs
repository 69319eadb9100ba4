//! The public listener: the invite redemption page, `/schemas` and health. Nothing here
//! needs a token; the page needs the invite's own secret.

use super::page::{self, CSRF_COOKIE, FormContext, Page};
use super::reply::{ApiError, json, no_store_on_get};
use super::{AppState, version};
use crate::error::Error;
use crate::flows::{FlowState, Redemption, link_parameters};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::json as value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The redemption form is small; anything bigger is not from it.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route("/self-service/recovery", get(show_redemption).post(redeem))
        .merge(admin_redirects())
        .merge(shared_routes())
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()) })
        .method_not_allowed_fallback(super::reply::method_not_allowed)
        .layer(axum::middleware::from_fn(no_store_on_get))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

/// The admin routes Kratos' public listener sends on to the admin listener (307, so the
/// client repeats the request, body and all, there): the identity routes with and without
/// `/admin`, and the caller-facing session and recovery ones without.
fn admin_redirects() -> Router<AppState> {
    use axum::routing::{delete, post};
    let identities = Router::new()
        .route("/identities", get(to_admin).post(to_admin))
        .route("/identities/by/external/{external_id}", get(to_admin))
        .route(
            "/identities/{id}",
            get(to_admin).put(to_admin).patch(to_admin).delete(to_admin),
        )
        .route("/identities/{id}/credentials/{kind}", delete(to_admin));
    Router::new()
        .nest("/admin", identities.clone())
        .merge(identities)
        .route("/identities/{id}/sessions", delete(to_admin))
        .route("/recovery/code", post(to_admin))
        .route("/recovery/link", post(to_admin))
}

/// `<admin base>/admin<path without /admin>?<query as sent>`, as Kratos builds it.
async fn to_admin(State(state): State<AppState>, method: axum::http::Method, uri: Uri) -> Response {
    let admin_url = std::sync::Arc::clone(&state.admin_url);
    let base = state
        .blocking(move |kith| Ok(admin_url.current(kith)))
        .await
        .unwrap_or_default();
    let path = uri.path();
    let path = path.strip_prefix("/admin").unwrap_or(path);
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    super::reply::temporary_redirect(
        &format!("{base}/admin{path}{query}"),
        method == axum::http::Method::GET,
    )
}

/// Health, version and schemas: served on both listeners, without a token.
pub(super) fn shared_routes() -> Router<AppState> {
    Router::new()
        .route("/health/alive", get(alive))
        .route("/health/ready", get(ready))
        .route(
            "/version",
            get(|| async { json(StatusCode::OK, &value!({"version": version()})) }),
        )
        .route("/schemas", get(list_schemas))
        .route("/schemas/{*id}", get(get_schema))
}

async fn alive() -> Response {
    json(StatusCode::OK, &value!({"status": "ok"}))
}

/// Ready when the store answers a read.
async fn ready(State(state): State<AppState>) -> Response {
    match state.blocking(|kith| Ok(kith.settings()?)).await {
        Ok(_) => json(StatusCode::OK, &value!({"status": "ok"})),
        Err(error) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &value!({"errors": {"store": error.body.reason.unwrap_or(error.body.message)}}),
        ),
    }
}

async fn list_schemas(State(state): State<AppState>) -> Result<Response, ApiError> {
    let schemas = state.blocking(|kith| Ok(kith.list_schemas()?)).await?;
    let mut response = json(StatusCode::OK, &schemas);
    response
        .headers_mut()
        .insert("x-total-count", schemas.len().into());
    Ok(response)
}

async fn get_schema(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let entry = state
        .blocking(move |kith| Ok(kith.get_schema(&id)?))
        .await?;
    Ok(json(StatusCode::OK, &entry.schema))
}

/// `flow` and `token` from the page's query; an empty token is no token.
fn link_params(raw: Option<String>) -> (Option<Uuid>, Option<String>) {
    let (flow, token) = link_parameters(&raw.unwrap_or_default());
    (flow, token.filter(|t| !t.is_empty()))
}

/// The closed page for a flow that cannot be redeemed, in the words `kith accept invite`
/// uses too.
fn closed_page(state: FlowState) -> Response {
    let status = match state {
        FlowState::Unknown => StatusCode::NOT_FOUND,
        _ => StatusCode::GONE,
    };
    page::render(Page::closed(
        status,
        state.closed_message().unwrap_or_default(),
    ))
}

async fn show_redemption(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let (flow, token) = link_params(raw);
    let Some(flow) = flow else {
        return closed_page(FlowState::Unknown);
    };
    let view = state
        .blocking(move |kith| Ok(kith.recovery_flow_page(flow)?))
        .await;
    match view {
        Ok(view) if view.state == FlowState::Open => page::render(Page::form(
            flow,
            token,
            FormContext {
                account: view.account.as_deref(),
                return_to: view.return_to.as_deref(),
                error: None,
                code: None,
            },
        )),
        Ok(view) => closed_page(view.state),
        Err(_) => page::render(Page::closed(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service cannot check this link right now. Please try again in a moment.",
        )),
    }
}

/// The form's fields, as the browser posts them.
#[derive(Default)]
struct RedeemForm {
    csrf_token: String,
    code: Option<String>,
    token: Option<String>,
    password: String,
    password_confirm: Option<String>,
}

impl RedeemForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "csrf_token" => form.csrf_token = value.into_owned(),
                "code" => form.code = Some(value.into_owned()),
                "token" if !value.is_empty() => form.token = Some(value.into_owned()),
                "password" => form.password = value.into_owned(),
                "password_confirm" => form.password_confirm = Some(value.into_owned()),
                _ => {}
            }
        }
        form
    }
}

/// The double-submit check: the form's token must equal the cookie the page set. A page on
/// another site can neither read this cookie nor make the browser send it (SameSite=Strict).
fn csrf_ok(headers: &HeaderMap, form: &RedeemForm) -> bool {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value.to_string());
    match cookie {
        Some(cookie) if !cookie.is_empty() && !form.csrf_token.is_empty() => {
            bool::from(cookie.as_bytes().ct_eq(form.csrf_token.as_bytes()))
        }
        _ => false,
    }
}

async fn redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return page::render(Page::closed(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form sent more than this page ever asks for.",
        ));
    };
    let form = RedeemForm::parse(&body);
    let (flow, link_token) = link_params(raw);
    let Some(flow) = flow else {
        return closed_page(FlowState::Unknown);
    };
    let token = form.token.clone().or(link_token);
    if !csrf_ok(&headers, &form) {
        return page::render(Page::closed(
            StatusCode::FORBIDDEN,
            "This form could not be verified: it was sent from another page or has expired. Please open your link again.",
        ));
    }
    // What the form showed: its account and return_to, for a form shown again.
    let before = state
        .blocking(move |kith| Ok(kith.recovery_flow_page(flow)?))
        .await;
    let Ok(before) = before else {
        return unavailable();
    };
    // A refusal that is not about the code keeps the code the invitee typed.
    let typed_code = form.code.clone();
    let again = |token: Option<String>, error: &str, keep_code: bool| {
        Page::form(
            flow,
            token,
            FormContext {
                account: before.account.as_deref(),
                return_to: before.return_to.as_deref(),
                error: Some(error),
                code: typed_code.as_deref().filter(|_| keep_code),
            },
        )
    };
    if before.state != FlowState::Open {
        return closed_page(before.state);
    }
    let redemption = match (&token, &form.code) {
        (Some(token), _) => Redemption::Token {
            flow,
            token: token.clone(),
        },
        (None, Some(code)) => Redemption::Code {
            flow,
            code: code.clone(),
        },
        (None, None) => {
            return page::render(again(
                None,
                "Please enter the recovery code you were sent.",
                false,
            ));
        }
    };
    // Refused before the code is looked at: a typing slip costs no attempt and sets nothing.
    // A post without the field (a script, not this form) is not refused for lacking it.
    if form
        .password_confirm
        .as_ref()
        .is_some_and(|confirm| *confirm != form.password)
    {
        return page::render(
            again(
                token,
                "The two passwords do not match. Please type the same new password in both fields.",
                true,
            )
            .with_status(StatusCode::BAD_REQUEST),
        );
    }
    let password = form.password;
    let outcome = state
        .blocking(move |kith| {
            let redeemed = kith.acting_as("http:redemption-page", |kith| {
                kith.redeem(&redemption, &password)
            });
            let after = match &redeemed {
                Ok(_) => FlowState::Used,
                Err(_) => kith.recovery_flow_state(flow)?,
            };
            Ok((redeemed, after))
        })
        .await;
    match outcome {
        Ok((Ok(redeemed), _)) => match redeemed.return_to {
            Some(location) => page::see_other(&location),
            None => page::render(Page::done()),
        },
        Ok((Err(Error::IdentityDisabled(_)), _)) => page::render(Page::closed(
            StatusCode::BAD_REQUEST,
            "This account has been disabled. Please contact support for assistance.",
        )),
        // A refusal leaves the form up while the flow can take another submission. As in
        // Kratos, the wrong code that uses up the last attempt still shows the form; the
        // next submission is the one refused as too frequent.
        Ok((
            Err(error @ Error::RecoveryCodeInvalid),
            FlowState::Open | FlowState::TooManyAttempts,
        )) => page::render(
            again(token, &error.to_string(), false).with_status(StatusCode::BAD_REQUEST),
        ),
        Ok((Err(error), FlowState::Open)) => page::render(
            again(token, &error.to_string(), true).with_status(StatusCode::BAD_REQUEST),
        ),
        // A flow closed meanwhile (used, revoked, expired) is explained as the page explains
        // it when opened, not in the API's words.
        Ok((Err(error), after)) => page::render(Page::closed(
            StatusCode::BAD_REQUEST,
            after
                .closed_message()
                .map_or_else(|| error.to_string(), str::to_string)
                .as_str(),
        )),
        Err(_) => unavailable(),
    }
}

fn unavailable() -> Response {
    page::render(Page::closed(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service cannot complete this right now. Please try again in a moment.",
    ))
}
