//! Reading the audit trail.

use super::Kith;
use crate::error::Result;
use crate::model::IdentityId;
use crate::store::AuditEvent;

impl Kith {
    /// Audit events, oldest first, after event `after_id`, of one identity when given.
    ///
    /// # Errors
    /// Only if the store fails.
    pub(crate) fn list_events(
        &self,
        identity_id: Option<IdentityId>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.read(|tx| Ok(tx.list_events(identity_id, after_id, limit)?))
    }
}
