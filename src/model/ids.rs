//! Identifiers that must not be mixed up: an identity's id is a UUID like an invite's or an
//! import run's, and a schema's id is a string like any other. Each has its own type, so a
//! function that deletes an identity cannot be handed a run id. On the wire both are the
//! plain value (a UUID string, the schema id string).

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The id of an identity (`id` in Kratos' identity JSON).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct IdentityId(Uuid);

impl IdentityId {
    /// A fresh random (version 4) id, as Kratos draws them.
    pub fn new_v4() -> Self {
        Self(Uuid::new_v4())
    }

    /// The UUID itself.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The all-zero id, which no identity has.
    pub const fn nil() -> Self {
        Self(Uuid::nil())
    }
}

impl From<Uuid> for IdentityId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<IdentityId> for Uuid {
    fn from(id: IdentityId) -> Self {
        id.0
    }
}

impl FromStr for IdentityId {
    type Err = uuid::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text).map(Self)
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of an identity schema (`schema_id`): a preset such as `preset://email`, or the id a
/// custom schema was stored under.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaId(String);

impl SchemaId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SchemaId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for SchemaId {
    fn from(id: &str) -> Self {
        Self(id.to_string())
    }
}

impl From<SchemaId> for String {
    fn from(id: SchemaId) -> Self {
        id.0
    }
}

impl AsRef<str> for SchemaId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by schema id be looked up with a `&str`.
impl Borrow<str> for SchemaId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SchemaId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SchemaId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_plain_values_on_the_wire() {
        let id: IdentityId = "9f425a8d-7efc-4768-8f23-7647a74fdf13".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""9f425a8d-7efc-4768-8f23-7647a74fdf13""#
        );
        let schema: SchemaId = serde_json::from_str(r#""preset://email""#).unwrap();
        assert_eq!(schema, "preset://email");
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            r#""preset://email""#
        );
    }
}

/// The identity already holding a unique value that another one asked for: what a conflict
/// names, so that the operator can see which value collided and with whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clash {
    /// The value itself: a credential identifier, an address or an external_id.
    pub value: String,
    /// The identity holding it.
    pub holder: IdentityId,
    /// Where the holder came from, when the same import created it (`more.json[0]`).
    pub holder_source: Option<String>,
}
