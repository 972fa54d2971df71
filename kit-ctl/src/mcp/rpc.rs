//! JSON-RPC 2.0 as MCP uses it: requests get a response, notifications
//! none. A tool's failure (bad arguments, unknown task, busy DB) is a
//! result with `isError`, whose text names the problem; protocol errors are
//! kept for malformed messages and unknown methods.

use super::tools::{self, Via};
use super::{resources, rest, Backend};
use crate::api::http::ApiError;
use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
/// A resource that cannot be read now (the DB is missing or busy).
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP's code for a resource URI the server does not have.
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// Newest first; a client asking for one of these gets it, else the newest.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

pub fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

/// One message (or a batch) as received: the reply to send, if any.
pub fn handle_bytes(b: &Backend, bytes: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => Some(error(Value::Null, PARSE_ERROR, format!("not JSON: {e}"))),
        Ok(Value::Array(batch)) => {
            let out: Vec<Value> = batch.into_iter().filter_map(|m| handle(b, m)).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Ok(m) => handle(b, m),
    }
}

pub fn handle(b: &Backend, msg: Value) -> Option<Value> {
    let Value::Object(m) = msg else {
        return Some(error(
            Value::Null,
            INVALID_REQUEST,
            "a message must be a JSON object",
        ));
    };
    let id = m.get("id").cloned();
    let Some(method) = m.get("method").and_then(Value::as_str) else {
        // A response to a request of ours: we send none, so nothing to do.
        return None;
    };
    // Notifications (initialized, cancelled...) need no answer.
    let id = id?;
    let params = match m.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Some(error(id, INVALID_PARAMS, "params must be an object")),
    };
    let result = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => {
            Ok(json!({ "tools": tools::TOOLS.iter().map(|t| t.describe()).collect::<Vec<_>>() }))
        }
        "tools/call" => Ok(call_tool(b, &params)),
        "resources/list" => Ok(json!({ "resources": resources::list() })),
        "resources/templates/list" => Ok(json!({ "resourceTemplates": [] })),
        "resources/read" => resources::read(b, &params),
        _ => Err((
            METHOD_NOT_FOUND,
            format!("method {method:?} is not supported"),
        )),
    };
    Some(match result {
        Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
        Err((code, message)) => error(id, code, message),
    })
}

fn initialize(params: &Map<String, Value>) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "resources": {} },
        "serverInfo": { "name": "kit", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "kit schedules and supervises this agent's tasks and daemons. \
            Start with `status`; `why` explains a task's last slot; `history` and \
            `execution_output` show what ran. Tasks change through create_task, \
            update_task and delete_task, checked like `kit-ctl apply`.",
    })
}

/// `tools/call`: always a result; failures carry `isError`.
fn call_tool(b: &Backend, params: &Map<String, Value>) -> Value {
    match run_tool(b, params) {
        Ok(v) => json!({
            "content": [{ "type": "text", "text": pretty(&v) }],
            "structuredContent": v,
            "isError": false,
        }),
        Err(e) => {
            let v = serde_json::to_value(&e).unwrap_or_default();
            json!({
                "content": [{ "type": "text", "text": e.error }],
                "structuredContent": v,
                "isError": true,
            })
        }
    }
}

fn run_tool(b: &Backend, params: &Map<String, Value>) -> Result<Value, ApiError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let tool = tools::find(name).ok_or_else(|| {
        let known: Vec<&str> = tools::TOOLS.iter().map(|t| t.name).collect();
        ApiError::bad_request(
            "name",
            format!("unknown tool {name:?} (tools: {})", known.join(", ")),
        )
    })?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(
                "arguments",
                format!("arguments must be a JSON object, got {other}"),
            ))
        }
    };
    tool.check(&args)?;
    match &tool.via {
        Via::Rest { method, path } => rest::call(b, method, path, tool.args, &args),
        Via::Func(f) => f(b, &args),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
