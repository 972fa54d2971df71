//! `/v1/executions`: history through `cmd::history::query` (the query
//! `kit-ctl history` runs), newest first, paged with a `before_id` cursor:
//! pass the `next_before_id` of one page to get the next. A cursor (not an
//! offset) stays correct while new executions are being recorded.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use crate::cmd::history::{self, Filter};
use kit_db::{clock, exec};
use serde_json::{json, Value};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

fn instant(call: &Call, key: &str) -> Result<Option<clock::Instant>, ApiError> {
    match call.req.param(key) {
        None | Some("") => Ok(None),
        Some(v) => clock::parse_instant(v)
            .map(Some)
            .map_err(|e| ApiError::bad_request(key, format!("{key}: {e}"))),
    }
}

pub fn list(call: &Call) -> Result<Reply, ApiError> {
    let req = call.req;
    req.only_params(&["task", "status", "since", "until", "limit", "before_id"])?;
    let limit = req.int_param("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let statuses = match req.param("status") {
        None => Vec::new(),
        Some(s) => history::parse_statuses(s).map_err(|e| {
            ApiError::bad_request("status", e.to_string().replace("--status", "status"))
        })?,
    };
    let f = Filter {
        task: req
            .param("task")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        statuses,
        since: instant(call, "since")?,
        until: instant(call, "until")?,
        // One more than asked tells whether there is a next page.
        limit: limit as usize + 1,
        before_id: req.opt_id_param("before_id")?,
    };
    let (rows, next) = super::page(history::query(call.store, &f)?, limit, |e| e.id);
    Ok(Reply::ok(
        &json!({ "executions": rows, "next_before_id": next }),
    ))
}

/// One execution with its captured output (stdout and stderr interleaved;
/// head and tail kept when it passed the task's output_cap).
pub fn get(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let raw = call.param("id");
    let id: i64 = raw.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::bad_request(
            "id",
            format!("execution id {raw:?} is not a positive integer"),
        )
    })?;
    let e = exec::get(&call.store.conn, id)?
        .ok_or_else(|| ApiError::not_found(format!("no execution with id {id}")))?;
    let output = exec::output(&call.store.conn, id)?;
    let mut v = serde_json::to_value(&e).map_err(|e| ApiError::new(500, e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "output".into(),
            output.map_or(Value::Null, |o| {
                Value::String(String::from_utf8_lossy(&o).into_owned())
            }),
        );
    }
    Ok(Reply::ok(&v))
}
