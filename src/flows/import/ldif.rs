//! LDIF inputs (RFC 2849 content records): each entry becomes one foreign record for a mapper,
//! `{"dn": "...", "<attribute>": ["value", ...], ...}`.
//!
//! Folded lines are unfolded (a line starting with one space continues the one before),
//! comments and `version:` dropped, `attr:: base64` values decoded: to a string when the bytes
//! are UTF-8, else to `{"base64": "..."}`. Attribute names keep the spelling of their first
//! use; a later spelling in another case joins it, as LDAP names are case-insensitive.
//! `attr:< URL` values are refused: an input never makes kith open a file or a URL. A change
//! record (`changetype:` other than `add`) is not an entry to import. An entry is bounded like
//! any record; one that cannot be read is that entry's error, and reading goes on at the next.

use super::reader::{MAX_RECORD_BYTES, RawRecord};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use std::io::{BufRead, Read};

/// Reads every entry of `input`, calling `emit` for each in order.
pub fn read_ldif(name: &str, input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let mut lines = Lines {
        input,
        number: 0,
        pending: None,
    };
    let mut first_entry = true;
    loop {
        let entry = match lines.entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err((line, message)) => {
                emit(RawRecord {
                    position: format!("{name}:{line}"),
                    text: Err(format!("{message}; the rest of this input was not read")),
                    foreign: true,
                });
                return;
            }
        };
        let position = format!("{name}:{}", entry.first_line);
        // `version: 1` heads the file, as a record of its own or on the first entry's lines.
        let skip_version = std::mem::replace(&mut first_entry, false);
        let text = match entry.problem {
            Some(problem) => Err(problem),
            None => parse_entry(&entry.lines, skip_version),
        };
        let text = match text {
            Ok(None) => continue,
            Ok(Some(object)) => Ok(Value::Object(object).to_string()),
            Err(message) => Err(message),
        };
        if !emit(RawRecord {
            position,
            text,
            foreign: true,
        }) {
            return;
        }
    }
}

/// One entry's unfolded lines (comments dropped), the line it starts on, or why it could not
/// be read whole.
struct Entry {
    first_line: usize,
    lines: Vec<String>,
    problem: Option<String>,
}

/// A physical line and its number.
type Numbered = (usize, Vec<u8>);

/// Why the input cannot be read on, and the line it stopped at.
type Stopped = (usize, String);

/// The input as physical lines, with one line of look-ahead for unfolding.
struct Lines<R> {
    input: R,
    number: usize,
    /// The next physical line (without its line break), read ahead, and its number.
    pending: Option<Numbered>,
}

