//! Filling `{{placeholder}}` templates, as kith's delivery plugins do.
//!
//! [`fill`] replaces every `{{name}}` with what a lookup closure returns for `name`
//! (trimmed), HTML-escaped when asked; an unclosed `{{` is kept as it is. [`InviteVars`]
//! is the lookup every invite-delivery plugin shares:
//!
//! | placeholder | value |
//! | --- | --- |
//! | `{{recipient}}` | the address the invite goes to |
//! | `{{recovery_link}}` | the recovery link |
//! | `{{recovery_code}}` | the one-time code |
//! | `{{expires_at}}` | when both expire, RFC 3339 in UTC (`2026-11-30T09:51:29Z`) |
//! | `{{traits.KEY}}`, `{{traits.KEY.SUB}}` | a string or number trait; anything else is empty |
//!
//! Unknown names become empty. [`InviteVars::fill_with_fallbacks`] also reads
//! `{{name|fallback}}` as `fallback` where `name` is empty (`Hello {{traits.name.first|there}}`);
//! [`InviteVars::fill`] does not, for templates written before it.
//!
//! ```
//! use kith_plugin_sdk::template::{Escape, InviteVars};
//! let vars = InviteVars::new(
//!     "ada@example.org",
//!     "https://id.example.org/r?t=1",
//!     "123456",
//!     0,
//!     r#"{"name": {"first": "Ada <3"}}"#,
//! );
//! assert_eq!(vars.fill("Hello {{traits.name.first}}", Escape::Html), "Hello Ada &lt;3");
//! assert_eq!(vars.fill("until {{ expires_at }}", Escape::None), "until 1970-01-01T00:00:00Z");
//! assert_eq!(vars.fill_with_fallbacks("Hi {{traits.nick|you}}", Escape::None), "Hi you");
//! ```

use serde_json::Value;

/// How values are written into a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// As they are: text bodies, subjects, chat messages.
    None,
    /// With `& < > " '` escaped: HTML bodies.
    Html,
    /// With `& < >` escaped, as Slack's message text wants (so that a trait cannot write a
    /// link or an `@channel` mention of its own).
    Slack,
}

