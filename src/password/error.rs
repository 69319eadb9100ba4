//! error: the one error type of the password module, named by condition.
//!
//! Display text is for operators (lowercase, says what was wrong);
//! [`HashError::kratos_reason`] is the `reason` Kratos puts in its 400 response.

use super::HashFormat;

/// Why a hash could not be made, parsed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No recognised prefix.
    #[error("the hash does not match any known password hash format")]
    UnknownFormat,
    /// The prefix was recognised but the rest is malformed.
    #[error("{format} hash could not be parsed: {detail}")]
    Unparsable {
        /// The family the prefix named.
        format: HashFormat,
        /// What was wrong.
        detail: String,
    },
    /// A cost parameter (or a length that multiplies the work) is outside the
    /// bounds checked before any expensive work. Re-hash with lower costs.
    #[error("{detail}")]
    CostOutOfBounds {
        /// The family the prefix named.
        format: HashFormat,
        /// Which parameter and which bound, e.g. `bcrypt cost 31 exceeds the maximum of 15`.
        detail: String,
    },
    /// bcrypt only uses the first 72 bytes; longer passwords are refused, as in Kratos.
    #[error("the password is longer than the 72 bytes bcrypt can use")]
    PasswordTooLong,
    /// The configured hasher parameters are out of range.
    #[error("invalid hasher configuration: {0}")]
    InvalidConfig(String),
    /// The operating system's random number generator failed while drawing a salt.
    #[error("could not draw a random salt from the operating system")]
    RandomUnavailable(#[source] getrandom::Error),
}

/// Kratos' reason for a hash that matches no known prefix (`identity/handler_import.go`).
pub const REASON_UNKNOWN_FORMAT: &str = "The imported password does not match any known hash format. For more information see https://www.ory.sh/dr/2";
/// Kratos' reason for a recognised hash that does not parse.
pub const REASON_UNPARSABLE: &str = "The imported password hash could not be parsed.";
/// Kratos' reason for cost parameters outside its bounds.
pub const REASON_COST_OUT_OF_BOUNDS: &str = "The imported password hash declares cost parameters that exceed the bounds enforced by Ory. Re-hash the password with lower cost parameters before importing it.";
/// Kratos' password-policy text for bcrypt and more than 72 bytes.
pub const REASON_PASSWORD_TOO_LONG: &str = "the password does not fulfill the password policy because: passwords are limited to a maximum length of 72 characters";

impl HashError {
    /// The reason text Kratos puts in its 400 error for this condition.
    #[must_use]
    pub fn kratos_reason(&self) -> String {
        match self {
            Self::UnknownFormat => REASON_UNKNOWN_FORMAT.to_owned(),
            Self::Unparsable { .. } => REASON_UNPARSABLE.to_owned(),
            Self::CostOutOfBounds { .. } => REASON_COST_OUT_OF_BOUNDS.to_owned(),
            Self::PasswordTooLong => REASON_PASSWORD_TOO_LONG.to_owned(),
            Self::InvalidConfig(_) | Self::RandomUnavailable(_) => self.to_string(),
        }
    }

    /// The family involved, when the error is about a particular hash.
    #[must_use]
    pub fn format(&self) -> Option<HashFormat> {
        match self {
            Self::Unparsable { format, .. } | Self::CostOutOfBounds { format, .. } => Some(*format),
            _ => None,
        }
    }

    pub(super) fn unparsable(format: HashFormat, detail: impl Into<String>) -> Self {
        Self::Unparsable {
            format,
            detail: detail.into(),
        }
    }

    pub(super) fn out_of_bounds(format: HashFormat, detail: impl Into<String>) -> Self {
        Self::CostOutOfBounds {
            format,
            detail: detail.into(),
        }
    }
}

/// Checks `min <= value <= max` for a cost parameter named `name`, before any
/// work is done with it.
pub(super) fn check_bound(
    format: HashFormat,
    name: &str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), HashError> {
    if value < min {
        return Err(HashError::out_of_bounds(
            format,
            format!("{format} {name} {value} is below the minimum of {min}"),
        ));
    }
    if value > max {
        return Err(HashError::out_of_bounds(
            format,
            format!("{format} {name} {value} exceeds the maximum of {max}"),
        ));
    }
    Ok(())
}
