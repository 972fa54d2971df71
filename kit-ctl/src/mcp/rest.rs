//! A tool answered by a REST handler, called in-process: the arguments
//! become the path, query and body of a request to the same route
//! `kit-ctl serve` serves, and the reply's JSON becomes the tool's result.

use super::tools::{Arg, Ty};
use super::Backend;
use crate::api::http::{ApiError, Req};
use crate::api::router::{self, Call, Found};
use serde_json::{Map, Value};

pub fn call(
    b: &Backend,
    method: &str,
    pattern: &str,
    spec: &[Arg],
    args: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let mut path = pattern.to_string();
    let mut query = Vec::new();
    let mut body = Vec::new();
    for a in spec {
        let Some(v) = args.get(a.name).filter(|v| !v.is_null()) else {
            continue;
        };
        let hole = format!("{{{}}}", a.name);
        if path.contains(&hole) {
            let s = v.as_str().unwrap_or_default();
            // The router splits on '/': a name holding one would reach
            // another route. No task name can hold one.
            if s.is_empty() || s.contains('/') {
                return Err(ApiError::bad_request(
                    a.name,
                    format!("{}: {s:?} is not a valid task name", a.name),
                ));
            }
            path = path.replace(&hole, s);
        } else if a.ty == Ty::Object {
            body = serde_json::to_vec(v).map_err(|e| ApiError::new(500, e.to_string()))?;
        } else {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            query.push((a.name.to_string(), text));
        }
    }
    let Found::Route(route, params) = router::find(method, &path) else {
        return Err(ApiError::new(500, format!("no route {method} {path}")));
    };
    let req = Req {
        method: method.to_string(),
        path,
        query,
        content_type: Some("application/json".into()),
        idempotency_key: None,
        body,
    };
    let store = b.store()?;
    let call = Call {
        app: b.app,
        store,
        req: &req,
        params,
    };
    let reply = (route.handler)(&call)?;
    if reply.content_type == "application/json" {
        serde_json::from_slice(&reply.body).map_err(|e| ApiError::new(500, e.to_string()))
    } else {
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        Ok(serde_json::json!({ "text": text }))
    }
}
