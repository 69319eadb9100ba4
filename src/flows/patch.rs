//! RFC 6902 JSON patch applied to an identity's admin document, with Kratos' semantics and
//! bounded depth, size and work.
//!
//! Each operation is checked before it runs: a value placed at a path must keep the document
//! within [`MAX_DOCUMENT_DEPTH`] levels below its top-level member, and the member within
//! [`MAX_DOCUMENT_BYTES`]; a copy is measured before it is cloned. All values an operation
//! measures, clones or compares count against one work budget per patch, so no patch (however
//! many operations it holds) can nest a document past what serde_json reads back, double it
//! until memory runs out, or burn CPU. Nothing here recurses over a value that is not bounded.

use crate::error::{Error, Result};
use crate::model::{
    Excess, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, measure, push_escaped, shorten_pointer,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Bytes of values one patch may measure, clone or compare in all.
pub const MAX_PATCH_WORK_BYTES: usize = 64 * 1024 * 1024;

/// The identity object itself is one level above its documents.
const MAX_TOTAL_DEPTH: usize = MAX_DOCUMENT_DEPTH + 1;

/// One RFC 6902 operation.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(super) enum Operation {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Move { from: String, path: String },
    Copy { from: String, path: String },
    Test { path: String, value: Value },
}

impl Operation {
    /// The paths the operation reads or writes: `path`, and `from` for move and copy.
    pub(super) fn paths(&self) -> impl Iterator<Item = &str> {
        let (path, from) = match self {
            Operation::Add { path, .. }
            | Operation::Remove { path }
            | Operation::Replace { path, .. }
            | Operation::Test { path, .. } => (path, None),
            Operation::Move { from, path } | Operation::Copy { from, path } => (path, Some(from)),
        };
        std::iter::once(path.as_str()).chain(from.map(String::as_str))
    }

    fn path(&self) -> &str {
        match self {
            Operation::Add { path, .. }
            | Operation::Remove { path }
            | Operation::Replace { path, .. }
            | Operation::Test { path, .. }
            | Operation::Move { path, .. }
            | Operation::Copy { path, .. } => path,
        }
    }
}

/// Applies `operations` to `document` in order; on error the document is half-patched and
/// must be thrown away.
///
/// # Errors
/// [`Error::PatchFailed`] for an operation that does not apply (json_patch's wording),
/// [`Error::DocumentTooDeep`] / [`Error::DocumentTooLarge`] naming where a bound would be
/// crossed, [`Error::PatchTooCostly`] past the work budget.
pub(super) fn apply(document: &mut Value, operations: Vec<Operation>) -> Result<()> {
    let mut patcher = Patcher {
        document,
        sizes: HashMap::new(),
        work: 0,
    };
    for (index, operation) in operations.into_iter().enumerate() {
        let shown = shorten_pointer(operation.path().to_string());
        let fail = |kind: &str| {
            Error::PatchFailed(format!(
                "operation '/{index}' failed at path '{shown}': {kind}"
            ))
        };
        patcher.spend(operation.path().len())?;
        match operation {
            Operation::Add { path, value } => {
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                patcher.place(&tokens, value, true, &fail)?;
            }
            Operation::Replace { path, value } => {
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                patcher.place(&tokens, value, false, &fail)?;
            }
            Operation::Remove { path } => {
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                patcher.take(&tokens, &fail)?;
            }
            Operation::Move { from, path } => {
                let from_tokens = parse_pointer(&from).ok_or_else(|| fail("invalid pointer"))?;
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                if from_tokens == tokens {
                    continue;
                }
                if tokens.starts_with(&from_tokens) {
                    return Err(fail("cannot move the value inside itself"));
                }
                if get(patcher.document, &from_tokens).is_none() {
                    return Err(fail("\"from\" path is invalid"));
                }
                let value = patcher.take(&from_tokens, &fail)?;
                patcher.place(&tokens, value, true, &fail)?;
            }
            Operation::Copy { from, path } => {
                let from_tokens = parse_pointer(&from).ok_or_else(|| fail("invalid pointer"))?;
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                // Measured where it would land before it is cloned: a copy past a bound is
                // refused without ever existing.
                let room = patcher.room(&tokens)?;
                let Some(source) = get(patcher.document, &from_tokens) else {
                    return Err(fail("\"from\" path is invalid"));
                };
                bounded(&mut patcher.work, source, &path, depth_room(&tokens), room)?;
                let value = source.clone();
                patcher.place(&tokens, value, true, &fail)?;
            }
            Operation::Test { path, value } => {
                let tokens = parse_pointer(&path).ok_or_else(|| fail("invalid pointer"))?;
                // The comparison costs at most the size of the patch's own value.
                bounded(&mut patcher.work, &value, &path, usize::MAX, usize::MAX)?;
                match get(patcher.document, &tokens) {
                    Some(current) if *current == value => {}
                    Some(_) => return Err(fail("value did not match")),
                    None => return Err(fail("path is invalid")),
                }
            }
        }
    }
    Ok(())
}

