//! A violation: one way traits break their schema, in Kratos' wording. Both the validator and
//! the `ory.sh/kratos` extension report them.

use serde::Serialize;
use std::fmt;

/// One way the traits break the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Where in the identity (`#/traits/email`).
    pub instance_ptr: String,
    /// Which schema keyword (`#/properties/traits/properties/email/format`).
    pub schema_ptr: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "I[{}] S[{}] {}",
            self.instance_ptr, self.schema_ptr, self.message
        )
    }
}
