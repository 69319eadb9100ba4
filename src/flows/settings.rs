//! Settings: the keys kith knows, their defaults, and checks on what is set.

use super::Kith;

/// Shortest and longest lifetime an invite may be given.
pub const MIN_INVITE_LIFESPAN: std::time::Duration = std::time::Duration::from_secs(5 * 60);
pub const MAX_INVITE_LIFESPAN: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
use crate::error::{Error, Result};
use crate::password::HasherConfig;
use crate::store::Tx;
use serde::Serialize;

/// One setting as `kith get config` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    /// True when nothing was set and the default applies.
    pub default: bool,
    pub description: &'static str,
}

struct Key {
    name: &'static str,
    default: &'static str,
    description: &'static str,
    check: fn(&str) -> std::result::Result<String, String>,
}

const KEYS: &[Key] = &[
    Key {
        name: "public_url",
        default: "http://127.0.0.1:4433",
        description: "base of schema_url and recovery links",
        check: check_url,
    },
    Key {
        name: "default_schema_id",
        default: "preset://email",
        description: "schema of a body that names none (Kratos' identity.default_schema_id)",
        check: check_schema_id,
    },
    Key {
        name: "invite.lifespan",
        default: "72h",
        description: "how long an invite lives (Go duration, 5m to 720h)",
        check: check_lifespan,
    },
    Key {
        name: "outbox_dir",
        default: "",
        description: "Maildir that delivery plugins' files go to (default: outbox/ beside the store)",
        check: check_folder,
    },
    Key {
        name: "hashers.algorithm",
        default: "argon2id",
        description: "hasher for new passwords: argon2id or bcrypt",
        check: check_algorithm,
    },
    Key {
        name: "hashers.argon2.memory_kib",
        default: "19456",
        description: "argon2id memory in KiB (OWASP: 19456)",
        check: check_number,
    },
    Key {
        name: "hashers.argon2.iterations",
        default: "2",
        description: "argon2id passes (OWASP: 2)",
        check: check_number,
    },
    Key {
        name: "hashers.argon2.parallelism",
        default: "1",
        description: "argon2id lanes (OWASP: 1)",
        check: check_number,
    },
    Key {
        name: "hashers.bcrypt.cost",
        default: "12",
        description: "bcrypt cost (Kratos: 12)",
        check: check_number,
    },
    Key {
        name: "courier.smtp.connection_uri",
        default: "",
        description: "SMTP relay for e-mail plans, in Kratos' format: smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS required unless ?disable_starttls=true) or smtps://...",
        check: check_relay_uri,
    },
    Key {
        name: "courier.smtp.from_address",
        default: "no-reply@kith.invalid",
        description: "From: address of e-mail plans that name no sender",
        check: check_address,
    },
    Key {
        name: "courier.smtp.from_name",
        default: "",
        description: "display name of courier.smtp.from_address",
        check: check_one_line,
    },
    Key {
        name: "courier.smtp.local_name",
        default: "localhost",
        description: "the name kith gives the relay in EHLO",
        check: check_host_name,
    },
    Key {
        name: "courier.root_ca_file",
        default: "",
        description: "PEM file of the private CA that signs the relay's and webhooks' certificates (empty: the system's roots)",
        check: check_optional_file,
    },
    Key {
        name: "courier.http.allowed_urls",
        default: "",
        description: "URL prefixes HTTP plans may post to, separated by spaces (empty: none)",
        check: check_allowed_urls,
    },
    Key {
        name: "courier.message_retries",
        default: "5",
        description: "failed sends retried before a message is abandoned (Kratos: 5)",
        check: check_number,
    },
    Key {
        name: "courier.retry_base",
        default: "1s",
        description: "delay before a failed message's first retry, doubled for each later one (Go duration)",
        check: check_retry_delay,
    },
    Key {
        name: "courier.retry_max",
        default: "10m",
        description: "longest delay between two attempts to send a message (Go duration)",
        check: check_retry_delay,
    },
    Key {
        name: "courier.send_deadline",
        default: "60s",
        description: "longest a send may make no progress (a relay that drips a byte every few seconds never hits the 10s network timeout) before it is given up on and retried (Go duration)",
        check: check_retry_delay,
    },
    Key {
        name: "courier.expose_bodies",
        default: "false",
        description: "development only: show queued messages' subject and body (with live codes) in get/list message, as Kratos' --dev does",
        check: check_bool,
    },
    Key {
        name: super::return_to::ALLOWED_RETURN_URLS,
        default: "",
        description: "URLs (separated by spaces; a host may start with *. for its subdomains) a recovery link or invite's return_to may point to, below which the redemption page sends the invitee once the password is set (Kratos' selfservice.allowed_return_urls; empty: none)",
        check: super::return_to::check_allowed_return_urls,
    },
    Key {
        name: "admin_url",
        default: "",
        description: "base of the Location and Link headers kith serve sends (empty: the admin listener's address)",
        check: check_admin_url,
    },
];

