//! Resources, for clients that read context rather than call tools: the
//! task file as `kit-ctl export` prints it, and the recent failures with
//! the tail of their output.

use super::rpc::{INTERNAL_ERROR, RESOURCE_NOT_FOUND};
use super::Backend;
use crate::cmd::{history, tasks};
use kit_db::{exec, task::file};
use serde_json::{json, Map, Value};

pub const TASK_FILE: &str = "kit://tasks.toml";
pub const FAILURES: &str = "kit://failures";

/// How many failures, and how much of each one's output (its end, where
/// the error usually is).
const FAILURES_SHOWN: usize = 10;
const OUTPUT_TAIL: usize = 4096;

pub fn list() -> Value {
    json!([
        {
            "uri": TASK_FILE,
            "name": "tasks.toml",
            "title": "The task file",
            "description": "Every task as `kit-ctl export` prints it (`kit-ctl apply` reads it back)",
            "mimeType": "application/toml",
        },
        {
            "uri": FAILURES,
            "name": "failures",
            "title": "Recent failures",
            "description": "The last 10 executions that failed, timed out, were killed, lost or errored, with the end of their output",
            "mimeType": "application/json",
        },
    ])
}

pub fn read(b: &Backend, params: &Map<String, Value>) -> Result<Value, (i64, String)> {
    let uri = params
        .get("uri")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let store = b.store().map_err(|e| (INTERNAL_ERROR, e.error))?;
    let fail = |e: anyhow::Error| (INTERNAL_ERROR, format!("{uri}: {e:#}"));
    let (mime, text) = match uri {
        TASK_FILE => {
            let f = tasks::task_file(store).map_err(fail)?;
            ("application/toml", file::export(&f))
        }
        FAILURES => {
            let f = history::Filter {
                task: None,
                statuses: ["failed", "timeout", "killed", "lost", "error"]
                    .map(String::from)
                    .to_vec(),
                since: None,
                until: None,
                limit: FAILURES_SHOWN,
                before_id: None,
            };
            let mut out = Vec::new();
            for e in history::query(store, &f).map_err(fail)? {
                let bytes = exec::output(&store.conn, e.id)
                    .map_err(|e| fail(e.into()))?
                    .unwrap_or_default();
                let tail = &bytes[bytes.len().saturating_sub(OUTPUT_TAIL)..];
                out.push(json!({
                    "execution": e,
                    "output_bytes": bytes.len(),
                    "output_tail": String::from_utf8_lossy(tail),
                }));
            }
            let text =
                serde_json::to_string_pretty(&json!({ "failures": out })).unwrap_or_default();
            ("application/json", text)
        }
        _ => {
            return Err((
                RESOURCE_NOT_FOUND,
                format!("no resource {uri:?} (resources: {TASK_FILE}, {FAILURES})"),
            ))
        }
    };
    Ok(json!({ "contents": [{ "uri": uri, "mimeType": mime, "text": text }] }))
}
