//! The kratos CLI's other output formats: YAML, and a part of the JSON picked by a gjson
//! path (`--format jsonpath=traits.email`) or a JSON pointer.

use serde_json::Value;

/// `value` as block-style YAML. Strings that could read as anything else are written in
/// double quotes, whose escapes YAML shares with JSON.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&scalar_string(key));
                out.push(':');
                write_nested(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write_nested(item, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// What follows `key:` or `-`: a scalar on the same line, or a block below, indented.
fn write_nested(item: &Value, indent: usize, out: &mut String) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string plain when YAML would read it back as the same string, else double-quoted.
fn scalar_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@' | '+'))
        && !text.starts_with(['-', '.', '+'])
        && text.parse::<f64>().is_err()
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        );
    match plain {
        true => text.to_string(),
        false => Value::String(text.to_string()).to_string(),
    }
}

/// The part of `value` a gjson path picks, as the kratos CLI's `jsonpath=` does: keys
/// separated by `.` (`\.` for a dot in a key, `*` and `?` as wildcards), array indexes,
/// `#` for an array's length and `#.key` for that key of every element. Nothing found is
/// `null`. gjson's queries and modifiers are not supported.
pub fn gjson_path(value: &Value, path: &str) -> Value {
    let segments = split_path(path);
    pick(value, &segments).unwrap_or(Value::Null)
}

fn split_path(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            '.' => segments.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    segments.push(current);
    segments
}

fn pick(value: &Value, segments: &[String]) -> Option<Value> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Array(items) if first == "#" => match rest.is_empty() {
            true => Some(Value::from(items.len())),
            false => Some(Value::Array(
                items.iter().filter_map(|item| pick(item, rest)).collect(),
            )),
        },
        Value::Array(items) => pick(items.get(first.parse::<usize>().ok()?)?, rest),
        Value::Object(map) => {
            let found = match map.get(first.as_str()) {
                Some(found) => Some(found),
                None => map
                    .iter()
                    .find(|(key, _)| wildcard_match(first, key))
                    .map(|(_, v)| v),
            };
            pick(found?, rest)
        }
        _ => None,
    }
}

/// gjson's key wildcards: `*` any run of characters, `?` any one.
fn wildcard_match(pattern: &str, key: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return false;
    }
    let (p, k): (Vec<char>, Vec<char>) = (pattern.chars().collect(), key.chars().collect());
    let mut matches = vec![vec![false; k.len() + 1]; p.len() + 1];
    matches[0][0] = true;
    for i in 1..=p.len() {
        if p[i - 1] == '*' {
            matches[i][0] = matches[i - 1][0];
        }
        for j in 1..=k.len() {
            matches[i][j] = match p[i - 1] {
                '*' => matches[i - 1][j] || matches[i][j - 1],
                '?' => matches[i - 1][j - 1],
                c => c == k[j - 1] && matches[i - 1][j - 1],
            };
        }
    }
    matches[p.len()][k.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gjson_paths_pick_keys_indexes_counts_and_wildcards() {
        let value = json!({"id": "a", "traits": {"email": "x@y.org"},
            "addresses": [{"value": "p"}, {"value": "q"}], "a.b": 1});
        assert_eq!(gjson_path(&value, "traits.email"), json!("x@y.org"));
        assert_eq!(gjson_path(&value, "addresses.1.value"), json!("q"));
        assert_eq!(gjson_path(&value, "addresses.#"), json!(2));
        assert_eq!(gjson_path(&value, "addresses.#.value"), json!(["p", "q"]));
        assert_eq!(gjson_path(&value, "tr*.em?il"), json!("x@y.org"));
        assert_eq!(gjson_path(&value, "a\\.b"), json!(1));
        assert_eq!(gjson_path(&value, "nope"), Value::Null);
    }

    #[test]
    fn yaml_reads_back_as_the_same_value_for_awkward_strings() {
        let value = json!({"s": "yes", "num": "12", "n": 1, "e": "", "q": "a: b", "list": [1, {"k": null}],
            "empty": {}, "none": []});
        let text = yaml(&value);
        assert!(text.contains("s: \"yes\""), "{text}");
        assert!(text.contains("num: \"12\""), "{text}");
        // `n` reads as a boolean in YAML 1.1: the key is quoted.
        assert!(text.contains("\"n\": 1"), "{text}");
        assert!(text.contains("e: \"\""), "{text}");
        assert!(text.contains("q: \"a: b\""), "{text}");
        assert!(text.contains("list:\n  - 1\n  -\n    k: null"), "{text}");
        assert!(text.contains("empty: {}"), "{text}");
    }
}
