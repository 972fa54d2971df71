//! The tool table: each MCP tool, its arguments (from which the JSON Schema
//! is generated) and how it is answered. Most tools are a REST route called
//! in-process (`Via::Rest`), so the MCP server and the API share one set of
//! handlers, one validator and one JSON shape; the two that the API has no
//! route for (paged output, next runs) are functions in `extra`.

use super::extra;
use super::Backend;
use crate::api::http::ApiError;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    Object,
}

#[derive(Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub description: &'static str,
}

pub type Func = fn(&Backend, &Map<String, Value>) -> Result<Value, ApiError>;

pub enum Via {
    /// A REST route: `{arg}` in the path is filled from that argument, the
    /// `Object` argument (at most one) is the JSON body, the rest is the
    /// query string.
    Rest {
        method: &'static str,
        path: &'static str,
    },
    Func(Func),
}

pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    pub destructive: bool,
    pub args: &'static [Arg],
    pub via: Via,
}

const fn arg(name: &'static str, ty: Ty, required: bool, description: &'static str) -> Arg {
    Arg {
        name,
        ty,
        required,
        description,
    }
}

const fn rest(method: &'static str, path: &'static str) -> Via {
    Via::Rest { method, path }
}

const TASK: Arg = arg("name", Ty::Str, true, "The task's name");
const DAEMON: &[Arg] = &[
    arg("name", Ty::Str, true, "The daemon task's name"),
    arg(
        "wait",
        Ty::Int,
        false,
        "Seconds (0-30) to wait for kit-keep to act; 0 answers at once",
    ),
];
const PAGE: [Arg; 2] = [
    arg(
        "limit",
        Ty::Int,
        false,
        "Rows per page (1-1000, default 100)",
    ),
    arg(
        "before_id",
        Ty::Int,
        false,
        "Only rows with a smaller id: the next_before_id of the previous page",
    ),
];

