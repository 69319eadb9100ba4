//! Foreign records into createIdentityBody: the import mapper a run names, and the password
//! hashes joined to the records before mapping.
//!
//! Mapping happens in the preparing stage, on all cores; a mapper's refusal or fault is that
//! record's error, never the run's. Auth0 hands out password hashes as an export of their own
//! (NDJSON, one user per line, with `email` and `passwordHash`): [`PasswordHashes`] reads it
//! whole before the run (a hash is small; the users stream) and gives each user record the
//! `passwordHash` of the hash record with the same e-mail address, compared without case.
//! A hash that no user takes, two hashes for one address, and a user with no hash are all
//! reported: the first two as errors at the hash file's lines, the last as a warning.

use super::reader::{RawRecord, read_records};
use super::source::ImportSource;
use crate::error::{Error, Result};
use crate::flows::Kith;
use crate::plugin_host::{Kind, Plugin};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The mapper of a run and what it is given besides each record.
pub(super) struct Mapping {
    pub plugin: Plugin,
    pub hashes: Option<std::sync::Arc<PasswordHashes>>,
}

/// A record mapped: its createIdentityBody text (or why there is none), and a warning to
/// report with it however it ends.
pub(super) struct Mapped {
    pub text: Result<String>,
    pub warning: Option<String>,
}

impl Kith {
    /// The mapper `name_or_dir` names: an installed, enabled import mapper, or a plugin folder
    /// (a path: it holds a `/` or starts with `.`, or is a folder), as `kith run plugin` tells.
    pub(super) fn mapper(&self, name_or_dir: &str) -> Result<Plugin> {
        let plugin = if super::super::plugins::names_a_folder(name_or_dir) {
            self.plugin_from_dir(name_or_dir)?
        } else {
            let record = self
                .read(|tx| Ok(tx.get_plugin(name_or_dir)?))?
                .ok_or_else(|| {
                    Error::NotFound(crate::error::NotFound::Plugin(name_or_dir.to_string()))
                })?;
            if !record.enabled {
                return Err(Error::BadRequest(format!(
                    "plugin {name_or_dir} is disabled; enable it first (kith enable plugin {name_or_dir})"
                )));
            }
            super::super::plugins::plugin_of(record)?
        };
        if plugin.manifest.kind != Kind::ImportMapper {
            return Err(Error::BadRequest(format!(
                "plugin {} is a {}, not an import-mapper",
                plugin.manifest.name, plugin.manifest.kind
            )));
        }
        Ok(plugin)
    }

    /// Turns one record into createIdentityBody text through `mapping` (joining its password
    /// hash first). Without a mapper, a JSON record is taken as it is and a foreign one is
    /// refused with the way to import it.
    pub(super) fn mapped(&self, mapping: Option<&Mapping>, record: RawRecord) -> Mapped {
        let text = match record.text {
            Ok(text) => text,
            Err(message) => {
                return Mapped {
                    text: Err(super::unreadable(message)),
                    warning: None,
                };
            }
        };
        let Some(mapping) = mapping else {
            return Mapped {
                text: match record.foreign {
                    true => Err(Error::BadRequest(
                        "this is a record of another system (a Firebase user, a CSV row, an LDIF \
                         entry), not a createIdentityBody: import it through a mapper \
                         (--mapper firebase-import, csv-import, ldif-import)"
                            .into(),
                    )),
                    false => Ok(text),
                },
                warning: None,
            };
        };
        let (text, warning) = match &mapping.hashes {
            Some(hashes) => match hashes.join(&text) {
                Ok(joined) => joined,
                Err(error) => {
                    return Mapped {
                        text: Err(error),
                        warning: None,
                    };
                }
            },
            None => (text, None),
        };
        let plugin = &mapping.plugin;
        let text = self
            .shared
            .plugins
            .map_record(plugin, &text, self.now_unix_ms())
            .map_err(Error::from)
            .and_then(|report| match report.output {
                Ok(body) => Ok(body),
                Err(errors) => Err(Error::MapperRefused {
                    plugin: plugin.manifest.name.clone(),
                    version: plugin.manifest.version.clone(),
                    errors,
                }),
            });
        Mapped { text, warning }
    }
}

