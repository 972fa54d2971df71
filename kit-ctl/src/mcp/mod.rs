//! `kit-ctl mcp`: kit as a Model Context Protocol server, so that an agent
//! sees and steers its tasks as tools. Over stdio here (one JSON-RPC message
//! a line, how agent clients start local tools), and at `/mcp` in
//! `kit-ctl serve` (Streamable HTTP, stateless, JSON replies; see `http`).
//!
//! Hand-rolled JSON-RPC rather than the rmcp SDK: docs/decisions.md says why.
//!
//! - `rpc`: the JSON-RPC methods (initialize, tools/*, resources/*)
//! - `tools`: the tool table and its schemas; `rest`: a tool answered by a
//!   REST handler in-process; `extra`: the tools the API has no route for
//! - `resources`: the task file and the recent failures

pub mod extra;
pub mod http;
pub mod pace;
pub mod resources;
pub mod rest;
pub mod rpc;
pub mod tools;

use crate::api::{auth, App};
use crate::cmd::Ctx;
use kit_db::Store;
use std::io::{BufRead, Read, Write};

/// What a message is answered with: the server's settings and this
/// moment's DB connection, or why there is none (a tool error, never a
/// protocol failure: the server stays up and the next call tries again).
pub struct Backend<'a> {
    pub app: &'a App,
    pub store: Result<&'a Store, String>,
}

impl Backend<'_> {
    pub fn store(&self) -> Result<&Store, crate::api::http::ApiError> {
        self.store
            .as_ref()
            .copied()
            .map_err(|e| crate::api::http::ApiError::new(503, e.clone()))
    }
}

/// The longest line read from stdin; a client sending more is answered
/// with an error instead of growing memory without bound.
const LINE_LIMIT: usize = 4 << 20;

pub fn stdio(ctx: &Ctx) -> anyhow::Result<i32> {
    // A bad --now is the caller's mistake: say so before serving anything.
    ctx.now()?;
    let app = App {
        token: auth::Token::disabled(),
        db_path: kit_db::paths::db_path(ctx.db.db.as_deref()),
        now_flag: ctx.now.clone(),
        metrics_public: false,
        listen: "stdio".into(),
    };
    let mut store: Option<Store> = None;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(LINE_LIMIT as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(0);
        }
        let reply = if line.len() > LINE_LIMIT {
            if !line.ends_with(b"\n") {
                skip_line(&mut input)?;
            }
            Some(rpc::error(
                serde_json::Value::Null,
                rpc::INVALID_REQUEST,
                format!("message longer than {LINE_LIMIT} bytes"),
            ))
        } else if line.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            // Opened lazily and again after a failure: a DB that is missing
            // or busy now may be there at the next call. The error has the
            // words `kit-ctl status` would print.
            let mut open_error = String::new();
            if store.is_none() {
                match ctx.open_existing() {
                    Ok(s) => store = Some(s),
                    Err(e) => open_error = format!("{e:#}"),
                }
            }
            let backend = Backend {
                app: &app,
                store: store.as_ref().ok_or(open_error),
            };
            rpc::handle_bytes(&backend, &line)
        };
        if let Some(r) = reply {
            serde_json::to_writer(&mut out, &r)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
    }
}

/// Discards the rest of an oversized line.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&c| c == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}
