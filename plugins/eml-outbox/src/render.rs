//! Templates, dates and the MIME message itself.

use crate::exports::kith::plugin::delivery::Invite;
use serde_json::Value;

pub struct Vars<'a> {
    pub invite: &'a Invite,
    pub traits: &'a Value,
    pub expires_at: String,
}

impl Vars<'_> {
    fn lookup(&self, name: &str) -> String {
        match name {
            "recipient" => self.invite.recipient.clone(),
            "recovery_link" => self.invite.recovery_link.clone(),
            "recovery_code" => self.invite.recovery_code.clone(),
            "expires_at" => self.expires_at.clone(),
            _ => name
                .strip_prefix("traits.")
                .and_then(|path| {
                    path.split('.')
                        .try_fold(self.traits, |value, key| value.get(key))
                })
                .and_then(|value| match value {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .unwrap_or_default(),
        }
    }

    /// Replaces every `{{name}}` in `template`; unknown names become empty.
    pub fn fill(&self, template: &str, html: bool) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let value = self.lookup(rest[start + 2..start + end].trim());
            if html {
                out.push_str(&escape_html(&value));
            } else {
                out.push_str(&value);
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub struct Message<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub date: String,
    pub message_id: String,
    pub boundary: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// The whole message, CRLF line endings as RFC 5322 wants.
pub fn message(m: &Message<'_>) -> String {
    let mut lines = vec![
        format!("From: {}", m.from),
        format!("To: {}", m.to),
        format!("Subject: {}", encode_header(m.subject)),
        format!("Date: {}", m.date),
        format!("Message-ID: {}", m.message_id),
        "MIME-Version: 1.0".to_string(),
        format!(
            "Content-Type: multipart/alternative; boundary=\"{}\"",
            m.boundary
        ),
        String::new(),
    ];
    for (mime, body) in [("text/plain", m.text), ("text/html", m.html)] {
        lines.push(format!("--{}", m.boundary));
        lines.push(format!("Content-Type: {mime}; charset=utf-8"));
        lines.push("Content-Transfer-Encoding: base64".to_string());
        lines.push(String::new());
        let encoded = base64(body.as_bytes());
        for chunk in encoded.as_bytes().chunks(76) {
            lines.push(String::from_utf8_lossy(chunk).into_owned());
        }
    }
    lines.push(format!("--{}--", m.boundary));
    lines.push(String::new());
    lines.join("\r\n")
}

/// RFC 2047 encoded-word when the subject is not plain ASCII.
fn encode_header(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64(text.as_bytes()))
    }
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), after Howard Hinnant's civil_from_days.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split(unix_ms: u64) -> (i64, u32, u32, u64, u64, u64, i64) {
    let secs = (unix_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil(days);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, days)
}

/// `2026-11-30T09:51:29Z`
pub fn rfc3339(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = split(unix_ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `Mon, 30 Nov 2026 09:51:29 +0000`
pub fn rfc5322_date(unix_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, days) = split(unix_ms);
    format!(
        "{}, {d} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize]
    )
}

/// A recipient as a file-name fragment: letters, digits, `.`, `-`, `_`, `@` only.
pub fn safe_name(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// FNV-1a, for a stable Message-ID part.
pub fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
