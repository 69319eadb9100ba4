//! The `ory.sh/kratos` extension: walks the schema beside the traits and derives what the
//! schema marks: credential identifiers and verifiable and recovery addresses, normalized as
//! Kratos normalizes them.

use super::normalize::{normalize_email, normalize_identifier, normalize_phone};
use super::violation::Violation;
use crate::model::Via;
use serde_json::Value;

const EXTENSION_KEY: &str = "ory.sh/kratos";
/// Schemas nest; a hostile one can reference itself. Deeper than this is not an identity.
const MAX_DEPTH: usize = 64;

/// A code-credential address (`credentials.code.config.addresses[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAddress {
    pub via: Via,
    pub address: String,
}

/// What the extension derived from the traits, deduplicated, in trait order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derived {
    pub password_identifiers: Vec<String>,
    pub webauthn_identifiers: Vec<String>,
    pub code_addresses: Vec<CodeAddress>,
    pub verifiable_addresses: Vec<(Via, String)>,
    pub recovery_addresses: Vec<(Via, String)>,
}

/// Walks `schema` (an identity schema) beside `traits`, collecting what its extension marks.
/// Values the extension cannot use become violations.
pub fn derive(schema: &Value, traits: &Value, violations: &mut Vec<Violation>) -> Derived {
    let mut walker = Walker {
        root: schema,
        derived: Derived::default(),
        violations,
    };
    if let Some(traits_schema) = schema.pointer("/properties/traits") {
        walker.walk(
            traits_schema,
            traits,
            "#/traits".to_string(),
            "#/properties/traits".to_string(),
            0,
        );
    }
    walker.derived
}

struct Walker<'a> {
    root: &'a Value,
    derived: Derived,
    violations: &'a mut Vec<Violation>,
}