fn check_schema_id(value: &str) -> std::result::Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must name a schema (see kith list schemas)".into());
    }
    Ok(trimmed.to_string())
}

fn check_url(value: &str) -> std::result::Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty()
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err("must be a URL with a host and no query or fragment".into());
    }
    Ok(trimmed.to_string())
}

/// Empty restores the default (the admin listener's own address); anything else is a URL.
fn check_admin_url(value: &str) -> std::result::Result<String, String> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    check_url(value)
}

fn check_lifespan(value: &str) -> std::result::Result<String, String> {
    let duration = super::duration::positive_duration(value)?;
    if !(MIN_INVITE_LIFESPAN..=MAX_INVITE_LIFESPAN).contains(&duration) {
        return Err(format!("{value:?} is outside 5m to 720h (30 days)"));
    }
    Ok(value.trim().to_string())
}

fn check_folder(value: &str) -> std::result::Result<String, String> {
    let path = std::path::Path::new(value.trim());
    if value.trim().is_empty() || !path.is_absolute() {
        return Err("must be an absolute folder path".into());
    }
    Ok(value.trim().to_string())
}

fn check_relay_uri(value: &str) -> std::result::Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    crate::courier::parse_relay_uri(value)?;
    Ok(value.to_string())
}

fn check_address(value: &str) -> std::result::Result<String, String> {
    let value = value.trim();
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '<') =>
        {
            Ok(value.to_string())
        }
        _ => Err(format!("{value:?} is not an e-mail address")),
    }
}

fn check_one_line(value: &str) -> std::result::Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err("must be one line".into());
    }
    Ok(value.trim().to_string())
}

fn check_host_name(value: &str) -> std::result::Result<String, String> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 253
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return Err(format!(
            "{value:?} is not a host name for EHLO (e.g. kith.example.org)"
        ));
    }
    Ok(value.to_string())
}

fn check_optional_file(value: &str) -> std::result::Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let path = std::path::Path::new(value);
    if !path.is_absolute() {
        return Err("must be an absolute path".into());
    }
    if !path.is_file() {
        return Err(format!("{value} is not a file"));
    }
    Ok(value.to_string())
}

fn check_allowed_urls(value: &str) -> std::result::Result<String, String> {
    let urls: Vec<&str> = value
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    for url in &urls {
        if !crate::courier::is_plain_url(url) {
            return Err(format!(
                "{url} is not a plain http:// or https:// URL prefix (a host, no user, no \
                 `.` or `..` segments, no encoded separators)"
            ));
        }
    }
    Ok(urls.join(" "))
}

fn check_retry_delay(value: &str) -> std::result::Result<String, String> {
    let duration = super::duration::positive_duration(value)
        .map_err(|_| format!("{value:?} is not a Go duration (e.g. 1s, 500ms, 2m)"))?;
    if duration < std::time::Duration::from_millis(1) || duration > MAX_RETRY_DELAY {
        return Err(format!("{value:?} is outside 1ms to 24h"));
    }
    Ok(value.trim().to_string())
}

fn check_bool(value: &str) -> std::result::Result<String, String> {
    match value.trim() {
        flag @ ("true" | "false") => Ok(flag.to_string()),
        other => Err(format!("{other:?} is not true or false")),
    }
}

/// What kith shows of a setting's value: a relay URI's password never leaves the store in
/// clear (not in `kith get config`, not in the audit trail).
fn shown(key: &str, value: &str) -> String {
    if key != "courier.smtp.connection_uri" {
        return value.to_string();
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => value.to_string(),
        },
        None => value.to_string(),
    }
}

