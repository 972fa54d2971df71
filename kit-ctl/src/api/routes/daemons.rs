//! `/v1/daemons/{name}/restart|stop|start`: a row in `supervisor_requests`
//! (through `kit_db::daemon::request`, the same path `kit-ctl restart` and
//! kit-heal take). kit-keep acts on it within a second; `?wait=SECONDS`
//! waits for its answer.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use kit_db::daemon::{self, requests, Action};
use kit_db::task::repo;
use serde_json::json;
use std::time::Duration;

/// The longest `?wait=` honoured: a worker thread is held meanwhile.
const MAX_WAIT_SECS: i64 = 30;

fn act(call: &Call, action: Action) -> Result<Reply, ApiError> {
    call.req.only_params(&["wait"])?;
    let wait = match call.req.param("wait") {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=MAX_WAIT_SECS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "wait",
                    format!("wait={v:?}: expected whole seconds from 0 to {MAX_WAIT_SECS}"),
                ))
            }
        },
    };
    let name = call.param("name").to_string();
    let row = repo::require(&call.store.conn, &name)?;
    if !row.task.is_daemon() {
        return Err(ApiError::new(
            409,
            format!(
                "task {name:?} is not a daemon (schedule {:?}); use POST /v1/tasks/{name}/run to run it",
                row.task.schedule
            ),
        ));
    }
    let now = call.now()?;
    let id = call
        .store
        .write(|tx| daemon::request(tx, &name, action, "api", now))?;
    let req = if wait > 0 {
        requests::wait_done(&call.store.conn, id, Duration::from_secs(wait as u64))?
    } else {
        requests::get(&call.store.conn, id)?
    };
    let done = req.as_ref().is_some_and(|r| r.done_at.is_some());
    Ok(Reply::json(
        if done { 200 } else { 202 },
        &json!({ "task": name, "action": action, "request": req }),
    ))
}

pub fn restart(call: &Call) -> Result<Reply, ApiError> {
    act(call, Action::Restart)
}

pub fn stop(call: &Call) -> Result<Reply, ApiError> {
    act(call, Action::Stop)
}

pub fn start(call: &Call) -> Result<Reply, ApiError> {
    act(call, Action::Start)
}

/// `GET /v1/daemons`: every daemon kit-keep manages, as `supervisor_daemons`
/// has it, plus `up` and `uptime_seconds` (the dashboard's daemon table).
pub fn list(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let now = call.now()?;
    let rows = daemon::state::list(&call.store.conn)?;
    let mut out = Vec::new();
    for d in &rows {
        let up = d.is_up();
        let uptime = d
            .started_at
            .as_deref()
            .and_then(kit_db::clock::parse_stored)
            .filter(|_| up)
            .map(|t| (now - t).num_seconds().max(0));
        let mut v = serde_json::to_value(d).map_err(|e| ApiError::new(500, e.to_string()))?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("up".into(), up.into());
            m.insert("uptime_seconds".into(), json!(uptime));
        }
        out.push(v);
    }
    Ok(Reply::ok(&json!({ "daemons": out })))
}
