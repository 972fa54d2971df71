//! The OpenAPI 3 document of the API, served at `/v1/openapi.json`. It is
//! kept as a JSON file beside this one (readable and diffable); the tests
//! check it against the route table in both directions, validate it with
//! openapi-spec-validator, and run schemathesis against a live server.

pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document, with `info.version` set to this build's version.
pub fn document() -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("the embedded OpenAPI document is invalid: {e}") })
    });
    if let Some(info) = v.get_mut("info").and_then(|i| i.as_object_mut()) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::router::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "patch", "delete", "head", "options"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json documents routes that do not exist: {extra:?}"
        );
    }

    #[test]
    fn the_task_schema_has_every_field_of_the_task_model() {
        // A task with every optional field set serialises every key.
        let mut full = serde_json::json!({
            "name": "x", "schedule": "@hourly", "command": ["true"], "description": "d",
            "enabled": false, "timezone": "UTC", "timeout": "1m", "kill_grace": "1s", "cwd": "/",
            "nice": 1, "catch_up": "none", "catch_up_max_age": "1h", "overlap": "allow",
            "jitter": "1s", "after": [{"task": "y", "on": "failure"}], "debounce": "30s",
            "retries": 1, "retry_delay": "1s", "retry_max_delay": "1m",
            "output_cap": "64KiB", "restart_delay": "1s", "restart_max_delay": "1m",
            "stable_after": "1m", "quarantine": "1m", "stop_signal": "TERM", "stop_timeout": "1s",
            "log_max_size": "1MiB", "log_files": 2, "env": {"A": "b"},
            "limits": {"nofile": 10, "cpu": "1s", "as": "1GiB", "fsize": "1MiB"},
            "crashloop": {"failures": 2, "within": "1m"},
            "health": {"command": "true", "every": "1s", "timeout": "1s", "failures": 1, "start_period": "1s"},
            "recovery": {"failure_threshold": 1, "max_attempts": 1, "cooldown": "1m",
                         "actions": ["run:x"], "escalate": "notify"},
        });
        // In parts: one json! of every field passes the macro's recursion limit.
        full["when"] = serde_json::json!({"command": "true", "every": "10m", "timeout": "30s",
                                          "fire": "level", "min_interval": "1h"});
        full["watch"] = serde_json::json!({"paths": ["/"], "debounce": "5s"});
        full["success_exit"] = serde_json::json!([0, 10]);
        full["rate_limit"] = serde_json::json!("12/1h");
        full["adapt"] =
            serde_json::json!([{"when": "exit:10", "schedule": "*/15 * * * *", "for": "6h"}]);
        let task: kit_db::task::Task = serde_json::from_value(full).expect("task");
        let v = serde_json::to_value(&task).expect("json");
        let doc = document();
        let props = &doc["components"]["schemas"]["TaskSpec"]["properties"];
        for (k, sub) in v.as_object().expect("object") {
            assert!(props.get(k).is_some(), "TaskSpec lacks field {k:?}");
            if let (Some(o), Some(schema)) = (sub.as_object(), props[k].get("properties")) {
                for kk in o.keys() {
                    assert!(schema.get(kk).is_some(), "TaskSpec.{k} lacks field {kk:?}");
                }
            }
        }
        let names: Vec<&String> = props.as_object().expect("props").keys().collect();
        assert_eq!(
            names.len(),
            v.as_object().expect("object").len(),
            "schema fields: {names:?}"
        );
    }
}