/// The longest delay between two attempts to send a message.
const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn check_algorithm(value: &str) -> std::result::Result<String, String> {
    match value.trim() {
        algorithm @ ("argon2id" | "bcrypt") => Ok(algorithm.to_string()),
        other => Err(format!("{other:?} is not a hasher; use argon2id or bcrypt")),
    }
}

fn check_number(value: &str) -> std::result::Result<String, String> {
    value
        .trim()
        .parse::<u32>()
        .map(|n| n.to_string())
        .map_err(|_| format!("{value:?} is not a whole number"))
}

/// The settings a flow works with, read once per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub public_url: String,
    pub hasher: HasherConfig,
    /// Default lifetime of invites, a Go duration.
    pub invite_lifespan: String,
    /// Where delivery plugins' files go; empty for the default beside the store.
    pub outbox_dir: String,
    /// Base of the `Location` and `Link` headers `kith serve` sends; empty while unset, when
    /// the server uses its admin listener's address (never the request's `Host`).
    pub admin_url: String,
    /// The schema of a create body without `schema_id`.
    pub default_schema_id: crate::model::SchemaId,
    /// The courier's relay and where its plans may go (`courier.*`).
    pub smtp_uri: String,
    pub smtp_from_address: String,
    pub smtp_from_name: String,
    pub smtp_local_name: String,
    pub courier_root_ca_file: String,
    pub courier_allowed_urls: String,
    pub courier_retries: u32,
    pub courier_retry_base: std::time::Duration,
    pub courier_retry_max: std::time::Duration,
    pub courier_expose_bodies: bool,
    pub courier_send_deadline: std::time::Duration,
    /// Where `return_to` may point (`selfservice.allowed_return_urls`), separated by spaces.
    pub allowed_return_urls: String,
}

impl Settings {
    /// Reads every setting; `default_public_url` stands in for `public_url` while it is unset.
    pub(super) fn load(tx: &Tx<'_>, default_public_url: Option<&str>) -> Result<Self> {
        let stored: std::collections::HashMap<String, String> =
            tx.all_settings()?.into_iter().collect();
        let get = |key: &str| -> String {
            stored.get(key).cloned().unwrap_or_else(|| {
                KEYS.iter()
                    .find(|k| k.name == key)
                    .map(|k| k.default.to_string())
                    .unwrap_or_default()
            })
        };
        let number = |key: &str| -> Result<u32> {
            get(key).parse().map_err(|_| Error::InvalidSetting {
                key: key.to_string(),
                problem: "stored value is not a number".into(),
            })
        };
        let delay = |key: &str| -> Result<std::time::Duration> {
            super::duration::positive_duration(&get(key)).map_err(|problem| Error::InvalidSetting {
                key: key.to_string(),
                problem,
            })
        };
        let hasher = match get("hashers.algorithm").as_str() {
            "bcrypt" => HasherConfig::Bcrypt {
                cost: number("hashers.bcrypt.cost")?,
            },
            _ => HasherConfig::Argon2id {
                memory_kib: number("hashers.argon2.memory_kib")?,
                iterations: number("hashers.argon2.iterations")?,
                parallelism: number("hashers.argon2.parallelism")?,
            },
        };
        Ok(Self {
            public_url: match (stored.get("public_url"), default_public_url) {
                (None, Some(url)) => url.to_string(),
                _ => get("public_url"),
            },
            hasher,
            invite_lifespan: get("invite.lifespan"),
            outbox_dir: get("outbox_dir"),
            admin_url: get("admin_url"),
            default_schema_id: get("default_schema_id").into(),
            smtp_uri: get("courier.smtp.connection_uri"),
            smtp_from_address: get("courier.smtp.from_address"),
            smtp_from_name: get("courier.smtp.from_name"),
            smtp_local_name: get("courier.smtp.local_name"),
            courier_root_ca_file: get("courier.root_ca_file"),
            courier_allowed_urls: get("courier.http.allowed_urls"),
            courier_retries: number("courier.message_retries")?,
            courier_retry_base: delay("courier.retry_base")?,
            courier_retry_max: delay("courier.retry_max")?,
            courier_expose_bodies: get("courier.expose_bodies") == "true",
            courier_send_deadline: delay("courier.send_deadline")?,
            allowed_return_urls: get(super::return_to::ALLOWED_RETURN_URLS),
        })
    }
}

