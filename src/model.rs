//! model: plain data whose JSON is Kratos' JSON.
//!
//! Serde types for identities, credentials, addresses, request bodies and the
//! error envelope. No I/O and no clock live here: everything is handed in.

mod body;
mod credential;
mod document;
mod envelope;
mod identity;
mod ids;
mod time;

pub(crate) use body::parse_value;
pub use body::{
    BatchPatchBody, BodyError, CreateIdentityBody, CredentialsBody, IdentityPatch,
    LookupSecretBodyConfig, LookupSecretCredentialBody, OidcConfigBody, OidcCredentialBody,
    OidcProviderBody, PasswordConfigBody, PasswordCredentialBody, RecoveryAddressBody,
    TotpCredentialBody, UpdateIdentityBody, VerifiableAddressBody, WebAuthnCredentialBody,
    parse_body,
};
pub use credential::{
    Bytes, Credential, CredentialKind, LegacyHash, LookupCode, LookupSecretConfig, PasswordConfig,
    ProviderLink, ProvidersConfig, TotpConfig, UnknownCredentialKind, WebAuthnAttestation,
    WebAuthnAuthenticator, WebAuthnConfig, WebAuthnCredential, WebAuthnFlags,
};
pub(crate) use document::{Excess, measure, push_escaped, shorten_pointer};
pub use document::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH};
pub use envelope::{ErrorBody, ErrorEnvelope};
pub use identity::{
    Identity, IdentityState, RecoveryAddress, VerifiableAddress, VerificationStatus, Via,
    schema_url,
};
pub use ids::{Clash, IdentityId, SchemaId};
pub use time::Timestamp;
