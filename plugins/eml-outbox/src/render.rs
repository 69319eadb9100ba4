//! The MIME message itself (templates and dates are the SDK's).

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
