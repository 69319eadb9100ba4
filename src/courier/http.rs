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
    Some((scheme, authority.to_ascii_lowercase(), path))
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

#[derive(Clone)]
pub(super) struct Poster {
    agent: ureq::Agent,
}

impl Poster {
    pub(super) fn new(settings: &CourierSettings) -> Result<Self, SendError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &settings.root_ca_file {
            let pem = read_root_ca(path)?;
            let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(certificate)) => Some(certificate.to_owned()),
                    _ => None,
                })
                .collect();
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
        if !url_allowed(&post.url, &settings.allowed_urls) {
            return Err(SendError::Abandon(format!(
                "{} is not allowed by courier.http.allowed_urls ({})",
                post.url,
                match settings.allowed_urls.is_empty() {
                    true => "empty: no URL is allowed".to_string(),
                    false => settings.allowed_urls.join(" "),
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
        let mut response = request
            .send(post.body_json.as_bytes())
            .map_err(|e| SendError::Retry(format!("could not post to {}: {e}", post.url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(format!("posted to {} ({})", post.url, status.as_u16()));
        }
        let mut head = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(1024)
            .read_to_end(&mut head);
        Err(SendError::Retry(format!(
            "{} answered {}: {}",
            post.url,
            status,
            String::from_utf8_lossy(&head).trim()
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
        ] {
            assert!(!url_allowed(bad, &allowed), "{bad}");
        }
        assert!(!url_allowed("https://chat.internal/hooks", &[]));
    }
}