fn spend(work: &mut usize, bytes: usize) -> Result<()> {
    *work = work.saturating_add(bytes);
    if *work > MAX_PATCH_WORK_BYTES {
        return Err(Error::PatchTooCostly {
            limit: MAX_PATCH_WORK_BYTES,
        });
    }
    Ok(())
}

/// Measures `value` (to be placed at `path`) within `max_depth` levels, `room` bytes and the
/// work left (which it spends); refuses when a bound would be crossed.
fn bounded(
    work: &mut usize,
    value: &Value,
    path: &str,
    max_depth: usize,
    room: usize,
) -> Result<usize> {
    let work_left = MAX_PATCH_WORK_BYTES.saturating_sub(*work);
    match measure(value, max_depth, room.min(work_left)) {
        Ok(measured) => {
            spend(work, measured.bytes)?;
            Ok(measured.bytes)
        }
        Err(Excess::Depth { pointer }) => Err(Error::DocumentTooDeep {
            pointer: shorten_pointer(format!("{path}{pointer}")),
            limit: MAX_DOCUMENT_DEPTH,
        }),
        Err(Excess::Size) if work_left < room => Err(Error::PatchTooCostly {
            limit: MAX_PATCH_WORK_BYTES,
        }),
        Err(Excess::Size) => Err(Error::DocumentTooLarge {
            pointer: shorten_pointer(format!("/{}", top_segment(path))),
            limit: MAX_DOCUMENT_BYTES,
        }),
    }
}

struct Patcher<'a> {
    document: &'a mut Value,
    /// Compact JSON bytes of each top-level member touched so far.
    sizes: HashMap<String, usize>,
    /// Bytes of values measured so far.
    work: usize,
}

impl Patcher<'_> {
    fn spend(&mut self, bytes: usize) -> Result<()> {
        spend(&mut self.work, bytes)
    }

    /// The size of the member holding `tokens`, measured once.
    fn member_size(&mut self, member: &str) -> usize {
        if let Some(size) = self.sizes.get(member) {
            return *size;
        }
        let size = self
            .document
            .get(member)
            .and_then(|value| measure(value, usize::MAX, usize::MAX).ok())
            .map_or(0, |m| m.bytes);
        self.sizes.insert(member.to_string(), size);
        size
    }

    /// Bytes the member holding `tokens` may still grow by.
    fn room(&mut self, tokens: &[String]) -> Result<usize> {
        let Some(member) = tokens.first() else {
            return Ok(0);
        };
        Ok(MAX_DOCUMENT_BYTES.saturating_sub(self.member_size(member)))
    }

    /// Puts `value` at `tokens`: `add` semantics when `insert`, `replace` otherwise.
    fn place(
        &mut self,
        tokens: &[String],
        value: Value,
        insert: bool,
        fail: &dyn Fn(&str) -> Error,
    ) -> Result<()> {
        let Some((last, parents)) = tokens.split_last() else {
            return Err(fail("the whole identity cannot be replaced"));
        };
        let path = pointer_of(tokens);
        // What the value displaces, for the member's size.
        let array_parent = matches!(get(self.document, parents), Some(Value::Array(_)));
        let displaced = match get(self.document, tokens) {
            Some(old) if !(insert && array_parent) => {
                Some(bounded(&mut self.work, old, &path, usize::MAX, usize::MAX)?)
            }
            _ => None,
        };
        if !insert && displaced.is_none() {
            return Err(fail("path is invalid"));
        }
        let room = self.room(tokens)? + displaced.unwrap_or(0);
        let bytes = bounded(&mut self.work, &value, &path, depth_room(tokens), room)?;
        let overhead = last.len() + 4;
        let member = &tokens[0];
        let size = self.member_size(member);
        let grown = if tokens.len() == 1 {
            bytes
        } else {
            size.saturating_sub(displaced.map_or(0, |d| d + overhead)) + bytes + overhead
        };
        if grown > MAX_DOCUMENT_BYTES {
            return Err(Error::DocumentTooLarge {
                pointer: shorten_pointer(format!("/{}", escape(member))),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let Some(parent) = get_mut(self.document, parents) else {
            return Err(fail("path is invalid"));
        };
        match parent {
            Value::Object(map) => {
                map.insert(last.clone(), value);
            }
            Value::Array(items) => {
                if insert {
                    let index = if last == "-" {
                        items.len()
                    } else {
                        array_index(last)
                            .filter(|i| *i <= items.len())
                            .ok_or_else(|| fail("path is invalid"))?
                    };
                    items.insert(index, value);
                } else {
                    let slot = array_index(last)
                        .and_then(|i| items.get_mut(i))
                        .ok_or_else(|| fail("path is invalid"))?;
                    *slot = value;
                }
            }
            _ => return Err(fail("path is invalid")),
        }
        self.sizes.insert(member.clone(), grown);
        Ok(())
    }

    /// Removes and returns the value at `tokens`.
    fn take(&mut self, tokens: &[String], fail: &dyn Fn(&str) -> Error) -> Result<Value> {
        let Some((last, parents)) = tokens.split_last() else {
            return Err(fail("the whole identity cannot be removed"));
        };
        let path = pointer_of(tokens);
        let Some(old) = get(self.document, tokens) else {
            return Err(fail("path is invalid"));
        };
        let bytes = bounded(&mut self.work, old, &path, usize::MAX, usize::MAX)?;
        let member = tokens[0].clone();
        let size = self.member_size(&member);
        let removed = match get_mut(self.document, parents) {
            Some(Value::Object(map)) => map.shift_remove(last.as_str()),
            Some(Value::Array(items)) => match array_index(last) {
                Some(index) if index < items.len() => Some(items.remove(index)),
                _ => None,
            },
            _ => None,
        };
        let removed = removed.ok_or_else(|| fail("path is invalid"))?;
        let left = if tokens.len() == 1 {
            0
        } else {
            size.saturating_sub(bytes + last.len() + 4)
        };
        self.sizes.insert(member, left);
        Ok(removed)
    }
}

/// Levels a value placed at `tokens` may nest: the identity object is level one.
fn depth_room(tokens: &[String]) -> usize {
    MAX_TOTAL_DEPTH.saturating_sub(tokens.len())
}

/// The RFC 6901 tokens of `pointer`, or `None` when it is not a pointer.
fn parse_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|token| {
            if token.contains('~') {
                let mut out = String::with_capacity(token.len());
                let mut chars = token.chars();
                while let Some(c) = chars.next() {
                    if c == '~' {
                        match chars.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => return None,
                        }
                    } else {
                        out.push(c);
                    }
                }
                Some(out)
            } else {
                Some(token.to_string())
            }
        })
        .collect()
}

