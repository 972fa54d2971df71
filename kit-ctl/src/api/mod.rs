//! `kit-ctl serve`: the REST API (JSON under `/v1`) and the dashboard page.
//!
//! A small synchronous server: tiny_http, a few worker threads, one SQLite
//! connection each. Every request but the page itself needs the bearer
//! token (see `auth`); it listens on loopback or a 0600 Unix socket unless
//! told otherwise with `--allow-remote`.
//!
//! - `server`: the request loop (auth, routing, body limit, JSON errors)
//! - `router`: the route table; `routes/*`: the handlers
//! - `openapi`: the OpenAPI 3 document served at `/v1/openapi.json`
//! - `dashboard`: the embedded page served at `/`

pub mod auth;
pub mod dashboard;
pub mod heartbeat;
pub mod http;
pub mod listen;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod server;

use crate::cmd::Ctx;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on HOST:PORT (loopback only unless --allow-remote; port 0 picks a free one)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Listen on a Unix socket instead (created 0600)
    #[arg(long, value_name = "PATH", conflicts_with = "allow_remote")]
    pub socket: Option<PathBuf>,
    /// Allow --listen on a non-loopback address (prints a warning)
    #[arg(long)]
    pub allow_remote: bool,
    /// Serve /metrics without the token (for a Prometheus scraper)
    #[arg(long)]
    pub metrics_public: bool,
    /// Worker threads answering requests
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
}

/// What every worker shares.
pub struct App {
    pub token: auth::Token,
    pub db_path: PathBuf,
    /// `--now` (KIT_NOW is read by `clock::now` itself).
    pub now_flag: Option<String>,
    pub metrics_public: bool,
    pub listen: String,
}

pub fn serve(ctx: &Ctx, a: ServeArgs) -> anyhow::Result<i32> {
    // Fail before listening if the DB or the clock flag is unusable.
    ctx.now()?;
    let store = ctx.open()?;
    let db_path = store.path().to_path_buf();
    drop(store);
    let token = auth::Token::load_or_create(&kit_db::paths::kit_home())?;
    let bound = match &a.socket {
        Some(p) => listen::unix(p)?,
        None => listen::tcp(&a.listen, a.allow_remote)?,
    };
    // The first line of stdout is the address, so that scripts and tests
    // that ask for port 0 can find the one they got.
    {
        let mut out = std::io::stdout().lock();
        if ctx.json {
            let line = serde_json::json!({ "listening": bound.url, "db": db_path });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "listening on {}", bound.url)?;
        }
        out.flush()?;
    }
    match &token.source {
        auth::Source::Env => eprintln!("kit-ctl serve: API token from KIT_API_TOKEN"),
        auth::Source::File {
            path,
            created: true,
        } => {
            eprintln!(
                "kit-ctl serve: created the API token in {} (mode 0600)",
                path.display()
            )
        }
        auth::Source::File { path, .. } => {
            eprintln!("kit-ctl serve: API token in {}", path.display())
        }
    }
    if bound.url.starts_with("http") {
        eprintln!(
            "kit-ctl serve: dashboard at {}/ (it asks for the token once)",
            bound.url
        );
    }
    let app = Arc::new(App {
        token,
        db_path,
        now_flag: ctx.now.clone(),
        metrics_public: a.metrics_public,
        listen: bound.url.clone(),
    });
    let code = server::run(app, bound.server, a.threads as usize);
    if let Some(p) = &bound.socket {
        let _ = std::fs::remove_file(p);
    }
    code
}
