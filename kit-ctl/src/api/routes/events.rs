//! `GET /v1/events`: the episode transitions kit-heal and kit-keep record
//! (failing, recovered, crashloop, ...), newest first, with their delivery
//! state. Paged with the `before_id` cursor like `/v1/executions`.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use rusqlite::types::Value as Sql;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Serialize)]
struct Event {
    id: i64,
    created_at: String,
    kind: String,
    severity: String,
    task: Option<String>,
    message: String,
    detail: Option<serde_json::Value>,
    delivery: String,
    attempts: i64,
    delivered_at: Option<String>,
    last_error: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

pub fn list(call: &Call) -> Result<Reply, ApiError> {
    let req = call.req;
    req.only_params(&["task", "kind", "limit", "before_id"])?;
    let limit = req.int_param("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut sql = String::from(
        "SELECT id, created_at, kind, severity, task, message, detail, delivery, attempts,
                delivered_at, last_error
         FROM supervisor_events WHERE 1 = 1",
    );
    let mut args: Vec<Sql> = Vec::new();
    if let Some(t) = req.param("task").filter(|t| !t.is_empty()) {
        args.push(Sql::Text(t.to_string()));
        sql.push_str(&format!(" AND task = ?{}", args.len()));
    }
    if let Some(k) = req.param("kind").filter(|k| !k.is_empty()) {
        args.push(Sql::Text(k.to_string()));
        sql.push_str(&format!(" AND kind = ?{}", args.len()));
    }
    if let Some(b) = req.opt_id_param("before_id")? {
        args.push(Sql::Integer(b));
        sql.push_str(&format!(" AND id < ?{}", args.len()));
    }
    // One more than asked tells whether there is a next page.
    args.push(Sql::Integer(limit + 1));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
    let mut stmt = call.store.conn.prepare(&sql)?;
    let mut events = stmt
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok(Event {
                id: r.get(0)?,
                created_at: r.get(1)?,
                kind: r.get(2)?,
                severity: r.get(3)?,
                task: r.get(4)?,
                message: r.get(5)?,
                detail: r
                    .get::<_, Option<String>>(6)?
                    .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
                delivery: r.get(7)?,
                attempts: r.get(8)?,
                delivered_at: r.get(9)?,
                last_error: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next = if more {
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Reply::ok(
        &json!({ "events": events, "next_before_id": next }),
    ))
}