impl<R: BufRead> Lines<R> {
    /// The next physical line, without its line break; `None` at the end.
    fn next_physical(&mut self) -> Result<Option<Numbered>, Stopped> {
        if let Some(line) = self.pending.take() {
            return Ok(Some(line));
        }
        let mut line = Vec::new();
        let read = Read::take(&mut self.input, MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| {
                (
                    self.number + 1,
                    format!("could not read line {}: {e}", self.number + 1),
                )
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if line.len() > MAX_RECORD_BYTES {
            return Err((
                self.number,
                format!(
                    "line {} is larger than the {} MiB a record may have",
                    self.number,
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Ok(Some((self.number, line)))
    }

    /// The next entry: lines up to a blank line, folded lines joined, comments dropped.
    fn entry(&mut self) -> Result<Option<Entry>, Stopped> {
        // Blank lines between entries.
        let (first_line, first) = loop {
            match self.next_physical()? {
                None => return Ok(None),
                Some((_, line)) if line.is_empty() => continue,
                Some(line) => break line,
            }
        };
        let mut entry = Entry {
            first_line,
            lines: Vec::new(),
            problem: None,
        };
        let mut bytes = 0usize;
        let mut current: Option<Numbered> = Some((first_line, first));
        loop {
            let next = self.next_physical()?;
            match next {
                // A continuation: one leading space taken off, joined to the line before.
                Some((_, line)) if line.first() == Some(&b' ') => {
                    bytes += line.len();
                    if let Some((_, text)) = &mut current
                        && bytes <= MAX_RECORD_BYTES
                    {
                        text.extend_from_slice(&line[1..]);
                    }
                    continue;
                }
                _ => {}
            }
            if let Some((number, line)) = current.take() {
                bytes += line.len();
                if bytes > MAX_RECORD_BYTES {
                    entry.problem.get_or_insert_with(|| {
                        format!(
                            "the entry is larger than the {} MiB a record may have; it was skipped",
                            MAX_RECORD_BYTES >> 20
                        )
                    });
                } else if line.first() != Some(&b'#') {
                    // The entry is where its first line that is not a comment is: its dn.
                    if entry.lines.is_empty() && entry.problem.is_none() {
                        entry.first_line = number;
                    }
                    match String::from_utf8(line) {
                        Ok(text) => entry.lines.push(text),
                        Err(error) => {
                            entry.problem.get_or_insert_with(|| {
                                format!(
                                    "line {number} is not UTF-8: byte {} of the line is invalid \
                                     (a value that is not text is written `attr:: base64`)",
                                    error.utf8_error().valid_up_to() + 1
                                )
                            });
                        }
                    }
                }
            }
            match next {
                None => return Ok(Some(entry)),
                Some((_, line)) if line.is_empty() => return Ok(Some(entry)),
                Some(line) => current = Some(line),
            }
        }
    }
}

/// An entry's lines as a record object; `None` for what is no entry (a lone `version: 1`, an
/// entry of comments only).
fn parse_entry(lines: &[String], skip_version: bool) -> Result<Option<Map<String, Value>>, String> {
    let mut lines = lines.iter().peekable();
    if skip_version
        && let Some(line) = lines.peek()
        && let Some((attr, value)) = line.split_once(':')
        && attr.eq_ignore_ascii_case("version")
    {
        if value.trim() != "1" {
            return Err(format!(
                "LDIF version {} is not one kith reads (RFC 2849 is version 1)",
                value.trim()
            ));
        }
        lines.next();
    }
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let (attr, dn) = attribute_value(first)?;
    if !attr.eq_ignore_ascii_case("dn") {
        return Err(format!(
            "an entry starts with its `dn:` line, and this one starts with `{attr}:`"
        ));
    }
    let Value::String(dn) = dn else {
        return Err("the entry's dn is not UTF-8 text".into());
    };
    let mut object = Map::new();
    object.insert("dn".into(), Value::String(dn));
    for line in lines {
        let (attr, value) = attribute_value(line)?;
        if attr.eq_ignore_ascii_case("changetype") {
            if value.as_str() == Some("add") {
                continue;
            }
            return Err(format!(
                "a change record (changetype: {}) is not an entry to import; export the entries \
                 themselves (ldapsearch, slapcat, ldifde)",
                value.as_str().unwrap_or("?")
            ));
        }
        if attr.eq_ignore_ascii_case("control") || attr.eq_ignore_ascii_case("dn") {
            return Err(format!(
                "`{attr}:` belongs at the start of a change record, not inside an entry"
            ));
        }
        // The spelling first used names the attribute: `mail` and `Mail` are one attribute.
        let key = object
            .keys()
            .find(|k| k.eq_ignore_ascii_case(attr))
            .cloned()
            .unwrap_or_else(|| attr.to_string());
        match object
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(values) => values.push(value),
            // Only `dn` is a string, and `dn` inside an entry was refused above.
            _ => return Err(format!("`{attr}` is given twice")),
        }
    }
    Ok(Some(object))
}

/// One unfolded `attr: value`, `attr:: base64` line. A value from a URL (`attr:< file:///…`)
/// is refused: input never makes kith read a file or the network.
fn attribute_value(line: &str) -> Result<(&str, Value), String> {
    let Some((attr, rest)) = line.split_once(':') else {
        return Err(format!(
            "`{}` is not an `attribute: value` line",
            shorten(line)
        ));
    };
    let valid_name = !attr.is_empty()
        && attr
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b';' || b == b'.');
    if !valid_name {
        return Err(format!("`{}` is not an attribute name", shorten(attr)));
    }
    if let Some(encoded) = rest.strip_prefix(':') {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("the base64 value of `{attr}::` does not decode: {e}"))?;
        let value = match String::from_utf8(bytes) {
            Ok(text) => Value::String(text),
            Err(error) => {
                let mut object = Map::new();
                object.insert(
                    "base64".into(),
                    Value::String(STANDARD.encode(error.into_bytes())),
                );
                Value::Object(object)
            }
        };
        return Ok((attr, value));
    }
    if rest.starts_with('<') {
        return Err(format!(
            "`{attr}:<` takes its value from a URL, and kith never opens files or URLs named \
             in its input; write the value inline (`{attr}:: base64`)"
        ));
    }
    Ok((
        attr,
        Value::String(rest.trim_start_matches(' ').to_string()),
    ))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &[u8]) -> Vec<(String, Result<Value, String>)> {
        let mut records = Vec::new();
        read_ldif("users.ldif", text, &mut |r| {
            let text = r.text.map(|t| serde_json::from_str(&t).unwrap());
            records.push((r.position, text));
            true
        });
        records
    }

    #[test]
    fn entries_unfold_decode_and_keep_every_value_in_order() {
        let records = read(
            b"version: 1\n\n# a comment\n#  folded on\ndn: uid=ada,ou=people,dc=example,dc=org\n\
              objectClass: inetOrgPerson\nobjectClass: person\nuid: ada\nmail: ada@exam\n ple.org\n\
              cn:: QWRhIEzDtnZlbGFjZQ==\nuserPassword:: e1NTSEF9YWJj\njpegPhoto:: /9j/4A==\n\
              Mail: second@example.org\n\ndn: uid=bob,dc=example,dc=org\r\nuid: bob\r\n",
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, "users.ldif:5");
        assert_eq!(
            records[0].1,
            Ok(json!({
                "dn": "uid=ada,ou=people,dc=example,dc=org",
                "objectClass": ["inetOrgPerson", "person"],
                "uid": ["ada"],
                "mail": ["ada@example.org", "second@example.org"],
                "cn": ["Ada Lövelace"],
                "userPassword": ["{SSHA}abc"],
                "jpegPhoto": [{"base64": "/9j/4A=="}],
            }))
        );
        assert_eq!(records[1].0, "users.ldif:16");
        assert_eq!(
            records[1].1,
            Ok(json!({"dn": "uid=bob,dc=example,dc=org", "uid": ["bob"]}))
        );
    }

    #[test]
    fn a_bad_entry_fails_alone_and_urls_are_never_opened() {
        let records = read(
            b"dn: uid=a\nuid: a\n\ndn: uid=b\njpegPhoto:< file:///etc/shadow\n\n\
              dn: uid=c\nchangetype: modify\nreplace: mail\n\ndn: uid=d\nno colon here\n\n\
              dn: uid=e\nuid: e\n",
        );
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            positions,
            [
                "users.ldif:1",
                "users.ldif:4",
                "users.ldif:7",
                "users.ldif:11",
                "users.ldif:14"
            ]
        );
        assert!(
            records[1]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("never opens files"))
        );
        assert!(
            records[2]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("changetype: modify"))
        );
        assert!(
            records[3]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("not an `attribute: value`"))
        );
        assert_eq!(records[4].1, Ok(json!({"dn": "uid=e", "uid": ["e"]})));
    }

    #[test]
    fn an_entry_must_start_with_its_dn() {
        let records = read(b"uid: a\nmail: a@example.org\n");
        assert!(
            records[0]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("starts with `uid:`"))
        );
    }

    #[test]
    fn an_oversized_entry_is_skipped_and_the_next_read() {
        let mut input = b"dn: uid=a\ndescription: ".to_vec();
        for _ in 0..(MAX_RECORD_BYTES / 1000 + 2) {
            input.extend_from_slice(b"\n ");
            input.resize(input.len() + 1000, b'x');
        }
        input.extend_from_slice(b"\n\ndn: uid=b\nuid: b\n");
        let records = read(&input);
        assert_eq!(records.len(), 2);
        assert!(
            records[0]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("larger than"))
        );
        assert_eq!(records[1].1, Ok(json!({"dn": "uid=b", "uid": ["b"]})));
    }
}