impl Kith {
    /// The settings in force.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(crate) fn settings(&self) -> Result<Settings> {
        self.read(|tx| Settings::load(tx, self.default_public_url.as_deref()))
    }

    /// Every setting kith knows with its value, set or default.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(crate) fn config(&self) -> Result<Vec<Setting>> {
        self.read(|tx| {
            KEYS.iter()
                .map(|key| {
                    let stored = tx.get_setting(key.name)?;
                    Ok(Setting {
                        key: key.name.to_string(),
                        default: stored.is_none(),
                        value: shown(key.name, &stored.unwrap_or_else(|| key.default.to_string())),
                        description: key.description,
                    })
                })
                .collect()
        })
    }

    /// Sets `key` to `value` after checking both, and records who did.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for an unknown key or a value kith cannot use (including a
    /// hasher configuration outside the cost bounds).
    pub(crate) fn set_config(&self, key: &str, value: &str) -> Result<Setting> {
        let known = known_key(key)?;
        let value = (known.check)(value).map_err(|problem| Error::InvalidSetting {
            key: key.to_string(),
            problem,
        })?;
        self.commit(|tx| {
            let previous = tx.get_setting(key)?;
            tx.set_setting(key, &value)?;
            self.check_changed_settings(tx, key)?;
            tx.record(
                "config.set",
                None,
                Some(serde_json::json!({
                    "key": key,
                    "value": shown(key, &value),
                    "previous": previous.map(|p| shown(key, &p)),
                })),
            )?;
            Ok(Setting {
                key: key.to_string(),
                value: shown(key, &value),
                default: false,
                description: known.description,
            })
        })
    }
}

impl Kith {
    /// Checks the settings as a change to `key` leaves them: a hasher's parameters must go
    /// together, whichever of them was changed.
    fn check_changed_settings(&self, tx: &Tx<'_>, key: &str) -> Result<()> {
        let settings = Settings::load(tx, self.default_public_url.as_deref())?;
        settings
            .hasher
            .validate()
            .map_err(|e| Error::InvalidSetting {
                key: key.to_string(),
                problem: e.to_string(),
            })
    }

    /// Forgets the value set for `key`, so its default applies again, and records who did.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for an unknown key, or when the default does not go with
    /// the values set for other keys (a hasher's parameters).
    pub(crate) fn unset_config(&self, key: &str) -> Result<Setting> {
        let known = known_key(key)?;
        self.commit(|tx| {
            let previous = tx.get_setting(key)?;
            tx.delete_setting(key)?;
            self.check_changed_settings(tx, key)?;
            if previous.is_some() {
                tx.record(
                    "config.unset",
                    None,
                    Some(serde_json::json!({"key": key, "previous": previous.map(|p| shown(key, &p))})),
                )?;
            }
            Ok(Setting {
                key: key.to_string(),
                value: known.default.to_string(),
                default: true,
                description: known.description,
            })
        })
    }
}

/// The key kith knows by this name, or an error listing the known keys (and the nearest).
fn known_key(key: &str) -> Result<&'static Key> {
    KEYS.iter()
        .find(|k| k.name == key)
        .ok_or_else(|| Error::UnknownSetting {
            key: key.to_string(),
            known: KEYS.iter().map(|k| k.name.to_string()).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_trimmed() {
        assert_eq!(
            check_url("https://id.example.org/").unwrap(),
            "https://id.example.org"
        );
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://x?y").is_err());
        assert_eq!(check_admin_url(" ").unwrap(), "");
        assert_eq!(
            check_admin_url("https://admin.example.org/kratos/").unwrap(),
            "https://admin.example.org/kratos"
        );
        assert!(check_admin_url("admin.example.org").is_err());
    }

    #[test]
    fn a_relay_password_is_never_shown() {
        assert_eq!(
            shown(
                "courier.smtp.connection_uri",
                "smtps://ops:s3cret@relay:465/?x=1"
            ),
            "smtps://ops:***@relay:465/?x=1"
        );
        assert_eq!(
            shown("courier.smtp.connection_uri", "smtp://relay:25"),
            "smtp://relay:25"
        );
        assert_eq!(shown("public_url", "http://a:b@c"), "http://a:b@c");
    }
}