pub static TOOLS: &[Tool] = &[
    Tool {
        name: "status",
        description: "Summary of kit: tasks, runs today, daemons, failures, heartbeats (what `kit-ctl status` prints)",
        read_only: true,
        destructive: false,
        args: &[],
        via: rest("GET", "/v1/status"),
    },
    Tool {
        name: "list_tasks",
        description: "Every task with its definition, next run and last run",
        read_only: true,
        destructive: false,
        args: &[],
        via: rest("GET", "/v1/tasks"),
    },
    Tool {
        name: "show_task",
        description: "One task: its definition, next run and last run",
        read_only: true,
        destructive: false,
        args: &[TASK],
        via: rest("GET", "/v1/tasks/{name}"),
    },
    Tool {
        name: "history",
        description: "Executions, newest first, filtered; page with before_id",
        read_only: true,
        destructive: false,
        args: &[
            arg("task", Ty::Str, false, "Only this task's executions"),
            arg("status", Ty::Str, false, "Comma-separated statuses: queued, running, success, failed, timeout, killed, skipped, missed, lost, error"),
            arg("since", Ty::Str, false, "Only executions scheduled at or after this instant (RFC 3339)"),
            arg("until", Ty::Str, false, "Only executions scheduled before this instant (RFC 3339)"),
            PAGE[0],
            PAGE[1],
        ],
        via: rest("GET", "/v1/executions"),
    },
    Tool {
        name: "why",
        description: "Why a task did or did not run at its last slot, and what happens next",
        read_only: true,
        destructive: false,
        args: &[TASK],
        via: rest("GET", "/v1/tasks/{name}/why"),
    },
    Tool {
        name: "execution_output",
        description: "An execution's record and captured output (stdout and stderr interleaved), a page of bytes at a time",
        read_only: true,
        destructive: false,
        args: &[
            arg("id", Ty::Int, true, "The execution id (see history)"),
            arg("offset", Ty::Int, false, "First byte to return (default 0)"),
            arg("limit", Ty::Int, false, "Most bytes to return (1-1048576, default 65536)"),
        ],
        via: Via::Func(extra::output),
    },
    Tool {
        name: "next_runs",
        description: "The next fire times of a task, in its time zone",
        read_only: true,
        destructive: false,
        args: &[
            TASK,
            arg("count", Ty::Int, false, "How many (1-100, default 5)"),
            arg("from", Ty::Str, false, "Start after this instant (RFC 3339; default now)"),
        ],
        via: Via::Func(extra::next_runs),
    },
    Tool {
        name: "override_schedule",
        description: "Run a task at another pace for a while (at most 7 days; ends on its own; replaces an override in force)",
        read_only: false,
        destructive: false,
        args: &[
            TASK,
            arg("schedule", Ty::Str, true, "The pace: a cron expression or @every"),
            arg("for", Ty::Str, false, "How long (e.g. 6h); or give until"),
            arg("until", Ty::Str, false, "Until when (18:40, RFC 3339, +2h)"),
            arg("reason", Ty::Str, true, "Why (recorded and shown)"),
        ],
        via: Via::Func(super::pace::override_task),
    },
    Tool {
        name: "clear_override",
        description: "End a task's schedule override now (the base or adapted schedule returns)",
        read_only: false,
        destructive: false,
        args: &[TASK],
        via: Via::Func(super::pace::clear_override),
    },
    Tool {
        name: "pause_task",
        description: "Pause a task for a while (at most 7 days): its slots are recorded skipped with the reason",
        read_only: false,
        destructive: false,
        args: &[
            TASK,
            arg("for", Ty::Str, false, "How long (e.g. 2h); or give until"),
            arg("until", Ty::Str, false, "Until when (18:40, RFC 3339, +2h)"),
            arg("reason", Ty::Str, true, "Why (recorded on every skipped slot)"),
        ],
        via: Via::Func(super::pace::pause_task),
    },
    Tool {
        name: "resume_task",
        description: "End a task's pause now",
        read_only: false,
        destructive: false,
        args: &[TASK],
        via: Via::Func(super::pace::resume_task),
    },
    Tool {
        name: "run_at",
        description: "Run a task once at a chosen time (e.g. 18:40); data reaches it as KIT_EVENT_DATA",
        read_only: false,
        destructive: false,
        args: &[
            TASK,
            arg("time", Ty::Str, true, "When: 18:40 (the next one), \"2026-03-02 18:40\", RFC 3339, +2h"),
            arg("data", Ty::Str, false, "Text handed to the run"),
            arg("reason", Ty::Str, false, "Why"),
        ],
        via: Via::Func(super::pace::run_at),
    },
    Tool {
        name: "list_overrides",
        description: "Every adaptation, override and pause in force, and the pending one-shot runs (who set each, why, until when)",
        read_only: true,
        destructive: false,
        args: &[arg("since", Ty::Str, false, "Also those that ended after this instant (RFC 3339)")],
        via: rest("GET", "/v1/overrides"),
    },
    Tool {
        name: "run_task",
        description: "Run a task now through kit-run (trigger \"api\"); its execution appears in history",
        read_only: false,
        destructive: false,
        args: &[TASK],
        via: rest("POST", "/v1/tasks/{name}/run"),
    },
    Tool {
        name: "trigger_task",
        description: "Trigger a task with an event: it starts at once (schedule \"@event\" tasks run only so). `data` reaches the command in KIT_EVENT_FILE; a `key` seen in the last 24 h starts nothing new and answers with the first run",
        read_only: false,
        destructive: false,
        args: &[
            TASK,
            arg("data", Ty::Object, false, "The event's data (JSON, at most 1 MiB)"),
            arg("key", Ty::Str, false, "Idempotency key: retrying with the same key never doubles a run"),
        ],
        via: rest("POST", "/v1/tasks/{name}/trigger"),
    },
    Tool {
        name: "create_task",
        description: "Create a task; the same validator as `kit-ctl apply` (fails if it exists)",
        read_only: false,
        destructive: false,
        args: &[arg("task", Ty::Object, true, "The task, as in a task file: name, schedule, command, and optional fields (timeout, retries, env, ...)")],
        via: rest("POST", "/v1/tasks"),
    },
    Tool {
        name: "replace_task",
        description: "Create or replace a task's whole definition (fields left out take their defaults)",
        read_only: false,
        destructive: false,
        args: &[TASK, arg("task", Ty::Object, true, "The full definition, as in a task file")],
        via: rest("PUT", "/v1/tasks/{name}"),
    },
    Tool {
        name: "update_task",
        description: "Change some fields of a task (a JSON merge patch: null resets a field to its default)",
        read_only: false,
        destructive: false,
        args: &[TASK, arg("fields", Ty::Object, true, "The fields to change, e.g. {\"schedule\": \"@hourly\"}")],
        via: rest("PATCH", "/v1/tasks/{name}"),
    },
    Tool {
        name: "delete_task",
        description: "Remove a task (its history stays)",
        read_only: false,
        destructive: true,
        args: &[TASK],
        via: rest("DELETE", "/v1/tasks/{name}"),
    },
    Tool {
        name: "enable_task",
        description: "Enable a task",
        read_only: false,
        destructive: false,
        args: &[TASK],
        via: rest("POST", "/v1/tasks/{name}/enable"),
    },
    Tool {
        name: "disable_task",
        description: "Disable a task: it claims no slot until enabled",
        read_only: false,
        destructive: true,
        args: &[TASK],
        via: rest("POST", "/v1/tasks/{name}/disable"),
    },
    Tool {
        name: "list_daemons",
        description: "Every daemon kit-keep manages: state, pid, restarts, uptime",
        read_only: true,
        destructive: false,
        args: &[],
        via: rest("GET", "/v1/daemons"),
    },
    Tool {
        name: "restart_daemon",
        description: "Ask kit-keep to restart a daemon",
        read_only: false,
        destructive: false,
        args: DAEMON,
        via: rest("POST", "/v1/daemons/{name}/restart"),
    },
    Tool {
        name: "stop_daemon",
        description: "Ask kit-keep to stop a daemon (it stays down until start_daemon)",
        read_only: false,
        destructive: true,
        args: DAEMON,
        via: rest("POST", "/v1/daemons/{name}/stop"),
    },
    Tool {
        name: "start_daemon",
        description: "Ask kit-keep to start a stopped or quarantined daemon",
        read_only: false,
        destructive: false,
        args: DAEMON,
        via: rest("POST", "/v1/daemons/{name}/start"),
    },
    Tool {
        name: "events",
        description: "Events kit-heal and kit-keep recorded (failing, recovered, crashloop...), newest first, with their notification delivery state (\"pending\" = not yet delivered)",
        read_only: true,
        destructive: false,
        args: &[
            arg("task", Ty::Str, false, "Only this task's events"),
            arg("kind", Ty::Str, false, "Only this kind (failing, recovered, crashloop, ...)"),
            PAGE[0],
            PAGE[1],
        ],
        via: rest("GET", "/v1/events"),
    },
    Tool {
        name: "list_triggers",
        description: "The newest triggers (events, chains, conditions, watches) with what became of each, and the triggered runs waiting to start",
        read_only: true,
        destructive: false,
        args: &[
            arg("task", Ty::Str, false, "Only this task's"),
            arg("limit", Ty::Int, false, "How many (1-1000, default 100)"),
        ],
        via: rest("GET", "/v1/triggers"),
    },
    Tool {
        name: "metrics",
        description: "Metrics in the Prometheus text format (what /metrics serves)",
        read_only: true,
        destructive: false,
        args: &[],
        via: rest("GET", "/metrics"),
    },
];

pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

impl Tool {
    /// The entry `tools/list` shows.
    pub fn describe(&self) -> Value {
        let mut props = Map::new();
        for a in self.args {
            let ty = match a.ty {
                Ty::Str => "string",
                Ty::Int => "integer",
                Ty::Bool => "boolean",
                Ty::Object => "object",
            };
            props.insert(
                a.name.into(),
                json!({ "type": ty, "description": a.description }),
            );
        }
        let required: Vec<&str> = self
            .args
            .iter()
            .filter(|a| a.required)
            .map(|a| a.name)
            .collect();
        json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": false,
            },
            "annotations": {
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.read_only,
                "openWorldHint": false,
            },
        })
    }

    /// Checks `args` against the schema, naming the argument at fault: the
    /// same checks a client that validates would make, for those that don't.
    pub fn check(&self, args: &Map<String, Value>) -> Result<(), ApiError> {
        for k in args.keys() {
            if !self.args.iter().any(|a| a.name == k) {
                let known: Vec<&str> = self.args.iter().map(|a| a.name).collect();
                return Err(ApiError::bad_request(
                    k,
                    format!(
                        "unknown argument {k:?} (tool {} takes: {})",
                        self.name,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        for a in self.args {
            match args.get(a.name) {
                None | Some(Value::Null) if a.required => {
                    return Err(ApiError::bad_request(
                        a.name,
                        format!("missing required argument {:?}", a.name),
                    ))
                }
                None | Some(Value::Null) => {}
                Some(v) => {
                    let ok = match a.ty {
                        Ty::Str => v.is_string(),
                        Ty::Int => v.is_i64(),
                        Ty::Bool => v.is_boolean(),
                        Ty::Object => v.is_object(),
                    };
                    if !ok {
                        let want = match a.ty {
                            Ty::Str => "a string",
                            Ty::Int => "an integer",
                            Ty::Bool => "true or false",
                            Ty::Object => "a JSON object",
                        };
                        return Err(ApiError::bad_request(
                            a.name,
                            format!("argument {:?} must be {want}, got {v}", a.name),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::router::{self, Found, ROUTES};

    /// Every REST capability has a tool (the OpenAPI document and the
    /// dashboard page are not capabilities), and every tool's route exists
    /// with its path holes named by arguments.
    #[test]
    fn every_rest_route_has_a_tool_and_every_tool_a_route() {
        for r in ROUTES {
            // execution_output answers GET /v1/executions/{id} with the
            // output paged (its own function, not the route).
            if matches!(r.path, "/" | "/v1/openapi.json" | "/v1/executions/{id}") {
                continue;
            }
            // The adaptive-schedule routes take flat JSON bodies; their
            // tools (override_schedule, clear_override, pause_task,
            // resume_task, run_at, next_runs) take flat arguments and call
            // the same kit_db::adapt functions (mcp/pace.rs).
            if matches!(
                r.path,
                "/v1/tasks/{name}/override"
                    | "/v1/tasks/{name}/pause"
                    | "/v1/tasks/{name}/at"
                    | "/v1/tasks/{name}/next"
            ) {
                continue;
            }
            assert!(
                TOOLS.iter().any(|t| matches!(t.via,
                    Via::Rest { method, path } if method == r.method && path == r.path)),
                "no MCP tool for {} {}",
                r.method,
                r.path
            );
        }
        for t in TOOLS {
            if let Via::Rest { method, path } = t.via {
                let mut filled = path.to_string();
                for a in t.args {
                    filled = filled.replace(&format!("{{{}}}", a.name), "x");
                }
                assert!(
                    matches!(router::find(method, &filled), Found::Route(..)),
                    "{}: no route {method} {filled}",
                    t.name
                );
            }
            assert!(t.describe()["inputSchema"]["type"] == "object");
        }
    }

    #[test]
    fn arguments_are_checked_naming_the_one_at_fault() {
        let t = find("history").unwrap();
        let args = |v: Value| v.as_object().unwrap().clone();
        assert!(t.check(&args(json!({ "limit": 5 }))).is_ok());
        let e = t.check(&args(json!({ "limit": "5" }))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limit"));
        let e = t.check(&args(json!({ "staus": "failed" }))).unwrap_err();
        assert!(e.error.contains("\"staus\""), "{}", e.error);
        let e = find("show_task").unwrap().check(&Map::new()).unwrap_err();
        assert!(e.error.contains("missing required argument \"name\""));
    }
}
