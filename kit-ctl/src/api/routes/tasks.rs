//! `/v1/tasks`: the same operations as `kit-ctl add/apply/rm/enable/disable`,
//! through the same `kit_db::task` functions (one validator, one writer).
//! Nothing here restarts anything: kit-tick reads tasks from the DB on every
//! tick and kit-keep reloads on a revision change.

use super::task_body;
use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use crate::cmd::list::last_run;
use kit_db::task::{repo, Change, TaskRow};
use serde_json::{json, Value};

/// A task as the API shows it: the definition, kit's bookkeeping, what
/// `list` calls "next", and its last run.
fn view(call: &Call, row: &TaskRow) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(row).map_err(|e| ApiError::new(500, e.to_string()))?;
    if let Value::Object(m) = &mut v {
        // `enabled` is skipped when true in the file format; an API reader
        // should not have to know that default.
        m.insert("enabled".into(), Value::Bool(row.task.enabled));
        let zone = match row.task.timezone.as_deref().and_then(|z| z.parse().ok()) {
            Some(z) => z,
            None => kit_db::settings::Settings::load(&call.store.conn)?.zone(),
        };
        let (next, in_force) =
            crate::cmd::list::next_in_force(&call.store.conn, row, zone, call.now()?)
                .map_err(|e| ApiError::new(500, e.to_string()))?;
        m.insert("next".into(), Value::String(next));
        m.insert(
            "in_force".into(),
            serde_json::to_value(in_force).unwrap_or(Value::Null),
        );
        let last = last_run(&call.store.conn, &row.task.name)?;
        m.insert(
            "last_run".into(),
            serde_json::to_value(last).unwrap_or(Value::Null),
        );
        let conn = &call.store.conn;
        let (cond, watch) = (
            crate::cmd::probes::condition(conn, &row.task)?,
            crate::cmd::probes::watching(conn, &row.task)?,
        );
        m.insert(
            "condition_state".into(),
            cond.map_or(Value::Null, |c| c["state"].clone()),
        );
        m.insert(
            "watch_state".into(),
            watch.map_or(Value::Null, |w| w["state"].clone()),
        );
        let trig = kit_db::triggers::info::of(&call.store.conn, &row.task)?;
        // A triggered run waiting to start is what comes next.
        if let Some(p) = trig.pending_summary() {
            m.insert("next".into(), Value::String(p));
        }
        m.insert(
            "triggers".into(),
            serde_json::to_value(trig).unwrap_or(Value::Null),
        );
    }
    Ok(v)
}

/// The task named in the URL, or 404 with close names suggested.
fn require(call: &Call) -> Result<TaskRow, ApiError> {
    Ok(repo::require(&call.store.conn, call.param("name"))?)
}

pub fn list(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let rows = repo::list(&call.store.conn)?;
    let tasks = rows
        .iter()
        .map(|r| view(call, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::ok(&json!({ "tasks": tasks })))
}

pub fn get(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let row = require(call)?;
    Ok(Reply::ok(&view(call, &row)?))
}

/// Writes `task` (already validated) and answers with the stored row.
/// `create_only` makes an existing task a 409 (POST); PUT replaces.
fn store(call: &Call, task: &kit_db::task::Task, create_only: bool) -> Result<Reply, ApiError> {
    let now = call.now()?;
    let change = call.store.write(|tx| {
        if create_only && repo::get(tx, &task.name)?.is_some() {
            return Err(kit_db::Error::Conflict(format!(
                "task {:?} already exists (PUT /v1/tasks/{} replaces it, PATCH changes fields)",
                task.name, task.name
            )));
        }
        let change = repo::upsert(tx, task, now)?;
        kit_db::triggers::chain::check_upstreams(tx, &[task.name.as_str()])?;
        Ok(change)
    })?;
    let row = repo::require(&call.store.conn, &task.name)?;
    let status = if change == Change::Created { 201 } else { 200 };
    let reply = Reply::json(
        status,
        &json!({ "change": change, "task": view(call, &row)? }),
    );
    Ok(if status == 201 {
        reply.header("Location", format!("/v1/tasks/{}", task.name))
    } else {
        reply
    })
}

pub fn create(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let task = task_body::task(task_body::object(call.req)?, None)?;
    store(call, &task, true)
}

pub fn put(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let obj = task_body::object(call.req)?;
    let task = task_body::task(obj, Some(call.param("name")))?;
    store(call, &task, false)
}

/// A JSON merge patch (RFC 7396) of the stored definition: send only the
/// fields to change, `null` to reset one to its default.
pub fn patch(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let patch = Value::Object(task_body::object(call.req)?);
    let row = require(call)?;
    let mut current =
        serde_json::to_value(&row.task).map_err(|e| ApiError::new(500, e.to_string()))?;
    task_body::merge_patch(&mut current, &patch);
    let Value::Object(obj) = current else {
        return Err(ApiError::new(422, "the patch must be a JSON object"));
    };
    let task = task_body::task(obj, Some(&row.task.name))?;
    store(call, &task, false)
}

pub fn delete(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let name = call.param("name").to_string();
    call.store.write(|tx| {
        repo::require(tx, &name)?;
        repo::remove(tx, &name)
    })?;
    Ok(Reply::ok(
        &json!({ "name": name, "change": Change::Removed }),
    ))
}

fn set_enabled(call: &Call, enabled: bool) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let name = call.param("name").to_string();
    let now = call.now()?;
    let changed = call.store.write(|tx| {
        repo::set_enabled(
            tx,
            &name,
            enabled,
            (!enabled).then_some("disabled over the API"),
            now,
        )
    })?;
    Ok(Reply::ok(
        &json!({ "name": name, "enabled": enabled, "changed": changed }),
    ))
}

pub fn enable(call: &Call) -> Result<Reply, ApiError> {
    set_enabled(call, true)
}

pub fn disable(call: &Call) -> Result<Reply, ApiError> {
    set_enabled(call, false)
}

/// Starts `kit-run --trigger api NAME` detached and answers at once (202):
/// the execution row appears when kit-run records it.
pub fn run(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let row = require(call)?;
    if row.task.is_daemon() {
        return Err(ApiError::new(
            409,
            format!(
                "task {:?} is a daemon: kit-keep runs it (use POST /v1/daemons/{}/restart or /start)",
                row.task.name, row.task.name
            ),
        ));
    }
    let name = row.task.name.as_str();
    let now = call.now()?;
    let now_text = kit_db::clock::fmt(now);
    let injected =
        kit_db::clock::is_injected(call.app.now_flag.as_deref()).then_some(now_text.as_str());
    let args = ["--trigger", "api", name];
    let pid = kit_db::launch::detached("kit-run", call.store.path(), &args, injected)
        .map_err(|e| ApiError::new(500, format!("cannot start kit-run for {name:?}: {e}")))?;
    Ok(Reply::json(
        202,
        &json!({
            "task": name,
            "trigger": "api",
            "pid": pid,
            "command": ["kit-run", "--trigger", "api", name],
            "executions": format!("/v1/executions?task={name}"),
        }),
    ))
}
