//! Answers as Kratos writes them: JSON bodies with its content type, and errors in the
//! herodot envelope with `Ory-Error-Id`.

use crate::error::Error;
use crate::model::{ErrorBody, ErrorEnvelope};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Kratos' content type for successful JSON answers (its errors say just `application/json`).
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A refusal or failure on its way to the client, in Kratos' envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub body: Box<ErrorBody>,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// 401 with a reason saying what was wrong with the credentials.
    pub fn unauthorized(reason: &str) -> Self {
        let mut error = Self::from(Error::Unauthorized(reason.to_string()));
        error
            .headers
            .push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        error
    }

    /// 404 for a path no route serves.
    pub fn no_route(path: &str) -> Self {
        Self {
            status: 404,
            body: Box::new(
                ErrorBody::new(404).with_reason(format!("No route serves {path} here.")),
            ),
            headers: Vec::new(),
        }
    }

    /// A 400 with Kratos' generic message and this reason.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::from(Error::BadRequest(reason.into()))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = error.status();
        let mut headers = Vec::new();
        if matches!(error, Error::Busy(_)) {
            headers.push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if status >= 500 {
            // The client sees the envelope; whoever runs the server needs the cause too.
            eprintln!("kith serve: {status}: {error}");
        }
        Self {
            status,
            body: Box::new(error.to_envelope().error),
            headers,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = self.body.id.clone();
        let envelope = ErrorEnvelope { error: *self.body };
        let bytes = serde_json::to_vec(&envelope).unwrap_or_default();
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert("ory-error-id", id);
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// `value` as a JSON answer with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            response
        }
        Err(e) => ApiError::from(Error::internal("could not write JSON", e)).into_response(),
    }
}

/// Kratos' cache header on every GET answer: identities must not sit in caches.
pub async fn no_store_on_get(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_get = request.method() == axum::http::Method::GET;
    let mut response = next.run(request).await;
    if is_get {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(
                "private, no-cache, no-store, must-revalidate",
            ));
    }
    response
}

/// Sets a header whose value was built from data (a URL); a value that is no valid header
/// (a control character) leaves the header out rather than failing the answer.
pub fn set_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// A 307 to `location`, as Go's `http.Redirect` writes it: for a GET, a short HTML body
/// with the link; for other methods, none (the client repeats its request there, body and
/// all).
pub fn temporary_redirect(location: &str, is_get: bool) -> Response {
    let body = if is_get {
        let escaped = location
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        format!("<a href=\"{escaped}\">Temporary Redirect</a>.\n\n")
    } else {
        String::new()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    set_header(&mut response, header::LOCATION, location);
    if is_get {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
}

/// A known path asked with a method it does not serve: 405 as Go's router writes it, plain
/// text with its content type (the router adds `Allow`).
pub async fn method_not_allowed() -> Response {
    let mut response = Response::new(Body::from("Method Not Allowed\n"));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
