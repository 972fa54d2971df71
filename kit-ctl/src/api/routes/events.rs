//! `GET /v1/events`: the episode transitions kit-heal and kit-keep record
//! (failing, recovered, crashloop, ...), newest first, with their delivery
//! state. Paged with the `before_id` cursor like `/v1/executions`.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use kit_db::outbox;
use serde::Serialize;
use serde_json::json;

/// What the API shows of an event (the outbox's bookkeeping columns stay
/// inside).
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

impl From<outbox::Event> for Event {
    fn from(e: outbox::Event) -> Self {
        Event {
            id: e.id,
            created_at: e.created_at,
            kind: e.kind,
            severity: e.severity,
            task: e.task,
            message: e.message,
            detail: e.detail,
            delivery: e.delivery,
            attempts: e.attempts,
            delivered_at: e.delivered_at,
            last_error: e.last_error,
        }
    }
}

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

pub fn list(call: &Call) -> Result<Reply, ApiError> {
    let req = call.req;
    req.only_params(&["task", "kind", "limit", "before_id"])?;
    let limit = req.int_param("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let filter = outbox::Filter {
        task: req.param("task").filter(|t| !t.is_empty()),
        kind: req.param("kind").filter(|k| !k.is_empty()),
        before_id: req.opt_id_param("before_id")?,
    };
    // One more than asked tells whether there is a next page.
    let rows: Vec<Event> = outbox::page(&call.store.conn, filter, limit + 1)?
        .into_iter()
        .map(Event::from)
        .collect();
    let (events, next) = super::page(rows, limit, |e| e.id);
    Ok(Reply::ok(
        &json!({ "events": events, "next_before_id": next }),
    ))
}
