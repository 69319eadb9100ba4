//! The checks a custom identity schema must pass before kith stores it: draft-07, a `traits`
//! object with properties, and `ory.sh/kratos` keywords of the shape Kratos' meta-schema allows.

use super::validate::IdentitySchema;
use crate::error::nearest;
use serde_json::Value;
use std::sync::OnceLock;

const EXTENSION_KEY: &str = "ory.sh/kratos";
/// Formats Kratos allows on a trait that is verified.
const VERIFICATION_FORMATS: &[&str] = &["email", "tel", "date", "time", "date-time", "no-validate"];

/// Checks `raw` as an identity schema and compiles it.
///
/// # Errors
/// Every problem found, each naming where it is (a JSON pointer into the schema).
pub fn check_identity_schema(id: &str, raw: Value) -> Result<IdentitySchema, Vec<String>> {
    let mut problems = Vec::new();
    if id.trim().is_empty() {
        problems.push("the schema id must not be empty".to_string());
    }
    if !raw.is_object() {
        problems.push("a schema must be a JSON object".to_string());
        return Err(problems);
    }
    // Kratos compiles a schema without `$schema` as draft-07 (ory/jsonschema's default), and so
    // does kith; any other declared dialect would be validated by the wrong rules.
    match raw.get("$schema").and_then(Value::as_str) {
        Some(uri) if jsonschema::Draft::from_schema_uri(uri) != jsonschema::Draft::Draft7 => {
            problems.push(format!(
                "#/$schema: {uri:?} is not draft-07; kith validates identity schemas as JSON \
                 Schema draft-07 only: declare \"http://json-schema.org/draft-07/schema#\" or \
                 leave `$schema` out"
            ));
        }
        _ => {}
    }
    for error in jsonschema::draft7::meta::validator().iter_errors(&raw) {
        problems.push(format!("#{}: {error}", error.instance_path()));
    }
    match raw.pointer("/properties/traits") {
        None => {
            problems.push("#/properties/traits: missing; identity schemas describe `traits`".into())
        }
        Some(traits) => match traits.get("properties").and_then(Value::as_object) {
            Some(properties) if !properties.is_empty() => {}
            _ => problems
                .push("#/properties/traits/properties: must name at least one trait".to_string()),
        },
    }
    check_extensions(&raw, String::new(), &mut problems, 0);
    if problems.is_empty()
        && let Err(problem) = super::cost::check_cost(&raw)
    {
        problems.push(problem);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    IdentitySchema::compile(id, raw).map_err(|e| vec![format!("the schema does not compile: {e}")])
}

/// The shape of the `ory.sh/kratos` keyword, embedded.
fn extension_meta_schema() -> &'static Value {
    static RAW: OnceLock<Value> = OnceLock::new();
    RAW.get_or_init(|| {
        serde_json::from_str(include_str!("../../schemas/kratos-extension.schema.json"))
            .expect("the embedded extension meta-schema is valid JSON")
    })
}

fn extension_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft7::new(extension_meta_schema())
            .expect("the embedded extension meta-schema compiles")
    })
}

/// The keywords the extension allows in its object at `path` (a pointer into the extension).
fn extension_keywords_at(path: &str) -> Vec<String> {
    let mut node = extension_meta_schema();
    for segment in path.split('/').skip(1) {
        match node.get("properties").and_then(|p| p.get(segment)) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// Finds every `ory.sh/kratos` keyword, wherever it sits, and checks its shape.
fn check_extensions(node: &Value, at: String, problems: &mut Vec<String>, depth: usize) {
    if depth > 128 {
        problems.push(format!("#{at}: the schema nests deeper than 128 levels"));
        return;
    }
    match node {
        Value::Object(object) => {
            if let Some(extension) = object.get(EXTENSION_KEY) {
                let ext_at = format!("{at}/ory.sh~1kratos");
                for error in extension_validator().iter_errors(extension) {
                    let mut problem = format!("#{ext_at}{}: {error}", error.instance_path());
                    if let jsonschema::error::ValidationErrorKind::AdditionalProperties {
                        unexpected,
                    } = error.kind()
                    {
                        let allowed = extension_keywords_at(&error.instance_path().to_string());
                        for word in unexpected {
                            if let Some(meant) = nearest(word, allowed.iter().map(String::as_str)) {
                                problem.push_str(&format!("; did you mean `{meant}`?"));
                            }
                        }
                    }
                    problems.push(problem);
                }
                if extension.get("verification").is_some()
                    && let Some(format) = object.get("format").and_then(Value::as_str)
                    && !VERIFICATION_FORMATS.contains(&format)
                {
                    problems.push(format!(
                        "#{at}/format: a verified trait must have format {}, not {format:?}",
                        VERIFICATION_FORMATS.join(", ")
                    ));
                }
            }
            for (key, child) in object {
                if key == EXTENSION_KEY {
                    continue;
                }
                // JSON Schema ignores a keyword it does not know: a slip in this one would
                // silently leave the trait without its login, verification or recovery role.
                if key.trim().eq_ignore_ascii_case(EXTENSION_KEY)
                    || nearest(key, [EXTENSION_KEY]).is_some()
                {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    problems.push(format!(
                        "#{at}/{escaped}: unknown keyword {key:?}; did you mean `{EXTENSION_KEY}`?"
                    ));
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                check_extensions(child, format!("{at}/{escaped}"), problems, depth + 1);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                check_extensions(child, format!("{at}/{index}"), problems, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(raw: Value) -> Vec<String> {
        check_identity_schema("custom", raw)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn presets_pass() {
        for (id, text) in crate::schema::PRESETS {
            let raw: Value = serde_json::from_str(text).unwrap();
            assert!(check_identity_schema(id, raw).is_ok(), "{id}");
        }
    }

    #[test]
    fn table_of_refusals() {
        let cases = [
            (json!([]), "a schema must be a JSON object"),
            (
                json!({"type": 5, "properties": {"traits": {"properties": {"a": {}}}}}),
                "#/type",
            ),
            (json!({"properties": {}}), "#/properties/traits: missing"),
            (
                json!({"properties": {"traits": {"properties": {}}}}),
                "must name at least one trait",
            ),
            (
                json!({"properties": {"traits": {"properties": {"a": {"ory.sh/kratos": {"credential": {}}}}}}}),
                "#/properties/traits/properties/a/ory.sh~1kratos",
            ),
            (
                json!({"properties": {"traits": {"properties": {"a": {"ory.sh/kratos": {"recovery": {"via": "pigeon"}}}}}}}),
                "#/properties/traits/properties/a/ory.sh~1kratos/recovery/via",
            ),
            (
                json!({"properties": {"traits": {"properties": {"a": {"format": "uri",
                    "ory.sh/kratos": {"verification": {"via": "email"}}}}}}}),
                "#/properties/traits/properties/a/format",
            ),
            (
                json!({"properties": {"traits": {"properties": {"a": {"$ref": "https://example.org/x.json"}}}}}),
                "does not name a subschema of this schema",
            ),
        ];
        for (raw, expected) in cases {
            let found = problems(raw.clone());
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{raw}: expected a problem containing {expected:?}, got {found:?}"
            );
        }
    }
}
