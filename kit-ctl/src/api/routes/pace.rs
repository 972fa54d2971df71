//! Adaptive schedules over the API: overrides, pauses, one-shot runs and
//! the next runs under the schedule in force, through the same
//! `kit_db::adapt::control` functions as the CLI. `set_by` is `api`.

use super::task_body;
use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use kit_db::adapt::{control, rows, view};
use kit_db::settings::Settings;
use kit_db::task::repo;
use serde_json::{json, Map, Value};

const SET_BY: &str = "api";

/// The known string fields of a body; anything else is a 422 naming it.
fn fields<'a>(
    obj: &'a Map<String, Value>,
    known: &[&str],
) -> Result<Vec<Option<&'a str>>, ApiError> {
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::unprocessable(
            k,
            format!("unknown field {k:?} (expected {})", known.join(", ")),
        ));
    }
    known
        .iter()
        .map(|k| match obj.get(*k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::unprocessable(k, format!("{k} must be a string"))),
        })
        .collect()
}

fn zone(call: &Call) -> Result<chrono_tz::Tz, ApiError> {
    Ok(Settings::load(&call.store.conn)?.zone())
}

/// POST /v1/tasks/{name}/override {"schedule", "for" | "until", "reason"}
pub fn set_override(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let obj = task_body::object(call.req)?;
    let f = fields(&obj, &["schedule", "for", "until", "reason"])?;
    let name = call.param("name").to_string();
    let now = call.now()?;
    let schedule =
        f[0].ok_or_else(|| ApiError::unprocessable("schedule", "schedule is required"))?;
    let end = control::end_of(now, f[1], f[2], zone(call)?)?;
    let o = call
        .store
        .write(|tx| control::set_override(tx, &name, schedule, end, SET_BY, f[3], now))?;
    Ok(Reply::json(201, &o))
}

/// DELETE /v1/tasks/{name}/override
pub fn clear_override(call: &Call) -> Result<Reply, ApiError> {
    clear(call, "schedule")
}

/// POST /v1/tasks/{name}/pause {"for" | "until", "reason"}
pub fn pause(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let obj = task_body::object(call.req)?;
    let f = fields(&obj, &["for", "until", "reason"])?;
    let name = call.param("name").to_string();
    let now = call.now()?;
    let end = control::end_of(now, f[0], f[1], zone(call)?)?;
    let o = call
        .store
        .write(|tx| control::set_pause(tx, &name, end, SET_BY, f[2], now))?;
    Ok(Reply::json(201, &o))
}

/// DELETE /v1/tasks/{name}/pause (resume)
pub fn resume(call: &Call) -> Result<Reply, ApiError> {
    clear(call, "pause")
}

fn clear(call: &Call, kind: &str) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let name = call.param("name").to_string();
    let now = call.now()?;
    let cleared = call
        .store
        .write(|tx| control::clear(tx, &name, &[kind], SET_BY, now, None))?;
    Ok(Reply::ok(&json!({ "task": name, "cleared": cleared })))
}

/// POST /v1/tasks/{name}/at {"time", "data", "reason"}
pub fn at(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let obj = task_body::object(call.req)?;
    let f = fields(&obj, &["time", "data", "reason"])?;
    let name = call.param("name").to_string();
    let now = call.now()?;
    let time = f[0].ok_or_else(|| ApiError::unprocessable("time", "time is required"))?;
    let when = control::parse_time(time, now, zone(call)?)
        .map_err(|e| ApiError::unprocessable("time", e))?;
    let o = call
        .store
        .write(|tx| control::add_at(tx, &name, when, f[1], SET_BY, f[2], now))?;
    Ok(Reply::json(201, &o))
}

/// GET /v1/tasks/{name}/next?count=N: the next runs under the schedule in force.
pub fn next(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&["count"])?;
    let count = call.req.int_param("count", 5, 1000)? as usize;
    let row = repo::require(&call.store.conn, call.param("name"))?;
    if matches!(row.task.schedule.trim(), "@daemon" | "@reboot") {
        return Err(ApiError::new(
            409,
            format!(
                "task {:?} is {}: it has no fire times",
                row.task.name, row.task.schedule
            ),
        ));
    }
    let zone = match row.task.timezone.as_deref().and_then(|z| z.parse().ok()) {
        Some(z) => z,
        None => zone(call)?,
    };
    let now = call.now()?;
    let runs = view::next_runs(&call.store.conn, &row.task, zone, now, count)?;
    let in_force = view::in_force(&call.store.conn, &row.task, now)?;
    Ok(Reply::ok(
        &json!({ "task": row.task.name, "in_force": in_force, "runs": runs }),
    ))
}

/// GET /v1/overrides: every adaptation, override and pause in force, and
/// the pending one-shot runs; `?since=TIME`: also those that ended after
/// it (the page shades them on its timeline).
pub fn list(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&["since"])?;
    let now = call.now()?;
    let mut all = match call.req.param("since") {
        Some(t) => {
            let since = kit_db::clock::parse_instant(t)
                .map_err(|e| ApiError::bad_request("since", format!("since: {e}")))?;
            rows::windows_since(&call.store.conn, None, since)?
        }
        None => rows::active(&call.store.conn, None, now)?,
    };
    all.extend(rows::pending_at(&call.store.conn, None)?);
    Ok(Reply::ok(&json!({ "overrides": all })))
}