/// A mapped body that is not a createIdentityBody is the mapper's doing: its error says so.
pub(super) fn blame_mapper(error: Error, plugin: &Plugin) -> Error {
    match error {
        Error::MalformedBody {
            message,
            pointer,
            line,
            column,
            did_you_mean,
        } => Error::MalformedBody {
            message: format!(
                "plugin {} {} mapped the record to a body kith cannot take: {message}",
                plugin.manifest.name, plugin.manifest.version
            ),
            pointer,
            line,
            column,
            did_you_mean,
        },
        other => other,
    }
}

/// Auth0's password-hash export, by e-mail address, read whole before the users stream by.
pub struct PasswordHashes {
    name: String,
    by_email: HashMap<String, HashEntry>,
    /// Hash records that could not be read or joined, reported at the end of the run.
    problems: Mutex<Vec<(String, String)>>,
}

struct HashEntry {
    /// Where it is in the file, and its place in file order (for reporting in that order).
    position: String,
    order: usize,
    /// `None` when two hash records name the address: neither is given to anyone.
    hash: Option<String>,
    taken: AtomicBool,
}

impl std::fmt::Debug for PasswordHashes {
    // Hashes are secrets: never printed, only counted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHashes")
            .field("name", &self.name)
            .field("addresses", &self.by_email.len())
            .finish_non_exhaustive()
    }
}

/// The e-mail address a user or hash record is joined on: `email` at its root, else the first
/// `identifiers[]` entry of type `email` (where Auth0's hash export may keep it).
fn email_of(record: &Map<String, Value>) -> Option<String> {
    let email = record.get("email").and_then(Value::as_str).or_else(|| {
        record
            .get("identifiers")?
            .as_array()?
            .iter()
            .find(|i| i.get("type").and_then(Value::as_str) == Some("email"))?
            .get("value")?
            .as_str()
    })?;
    let email = email.trim();
    (!email.is_empty()).then(|| email.to_lowercase())
}

/// The keys of a user record the join reads, borrowed where the text allows. A record these
/// cannot describe (a non-string `email`, a key twice) is read whole instead.
#[derive(Deserialize)]
struct JoinKeys<'a> {
    #[serde(borrow, default)]
    email: Option<Cow<'a, str>>,
    /// Whether the key is there at all (`null` included, as the general path has it).
    #[serde(rename = "passwordHash", default, deserialize_with = "present")]
    password_hash: bool,
    #[serde(borrow, default)]
    identifiers: Option<Vec<JoinIdentifier<'a>>>,
}

#[derive(Deserialize)]
struct JoinIdentifier<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
}

/// The keys of a hash record the join reads; like [`JoinKeys`], a record these cannot
/// describe is read whole instead.
#[derive(Deserialize)]
struct HashKeys<'a> {
    #[serde(borrow, default)]
    email: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    identifiers: Option<Vec<JoinIdentifier<'a>>>,
    #[serde(borrow, rename = "passwordHash", default)]
    password_hash: Option<Cow<'a, str>>,
}

impl HashKeys<'_> {
    /// The address and hash of a hash record in the usual shape, else `None`.
    fn read(text: &str) -> Option<(String, String)> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let record: HashKeys<'_> = serde_json::from_str(text).ok()?;
        let hash = record.password_hash.filter(|h| !h.is_empty())?;
        let email = email_address(record.email.as_deref(), record.identifiers.as_deref())?;
        Some((email, hash.into_owned()))
    }
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> std::result::Result<bool, D::Error> {
    IgnoredAny::deserialize(value).map(|_| true)
}

impl JoinKeys<'_> {
    fn email_address(&self) -> Option<String> {
        email_address(self.email.as_deref(), self.identifiers.as_deref())
    }
}

