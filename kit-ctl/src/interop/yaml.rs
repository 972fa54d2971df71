//! A block-style YAML writer for JSON values, enough for Kubernetes
//! manifests: strings are written as JSON strings (a JSON string is a valid
//! YAML double-quoted scalar), so nothing needs YAML's quoting rules, and
//! no YAML library is needed for output this simple.

use serde_json::Value;
use std::fmt::Write;

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        // Every other value a caller passes here is a scalar.
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// A key, bare when it is plainly safe, else quoted.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if plain {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn write(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                if is_block(v) {
                    let _ = writeln!(out, "{pad}{}:", key(k));
                    write(out, v, indent + 2);
                } else {
                    let _ = writeln!(out, "{pad}{}: {}", key(k), scalar(v));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    // The item's first line goes after "- ", the rest below it.
                    let mut inner = String::new();
                    write(&mut inner, item, indent + 2);
                    let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                } else {
                    let _ = writeln!(out, "{pad}- {}", scalar(item));
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

/// One YAML document for `v` (no `---`).
pub fn document(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists_of_maps() {
        let v = json!({
            "a": {"b": 1, "c": [1, "x"], "e": {}},
            "l": [{"name": "n", "value": "v: \"q\""}, {"x": [true]}],
        });
        assert_eq!(
            document(&v),
            "a:\n  b: 1\n  c:\n    - 1\n    - \"x\"\n  e: {}\n\
             l:\n  - name: \"n\"\n    value: \"v: \\\"q\\\"\"\n  - x:\n      - true\n"
        );
    }
}
