//! The two tools the REST API has no route for: an execution's output a
//! page at a time (a model's context is small; outputs can be megabytes),
//! and a task's next fire times (what `kit-ctl next` prints).

use super::Backend;
use crate::api::http::ApiError;
use crate::cmd::next;
use kit_db::{clock, exec};
use serde_json::{json, Map, Value};

pub const OUTPUT_DEFAULT: i64 = 64 * 1024;
pub const OUTPUT_MAX: i64 = 1 << 20;
pub const NEXT_MAX: i64 = 100;

fn int(
    args: &Map<String, Value>,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match args.get(key).and_then(Value::as_i64) {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            key,
            format!("{key}={n}: expected an integer from {min} to {max}"),
        )),
    }
}

pub fn output(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let id = int(args, "id", 0, 1, i64::MAX)?;
    let offset = int(args, "offset", 0, 0, i64::MAX)?;
    let limit = int(args, "limit", OUTPUT_DEFAULT, 1, OUTPUT_MAX)?;
    let conn = &b.store()?.conn;
    let e = exec::get(conn, id)?
        .ok_or_else(|| ApiError::not_found(format!("no execution with id {id}")))?;
    let bytes = exec::output(conn, id)?.unwrap_or_default();
    let total = bytes.len();
    let start = (offset as usize).min(total);
    let end = start.saturating_add(limit as usize).min(total);
    Ok(json!({
        "execution": e,
        "total_bytes": total,
        "offset": start,
        "returned_bytes": end - start,
        "next_offset": (end < total).then_some(end),
        // Lossy: a page may cut a UTF-8 sequence at either end.
        "output": String::from_utf8_lossy(&bytes[start..end]),
    }))
}

pub fn next_runs(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
    let count = int(args, "count", 5, 1, NEXT_MAX)?;
    let from = match args.get("from").and_then(Value::as_str) {
        Some(f) => clock::parse_instant(f)
            .map_err(|e| ApiError::bad_request("from", format!("from: {e}")))?,
        None => {
            clock::now(b.app.now_flag.as_deref()).map_err(|e| ApiError::new(500, e.to_string()))?
        }
    };
    let store = b.store()?;
    let (expr, zone) = next::task_schedule(&store.conn, name, None)?;
    if !matches!(expr.trim(), "@daemon" | "@reboot") {
        // Under the schedule in force: adaptations, overrides, pauses and
        // one-shot runs included (as `kit-ctl next NAME`).
        let task = kit_db::task::repo::require(&store.conn, name)?.task;
        let runs: Vec<Value> =
            kit_db::adapt::view::next_runs(&store.conn, &task, zone, from, count as usize)?
                .into_iter()
                .map(|r| {
                    json!({
                        "at": r.instant.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        "utc": r.at, "source": r.source, "paused": r.paused, "note": r.note,
                    })
                })
                .collect();
        return Ok(
            json!({ "task": name, "schedule": expr, "timezone": zone.name(), "runs": runs }),
        );
    }
    let runs: Vec<Value> = next::fire_times(&expr, zone, from, count as usize)
        .map_err(|e| ApiError::new(422, format!("task {name:?}: {e:#}")))?
        .into_iter()
        .map(|t| {
            json!({
                "at": t.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "utc": clock::fmt(t),
            })
        })
        .collect();
    Ok(json!({
        "task": name,
        "schedule": expr,
        "timezone": zone.name(),
        "runs": runs,
    }))
}
