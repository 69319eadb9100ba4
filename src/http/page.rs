//! The redemption page: plain, accessible HTML with no script, every dynamic value escaped,
//! and headers that keep it out of frames, caches and referrers (its URL holds a secret).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use uuid::Uuid;

use crate::flows::{MIN_PASSWORD_LENGTH, return_origin};

/// The cookie that carries the form's CSRF token; the public handlers read it back.
pub(super) const CSRF_COOKIE: &str = "kith_csrf";

/// One page to render: its status, title, body and, for forms, the CSRF secret to set.
pub struct Page {
    status: StatusCode,
    title: &'static str,
    body: String,
    csrf: Option<String>,
    /// The origin the form's POST may be redirected to (its flow's `return_to`): browsers
    /// hold that redirect to the page's `form-action` policy.
    return_origin: Option<String>,
}

/// What the form shows besides its fields: the account the password is for, where a
/// success goes, and why the last submission was refused.
#[derive(Default)]
pub struct FormContext<'a> {
    pub account: Option<&'a str>,
    pub return_to: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The code typed last time, when the refusal was not about it.
    pub code: Option<&'a str>,
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
    /// The form: the code field only when the link carried no token. The account it is for
    /// is said in words and carried in a visually hidden `username` field, so that password
    /// managers store the new password under the right account; the new password is asked
    /// twice.
    pub fn form(flow: Uuid, token: Option<String>, context: FormContext<'_>) -> Self {
        let csrf = csrf_secret();
        let secret_field = match &token {
            Some(token) => format!(
                "<input type=\"hidden\" name=\"token\" value=\"{}\">\n",
                escape(token)
            ),
            None => format!(
                "<label for=\"code\">Recovery code</label>\n\
                 <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
                 autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required \
                 aria-describedby=\"code-hint\"{value}>\n\
                 <p id=\"code-hint\" class=\"hint\">The 6-digit code from your invitation.</p>\n",
                value = context
                    .code
                    .map(|code| format!(" value=\"{}\"", escape(code)))
                    .unwrap_or_default(),
            ),
        };
        let (intro, username) = match context.account {
            Some(account) => (
                format!(
                    "<p id=\"account\">Choose a new password for the account <strong>{}</strong>.</p>\n",
                    escape(account)
                ),
                // Hidden from sight and from the tab order and screen readers (the sentence
                // above says it), but present for password managers.
                format!(
                    "<div aria-hidden=\"true\">\
                     <label for=\"username\" class=\"visually-hidden\">Account</label>\
                     <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" \
                     value=\"{}\" tabindex=\"-1\" class=\"visually-hidden\"></div>\n",
                    escape(account)
                ),
            ),
            None => (String::new(), String::new()),
        };
        let body = format!(
            "<h1>Set your password</h1>\n{intro}{alert}\
             <form method=\"post\" action=\"/self-service/recovery?flow={flow}\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
             {username}\
             {secret_field}\
             <label for=\"password\">New password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" \
             minlength=\"{MIN_PASSWORD_LENGTH}\" required aria-describedby=\"password-hint\">\n\
             <p id=\"password-hint\" class=\"hint\">At least {MIN_PASSWORD_LENGTH} characters.</p>\n\
             <label for=\"password-confirm\">Confirm password</label>\n\
             <input id=\"password-confirm\" name=\"password_confirm\" type=\"password\" \
             autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_LENGTH}\" required \
             aria-describedby=\"password-confirm-hint\">\n\
             <p id=\"password-confirm-hint\" class=\"hint\">The same password again.</p>\n\
             <button type=\"submit\">Set password</button>\n\
             </form>\n",
            alert = alert(context.error),
            csrf = escape(&csrf),
        );
        Self {
            status: StatusCode::OK,
            title: "Set your password",
            body,
            csrf: Some(csrf),
            return_origin: context.return_to.and_then(return_origin),
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
            return_origin: None,
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
            return_origin: None,
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
.visually-hidden{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}\
button{margin-top:1.5rem;font:inherit;font-weight:600;padding:.6rem 1.2rem;border:0;border-radius:4px;background:#0b5fff;color:#fff;cursor:pointer}";

/// The answer to a successful redemption whose flow carried a `return_to`: 303 See Other,
/// with the page's protective headers (no referrer: the form's URL holds the link's token).
pub fn see_other(location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return render(Page::done());
    };
    let mut response = render(Page {
        status: StatusCode::SEE_OTHER,
        title: "Password set",
        body: format!(
            "<h1>Password set</h1>\n<p role=\"status\">Your new password is set. <a href=\"{}\">Continue</a>.</p>\n",
            escape(location)
        ),
        csrf: None,
        return_origin: None,
    });
    response.headers_mut().insert(header::LOCATION, value);
    response
}

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
    let form_action = match &page.return_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    if let Ok(policy) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
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
