//! The cost bound of a schema: how many subschemas validation could apply at one place in an
//! identity, counted before the schema is compiled, so that `$ref`s fanning out through
//! `allOf` (2^n applications from n definitions) are refused instead of spinning per create.
//!
//! The count follows draft-07's applicators: `$ref`, `allOf`, `anyOf`, `oneOf`, `not`,
//! `if`/`then`/`else` and schema `dependencies` apply in place; `properties`,
//! `patternProperties`, `additionalProperties`, `propertyNames`, `items`, `additionalItems` and
//! `contains` apply one level down. Each node is counted once per instance depth (memoized), so
//! the walk is linear in the schema's size whatever the fan-out. It must not compile or
//! validate anything: it only reads the JSON.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The most subschema applications allowed at one place in an identity. Kratos' presets need
/// under 10; a large hand-written schema a few hundred.
pub const MAX_APPLICATIONS: u64 = 10_000;
/// How deep below the schema root the count looks: identity documents nest at most this deep.
const MAX_INSTANCE_DEPTH: u32 = 64;
/// How deep the walk itself may recurse (nesting plus `$ref` hops) before it refuses.
const MAX_WALK_DEPTH: usize = 256;

/// Checks that validating against `raw` applies at most [`MAX_APPLICATIONS`] subschemas at any
/// one place in an instance.
///
/// # Errors
/// The problem, naming the schema pointer where the count passes the bound, a `$ref` it
/// cannot follow, or a `$ref` cycle that never descends into the instance.
pub fn check_cost(raw: &Value) -> Result<(), String> {
    let mut walk = Walk {
        root: raw,
        root_id: raw
            .get("$id")
            .and_then(Value::as_str)
            .map(|id| id.trim_end_matches('#')),
        memo: HashMap::new(),
        in_place: HashSet::new(),
        depth: 0,
    };
    for depth in 0..=MAX_INSTANCE_DEPTH {
        walk.cost(raw, String::new(), depth)?;
    }
    Ok(())
}

struct Walk<'a> {
    root: &'a Value,
    root_id: Option<&'a str>,
    /// Applications at one place `depth` levels below a place where the node applies.
    memo: HashMap<(*const Value, u32), u64>,
    /// Nodes being counted at the current depth: meeting one again is an in-place cycle.
    in_place: HashSet<(*const Value, u32)>,
    depth: usize,
}

const IN_PLACE_ONE: &[&str] = &["not", "if", "then", "else"];
const IN_PLACE_MANY: &[&str] = &["allOf", "anyOf", "oneOf"];

impl<'a> Walk<'a> {
    fn cost(&mut self, node: &'a Value, at: String, depth: u32) -> Result<u64, String> {
        let slot = (node as *const Value, depth);
        if let Some(&known) = self.memo.get(&slot) {
            return Ok(known);
        }
        let Value::Object(object) = node else {
            // `true`, `false` (and anything the meta-schema refuses anyway) apply once.
            return Ok(u64::from(depth == 0));
        };
        if !self.in_place.insert(slot) {
            return Err(format!(
                "#{at}: a `$ref` cycle applies this schema to the same place again without \
                 descending into the identity; validation would never end"
            ));
        }
        self.depth += 1;
        if self.depth > MAX_WALK_DEPTH {
            return Err(format!(
                "#{at}: nesting and `$ref`s reach deeper than {MAX_WALK_DEPTH} levels"
            ));
        }
        let mut total = u64::from(depth == 0);
        let mut add = |walk: &mut Self, child: &'a Value, child_at: String, d: u32| {
            let n = walk.cost(child, child_at, d)?;
            total = total.saturating_add(n);
            Ok::<_, String>(())
        };
        // In place: at the same depth.
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let (target, target_at) = self.resolve(reference, &at)?;
            add(self, target, target_at, depth)?;
        }
        for &key in IN_PLACE_ONE {
            if let Some(child) = object.get(key) {
                add(self, child, format!("{at}/{key}"), depth)?;
            }
        }
        for &key in IN_PLACE_MANY {
            if let Some(Value::Array(items)) = object.get(key) {
                for (i, child) in items.iter().enumerate() {
                    add(self, child, format!("{at}/{key}/{i}"), depth)?;
                }
            }
        }
        if let Some(Value::Object(dependencies)) = object.get("dependencies") {
            for (name, child) in dependencies {
                if child.is_object() {
                    add(
                        self,
                        child,
                        format!("{at}/dependencies/{}", escape(name)),
                        depth,
                    )?;
                }
            }
        }
        // One level down: an instance is an object or an array, never both, so the larger side
        // counts; within a side every keyword may apply to the same child.
        if depth > 0 {
            let below = depth - 1;
            let mut object_side = 0u64;
            if let Some(Value::Object(properties)) = object.get("properties") {
                let mut widest = 0;
                for (name, child) in properties {
                    let n = self.cost(child, format!("{at}/properties/{}", escape(name)), below)?;
                    widest = widest.max(n);
                }
                object_side = object_side.saturating_add(widest);
            }
            if let Some(Value::Object(patterns)) = object.get("patternProperties") {
                for (pattern, child) in patterns {
                    let n = self.cost(
                        child,
                        format!("{at}/patternProperties/{}", escape(pattern)),
                        below,
                    )?;
                    object_side = object_side.saturating_add(n);
                }
            }
            for key in ["additionalProperties", "propertyNames"] {
                if let Some(child) = object.get(key) {
                    let n = self.cost(child, format!("{at}/{key}"), below)?;
                    object_side = object_side.saturating_add(n);
                }
            }
            let mut array_side = 0u64;
            match object.get("items") {
                Some(Value::Array(items)) => {
                    let mut widest = 0;
                    for (i, child) in items.iter().enumerate() {
                        widest = widest.max(self.cost(child, format!("{at}/items/{i}"), below)?);
                    }
                    array_side = array_side.saturating_add(widest);
                }
                Some(child) => {
                    array_side = array_side.saturating_add(self.cost(
                        child,
                        format!("{at}/items"),
                        below,
                    )?);
                }
                None => {}
            }
            for key in ["additionalItems", "contains"] {
                if let Some(child) = object.get(key) {
                    let n = self.cost(child, format!("{at}/{key}"), below)?;
                    array_side = array_side.saturating_add(n);
                }
            }
            total = total.saturating_add(object_side.max(array_side));
        }
        self.depth -= 1;
        self.in_place.remove(&slot);
        if total > MAX_APPLICATIONS {
            return Err(format!(
                "#{at}: validation could apply {} subschemas at one place in an identity \
                 (through `$ref`, `allOf`, `anyOf`, `oneOf`, ...); the limit is \
                 {MAX_APPLICATIONS}: share fewer definitions between branches",
                if total == u64::MAX {
                    "billions of".to_string()
                } else {
                    format!("{total}")
                }
            ));
        }
        self.memo.insert(slot, total);
        Ok(total)
    }

    /// Resolves a `$ref` within this document: a JSON pointer (`#/definitions/a`), optionally
    /// behind the root's `$id`, or a subschema's `$id`. Nothing else compiles offline.
    fn resolve(&self, reference: &str, at: &str) -> Result<(&'a Value, String), String> {
        let fragment = match reference.split_once('#') {
            Some(("", fragment)) => Some(fragment),
            Some((base, fragment)) if Some(base) == self.root_id => Some(fragment),
            _ => None,
        };
        if let Some(pointer) = fragment.filter(|f| f.is_empty() || f.starts_with('/')) {
            let decoded = percent_decode(pointer);
            if let Some(target) = self.root.pointer(&decoded) {
                return Ok((target, decoded));
            }
        } else if let Some(found) = find_id(self.root, reference, String::new(), 0) {
            return Ok(found);
        }
        Err(format!(
            "#{at}/$ref: {reference:?} does not name a subschema of this schema; kith resolves \
             `#/...` pointers and `$id`s within the schema only"
        ))
    }
}

