//! schema: identity schemas, trait validation and the `ory.sh/kratos` extension.
//!
//! Owns the preset schemas (embedded from `schemas/`), the checks a custom schema must pass
//! before it is stored, validation of traits with all violations collected, and the
//! derivation of credential identifiers and addresses. Persistence is the store's job: this
//! module never touches the database.

mod check;
mod cost;
mod extension;
mod normalize;
mod validate;
mod violation;

pub use check::check_identity_schema;
pub use extension::Derived;
pub use normalize::{normalize_email, normalize_identifier, normalize_phone};
pub use validate::IdentitySchema;
pub use violation::Violation;

/// The preset schemas kith ships, by id, as JSON text (files in `schemas/`).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "preset://email",
        include_str!("../schemas/email.schema.json"),
    ),
    (
        "preset://username",
        include_str!("../schemas/username.schema.json"),
    ),
];

/// The JSON text of the preset `id`, if kith ships one.
pub fn preset(id: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(preset_id, _)| *preset_id == id)
        .map(|(_, text)| *text)
}

/// True when `id` names a preset, which custom schemas may not shadow.
pub fn is_preset(id: &str) -> bool {
    preset(id).is_some()
}
