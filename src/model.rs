//! model: plain data whose JSON is Kratos' JSON.
//!
//! Serde types for identities, credentials, addresses, request bodies and the
//! error envelope. No I/O and no clock live here: everything is handed in.

mod body;
mod document;
mod envelope;
mod identity;
mod time;

pub(crate) use body::parse_value;
pub use body::{
    BatchPatchBody, BodyError, CreateIdentityBody, CredentialsBody, IdentityPatch, OidcConfigBody,
    OidcCredentialBody, OidcProviderBody, PasswordConfigBody, PasswordCredentialBody,
    RecoveryAddressBody, UpdateIdentityBody, VerifiableAddressBody, parse_body,
};
pub(crate) use document::{Excess, measure, push_escaped, shorten_pointer};
pub use document::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH};
pub use envelope::{ErrorBody, ErrorEnvelope};
pub use identity::{
    Credential, CredentialType, Identity, IdentityState, RecoveryAddress, VerifiableAddress,
    VerificationStatus, Via, schema_url,
};
pub use time::Timestamp;