/// The subschema whose `$id` is `reference` (as written), with its pointer.
fn find_id<'a>(
    node: &'a Value,
    reference: &str,
    at: String,
    depth: usize,
) -> Option<(&'a Value, String)> {
    if depth > MAX_WALK_DEPTH {
        return None;
    }
    match node {
        Value::Object(object) => {
            if object.get("$id").and_then(Value::as_str) == Some(reference) {
                return Some((node, at));
            }
            object.iter().find_map(|(key, child)| {
                find_id(child, reference, format!("{at}/{}", escape(key)), depth + 1)
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| find_id(child, reference, format!("{at}/{i}"), depth + 1)),
        _ => None,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `$ref` fragments are URI-encoded (`%25` for `%`); JSON pointers are not.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fan_out(levels: usize) -> Value {
        let mut definitions = serde_json::Map::new();
        for i in 0..levels {
            let next = format!("#/definitions/a{}", i + 1);
            definitions.insert(
                format!("a{i}"),
                json!({"allOf": [{"$ref": next}, {"$ref": next}]}),
            );
        }
        definitions.insert(format!("a{levels}"), json!({"type": "string"}));
        json!({
            "definitions": definitions,
            "properties": {"traits": {"properties": {"x": {"$ref": "#/definitions/a0"}}}}
        })
    }

    #[test]
    fn presets_are_cheap() {
        for (id, text) in crate::schema::PRESETS {
            let raw: Value = serde_json::from_str(text).unwrap();
            assert!(check_cost(&raw).is_ok(), "{id}");
        }
    }

    #[test]
    fn fan_out_is_refused_at_the_definition_where_it_passes_the_bound() {
        assert!(check_cost(&fan_out(8)).is_ok());
        let problem = check_cost(&fan_out(20)).unwrap_err();
        assert!(problem.starts_with("#/definitions/a"), "{problem}");
    }

    #[test]
    fn descending_recursion_is_fine_and_in_place_cycles_are_not() {
        let tree = json!({"definitions": {"node": {"type": "object", "properties": {
            "left": {"$ref": "#/definitions/node"}, "right": {"$ref": "#/definitions/node"}}}},
            "properties": {"traits": {"$ref": "#/definitions/node"}}});
        assert!(check_cost(&tree).is_ok());
        let doubling = json!({"definitions": {"node": {"properties": {"x": {"allOf": [
            {"$ref": "#/definitions/node"}, {"$ref": "#/definitions/node"}]}}}},
            "properties": {"traits": {"$ref": "#/definitions/node"}}});
        assert!(check_cost(&doubling).is_err());
        let cycle = json!({"properties": {"traits": {"allOf": [{"$ref": "#/properties/traits"}]}}});
        assert!(check_cost(&cycle).unwrap_err().contains("cycle"));
    }
}
