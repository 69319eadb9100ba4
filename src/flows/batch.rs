//! `PATCH /admin/identities`: many creates in one request and one transaction, each with
//! its own outcome, as Kratos' batch endpoint answers.

use super::Kith;
use super::commit::Commit;
use crate::error::{Error, Result};
use crate::model::IdentityId;
use crate::model::{BatchPatchBody, ErrorBody, Identity};
use crate::store::IdentityRows;
use rayon::prelude::*;
use serde::Serialize;
use uuid::Uuid;

/// Entries one batch may hold.
pub const MAX_BATCH: usize = 1000;
/// Entries with a cleartext password one batch may hold: each costs a slow hash.
pub const MAX_BATCH_CLEARTEXT: usize = 200;

/// What became of one entry: Kratos' `identityPatchResponse`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchOutcome {
    /// `create` or `error`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<Uuid>,
    /// The error object itself, not wrapped in `{"error": ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorBody>>,
}

impl BatchOutcome {
    fn failed(patch_id: Option<Uuid>, error: &Error) -> Self {
        Self {
            action: "error",
            identity: None,
            patch_id,
            error: Some(Box::new(super::import::batch_error(error))),
        }
    }
}

/// Refusals Kratos raises while converting an entry: they fail the whole request.
fn fails_whole_batch(error: &Error) -> bool {
    matches!(error, Error::InvalidState(_) | Error::InvalidHash(_))
}

impl Kith {
    /// Creates every entry of a batch in one transaction; an entry that fails validation or
    /// conflicts gets its own error and takes no other entry down. The answer has the
    /// request's order and length, `None` where an entry had nothing to create. With
    /// `dry_run` everything is checked, conflicts included, and nothing is written.
    ///
    /// # Errors
    /// 400 for more than 1000 entries, more than 200 cleartext passwords, an invalid state
    /// or an unusable hash in any entry (as Kratos); nothing is written then.
    pub(crate) fn batch_patch_identities(
        &self,
        batch: BatchPatchBody,
        dry_run: bool,
    ) -> Result<Vec<Option<BatchOutcome>>> {
        if batch.identities.len() > MAX_BATCH {
            return Err(Error::BadRequest(format!(
                "The maximum number of identities per request that can be created or deleted at once is {MAX_BATCH}."
            )));
        }
        let cleartext = batch
            .identities
            .iter()
            .filter(|entry| {
                entry
                    .create
                    .as_ref()
                    .and_then(|c| c.credentials.as_ref())
                    .and_then(|c| c.password.as_ref())
                    .and_then(|p| p.config.password.as_deref())
                    .is_some_and(|p| !p.is_empty())
            })
            .count();
        if cleartext > MAX_BATCH_CLEARTEXT {
            return Err(Error::BadRequest(format!(
                "The maximum number of identities per request that can be created with a plaintext password is {MAX_BATCH_CLEARTEXT}."
            )));
        }
        let call = self.call()?;
        // Cleartext passwords make this slow: build on all cores, outside the store lock.
        let mut built: Vec<Option<(Option<Uuid>, Result<Identity>)>> = batch
            .identities
            .into_par_iter()
            .map(|entry| {
                let patch_id = entry.patch_id;
                entry
                    .create
                    .map(|body| (patch_id, self.build_identity(&call, body, None)))
            })
            .collect();
        if let Some(index) = built
            .iter()
            .position(|entry| matches!(entry, Some((_, Err(error))) if fails_whole_batch(error)))
            && let Some((_, Err(error))) = built.swap_remove(index)
        {
            return Err(error);
        }
        let event = self.event(
            "identity.created",
            Some(&serde_json::json!({"by": "batch"})),
        );
        let mut store = self.store();
        let tx = store.write()?;
        let mut outcomes = Vec::with_capacity(built.len());
        {
            let mut commit = Commit::new(&tx, self);
            for entry in built {
                let Some((patch_id, identity)) = entry else {
                    outcomes.push(None);
                    continue;
                };
                let outcome = match identity {
                    Err(error) => BatchOutcome::failed(patch_id, &error),
                    Ok(identity) => {
                        match commit.insert_rows(&IdentityRows::from(&identity), None, &event) {
                            Ok(()) => BatchOutcome {
                                action: "create",
                                identity: Some(identity.id),
                                patch_id,
                                error: None,
                            },
                            Err(error) if error.is_conflict() => {
                                BatchOutcome::failed(patch_id, &error.into())
                            }
                            Err(error) => return Err(error.into()),
                        }
                    }
                };
                outcomes.push(Some(outcome));
            }
        }
        if !dry_run {
            tx.commit()?;
        }
        Ok(outcomes)
    }
}
