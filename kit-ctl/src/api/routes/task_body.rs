//! Turning a request body into a `Task`: the same serde model and the same
//! validator as the TOML file and `kit-ctl add`, with errors that name the
//! field. 400 = the body is not JSON at all; 422 = it is JSON but not a
//! valid task (unknown/missing field, wrong type, a value the validator
//! refuses).

use crate::api::http::{ApiError, Req};
use kit_db::task::Task;
use serde_json::{Map, Value};

/// Parses the body as a JSON object.
pub fn object(req: &Req) -> Result<Map<String, Value>, ApiError> {
    req.require_json()?;
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            "the request body is empty: send the task as a JSON object",
        ));
    }
    let v: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::new(400, format!("the request body is not valid JSON: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::new(
            422,
            format!("expected a JSON object (a task), got {}", kind(&other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds and validates a task from a JSON object. With `path_name` (PUT,
/// PATCH) the name comes from the URL: a body may omit it but not contradict it.
pub fn task(mut obj: Map<String, Value>, path_name: Option<&str>) -> Result<Task, ApiError> {
    if let Some(name) = path_name {
        match obj.get("name") {
            None => {
                obj.insert("name".into(), Value::String(name.to_string()));
            }
            Some(Value::String(n)) if n == name => {}
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "name",
                    format!(
                        "the body names task {other} but the URL names {name:?}: \
                         a task cannot be renamed (create the new name, then delete the old one)"
                    ),
                ))
            }
        }
    }
    let task: Task = serde_path_to_error::deserialize(Value::Object(obj)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = field_of(&path, &inner);
        let message = if inner.contains("untagged enum Command") {
            "expected a string (run by /bin/sh -c) or an array of strings (exec'd as is)"
                .to_string()
        } else {
            inner
        };
        let shown = if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        ApiError::unprocessable(&field, shown)
    })?;
    kit_db::task::validate(&task)
        .map_err(|e| ApiError::unprocessable(&e.field, format!("{}: {}", e.field, e.message)))?;
    Ok(task)
}

/// The field a serde error is about: its path, plus the name serde quotes
/// for unknown and missing fields (which sit one level below the path).
fn field_of(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let quoted = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match quoted {
        Some(q) if base.is_empty() => q.to_string(),
        Some(q) if !base.ends_with(q) => format!("{base}.{q}"),
        _ => base.to_string(),
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes a
/// key (back to its default), anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn errors_name_the_field() {
        let e = task(obj(json!({"name": "a", "command": "x"})), None).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("schedule")));
        let e = task(
            obj(json!({"name": "a", "schedule": "@hourly", "command": "x", "colour": 1})),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
        let e = task(
            obj(json!({"name": "a", "schedule": "@hourly", "command": "x", "retries": "three"})),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("retries"));
        let e = task(
            obj(json!({"name": "a", "schedule": "@hourly", "command": 5})),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("command"));
        let e = task(obj(json!({"name": "a", "schedule": "@hourly", "command": "x", "limits": {"nofile": "x"}})), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limits.nofile"));
        let e = task(
            obj(
                json!({"name": "a", "schedule": "@hourly", "command": "x", "limits": {"bogus": 1}}),
            ),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limits.bogus"));
        let e = task(
            obj(json!({"name": "a", "schedule": "61 * * * *", "command": "x"})),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedule"));
        let e = task(
            obj(
                json!({"name": "a", "schedule": "@hourly", "command": "x", "timeout": "5 parsecs"}),
            ),
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("timeout"));
    }

    #[test]
    fn the_url_names_the_task() {
        let t = task(
            obj(json!({"schedule": "@hourly", "command": ["true"]})),
            Some("b"),
        )
        .unwrap();
        assert_eq!(t.name, "b");
        let e = task(
            obj(json!({"name": "a", "schedule": "@hourly", "command": "x"})),
            Some("b"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 4}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 4, "d": 3}, "e": [1]}));
    }
}
