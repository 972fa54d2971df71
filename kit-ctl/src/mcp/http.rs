//! MCP at `/mcp` in `kit-ctl serve`: Streamable HTTP in its stateless form.
//! A client POSTs a JSON-RPC message and gets the response as
//! `application/json`; notifications get 202. No session and no
//! server-sent-event stream (GET is 405, which the transport allows): kit
//! never calls the client back, so a stream would carry nothing. The token
//! check happens before this, in `api::server`, like for every route.

use super::{rpc, Backend};
use crate::api::http::{ApiError, Reply};
use crate::api::App;
use kit_db::Store;

pub const PATH: &str = "/mcp";

pub fn reply(app: &App, store: Option<&Store>, body: &[u8]) -> Reply {
    let backend = Backend {
        app,
        store: store.ok_or_else(|| {
            "the kit database cannot be opened right now (see kit-ctl serve's log)".to_string()
        }),
    };
    match rpc::handle_bytes(&backend, body) {
        Some(v) => {
            let status =
                if v.get("error").and_then(|e| e.get("code")) == Some(&rpc::PARSE_ERROR.into()) {
                    400
                } else {
                    200
                };
            Reply::json(status, &v)
        }
        None => Reply::text(202, "application/json", Vec::new()),
    }
}

pub fn wrong_method(method: &str) -> ApiError {
    let mut e = ApiError::new(
        405,
        format!(
            "{method} {PATH} is not offered: kit serves MCP statelessly, answering each POST with JSON (no event stream, no session)"
        ),
    );
    e.allow = Some("POST".into());
    e
}
