//! HTTP plans: a JSON POST to a URL the `courier.http.allowed_urls` setting allows. No
//! redirects are followed (a redirect could leave the allow-list), a 2xx answer is success,
//! and only the first KiB of any other answer is read, for the error.

use super::{CourierSettings, SEND_TIMEOUT, SendError, read_root_ca};
use crate::plugin_host::HttpPost;
use std::io::Read as _;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// `url` as (scheme, authority, the rest), scheme and authority lowercased; `None` for what
/// is not a plain http(s) URL (no host, a user in it, spaces or control characters).
fn split_url(url: &str) -> Option<(String, String, &str)> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // Dot segments and encoded separators would let a path that starts with an allowed
    // prefix end elsewhere once the receiving server normalises it (`/hooks/../admin`).
    let before_query = path.split(['?', '#']).next().unwrap_or_default();
    let lowered = before_query.to_ascii_lowercase();
    if before_query
        .split('/')
        .any(|segment| segment == "." || segment == "..")
        || ["%2e", "%2f", "%5c", "\\"]
            .iter()
            .any(|encoded| lowered.contains(encoded))
    {
        return None;
    }
    Some((scheme, authority.to_ascii_lowercase(), path))
}

/// `scheme://host[:port]` of a URL, for messages: a webhook's path and query are often its
/// secret (Slack's and Mattermost's are), so they are never repeated.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/...")
        }
        None => "the plan's URL".to_string(),
    }
}

/// The words of `posted` (a plan's JSON body) long enough to be a secret (the code, the
/// link's token and flow), so that a reply that echoes the request is stored without them.
fn secret_words(posted: &str) -> Vec<String> {
    fn walk(value: &serde_json::Value, words: &mut Vec<String>) {
        match value {
            serde_json::Value::String(text) => {
                words.push(text.clone());
                words.extend(
                    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                        .filter(|word| word.len() >= 6)
                        .map(str::to_string),
                );
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, words)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, words)),
            _ => {}
        }
    }
    let mut words = Vec::new();
    if let Ok(value) = serde_json::from_str(posted) {
        walk(&value, &mut words);
    }
    words.retain(|word| word.len() >= 6);
    // Longest first, so a link is cut whole before its parts.
    words.sort_by_key(|word| std::cmp::Reverse(word.len()));
    words
}

/// `reply` with every word of the posted body in it cut out.
fn without_secrets(reply: &str, posted: &str) -> String {
    let mut reply = reply.to_string();
    for word in secret_words(posted) {
        reply = reply.replace(&word, "[redacted]");
    }
    reply
}

/// Whether `url` can stand in `courier.http.allowed_urls`: a plain http(s) URL with a host,
/// no user, no dot segments or encoded separators.
pub fn is_plain_url(url: &str) -> bool {
    split_url(url).is_some()
}

/// True when `url` is one of `allowed` or below one: the same scheme, host and port (in any
/// case), and a path that continues the prefix's at a `/` (so `https://chat.internal/hooks`
/// allows `https://chat.internal/hooks/42` but not `https://chat.internal/hooks-evil`).
pub(super) fn url_allowed(url: &str, allowed: &[String]) -> bool {
    let Some((scheme, authority, path)) = split_url(url) else {
        return false;
    };
    allowed.iter().any(|prefix| {
        let Some((p_scheme, p_authority, p_path)) = split_url(prefix.trim()) else {
            return false;
        };
        p_scheme == scheme
            && p_authority == authority
            && path.starts_with(p_path)
            && (p_path.ends_with('/')
                || matches!(
                    path.as_bytes().get(p_path.len()),
                    None | Some(b'/' | b'?' | b'#')
                ))
    })
}

/// The certificates of a PEM bundle (anything else in it is skipped).
pub(crate) fn pem_certificates(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate.to_owned()),
            _ => None,
        })
        .collect()
}

#[derive(Clone)]
pub(super) struct Poster {
    agent: ureq::Agent,
}

