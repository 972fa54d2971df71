//! The listener and the request loop: a small synchronous server (tiny_http)
//! with a few worker threads, each with its own DB connection. A request
//! goes: authenticate, route (404/405), read the size-limited body (413),
//! run the handler, answer JSON. Nothing here panics on bad input.

use super::http::{split_target, ApiError, Reply, Req, BODY_LIMIT};
use super::router::{self, Access, Call, Found};
use super::App;
use kit_db::Store;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The most of an unread request body drained before answering (the same
/// bound as in our tiny_http patch, vendor/tiny_http/KIT-PATCHES.md).
const DRAIN_LIMIT: usize = 64 * 1024;

/// How often a worker wakes to check for shutdown.
const POLL: Duration = Duration::from_millis(300);

/// Serves until SIGTERM/SIGINT (exit 0) or until the listener breaks (exit 1,
/// so that the service manager restarts us).
pub fn run(app: Arc<App>, server: tiny_http::Server, threads: usize) -> anyhow::Result<i32> {
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        // The first signal asks for a clean stop (requests in flight are
        // answered); a second one, while that stop waits, exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let mut workers = Vec::new();
    for i in 0..threads.max(1) {
        let (app, server, stop, broken) =
            (app.clone(), server.clone(), stop.clone(), broken.clone());
        let h = std::thread::Builder::new()
            .name(format!("api-{i}"))
            .spawn(move || worker(&app, &server, &stop, &broken))?;
        workers.push(h);
    }
    super::heartbeat::until(&app, &stop);
    server.unblock();
    for w in workers {
        let _ = w.join();
    }
    Ok(if broken.load(Ordering::SeqCst) { 1 } else { 0 })
}

fn worker(app: &App, server: &tiny_http::Server, stop: &AtomicBool, broken: &AtomicBool) {
    // Opened lazily and re-opened after a failure: a DB that cannot be
    // opened right now gives 503s, not a dead worker.
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(POLL) {
            Ok(Some(rq)) => {
                if store.is_none() {
                    store = match Store::open(&app.db_path) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            eprintln!("kit-ctl serve: cannot open {}: {e}", app.db_path.display());
                            None
                        }
                    };
                }
                // A bug in a handler must not take a worker with it (in
                // debug builds; release builds abort on panic and are
                // restarted by the service manager).
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle(app, store.as_ref(), rq)
                }));
                if done.is_err() {
                    store = None;
                }
            }
            Ok(None) => {}
            Err(e) => {
                // tiny_http reports a failed accept() this way and then has
                // stopped listening: exit so that we are restarted.
                eprintln!("kit-ctl serve: the listener failed: {e}; exiting");
                broken.store(true, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn header<'a>(rq: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn handle(app: &App, store: Option<&Store>, mut rq: tiny_http::Request) {
    // A body of up to 1 KiB without `Expect` is already buffered by
    // tiny_http; anything larger is read from the socket as we go.
    let expects_continue = header(&rq, "Expect").is_some();
    let mut body_done = match rq.body_length() {
        None | Some(0) => true,
        Some(n) => n <= 1024 && !expects_continue,
    };
    let reply = match answer(app, store, &mut rq, &mut body_done) {
        Ok(r) => r,
        Err(e) => e.into_reply(),
    };
    if body_done || rq.body_length().is_some_and(|n| n > DRAIN_LIMIT) {
        // A body past DRAIN_LIMIT is not worth waiting for: answer now; the
        // patched tiny_http closes the connection instead of reading it.
        send(rq, reply);
    } else {
        // An unread body (a refused request, or one over the limit) is
        // drained before answering so that the client, still sending, sees
        // the answer. On a thread of its own: a client that never sends what
        // it declared holds that thread (until the 30 s socket timeout of
        // our tiny_http patch), never a worker. A chunked body is drained
        // up to DRAIN_LIMIT too; the connection is closed if more follows.
        let _ = std::thread::Builder::new()
            .name("api-drain".into())
            .spawn(move || {
                let mut buf = [0u8; 8 * 1024];
                let mut left = DRAIN_LIMIT;
                let r = rq.as_reader();
                while left > 0 {
                    match r.read(&mut buf[..left.min(8 * 1024)]) {
                        Ok(n) if n > 0 => left -= n,
                        _ => break,
                    }
                }
                send(rq, reply);
            });
    }
}

fn send(rq: tiny_http::Request, reply: Reply) {
    // Always a Content-Length (never chunked): every reply is in memory
    // anyway, and the simplest clients (a shell with nc, a test) read it.
    let mut resp = tiny_http::Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_chunked_threshold(usize::MAX);
    let mut add = |k: &str, v: &str| {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    };
    add("Content-Type", reply.content_type);
    add("Cache-Control", "no-store");
    add("X-Content-Type-Options", "nosniff");
    add("Referrer-Policy", "no-referrer");
    for (k, v) in &reply.headers {
        add(k, v);
    }
    let _ = rq.respond(resp);
}

fn answer(
    app: &App,
    store: Option<&Store>,
    rq: &mut tiny_http::Request,
    body_done: &mut bool,
) -> Result<Reply, ApiError> {
    let method = rq.method().as_str().to_ascii_uppercase();
    let (path, query) = split_target(rq.url());
    let found = router::find(&method, &path);
    let access = match &found {
        Found::Route(r, _) => r.access,
        _ => Access::Token,
    };
    let public = match access {
        Access::Public => true,
        Access::Metrics => app.metrics_public,
        Access::Token => false,
    };
    // Authentication comes first: without the token nothing is revealed,
    // not even which routes exist.
    if !public && !app.token.accepts(header(rq, "Authorization")) {
        let why = if header(rq, "Authorization").is_some() {
            "wrong API token"
        } else {
            "missing API token: send `Authorization: Bearer TOKEN` (the token is in $KIT_HOME/api-token or KIT_API_TOKEN)"
        };
        return Err(ApiError::new(401, why));
    }
    if path == crate::mcp::http::PATH {
        if method != "POST" {
            return Err(crate::mcp::http::wrong_method(&method));
        }
        let body = read_body(rq)?;
        *body_done = true;
        return Ok(crate::mcp::http::reply(app, store, &body));
    }
    let (route, params) = match found {
        Found::Route(r, p) => (r, p),
        Found::NotFound => {
            return Err(ApiError::not_found(format!(
                "no such route: {method} {path}"
            )))
        }
        Found::WrongMethod(allow) => {
            let mut e = ApiError::new(
                405,
                format!("{method} is not allowed on {path} (allowed: {allow})"),
            );
            e.allow = Some(allow);
            return Err(e);
        }
    };
    let body = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        let b = read_body(rq)?;
        *body_done = true;
        b
    } else {
        Vec::new()
    };
    let req = Req {
        method,
        path,
        query,
        content_type: header(rq, "Content-Type").map(str::to_string),
        idempotency_key: header(rq, "Idempotency-Key").map(str::to_string),
        body,
    };
    let store = store.ok_or_else(|| {
        ApiError::new(
            503,
            "the kit database cannot be opened right now (see kit-ctl serve's log)",
        )
    })?;
    let call = Call {
        app,
        store,
        req: &req,
        params,
    };
    (route.handler)(&call)
}

/// Reads at most BODY_LIMIT bytes; more is a 413 (and the rest is drained
/// by `handle`).
fn read_body(rq: &mut tiny_http::Request) -> Result<Vec<u8>, ApiError> {
    let too_big = || {
        ApiError::new(
            413,
            format!(
                "the request body is larger than the limit of {} bytes",
                BODY_LIMIT
            ),
        )
    };
    if rq.body_length().is_some_and(|n| n > BODY_LIMIT) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    rq.as_reader()
        .take(BODY_LIMIT as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::new(400, format!("cannot read the request body: {e}")))?;
    if body.len() > BODY_LIMIT {
        return Err(too_big());
    }
    Ok(body)
}