/// An array index as RFC 6901 spells it: digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

fn get<'v>(mut value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get(token.as_str())?,
            Value::Array(items) => items.get(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn get_mut<'v>(mut value: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get_mut(token.as_str())?,
            Value::Array(items) => items.get_mut(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn pointer_of(tokens: &[String]) -> String {
    let mut pointer = String::new();
    for token in tokens {
        pointer.push('/');
        push_escaped(&mut pointer, token);
    }
    pointer
}

fn escape(token: &str) -> String {
    let mut out = String::new();
    push_escaped(&mut out, token);
    out
}

/// The first segment of a pointer text (still escaped).
fn top_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(value: Value) -> Vec<Operation> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn applies_rfc6902() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": "x"});
        apply(
            &mut doc,
            ops(json!([
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "remove", "path": "/a/b/0"},
                {"op": "replace", "path": "/c", "value": "y"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/a/e"},
                {"op": "test", "path": "/a/e", "value": "y"},
            ])),
        )
        .unwrap();
        assert_eq!(doc, json!({"a": {"b": [9, 2, 3], "e": "y"}, "c": "y"}));
        let error = apply(
            &mut json!({}),
            ops(json!([{"op": "replace", "path": "/x", "value": 1}])),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to apply JSON patch: operation '/0' failed at path '/x': path is invalid"
        );
    }

    #[test]
    fn copies_cannot_nest_past_the_depth_bound() {
        // Each copy of the document into its own `a` nests it one level deeper.
        let mut doc = json!({"metadata_admin": {"a": {}}});
        let mut patch = Vec::new();
        for _ in 0..80 {
            patch.push(
                json!({"op": "copy", "from": "/metadata_admin", "path": "/metadata_admin/a"}),
            );
        }
        let error = apply(&mut doc, ops(Value::Array(patch))).unwrap_err();
        let Error::DocumentTooDeep { pointer, .. } = error else {
            panic!("{error:?}");
        };
        assert!(pointer.starts_with("/metadata_admin/a/a/"), "{pointer}");
    }

    #[test]
    fn copies_cannot_double_past_the_size_bound() {
        let mut doc = json!({"metadata_admin": {"a": "x".repeat(1000)}});
        let mut patch = Vec::new();
        for i in 0..24 {
            patch.push(json!({"op": "copy", "from": "/metadata_admin", "path": format!("/metadata_admin/{i}")}));
        }
        let error = apply(&mut doc, ops(Value::Array(patch))).unwrap_err();
        assert!(
            matches!(&error, Error::DocumentTooLarge { pointer, .. } if pointer == "/metadata_admin"),
            "{error:?}"
        );
    }
}
