//! Bounds on identity documents (traits, metadata_public, metadata_admin): how deep they may
//! nest and how large they may be, measured without recursion.
//!
//! Every document kith writes must be one it can read back: serde_json refuses to read JSON
//! nested past 128 levels, and a document without a size bound can exhaust memory. The
//! bounds live here, in one place, and every write path measures against them.

use serde_json::Value;

/// Containers one identity document may nest (`{}` is depth 1).
pub const MAX_DOCUMENT_DEPTH: usize = 64;
/// Bytes of compact JSON one identity document may take.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

/// A pointer in an error is cut at this many bytes, so a refusal of a huge document stays small.
const MAX_POINTER_SHOWN: usize = 512;

/// How a value crossed a bound, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Excess {
    /// The container at `pointer` (relative to the measured value) nests too deep.
    Depth { pointer: String },
    /// The value grew past the byte budget.
    Size,
}

/// The depth and compact JSON size of a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    pub depth: usize,
    pub bytes: usize,
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

enum Frame<'a> {
    Object(serde_json::map::Iter<'a>),
    Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
}

/// Measures `value`, stopping as soon as it nests deeper than `max_depth` or takes more than
/// `max_bytes`. Iterative, so any value can be measured whatever its depth.
///
/// # Errors
/// [`Excess`] naming the first container past the depth bound, or the size bound.
pub fn measure(value: &Value, max_depth: usize, max_bytes: usize) -> Result<Measure, Excess> {
    let mut bytes = 0usize;
    let mut deepest = 0usize;
    let mut path: Vec<Segment<'_>> = Vec::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(value) = next.take() {
            bytes += match value {
                Value::Null => 4,
                Value::Bool(true) => 4,
                Value::Bool(false) => 5,
                Value::Number(number) => number_len(number),
                Value::String(text) => string_len(text),
                // Brackets; commas and colons are counted with each member.
                Value::Array(_) | Value::Object(_) => 2,
            };
            match value {
                Value::Array(items) => {
                    stack.push(Frame::Array(items.iter().enumerate()));
                }
                Value::Object(map) => {
                    stack.push(Frame::Object(map.iter()));
                }
                _ => {}
            }
            if stack.len() > max_depth {
                return Err(Excess::Depth {
                    pointer: pointer_text(&path),
                });
            }
            deepest = deepest.max(stack.len());
            if bytes > max_bytes {
                return Err(Excess::Size);
            }
        }
        let Some(frame) = stack.last_mut() else {
            return Ok(Measure {
                depth: deepest,
                bytes,
            });
        };
        let member = match frame {
            Frame::Object(iter) => iter
                .next()
                .map(|(key, value)| (Segment::Key(key.as_str()), value, string_len(key) + 2)),
            Frame::Array(iter) => iter
                .next()
                .map(|(index, value)| (Segment::Index(index), value, 1)),
        };
        match member {
            Some((segment, value, overhead)) => {
                // A member's separator (`,` or `"key":,`) is counted with it: an upper bound
                // by at most one byte per container.
                bytes += overhead;
                if path.len() >= stack.len() {
                    path.truncate(stack.len() - 1);
                }
                path.push(segment);
                next = Some(value);
            }
            None => {
                stack.pop();
                path.truncate(stack.len());
            }
        }
    }
}

/// Bytes of a number's JSON text; floats count as the longest text serde_json writes.
fn number_len(number: &serde_json::Number) -> usize {
    fn digits(mut n: u64) -> usize {
        let mut count = 1;
        while n >= 10 {
            n /= 10;
            count += 1;
        }
        count
    }
    if let Some(n) = number.as_u64() {
        digits(n)
    } else if let Some(n) = number.as_i64() {
        digits(n.unsigned_abs()) + 1
    } else {
        24
    }
}

/// Bytes of a string's JSON text, quotes and escapes included.
fn string_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

fn pointer_text(path: &[Segment<'_>]) -> String {
    let mut pointer = String::new();
    for segment in path {
        pointer.push('/');
        match segment {
            Segment::Key(key) => push_escaped(&mut pointer, key),
            Segment::Index(index) => pointer.push_str(&index.to_string()),
        }
        if pointer.len() > MAX_POINTER_SHOWN {
            return shorten_pointer(pointer);
        }
    }
    pointer
}

/// Appends `key` to a JSON pointer, escaped as RFC 6901 says.
pub fn push_escaped(pointer: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// A pointer fit for an error message: cut (with `…`) when it is longer than a screen.
pub fn shorten_pointer(mut pointer: String) -> String {
    if pointer.len() > MAX_POINTER_SHOWN {
        let mut cut = MAX_POINTER_SHOWN;
        while !pointer.is_char_boundary(cut) {
            cut -= 1;
        }
        pointer.truncate(cut);
        pointer.push('…');
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn measures_the_compact_text() {
        for value in [
            json!(null),
            json!({}),
            json!([]),
            json!({"a": [1, -20, true, false, null, "x\"\n\u{1}é"], "b": {"c": {}}}),
            json!([[], [[]], {"k": "v"}]),
        ] {
            let measured = measure(&value, 100, usize::MAX).unwrap();
            let text = value.to_string().len();
            assert!(
                measured.bytes >= text && measured.bytes <= text + 8,
                "{value}: {measured:?} vs {text}"
            );
        }
        assert_eq!(measure(&json!(1), 1, 100).unwrap().depth, 0);
        assert_eq!(measure(&json!({"a": [{}]}), 3, 100).unwrap().depth, 3);
    }

    #[test]
    fn names_the_first_container_past_the_depth_bound() {
        let value = json!({"a": {"b": [0, {"c": {}}]}});
        // Five containers: the root, a, b, b's second item and c's empty object.
        assert_eq!(measure(&value, 5, usize::MAX).unwrap().depth, 5);
        assert_eq!(
            measure(&value, 4, usize::MAX),
            Err(Excess::Depth {
                pointer: "/a/b/1/c".into()
            })
        );
        assert_eq!(
            measure(&json!({"x/y": {}}), 1, usize::MAX),
            Err(Excess::Depth {
                pointer: "/x~1y".into()
            })
        );
    }

    #[test]
    fn stops_at_the_size_bound() {
        assert_eq!(measure(&json!(["abcdef"]), 10, 5), Err(Excess::Size));
    }
}
