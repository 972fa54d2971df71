//! Read-only views shared with the CLI: status, why, metrics (the same
//! functions `kit-ctl status/why/metrics` print), plus the OpenAPI document
//! and the dashboard page.

use crate::api::http::{ApiError, Reply};
use crate::api::router::Call;
use crate::api::{dashboard, openapi};
use crate::cmd;

pub fn status(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let now = call.now()?;
    let s = cmd::status::gather(call.store, now)?;
    Ok(Reply::ok(&s))
}

pub fn why(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let now = call.now()?;
    let w = cmd::why::explain(call.store, call.param("name"), now)?;
    Ok(Reply::ok(&w))
}

/// Prometheus text exposition format, version 0.0.4.
pub fn metrics(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    let now = call.now()?;
    let text = cmd::metrics::render(call.store, now)?;
    Ok(Reply::text(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    ))
}

pub fn openapi(call: &Call) -> Result<Reply, ApiError> {
    call.req.only_params(&[])?;
    Ok(Reply::ok(&openapi::document()))
}

pub fn dashboard(call: &Call) -> Result<Reply, ApiError> {
    // The page reads its token from the URL fragment, which browsers never
    // send; any query string is ignored rather than refused.
    let _ = call;
    Ok(dashboard::page())
}