impl Poster {
    pub(super) fn new(settings: &CourierSettings) -> Result<Self, SendError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &settings.root_ca_file {
            let pem = read_root_ca(path)?;
            let certificates = pem_certificates(&pem);
            if certificates.is_empty() {
                return Err(SendError::Retry(format!(
                    "courier.root_ca_file {} holds no certificate",
                    path.display()
                )));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certificates));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(SEND_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self { agent })
    }

    pub(super) fn post(
        &self,
        settings: &CourierSettings,
        post: &HttpPost,
    ) -> Result<String, SendError> {
        let shown = origin(&post.url);
        if !url_allowed(&post.url, &settings.allowed_urls) {
            return Err(SendError::Abandon(format!(
                "the plan's URL ({shown}) is not under a prefix in courier.http.allowed_urls{}, \
                 or has dot segments or encoded separators in its path",
                match settings.allowed_urls.is_empty() {
                    true => " (empty: no URL is allowed)",
                    false => "",
                }
            )));
        }
        let mut request = self
            .agent
            .post(&post.url)
            .header("Content-Type", "application/json");
        for (name, value) in &post.headers {
            if name.eq_ignore_ascii_case("content-type")
                || name.eq_ignore_ascii_case("host")
                || name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Err(SendError::Abandon(format!(
                    "the plan sets the header {name}, which the courier sets itself"
                )));
            }
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send(post.body_json.as_bytes()).map_err(|e| {
            let error = without_secrets(&e.to_string(), &post.url);
            SendError::Retry(format!("could not post to {shown}: {error}"))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(format!("posted to {shown} ({})", status.as_u16()));
        }
        let mut head = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(1024)
            .read_to_end(&mut head);
        // A receiver may echo the request: its code and link must not be stored with the
        // error (nor its URL, which is often a webhook's secret).
        let answer = without_secrets(
            &without_secrets(String::from_utf8_lossy(&head).trim(), &post.body_json),
            &serde_json::json!(post.url).to_string(),
        );
        Err(SendError::Retry(format!(
            "{shown} answered {status}: {answer}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::url_allowed;

    #[test]
    fn only_urls_under_an_allowed_prefix_pass() {
        let allowed = vec![
            "https://chat.internal/hooks".to_string(),
            "http://127.0.0.1:9000/".to_string(),
        ];
        for good in [
            "https://chat.internal/hooks",
            "https://chat.internal/hooks/42?x=1",
            "HTTPS://CHAT.INTERNAL/hooks/1",
            "http://127.0.0.1:9000/sms",
        ] {
            assert!(url_allowed(good, &allowed), "{good}");
        }
        for bad in [
            "https://chat.internal/hooks-evil",
            "https://chat.internal.evil.org/hooks",
            "https://chat.internal@evil.org/hooks",
            "http://127.0.0.1:9001/",
            "ftp://chat.internal/hooks",
            "https://chat.internal/hooks/\nx",
            "https://chat.internal/hooks/../admin",
            "https://chat.internal/hooks/%2e%2e/admin",
            "https://chat.internal/hooks/a%2F..%2Fadmin",
            "https://chat.internal/hooks/./x",
        ] {
            assert!(!url_allowed(bad, &allowed), "{bad}");
        }
        assert!(!url_allowed("https://chat.internal/hooks", &[]));
        assert!(url_allowed(
            "https://chat.internal/hooks/x?next=../y",
            &allowed
        ));
    }

    #[test]
    fn an_echoed_request_is_stored_without_its_secrets() {
        let posted = r#"{"recovery_link":"http://id.example.org/r?flow=0192aaaa-bbbb&token=AbCdEfGhIjKlMnOpQrStUvWxYz012345","recovery_code":"370171"}"#;
        let reply = "400 bad payload: token AbCdEfGhIjKlMnOpQrStUvWxYz012345 code 370171";
        let stored = super::without_secrets(reply, posted);
        assert!(
            !stored.contains("AbCdEfGh") && !stored.contains("370171"),
            "{stored}"
        );
        assert_eq!(
            super::origin("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com/..."
        );
    }
}
