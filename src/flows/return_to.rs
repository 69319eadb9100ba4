//! `return_to`: where the redemption page sends an invitee once the password is set. As in
//! Kratos, a URL is taken only if it matches `selfservice.allowed_return_urls`, checked when
//! the flow is opened and stored with it; the page never reads one from its own query, so a
//! link cannot be rewritten to send the invitee elsewhere. Empty by default: nothing is
//! allowed, and the page shows its own success message.

use crate::error::{Error, Result};
use url::Url;

/// The setting that lists the allowed URLs (Kratos' `selfservice.allowed_return_urls`).
pub const ALLOWED_RETURN_URLS: &str = "selfservice.allowed_return_urls";

/// An allowed entry: an http(s) URL whose host may start with `*.` for any subdomain.
fn parse_allowed(entry: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(entry).map_err(|e| format!("{entry} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{entry} is not an http:// or https:// URL"));
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{entry} must name a host and no user"));
    }
    let stars_ok = match host.strip_prefix("*.") {
        Some(rest) => !rest.contains('*'),
        None => !host.contains('*'),
    };
    if !stars_ok {
        return Err(format!(
            "{entry}: a wildcard stands only for whole subdomains, as in https://*.example.org"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{entry} must have no query or fragment"));
    }
    Ok(url)
}

/// Checks the setting's value: URLs separated by spaces or commas; stored joined by spaces.
pub(super) fn check_allowed_return_urls(value: &str) -> std::result::Result<String, String> {
    let entries: Vec<&str> = value
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    for entry in &entries {
        parse_allowed(entry)?;
    }
    Ok(entries.join(" "))
}

/// Whether `url` is `allowed` or below it: the same scheme and port, the same host (or a
/// subdomain, for `*.`), and a path that continues the allowed one at a `/`. Kratos compares
/// paths as plain prefixes; here `/app` does not allow `/application`.
fn matches(url: &Url, allowed: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let allowed_host = allowed.host_str().unwrap_or_default();
    let host_ok = match allowed_host.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => host == allowed_host,
    };
    let (path, prefix) = (url.path(), allowed.path());
    let path_ok = path == prefix
        || (path.starts_with(prefix)
            && (prefix.ends_with('/') || path.as_bytes().get(prefix.len()) == Some(&b'/')));
    url.scheme() == allowed.scheme()
        && url.port_or_known_default() == allowed.port_or_known_default()
        && host_ok
        && path_ok
}

/// `return_to` as kith stores it, if `allowed` (the setting's value) lets it through.
///
/// # Errors
/// Kratos' 400s: a value that is not an absolute URL ("Unable to parse the return_to query
/// parameter as an URL"), and [`Error::ReturnToForbidden`] for one no entry allows.
pub fn allowed_return_to(return_to: &str, allowed: &str) -> Result<String> {
    let url = Url::parse(return_to.trim()).map_err(|e| {
        Error::BadRequest(format!(
            "Unable to parse the return_to query parameter as an URL: {e}"
        ))
    })?;
    let plain = url.username().is_empty() && url.password().is_none();
    let allowed = allowed
        .split_whitespace()
        .filter_map(|entry| parse_allowed(entry).ok())
        .any(|entry| matches(&url, &entry));
    if plain && allowed {
        Ok(url.to_string())
    } else {
        Err(Error::ReturnToForbidden {
            url: url.to_string(),
        })
    }
}

/// `scheme://host[:port]` of a stored `return_to`, which the form's page must name in its
/// `form-action` policy: browsers apply it to the redirect that follows the form's POST.
pub fn return_origin(return_to: &str) -> Option<String> {
    let url = Url::parse(return_to).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_to_must_match_an_allowed_url() {
        let allowed = "https://app.example.org/welcome https://*.example.net";
        let cases = [
            ("https://app.example.org/welcome", true),
            ("https://app.example.org/welcome/", true),
            ("https://APP.example.org/welcome/next?x=1", true),
            ("https://app.example.org:443/welcome", true),
            ("https://app.example.org/welcomeback", false),
            ("https://app.example.org/welcome/../admin", false),
            ("https://app.example.org/", false),
            ("http://app.example.org/welcome", false),
            ("https://app.example.org:8443/welcome", false),
            ("https://evil.example/welcome", false),
            ("https://user@app.example.org/welcome", false),
            ("https://a.b.example.net/", true),
            ("https://example.net/", false),
            ("https://badexample.net/", false),
        ];
        for (url, expected) in cases {
            assert_eq!(
                allowed_return_to(url, allowed).is_ok(),
                expected,
                "{url} against {allowed}"
            );
        }
        assert!(allowed_return_to("https://app.example.org/welcome", "").is_err());
        assert!(matches!(
            allowed_return_to("/welcome", allowed),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn allowed_urls_are_checked() {
        assert_eq!(
            check_allowed_return_urls(" https://a.example/x,https://*.b.example ").unwrap(),
            "https://a.example/x https://*.b.example"
        );
        for bad in [
            "ftp://a.example",
            "https://u@a.example",
            "https://a*.example",
            "https://*.*.example",
            "https://a.example/?q",
            "a.example",
        ] {
            assert!(check_allowed_return_urls(bad).is_err(), "{bad}");
        }
        assert_eq!(check_allowed_return_urls("").unwrap(), "");
    }

    #[test]
    fn the_origin_of_a_return_to() {
        assert_eq!(
            return_origin("https://app.example.org:8443/x?y").as_deref(),
            Some("https://app.example.org:8443")
        );
    }
}