/// What [`email_of`] finds in a record with these keys.
fn email_address(
    email: Option<&str>,
    identifiers: Option<&[JoinIdentifier<'_>]>,
) -> Option<String> {
    let email = email.or_else(|| {
        identifiers?
            .iter()
            .find(|i| i.kind.as_deref() == Some("email"))?
            .value
            .as_deref()
    })?;
    let email = email.trim();
    (!email.is_empty()).then(|| email.to_lowercase())
}

impl PasswordHashes {
    /// Reads `source` (NDJSON or an array of Auth0 hash records, gzip or plain).
    #[must_use]
    pub fn read(source: ImportSource) -> Self {
        let mut hashes = PasswordHashes {
            name: source.name.clone(),
            by_email: HashMap::new(),
            problems: Mutex::new(Vec::new()),
        };
        let problems = hashes.problems.get_mut().unwrap_or_else(|p| p.into_inner());
        read_records(&source.name, source.reader, &mut |record| {
            let parsed = record.text.and_then(|text| {
                if let Some(joinable) = HashKeys::read(&text) {
                    return Ok(joinable);
                }
                let value: Value = serde_json::from_str(&text).map_err(|e| format!("json: {e}"))?;
                let Value::Object(object) = value else {
                    return Err("a password-hash record is a JSON object".into());
                };
                let email = email_of(&object)
                    .ok_or("the password-hash record has no e-mail address to join on")?;
                let hash = object
                    .get("passwordHash")
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                    .ok_or("the password-hash record has no passwordHash")?;
                Ok((email, hash.to_string()))
            });
            match parsed {
                Err(message) => problems.push((record.position, message)),
                Ok((email, hash)) => match hashes.by_email.get_mut(&email) {
                    Some(first) => {
                        problems.push((
                            record.position,
                            format!(
                                "a second password hash for {email} ({} has the first): neither \
                                 was joined, since only one can be that user's",
                                first.position
                            ),
                        ));
                        first.hash = None;
                    }
                    None => {
                        hashes.by_email.insert(
                            email,
                            HashEntry {
                                order: hashes.by_email.len(),
                                position: record.position,
                                hash: Some(hash),
                                taken: AtomicBool::new(false),
                            },
                        );
                    }
                },
            }
            true
        });
        hashes
    }

    /// `text` (a user record) with the `passwordHash` of its e-mail address merged in, and a
    /// warning when there is none to merge. A record that already has one keeps it.
    fn join(&self, text: &str) -> Result<(String, Option<String>)> {
        // Most records are plain objects with a string `email`: read just the keys the join
        // needs and add the hash to the text, instead of building the record and writing it
        // out again. Anything else takes the general path, which reads the whole record.
        let (email, has_hash) = match serde_json::from_str::<JoinKeys<'_>>(text) {
            Ok(keys) if text.trim_start().starts_with('{') && text.trim_end().ends_with('}') => {
                (keys.email_address(), keys.password_hash)
            }
            _ => return self.join_value(text),
        };
        if has_hash {
            return Ok((text.to_string(), None));
        }
        match self.hash_for(email) {
            Ok(hash) => {
                let body = text.trim_end();
                let open = &body[..body.len() - 1];
                let separator = if open.trim_end().ends_with('{') {
                    ""
                } else {
                    ","
                };
                let hash = Value::String(hash.to_string());
                Ok((format!("{open}{separator}\"passwordHash\":{hash}}}"), None))
            }
            Err(warning) => Ok((text.to_string(), Some(warning))),
        }
    }

    /// [`Self::join`] on any record: read whole, the hash inserted, written out again.
    fn join_value(&self, text: &str) -> Result<(String, Option<String>)> {
        let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(text) else {
            // Not an object: the mapper says what is wrong with it.
            return Ok((text.to_string(), None));
        };
        if record.contains_key("passwordHash") {
            return Ok((text.to_string(), None));
        }
        match self.hash_for(email_of(&record)) {
            Ok(hash) => {
                record.insert("passwordHash".into(), Value::String(hash.to_string()));
                Ok((Value::Object(record).to_string(), None))
            }
            Err(warning) => Ok((text.to_string(), Some(warning))),
        }
    }

    /// The hash joined to `email` (marking it taken), or the warning why there is none.
    fn hash_for(&self, email: Option<String>) -> std::result::Result<&str, String> {
        let Some(email) = email else {
            return Err(format!(
                "the record has no e-mail address, so no password hash of {} was joined",
                self.name
            ));
        };
        let Some(entry) = self.by_email.get(&email) else {
            return Err(format!("{} has no password hash for {email}", self.name));
        };
        entry.taken.store(true, Ordering::Relaxed);
        entry.hash.as_deref().ok_or_else(|| {
            format!(
                "{} has two password hashes for {email}: neither was joined",
                self.name
            )
        })
    }

    /// The hash records nobody took or that could not be joined, by position, as errors.
    pub(super) fn leftovers(&self) -> Vec<(String, Error)> {
        let mut left: Vec<(String, Error)> = self
            .problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .map(|(position, message)| (position, Error::BadRequest(message)))
            .collect();
        let mut untaken: Vec<&HashEntry> = self
            .by_email
            .values()
            .filter(|e| e.hash.is_some() && !e.taken.load(Ordering::Relaxed))
            .collect();
        untaken.sort_by_key(|entry| entry.order);
        left.extend(untaken.into_iter().map(|entry| {
            (
                entry.position.clone(),
                Error::BadRequest(
                    "no user record has this password hash's e-mail address: the hash was not \
                     imported"
                        .into(),
                ),
            )
        }));
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn hashes(lines: &[&str]) -> PasswordHashes {
        let text = lines.join("\n");
        let source = ImportSource::new("hashes.ndjson", Cursor::new(text.into_bytes()));
        PasswordHashes::read(source.expect("an in-memory source"))
    }

    /// The join's quick path (keys read in place, the hash added to the text) must answer as
    /// the general path (the record read whole) does, for every shape of record.
    #[test]
    fn the_quick_join_answers_as_the_general_join_does() {
        let joined = hashes(&[
            r#"{"email":"Ada@Example.org","passwordHash":"$2b$10$ada"}"#,
            r#"{"identifiers":[{"type":"email","value":"bob@example.org"}],"passwordHash":"$2b$10$bob"}"#,
            r#"{"email":"twice@example.org","passwordHash":"$2b$10$one"}"#,
            r#"{"email":"twice@example.org","passwordHash":"$2b$10$two"}"#,
        ]);
        let records = [
            r#"{"email":"ada@example.org","name":"Ada"}"#,
            r#"  {"email":" ADA@example.org "}  "#,
            r#"{"identifiers":[{"type":"phone","value":"1"},{"type":"email","value":"bob@example.org"}]}"#,
            r#"{"email":"ada@example.org","passwordHash":null}"#,
            r#"{"email":"ada@example.org","passwordHash":"$2b$10$own"}"#,
            r#"{"email":"nobody@example.org"}"#,
            r#"{"email":"twice@example.org"}"#,
            r#"{"email":5,"identifiers":[{"type":"email","value":"bob@example.org"}]}"#,
            r#"{"email":"ada@example.org","email":"bob@example.org"}"#,
            r#"{"email":"ada@exa\u006dple.org"}"#,
            r#"{}"#,
            r#"{"name":"no address"}"#,
            r#"[{"email":"ada@example.org"}]"#,
            r#"{"email":"ada@example.org""#,
        ];
        for record in records {
            let (quick_text, quick_warning) = joined.join(record).expect("a join");
            let (general_text, general_warning) = joined.join_value(record).expect("a join");
            let as_value = |text: &str| serde_json::from_str::<Value>(text).ok();
            assert_eq!(as_value(&quick_text), as_value(&general_text), "{record}");
            assert_eq!(quick_warning, general_warning, "{record}");
        }
        // The general path is the one the quick path stands in for: it joined what it should.
        let (text, warning) = joined.join(records[0]).expect("a join");
        assert_eq!(warning, None);
        assert_eq!(
            serde_json::from_str::<Value>(&text).ok(),
            Some(
                serde_json::json!({"email": "ada@example.org", "name": "Ada",
                                    "passwordHash": "$2b$10$ada"})
            )
        );
    }

    /// Hash records read on the quick path give the same addresses, hashes and problems as
    /// records read whole.
    #[test]
    fn hash_records_in_every_shape_are_read_as_before() {
        let read = hashes(&[
            r#"{"email":"A@example.org","passwordHash":"h1"}"#,
            r#"{"identifiers":[{"type":"email","value":"b@example.org"}],"passwordHash":"h2"}"#,
            r#"{"email":"c@example.org","passwordHash":""}"#,
            r#"{"email":"d@example.org"}"#,
            r#"{"passwordHash":"h5"}"#,
            r#"{"email":5,"identifiers":[{"type":"email","value":"e@example.org"}],"passwordHash":"h6"}"#,
            r#"{"email":"f@example.org","passwordHash":7}"#,
            r#"[1]"#,
        ]);
        let hash = |email: &str| read.by_email.get(email).and_then(|e| e.hash.clone());
        assert_eq!(hash("a@example.org").as_deref(), Some("h1"));
        assert_eq!(hash("b@example.org").as_deref(), Some("h2"));
        assert_eq!(hash("e@example.org").as_deref(), Some("h6"));
        assert_eq!(read.by_email.len(), 3);
        let problems = read.problems.lock().expect("not poisoned");
        let lines: Vec<&str> = problems.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(
            lines,
            [
                "hashes.ndjson:3",
                "hashes.ndjson:4",
                "hashes.ndjson:5",
                "hashes.ndjson:7",
                "hashes.ndjson:8"
            ]
        );
    }
}
