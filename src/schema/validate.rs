//! Trait validation against a compiled identity schema, with every violation collected and
//! worded as Kratos' validator words it (`I[#/traits/email] S[...] missing properties: "email"`).

use super::extension::{self, Derived};
use super::violation::Violation;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{Value, json};
use std::fmt;

/// An identity schema ready to validate traits.
pub struct IdentitySchema {
    pub id: String,
    pub raw: Value,
    validator: Validator,
}

impl fmt::Debug for IdentitySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentitySchema")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl IdentitySchema {
    /// Compiles `raw` as a draft-07 schema with Kratos' formats. Remote `$ref`s are not
    /// fetched: kith works offline. A schema whose validation could apply more than
    /// [`super::MAX_APPLICATIONS`] subschemas at one place is refused, so that no stored schema
    /// (even one added before the bound) can make a create spin.
    ///
    /// # Errors
    /// The compiler's message when the schema cannot be compiled, or the cost bound's.
    pub fn compile(id: &str, raw: Value) -> Result<Self, String> {
        super::cost::check_cost(&raw)?;
        let validator = options().build(&raw).map_err(|e| e.to_string())?;
        Ok(Self {
            id: id.to_string(),
            raw,
            validator,
        })
    }

    /// Validates `traits` and derives identifiers and addresses from them.
    ///
    /// # Errors
    /// Every violation, schema and extension alike, in document order.
    pub fn validate(&self, traits: &Value) -> Result<Derived, Vec<Violation>> {
        let instance = json!({ "traits": traits });
        let mut violations: Vec<Violation> = self
            .validator
            .iter_errors(&instance)
            .map(|error| violation(&error))
            .collect();
        let derived = extension::derive(&self.raw, traits, &mut violations);
        if violations.is_empty() {
            Ok(derived)
        } else {
            violations.dedup();
            Err(violations)
        }
    }
}

pub(super) fn options() -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .with_format("no-validate", |_: &str| true)
        .with_format("tel", |value: &str| super::normalize_phone(value).is_some())
}

fn violation(error: &ValidationError<'_>) -> Violation {
    Violation {
        instance_ptr: format!("#{}", error.instance_path()),
        schema_ptr: format!("#{}", error.schema_path()),
        message: message(error),
    }
}

/// Kratos' (ory/jsonschema's) wording for the common keywords; the crate's own otherwise.
fn message(error: &ValidationError<'_>) -> String {
    let instance = error.instance();
    match error.kind() {
        ValidationErrorKind::Required { property } => format!("missing properties: {property}"),
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!("expected {expected}, but got {}", json_type(instance))
        }
        ValidationErrorKind::Format { format } => format!("{instance} is not valid {format:?}"),
        ValidationErrorKind::MinLength { limit } => {
            format!("length must be >= {limit}, but got {}", char_len(instance))
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("length must be <= {limit}, but got {}", char_len(instance))
        }
        ValidationErrorKind::Pattern { pattern } => format!("does not match pattern {pattern:?}"),
        ValidationErrorKind::Enum { options } => {
            let options = match options.as_ref() {
                Value::Array(items) => items.iter().map(Value::to_string).collect::<Vec<_>>(),
                other => vec![other.to_string()],
            };
            format!("value must be one of {}", options.join(", "))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("value must be {expected_value}")
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("must be >= {limit} but found {instance}")
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("must be <= {limit} but found {instance}")
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let names = unexpected
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>();
            format!("additionalProperties {} not allowed", names.join(", "))
        }
        ValidationErrorKind::MinItems { limit } => format!(
            "minimum {limit} items allowed, but found {} items",
            instance.as_array().map_or(0, Vec::len)
        ),
        ValidationErrorKind::MaxItems { limit } => format!(
            "maximum {limit} items allowed, but found {} items",
            instance.as_array().map_or(0, Vec::len)
        ),
        _ => error.to_string(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn char_len(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_schema() -> IdentitySchema {
        let raw = serde_json::from_str(crate::schema::preset("preset://email").unwrap()).unwrap();
        IdentitySchema::compile("preset://email", raw).unwrap()
    }

    #[test]
    fn violations_use_kratos_wording_and_pointers() {
        let schema = email_schema();
        let cases = [
            (json!({}), "#/traits", "missing properties: \"email\""),
            (
                json!({"email": 5}),
                "#/traits/email",
                "expected string, but got number",
            ),
            (
                json!({"email": "not-an-email"}),
                "#/traits/email",
                "\"not-an-email\" is not valid \"email\"",
            ),
            (
                json!({"email": "a@b.c", "nick": "x"}),
                "#/traits",
                "additionalProperties \"nick\" not allowed",
            ),
        ];
        for (traits, pointer, message) in cases {
            let violations = schema.validate(&traits).unwrap_err();
            assert!(
                violations
                    .iter()
                    .any(|v| v.instance_ptr == pointer && v.message == message),
                "{traits}: got {violations:?}"
            );
        }
    }

    #[test]
    fn all_violations_are_reported() {
        let schema = email_schema();
        let violations = schema
            .validate(&json!({"email": 5, "name": {"first": 1}, "extra": true}))
            .unwrap_err();
        let pointers: Vec<_> = violations.iter().map(|v| v.instance_ptr.as_str()).collect();
        assert!(pointers.contains(&"#/traits/email"), "{pointers:?}");
        assert!(pointers.contains(&"#/traits/name/first"), "{pointers:?}");
        assert!(pointers.contains(&"#/traits"), "{pointers:?}");
    }

    #[test]
    fn display_is_kratos_reason_format() {
        let v = Violation {
            instance_ptr: "#/traits/bar".into(),
            schema_ptr: "#/properties/traits/properties/bar/type".into(),
            message: "expected string, but got number".into(),
        };
        assert_eq!(
            v.to_string(),
            "I[#/traits/bar] S[#/properties/traits/properties/bar/type] expected string, but got number"
        );
    }
}