impl<'a> Walker<'a> {
    fn walk(
        &mut self,
        schema: &'a Value,
        instance: &Value,
        at: String,
        schema_at: String,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(object) = schema.as_object() else {
            return;
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str)
            && let Some(target) = reference
                .strip_prefix('#')
                .and_then(|p| self.root.pointer(p))
        {
            self.walk(
                target,
                instance,
                at.clone(),
                format!("#{}", &reference[1..]),
                depth + 1,
            );
        }
        if let Some(extension) = object.get(EXTENSION_KEY) {
            let format = object.get("format").and_then(Value::as_str).unwrap_or("");
            let ext_at = format!("{schema_at}/ory.sh~1kratos");
            match instance {
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        self.apply(extension, format, item, &format!("{at}/{index}"), &ext_at);
                    }
                }
                other => self.apply(extension, format, other, &at, &ext_at),
            }
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = object.get(keyword) {
                for (index, branch) in branches.iter().enumerate() {
                    let branch_at = format!("{schema_at}/{keyword}/{index}");
                    self.walk(branch, instance, at.clone(), branch_at, depth + 1);
                }
            }
        }
        if let (Some(Value::Object(properties)), Value::Object(values)) =
            (object.get("properties"), instance)
        {
            for (name, property_schema) in properties {
                if let Some(value) = values.get(name) {
                    let escaped = name.replace('~', "~0").replace('/', "~1");
                    self.walk(
                        property_schema,
                        value,
                        format!("{at}/{escaped}"),
                        format!("{schema_at}/properties/{escaped}"),
                        depth + 1,
                    );
                }
            }
        }
        if let (Some(items_schema), Value::Array(values)) = (object.get("items"), instance) {
            for (index, value) in values.iter().enumerate() {
                let (item_schema, item_schema_at) = match items_schema {
                    Value::Array(tuple) => match tuple.get(index) {
                        Some(s) => (s, format!("{schema_at}/items/{index}")),
                        None => continue,
                    },
                    single => (single, format!("{schema_at}/items")),
                };
                self.walk(
                    item_schema,
                    value,
                    format!("{at}/{index}"),
                    item_schema_at,
                    depth + 1,
                );
            }
        }
    }

    fn apply(&mut self, extension: &Value, format: &str, value: &Value, at: &str, schema_at: &str) {
        let Some(text) = value.as_str() else {
            return;
        };
        let flag =
            |pointer: &str| extension.pointer(pointer).and_then(Value::as_bool) == Some(true);
        let via_at = |pointer: &str| {
            extension
                .pointer(pointer)
                .and_then(Value::as_str)
                .and_then(Via::parse)
        };
        if flag("/credentials/password/identifier") {
            push_unique(
                &mut self.derived.password_identifiers,
                normalize_identifier(text),
            );
        }
        if flag("/credentials/webauthn/identifier") {
            push_unique(
                &mut self.derived.webauthn_identifiers,
                normalize_identifier(text),
            );
        }
        if flag("/credentials/code/identifier") {
            let via = via_at("/credentials/code/via").unwrap_or_default();
            if let Some(address) = self.address(via, format, text, at, schema_at) {
                let code = CodeAddress { via, address };
                if !self.derived.code_addresses.contains(&code) {
                    self.derived.code_addresses.push(code);
                }
            }
        }
        if let Some(via) = via_at("/verification/via")
            && let Some(address) = self.address(via, format, text, at, schema_at)
        {
            push_unique(&mut self.derived.verifiable_addresses, (via, address));
        }
        if let Some(via) = via_at("/recovery/via")
            && let Some(address) = self.address(via, format, text, at, schema_at)
        {
            push_unique(&mut self.derived.recovery_addresses, (via, address));
        }
    }

    /// Normalizes `text` as an address reached via `via`, or records why it cannot be one.
    fn address(
        &mut self,
        via: Via,
        format: &str,
        text: &str,
        at: &str,
        schema_at: &str,
    ) -> Option<String> {
        let result = match (via, format) {
            (Via::Email, "" | "email") => {
                if looks_like_email(text) {
                    Ok(normalize_email(text))
                } else {
                    Err(format!("{text:?} is not valid \"email\""))
                }
            }
            (Via::Sms, "") => Err(
                "no format specified; set \"format\" to \"tel\" or \"no-validate\" on this trait"
                    .to_string(),
            ),
            (_, "tel") | (Via::Sms, _) if format != "no-validate" => {
                normalize_phone(text).ok_or_else(|| format!("{text:?} is not a valid phone number"))
            }
            _ => Ok(text.trim().to_string()),
        };
        match result {
            Ok(address) => Some(address),
            Err(message) => {
                self.violations.push(Violation {
                    instance_ptr: at.to_string(),
                    schema_ptr: schema_at.to_string(),
                    message,
                });
                None
            }
        }
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The email check the extension applies where the schema names no format: one `@` with
/// text on both sides and no whitespace inside.
fn looks_like_email(text: &str) -> bool {
    let text = text.trim();
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, traits: Value) -> (Derived, Vec<Violation>) {
        let mut violations = Vec::new();
        let derived = derive(&schema, &traits, &mut violations);
        (derived, violations)
    }

    fn traits_schema(properties: Value) -> Value {
        json!({"properties": {"traits": {"type": "object", "properties": properties}}})
    }

    #[test]
    fn table_of_extension_cases() {
        struct Case {
            name: &'static str,
            properties: Value,
            traits: Value,
            password: Vec<&'static str>,
            verifiable: Vec<(Via, &'static str)>,
            recovery: Vec<(Via, &'static str)>,
            violations: usize,
        }
        let email_ext = json!({"credentials": {"password": {"identifier": true}},
                               "verification": {"via": "email"}, "recovery": {"via": "email"}});
        let cases = [
            Case {
                name: "email is lowercased and trimmed everywhere",
                properties: json!({"email": {"type": "string", "format": "email", "ory.sh/kratos": email_ext}}),
                traits: json!({"email": "  Docs@Example.ORG "}),
                password: vec!["docs@example.org"],
                verifiable: vec![(Via::Email, "docs@example.org")],
                recovery: vec![(Via::Email, "docs@example.org")],
                violations: 0,
            },
            Case {
                name: "username identifier only",
                properties: json!({"username": {"type": "string",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}),
                traits: json!({"username": "Alice"}),
                password: vec!["alice"],
                verifiable: vec![],
                recovery: vec![],
                violations: 0,
            },
            Case {
                name: "arrays of strings derive once per item, deduplicated",
                properties: json!({"emails": {"type": "array", "items": {"type": "string", "format": "email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "verification": {"via": "email"}}}}}),
                traits: json!({"emails": ["a@x.org", "B@x.org", "A@X.org"]}),
                password: vec!["a@x.org", "b@x.org"],
                verifiable: vec![(Via::Email, "a@x.org"), (Via::Email, "b@x.org")],
                recovery: vec![],
                violations: 0,
            },
            Case {
                name: "nested objects and $ref",
                properties: json!({"contact": {"$ref": "#/definitions/contact"}}),
                traits: json!({"contact": {"mail": "Nested@X.org"}}),
                password: vec![],
                verifiable: vec![],
                recovery: vec![(Via::Email, "nested@x.org")],
                violations: 0,
            },
            Case {
                name: "sms verification is normalized to E.164",
                properties: json!({"phone": {"type": "string", "format": "tel",
                    "ory.sh/kratos": {"verification": {"via": "sms"}}}}),
                traits: json!({"phone": "+49 30 1234 5678"}),
                password: vec![],
                verifiable: vec![(Via::Sms, "+493012345678")],
                recovery: vec![],
                violations: 0,
            },
            Case {
                name: "sms without a format is refused",
                properties: json!({"phone": {"type": "string", "ory.sh/kratos": {"verification": {"via": "sms"}}}}),
                traits: json!({"phone": "+493012345678"}),
                password: vec![],
                verifiable: vec![],
                recovery: vec![],
                violations: 1,
            },
            Case {
                name: "recovery by email needs an email",
                properties: json!({"login": {"type": "string", "ory.sh/kratos": {"recovery": {"via": "email"}}}}),
                traits: json!({"login": "no-at-sign"}),
                password: vec![],
                verifiable: vec![],
                recovery: vec![],
                violations: 1,
            },
            Case {
                name: "absent traits derive nothing",
                properties: json!({"email": {"type": "string", "ory.sh/kratos": email_ext}}),
                traits: json!({}),
                password: vec![],
                verifiable: vec![],
                recovery: vec![],
                violations: 0,
            },
        ];
        for case in cases {
            let mut schema = traits_schema(case.properties);
            schema["definitions"] = json!({"contact": {"type": "object", "properties": {"mail": {
                "type": "string", "ory.sh/kratos": {"recovery": {"via": "email"}}}}}});
            let (derived, violations) = run(schema, case.traits);
            assert_eq!(derived.password_identifiers, case.password, "{}", case.name);
            let verifiable: Vec<_> = case
                .verifiable
                .iter()
                .map(|(v, a)| (*v, a.to_string()))
                .collect();
            assert_eq!(derived.verifiable_addresses, verifiable, "{}", case.name);
            let recovery: Vec<_> = case
                .recovery
                .iter()
                .map(|(v, a)| (*v, a.to_string()))
                .collect();
            assert_eq!(derived.recovery_addresses, recovery, "{}", case.name);
            assert_eq!(
                violations.len(),
                case.violations,
                "{}: {violations:?}",
                case.name
            );
        }
    }

    #[test]
    fn violations_point_at_the_trait() {
        let schema = traits_schema(
            json!({"phone": {"type": "string", "ory.sh/kratos": {"verification": {"via": "sms"}}}}),
        );
        let (_, violations) = run(schema, json!({"phone": "x"}));
        assert_eq!(violations[0].instance_ptr, "#/traits/phone");
        assert_eq!(
            violations[0].schema_ptr,
            "#/properties/traits/properties/phone/ory.sh~1kratos"
        );
    }

    #[test]
    fn code_identifiers_carry_their_channel() {
        let schema = traits_schema(json!({"email": {"type": "string", "format": "email",
            "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "email"}}}}}));
        let (derived, _) = run(schema, json!({"email": "Code@X.org"}));
        assert_eq!(
            derived.code_addresses,
            vec![CodeAddress {
                via: Via::Email,
                address: "code@x.org".into()
            }]
        );
    }
}
