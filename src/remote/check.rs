//! `validate` against a remote admin API. Kratos has no dry run, so a record is checked in
//! two steps, and nothing that writes is ever sent:
//!
//! 1. kith's own checks (body shape, traits against the identity schema, hash formats and
//!    costs, state, document bounds) run on a scratch in-memory store holding the schema
//!    the server serves (`GET /schemas/{id}`, fetched once per schema);
//! 2. the uniques a server lets a client look up are looked up: each credential identifier
//!    (`GET /admin/identities?credentials_identifier=`) and the external_id
//!    (`GET /admin/identities/by/external/{id}`). Addresses cannot be looked up on Kratos:
//!    a conflict on a verifiable or recovery address alone is not found before the import.

use super::Remote;
use crate::Kith;
use crate::error::{Error, Result};
use crate::model::{Clash, CreateIdentityBody, Identity, SchemaId};

impl Remote {
    pub(super) fn check_identity(&self, body: CreateIdentityBody) -> Result<Identity> {
        let external_id = body.external_id.clone().filter(|e| !e.is_empty());
        let identity = {
            let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
            let kith = match scratch.take() {
                Some(kith) => kith,
                None => Kith::open_in_memory()?,
            };
            let checked = self
                .load_schema(&kith, &body.schema_id)
                .and_then(|()| crate::Admin::validate_identity(&kith, body));
            *scratch = Some(kith);
            checked?
        };
        let mut identifiers: Vec<&str> = identity
            .credentials
            .iter()
            .flat_map(|credentials| credentials.values())
            .flat_map(|credential| credential.identifiers.iter().map(String::as_str))
            .filter(|identifier| !identifier.is_empty())
            .collect();
        identifiers.sort_unstable();
        identifiers.dedup();
        for identifier in identifiers {
            let query = [("credentials_identifier", identifier.to_string())];
            let (holders, _) = self.list_page(&query)?;
            if let Some(holder) = holders.first() {
                return Err(conflict("credential identifier", identifier, holder));
            }
        }
        if let Some(external_id) = external_id {
            match crate::Admin::get_identity_by_external_id(self, &external_id, &[]) {
                Ok(holder) => return Err(conflict("external_id", &external_id, &holder)),
                Err(error) if error.status() == 404 => {}
                Err(error) => return Err(error),
            }
        }
        Ok(identity)
    }

    /// Puts the server's schema `id` into the scratch store, unless it has it already (the
    /// presets, which a `kith serve` serves as they are here, and schemas fetched before).
    fn load_schema(&self, kith: &Kith, id: &SchemaId) -> Result<()> {
        if id.as_str().is_empty() || crate::Admin::get_schema(kith, id.as_str()).is_ok() {
            return Ok(());
        }
        let entry = match crate::Admin::get_schema(self, id.as_str()) {
            Err(error) if error.status() == 404 => {
                return Err(Error::UnknownSchema {
                    id: id.as_str().to_string(),
                    known: crate::Admin::list_schemas(self)
                        .map(|all| all.into_iter().map(|s| s.id).collect())
                        .unwrap_or_default(),
                });
            }
            other => other?,
        };
        crate::Admin::add_schema(kith, id.as_str(), entry.schema)?;
        Ok(())
    }
}

fn conflict(field: &str, value: &str, holder: &Identity) -> Error {
    Error::Conflict {
        field: Some(field.to_string()),
        clash: Some(Box::new(Clash {
            value: value.to_string(),
            holder: holder.id,
            holder_source: None,
        })),
    }
}