/// Replaces every `{{name}}` in `template` with `lookup(name)`, `name` trimmed of white
/// space. A `{{` with no `}}` after it is kept, with the rest of the template, as it is.
pub fn fill(template: &str, escape: Escape, lookup: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = lookup(rest[start + 2..start + end].trim());
        match escape {
            Escape::None => out.push_str(&value),
            Escape::Html => out.push_str(&escape_html(&value)),
            Escape::Slack => out.push_str(&escape_slack(&value)),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `text` with `& < > " '` written as HTML entities.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `text` with `& < >` written as Slack wants them in message text.
pub fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `lookup`, reading a name `name|fallback` as `fallback` (trimmed) where `name` (trimmed) is
/// empty: `{{traits.name.first | there}}`.
pub fn or_fallback(lookup: impl Fn(&str) -> String) -> impl Fn(&str) -> String {
    move |name| match name.split_once('|') {
        Some((name, fallback)) => {
            let value = lookup(name.trim());
            if value.is_empty() {
                fallback.trim().to_string()
            } else {
                value
            }
        }
        None => lookup(name),
    }
}

/// The value at a dotted `path` (`name.first`) in `traits`, when it is a string or a number.
pub fn trait_text(traits: &Value, path: &str) -> Option<String> {
    match path
        .split('.')
        .try_fold(traits, |value, key| value.get(key))?
    {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Refuses a header value with a line break (which would start a header of its own), with
/// an error naming the header.
pub fn single_line(header: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n']) {
        Err(format!("the {header} header would contain a line break"))
    } else {
        Ok(())
    }
}

/// An invite's placeholders: the lookup every invite-delivery plugin fills templates with.
#[derive(Clone, Debug, PartialEq)]
pub struct InviteVars<'a> {
    pub recipient: &'a str,
    pub recovery_link: &'a str,
    pub recovery_code: &'a str,
    /// When link and code expire, RFC 3339 in UTC.
    pub expires_at: String,
    /// The identity's traits; `null` when the host's JSON did not parse.
    pub traits: Value,
}

impl<'a> InviteVars<'a> {
    /// The placeholders of one invite, from the fields of the world's `invite` record
    /// ([`invite_vars!`](crate::invite_vars) passes them).
    pub fn new(
        recipient: &'a str,
        recovery_link: &'a str,
        recovery_code: &'a str,
        expires_unix_ms: u64,
        traits_json: &str,
    ) -> Self {
        InviteVars {
            recipient,
            recovery_link,
            recovery_code,
            expires_at: crate::time::rfc3339(expires_unix_ms),
            traits: serde_json::from_str(traits_json).unwrap_or(Value::Null),
        }
    }

    /// The value of one placeholder name (without braces); unknown names are empty.
    pub fn lookup(&self, name: &str) -> String {
        match name {
            "recipient" => self.recipient.to_string(),
            "recovery_link" => self.recovery_link.to_string(),
            "recovery_code" => self.recovery_code.to_string(),
            "expires_at" => self.expires_at.clone(),
            _ => name
                .strip_prefix("traits.")
                .and_then(|path| trait_text(&self.traits, path))
                .unwrap_or_default(),
        }
    }

    /// `template` with this invite's placeholders filled in.
    pub fn fill(&self, template: &str, escape: Escape) -> String {
        fill(template, escape, |name| self.lookup(name))
    }

    /// As [`fill`](Self::fill), with `{{name|fallback}}` read as `fallback` where `name` is
    /// empty (see [`or_fallback`]).
    pub fn fill_with_fallbacks(&self, template: &str, escape: Escape) -> String {
        fill(template, escape, or_fallback(|name| self.lookup(name)))
    }
}

/// The [`InviteVars`] of a world's `invite` record (any contract version):
/// `let vars = kith_plugin_sdk::invite_vars!(invite);`
#[macro_export]
macro_rules! invite_vars {
    ($invite:expr) => {{
        let invite = &$invite;
        $crate::template::InviteVars::new(
            &invite.recipient,
            &invite.recovery_link,
            &invite.recovery_code,
            invite.expires_unix_ms,
            &invite.traits_json,
        )
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(traits: &str) -> InviteVars<'static> {
        InviteVars::new(
            "ada@example.org",
            "https://id.example.org/recovery?token=a&b",
            "042917",
            1_796_032_289_000,
            traits,
        )
    }

    #[test]
    fn fills_invite_fields() {
        let v = vars("{}");
        assert_eq!(
            v.fill(
                "{{recipient}} {{recovery_link}} {{recovery_code}} {{expires_at}}",
                Escape::None
            ),
            "ada@example.org https://id.example.org/recovery?token=a&b 042917 2026-11-30T09:51:29Z"
        );
    }

    #[test]
    fn html_escapes_values_but_not_the_template() {
        let v = vars(r#"{"name": {"first": "<Ada> & \"Bo\" 'C'"}}"#);
        assert_eq!(
            v.fill(
                "<p>{{traits.name.first}}</p> {{recovery_link}}",
                Escape::Html
            ),
            "<p>&lt;Ada&gt; &amp; &quot;Bo&quot; &#39;C&#39;</p> \
             https://id.example.org/recovery?token=a&amp;b"
        );
        assert_eq!(
            v.fill("{{traits.name.first}}", Escape::None),
            "<Ada> & \"Bo\" 'C'"
        );
    }

    #[test]
    fn traits_strings_and_numbers_only() {
        let v = vars(r#"{"age": 36, "ok": true, "tags": ["a"], "name": {"first": "Ada"}}"#);
        assert_eq!(
            v.fill(
                "[{{traits.age}}][{{traits.ok}}][{{traits.tags}}][{{traits.name}}][{{traits.name.first}}][{{traits.none.x}}]",
                Escape::None
            ),
            "[36][][][][Ada][]"
        );
        assert_eq!(vars("not json").fill("[{{traits.a}}]", Escape::None), "[]");
    }

    #[test]
    fn unknown_trimmed_and_unclosed_placeholders() {
        let v = vars("{}");
        assert_eq!(v.fill("a{{nope}}b", Escape::None), "ab");
        assert_eq!(v.fill("{{  recovery_code\t}}", Escape::None), "042917");
        assert_eq!(
            v.fill("x {{recovery_code", Escape::None),
            "x {{recovery_code"
        );
        assert_eq!(
            v.fill("{{recovery_code}} {{ and }} }} {{", Escape::None),
            "042917  }} {{"
        );
        assert_eq!(v.fill("", Escape::None), "");
        assert_eq!(
            v.fill("héllo {{recovery_code}} ✓", Escape::None),
            "héllo 042917 ✓"
        );
    }

    #[test]
    fn a_value_is_not_filled_again() {
        let v = vars(r#"{"n": "{{recovery_code}}"}"#);
        assert_eq!(v.fill("{{traits.n}}", Escape::None), "{{recovery_code}}");
    }

    #[test]
    fn fallbacks() {
        let named = vars(r#"{"name": {"first": "Ada"}}"#);
        let unnamed = vars(r#"{"name": {"first": ""}}"#);
        let template = "Hello {{traits.name.first|there}}, {{ traits.name.first | <you> }}!";
        assert_eq!(
            named.fill_with_fallbacks(template, Escape::None),
            "Hello Ada, Ada!"
        );
        assert_eq!(
            unnamed.fill_with_fallbacks(template, Escape::Html),
            "Hello there, &lt;you&gt;!"
        );
        assert_eq!(
            unnamed.fill_with_fallbacks("[{{traits.name.first|}}]", Escape::None),
            "[]"
        );
        // Without fallbacks, `|` is part of the name, which then names nothing.
        assert_eq!(named.fill(template, Escape::None), "Hello , !");
    }

    #[test]
    fn slack_escapes_markup_only() {
        let v = vars(r#"{"name": {"first": "<!channel> & \"Bo\" 'C'"}}"#);
        assert_eq!(
            v.fill("<{{recovery_link}}|{{traits.name.first}}>", Escape::Slack),
            "<https://id.example.org/recovery?token=a&amp;b|&lt;!channel&gt; &amp; \"Bo\" 'C'>"
        );
    }

    #[test]
    fn vars_of_an_invite_record() {
        struct Invite {
            recipient: String,
            recovery_link: String,
            recovery_code: String,
            expires_unix_ms: u64,
            traits_json: String,
        }
        let invite = Invite {
            recipient: "ada@example.org".into(),
            recovery_link: "https://id.example.org/recovery?token=a&b".into(),
            recovery_code: "042917".into(),
            expires_unix_ms: 1_796_032_289_000,
            traits_json: "{}".into(),
        };
        assert_eq!(crate::invite_vars!(invite), vars("{}"));
        let by_reference = &invite;
        assert_eq!(crate::invite_vars!(by_reference), vars("{}"));
    }

    #[test]
    fn fill_with_any_lookup() {
        assert_eq!(
            fill("{{a}}+{{b}}", Escape::Html, |name| format!("<{name}>")),
            "&lt;a&gt;+&lt;b&gt;"
        );
    }

    #[test]
    fn single_line_headers() {
        assert_eq!(single_line("Subject", "Hi there"), Ok(()));
        assert_eq!(
            single_line("Subject", "Hi\r\nBcc: x@example.org"),
            Err("the Subject header would contain a line break".to_string())
        );
        assert!(single_line("Reply-To", "a\nb").is_err());
        assert!(single_line("Reply-To", "a\rb").is_err());
    }
}
