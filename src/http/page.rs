//! The redemption page: plain, accessible HTML with no script, every dynamic value escaped,
//! and headers that keep it out of frames, caches and referrers (its URL holds a secret).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use uuid::Uuid;

use crate::flows::MIN_PASSWORD_LENGTH;

/// The cookie that carries the form's CSRF token; the public handlers read it back.
pub(super) const CSRF_COOKIE: &str = "kith_csrf";

/// One page to render: its status, title, body and, for forms, the CSRF secret to set.
pub struct Page {
    status: StatusCode,
    title: &'static str,
    body: String,
    csrf: Option<String>,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn alert(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| {
        format!("<p class=\"alert\" role=\"alert\">{}</p>\n", escape(m))
    })
}

/// A fresh secret for the double-submit CSRF check.
fn csrf_secret() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: an empty secret never matches (see `csrf_ok`), so the form fails closed.
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Page {
    /// The form: the code field only when the link carried no token.
    pub fn form(flow: Uuid, token: Option<String>, error: Option<&str>) -> Self {
        let csrf = csrf_secret();
        let secret_field = match &token {
            Some(token) => format!(
                "<input type=\"hidden\" name=\"token\" value=\"{}\">\n",
                escape(token)
            ),
            None => "<label for=\"code\">Recovery code</label>\n\
                 <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
                 autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" maxlength=\"6\" required \
                 aria-describedby=\"code-hint\">\n\
                 <p id=\"code-hint\" class=\"hint\">The 6-digit code from your invitation.</p>\n"
                .to_string(),
        };
        let body = format!(
            "<h1>Set your password</h1>\n{alert}\
             <form method=\"post\" action=\"/self-service/recovery?flow={flow}\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
             {secret_field}\
             <label for=\"password\">New password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" \
             minlength=\"{MIN_PASSWORD_LENGTH}\" required aria-describedby=\"password-hint\">\n\
             <p id=\"password-hint\" class=\"hint\">At least {MIN_PASSWORD_LENGTH} characters.</p>\n\
             <button type=\"submit\">Set password</button>\n\
             </form>\n",
            alert = alert(error),
            csrf = escape(&csrf),
        );
        Self {
            status: StatusCode::OK,
            title: "Set your password",
            body,
            csrf: Some(csrf),
        }
    }

    /// The end of a successful redemption.
    pub fn done() -> Self {
        Self {
            status: StatusCode::OK,
            title: "Password set",
            body: "<h1>Password set</h1>\n\
                   <p role=\"status\">Your new password is set. You can sign in with it now and close this page.</p>\n"
                .into(),
            csrf: None,
        }
    }

    /// A link that cannot be redeemed (any more), and why.
    pub fn closed(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            title: "Cannot set your password",
            body: format!(
                "<h1>Cannot set your password</h1>\n{}",
                alert(Some(message))
            ),
            csrf: None,
        }
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

const STYLE: &str = "body{font:1rem/1.5 system-ui,sans-serif;margin:0;padding:2rem 1rem;color:#1a1a1a;background:#fafafa}\
main{max-width:26rem;margin:0 auto;background:#fff;padding:1.5rem 2rem;border:1px solid #ccc;border-radius:8px}\
label{display:block;font-weight:600;margin-top:1rem}\
input{display:block;width:100%;box-sizing:border-box;font:inherit;padding:.5rem;margin-top:.25rem;border:1px solid #767676;border-radius:4px}\
input:focus,button:focus{outline:3px solid #0b5fff;outline-offset:2px}\
.hint{margin:.25rem 0 0;color:#4a4a4a;font-size:.9rem}\
.alert{padding:.75rem;border-left:4px solid #b00020;background:#fdecee;color:#5f0010}\
button{margin-top:1.5rem;font:inherit;font-weight:600;padding:.6rem 1.2rem;border:0;border-radius:4px;background:#0b5fff;color:#fff;cursor:pointer}";

/// The page as an HTTP answer, with its protective headers and, for a form, its cookie.
pub fn render(page: Page) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        title = page.title,
        body = page.body,
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = page.status;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    if let Some(csrf) = page.csrf
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{}={csrf}; Path=/self-service; HttpOnly; SameSite=Strict",
            CSRF_COOKIE
        ))
    {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}
