//! The route table: one line per (method, path). The OpenAPI document is
//! checked against this table in the tests, in both directions, so a route
//! cannot be added without being documented (or documented without existing).

use super::http::{ApiError, Reply, Req};
use super::routes::{daemons, events, executions, info, pace, tasks, triggers};
use super::App;
use kit_db::{clock, Store};

pub type Handler = fn(&Call) -> Result<Reply, ApiError>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can reach the listener: only the dashboard page, which
    /// holds no data (it asks for the token and sends it with each call).
    Public,
    /// `Authorization: Bearer TOKEN`.
    Token,
    /// Token, unless `serve --metrics-public`.
    Metrics,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

const fn r(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        access: Access::Token,
        handler,
    }
}

pub static ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/",
        access: Access::Public,
        handler: info::dashboard,
    },
    Route {
        method: "GET",
        path: "/metrics",
        access: Access::Metrics,
        handler: info::metrics,
    },
    r("GET", "/v1/openapi.json", info::openapi),
    r("GET", "/v1/status", info::status),
    r("GET", "/v1/tasks", tasks::list),
    r("POST", "/v1/tasks", tasks::create),
    r("GET", "/v1/tasks/{name}", tasks::get),
    r("PUT", "/v1/tasks/{name}", tasks::put),
    r("PATCH", "/v1/tasks/{name}", tasks::patch),
    r("DELETE", "/v1/tasks/{name}", tasks::delete),
    r("POST", "/v1/tasks/{name}/run", tasks::run),
    r("POST", "/v1/tasks/{name}/trigger", triggers::trigger),
    r("GET", "/v1/triggers", triggers::list),
    r("POST", "/v1/tasks/{name}/enable", tasks::enable),
    r("POST", "/v1/tasks/{name}/disable", tasks::disable),
    r("GET", "/v1/tasks/{name}/why", info::why),
    r("GET", "/v1/tasks/{name}/next", pace::next),
    r("POST", "/v1/tasks/{name}/override", pace::set_override),
    r("DELETE", "/v1/tasks/{name}/override", pace::clear_override),
    r("POST", "/v1/tasks/{name}/pause", pace::pause),
    r("DELETE", "/v1/tasks/{name}/pause", pace::resume),
    r("POST", "/v1/tasks/{name}/at", pace::at),
    r("GET", "/v1/overrides", pace::list),
    r("GET", "/v1/daemons", daemons::list),
    r("POST", "/v1/daemons/{name}/restart", daemons::restart),
    r("POST", "/v1/daemons/{name}/stop", daemons::stop),
    r("POST", "/v1/daemons/{name}/start", daemons::start),
    r("GET", "/v1/executions", executions::list),
    r("GET", "/v1/executions/{id}", executions::get),
    r("GET", "/v1/events", events::list),
];

/// One request being handled: the app, this worker's DB connection, the
/// request, and the path parameters the route captured.
pub struct Call<'a> {
    pub app: &'a App,
    pub store: &'a Store,
    pub req: &'a Req,
    pub params: Vec<(&'static str, String)>,
}

impl Call<'_> {
    /// A path parameter (always present: the route matched on it).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The decision clock: `--now`/`KIT_NOW` when injected, else the system clock.
    pub fn now(&self) -> Result<clock::Instant, ApiError> {
        clock::now(self.app.now_flag.as_deref()).map_err(|e| ApiError::new(500, e.to_string()))
    }
}

pub enum Found {
    Route(&'static Route, Vec<(&'static str, String)>),
    /// The path exists but not with this method: 405 with `Allow`.
    WrongMethod(String),
    NotFound,
}

pub fn find(method: &str, path: &str) -> Found {
    let mut allow: Vec<&str> = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method {
                return Found::Route(route, params);
            }
            allow.push(route.method);
        }
    }
    if allow.is_empty() {
        Found::NotFound
    } else {
        Found::WrongMethod(allow.join(", "))
    }
}

/// Matches `/v1/tasks/{name}` against `/v1/tasks/backup`, capturing `name`.
fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_string()));
                } else if p != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_parameters() {
        assert!(matches!(find("GET", "/v1/tasks"), Found::Route(r, _) if r.path == "/v1/tasks"));
        match find("POST", "/v1/tasks/backup/run") {
            Found::Route(r, p) => {
                assert_eq!(r.path, "/v1/tasks/{name}/run");
                assert_eq!(p, vec![("name", "backup".to_string())]);
            }
            _ => panic!("no match"),
        }
        assert!(matches!(find("GET", "/v1/tasks/"), Found::NotFound));
        assert!(matches!(find("GET", "/v1/nope"), Found::NotFound));
        match find("DELETE", "/v1/tasks") {
            Found::WrongMethod(a) => assert_eq!(a, "GET, POST"),
            _ => panic!("expected 405"),
        }
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
