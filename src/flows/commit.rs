//! The committing half of a call: one write transaction, and the one place flows write
//! identities and audit events.
//!
//! A flow prepares from its [`Call`](super::call::Call) snapshot, then hands what it built to
//! a [`Commit`]: inserting, replacing and deleting identities, and recording the audit event
//! each change comes with, happen only through it, so no path can write an identity without
//! its event or with another actor's name. The rest of the transaction (invites, settings,
//! tokens, plugins) is reached through `Deref` to the store's transaction.

use super::Kith;
use crate::error::Result;
use crate::model::{Identity, IdentityId};
use crate::store::{self, EventRow, IdentityRows, IdentityWriter, Tx};
use serde_json::Value;
use std::ops::Deref;
use uuid::Uuid;

/// A write transaction with the actor and clock of the handle that opened it.
pub(super) struct Commit<'t> {
    tx: &'t Tx<'t>,
    kith: &'t Kith,
    /// Insert statements, prepared on the first insert and kept for the next ones.
    writer: Option<IdentityWriter<'t>>,
}

impl<'t> Commit<'t> {
    pub fn new(tx: &'t Tx<'t>, kith: &'t Kith) -> Self {
        Self {
            tx,
            kith,
            writer: None,
        }
    }

    /// Inserts a whole identity (row, credentials, identifiers, addresses) with its audit
    /// event, rendered ahead of time by [`Kith::event`] where many are written at once.
    /// `import_run` names the import run that created it, if one did.
    ///
    /// # Errors
    /// The store's error, so that a caller writing many can tell a conflict (one record's
    /// problem) from a failure of the transaction.
    pub fn insert_rows(
        &mut self,
        rows: &IdentityRows,
        import_run: Option<Uuid>,
        event: &EventRow,
    ) -> store::Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(self.tx.identity_writer()?),
        };
        writer.insert(rows, import_run, Some(event))
    }

    /// Inserts a new identity with its `identity.created` event.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] when an identifier, address or external_id is taken.
    pub fn insert(&mut self, identity: &Identity, detail: Option<Value>) -> Result<()> {
        let event = self.kith.event("identity.created", detail.as_ref());
        Ok(self.insert_rows(&IdentityRows::from(identity), None, &event)?)
    }

    /// Replaces a stored identity and all its children with `identity`, with its event.
    /// `Ok(false)` when no identity has its id.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] as for inserts.
    pub fn replace(
        &self,
        identity: &Identity,
        action: &'static str,
        detail: Option<Value>,
    ) -> Result<bool> {
        if !self.tx.replace_identity(&IdentityRows::from(identity))? {
            return Ok(false);
        }
        self.record(action, Some(identity.id), detail)?;
        Ok(true)
    }

    /// Deletes an identity and everything hanging off it, with its `identity.deleted` event.
    /// `Ok(false)` when there was none.
    pub fn delete(&self, id: IdentityId, detail: Option<Value>) -> Result<bool> {
        if !self.tx.delete_identity(id)? {
            return Ok(false);
        }
        self.record("identity.deleted", Some(id), detail)?;
        Ok(true)
    }

    /// Records an audit event of this change's actor, now, about `identity_id` if given.
    pub fn record(
        &self,
        action: &'static str,
        identity_id: Option<IdentityId>,
        detail: Option<Value>,
    ) -> Result<()> {
        let event = self.kith.event(action, detail.as_ref());
        self.tx.record_event(&event, identity_id)?;
        Ok(())
    }
}

impl<'t> Deref for Commit<'t> {
    type Target = Tx<'t>;

    fn deref(&self) -> &Tx<'t> {
        self.tx
    }
}

impl Kith {
    /// Runs `work` in one write transaction and commits it when `work` succeeds.
    pub(super) fn commit<T>(&self, work: impl FnOnce(&mut Commit<'_>) -> Result<T>) -> Result<T> {
        let mut store = self.store();
        let tx = store.write()?;
        let value = work(&mut Commit::new(&tx, self))?;
        tx.commit()?;
        Ok(value)
    }
}
