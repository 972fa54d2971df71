//! MCP tools for adaptive schedules: an agent overrides, pauses and
//! schedules one-shot runs of its tasks through the same
//! `kit_db::adapt::control` functions as the CLI and the API (set_by `mcp`).

use super::Backend;
use crate::api::http::ApiError;
use kit_db::adapt::control;
use kit_db::clock;
use kit_db::settings::Settings;
use serde_json::{json, Map, Value};

const SET_BY: &str = "mcp";

fn s<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn now(b: &Backend) -> Result<clock::Instant, ApiError> {
    clock::now(b.app.now_flag.as_deref()).map_err(|e| ApiError::new(500, e.to_string()))
}

pub fn override_task(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let store = b.store()?;
    let now = now(b)?;
    let name = s(args, "name").unwrap_or_default();
    let schedule = s(args, "schedule")
        .ok_or_else(|| ApiError::bad_request("schedule", "schedule is required"))?;
    let zone = Settings::load(&store.conn)?.zone();
    let end = control::end_of(now, s(args, "for"), s(args, "until"), zone)?;
    let o = store.write(|tx| {
        control::set_override(tx, name, schedule, end, SET_BY, s(args, "reason"), now)
    })?;
    Ok(json!(o))
}

pub fn pause_task(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let store = b.store()?;
    let now = now(b)?;
    let name = s(args, "name").unwrap_or_default();
    let zone = Settings::load(&store.conn)?.zone();
    let end = control::end_of(now, s(args, "for"), s(args, "until"), zone)?;
    let o = store.write(|tx| control::set_pause(tx, name, end, SET_BY, s(args, "reason"), now))?;
    Ok(json!(o))
}

fn clear(b: &Backend, args: &Map<String, Value>, kind: &str) -> Result<Value, ApiError> {
    let store = b.store()?;
    let now = now(b)?;
    let name = s(args, "name").unwrap_or_default();
    let cleared = store.write(|tx| control::clear(tx, name, &[kind], SET_BY, now, None))?;
    Ok(json!({ "task": name, "cleared": cleared }))
}

pub fn clear_override(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    clear(b, args, "schedule")
}

pub fn resume_task(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    clear(b, args, "pause")
}

pub fn run_at(b: &Backend, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let store = b.store()?;
    let now = now(b)?;
    let name = s(args, "name").unwrap_or_default();
    let zone = Settings::load(&store.conn)?.zone();
    let time = s(args, "time").ok_or_else(|| ApiError::bad_request("time", "time is required"))?;
    let when =
        control::parse_time(time, now, zone).map_err(|e| ApiError::bad_request("time", e))?;
    let o = store.write(|tx| {
        control::add_at(
            tx,
            name,
            when,
            s(args, "data"),
            SET_BY,
            s(args, "reason"),
            now,
        )
    })?;
    Ok(json!(o))
}
