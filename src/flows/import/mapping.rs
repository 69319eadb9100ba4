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
use serde_json::{Map, Value};
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
                Ok(body) => Ok(body.to_string()),
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
        let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(text) else {
            // Not an object: the mapper says what is wrong with it.
            return Ok((text.to_string(), None));
        };
        if record.contains_key("passwordHash") {
            return Ok((text.to_string(), None));
        }
        let Some(email) = email_of(&record) else {
            let warning = format!(
                "the record has no e-mail address, so no password hash of {} was joined",
                self.name
            );
            return Ok((text.to_string(), Some(warning)));
        };
        let Some(entry) = self.by_email.get(&email) else {
            let warning = format!("{} has no password hash for {email}", self.name);
            return Ok((text.to_string(), Some(warning)));
        };
        entry.taken.store(true, Ordering::Relaxed);
        let Some(hash) = &entry.hash else {
            let warning = format!(
                "{} has two password hashes for {email}: neither was joined",
                self.name
            );
            return Ok((text.to_string(), Some(warning)));
        };
        record.insert("passwordHash".into(), Value::String(hash.clone()));
        Ok((Value::Object(record).to_string(), None))
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
