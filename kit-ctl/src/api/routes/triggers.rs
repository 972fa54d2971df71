//! `POST /v1/tasks/{name}/trigger`: an event from outside (a webhook, an
//! agent). The body, if any, is the event's data (JSON, at most 1 MiB: more
//! is a 413); the idempotency key comes as `?key=` or the `Idempotency-Key`
//! header. The run starts at once: 202 with its execution; a duplicate key
//! answers 200 with the first run; a disabled task is 409, recorded.
//! `GET /v1/triggers`: the newest triggers, what became of each.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use kit_db::triggers::{self, rows, NewTrigger, Outcome, Source};
use serde_json::json;

pub fn trigger(call: &Call) -> Result<Reply, ApiError> {
    let req = call.req;
    req.only_params(&["key"])?;
    req.require_json()?;
    let name = call.param("name");
    let key = req
        .param("key")
        .filter(|k| !k.is_empty())
        .or(req.idempotency_key.as_deref());
    let data = (!req.body.iter().all(u8::is_ascii_whitespace)).then_some(req.body.as_slice());
    let now = call.now()?;
    let t = NewTrigger {
        task: name,
        source: Source::Event,
        key,
        data,
        detail: serde_json::Value::Null,
    };
    let fired = triggers::fire(call.store, &t, now).map_err(|e| match e {
        kit_db::Error::Invalid(m) if m.starts_with("data:") => {
            ApiError::new(422, m).with_field("data")
        }
        kit_db::Error::Invalid(m) if m.starts_with("key:") => {
            ApiError::new(422, m).with_field("key")
        }
        e => e.into(),
    })?;
    let now_text = kit_db::clock::fmt(now);
    let injected =
        kit_db::clock::is_injected(call.app.now_flag.as_deref()).then_some(now_text.as_str());
    triggers::start(call.store.path(), name, &fired, injected)
        .map_err(|e| ApiError::new(500, format!("cannot start kit-run for {name:?}: {e} (the run is queued: the next kit-tick starts it)")))?;
    let status = match fired.outcome {
        Outcome::Queued | Outcome::Coalesced => 202,
        Outcome::Duplicate => 200,
        Outcome::Refused | Outcome::RateLimited => 409,
    };
    let mut body = json!({
        "task": name,
        "trigger_id": fired.trigger_id,
        "execution_id": fired.execution_id,
        "outcome": fired.outcome,
        "duplicate": fired.outcome == Outcome::Duplicate,
        "reason": fired.reason,
        "execution": fired.execution_id.map(|id| format!("/v1/executions/{id}")),
    });
    if status == 409 {
        body["error"] = json!(format!(
            "trigger of {name} not run: {} (recorded as trigger #{})",
            fired.reason.as_deref().unwrap_or(fired.outcome.as_str()),
            fired.trigger_id
        ));
        body["status"] = json!(409);
    }
    Ok(Reply::json(status, &body))
}

pub fn list(call: &Call) -> Result<Reply, ApiError> {
    let req = call.req;
    req.only_params(&["task", "limit"])?;
    let limit = req.int_param("limit", 100, 1000)?;
    let task = req.param("task").filter(|t| !t.is_empty());
    let rows = rows::recent(&call.store.conn, task, limit)?;
    let pending = triggers::pending::waiting(&call.store.conn, task)?;
    Ok(Reply::ok(&json!({ "triggers": rows, "pending": pending })))
}
