#!/usr/bin/env python3
"""Writes kit-ctl/src/api/openapi.json, the OpenAPI 3 document of kit-ctl serve.

The document is data, but written by hand it would repeat the same error
responses and parameters on every route; this script says each once.
Edit here, then run:  python3 scripts/gen-openapi.py > kit-ctl/src/api/openapi.json
The tests check the result against the route table (kit-ctl unit tests and
tests/api.rs) and with openapi-spec-validator (scripts/check-openapi.sh).
"""
import json
ref = lambda n: {"$ref": f"#/components/schemas/{n}"}
resp_ref = lambda n: {"$ref": f"#/components/responses/{n}"}
def js(schema, desc):
    return {"description": desc, "content": {"application/json": {"schema": schema}}}
NAME = {"name": "name", "in": "path", "required": True, "description": "Task name", "example": "vehicle-telemetry",
        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"}}
DAEMON = dict(NAME, description="Name of an @daemon task", example="chrome-relay")
def q(name, schema, desc):
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": schema}
LIMIT = q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size")
BEFORE = q("before_id", {"type": "integer", "minimum": 1}, "Cursor: only rows with a smaller id (pass the previous page's `next_before_id`)")
def errs(*codes):
    names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 413: "TooLarge",
             415: "UnsupportedMediaType", 422: "Unprocessable", 503: "Unavailable"}
    return {str(c): resp_ref(names[c]) for c in codes}
BASE = (400, 401, 503)
BODY = (400, 401, 413, 415, 422, 503)

dur = {"type": "string", "description": "A duration: 30s, 10m, 1h30m, 2d", "example": "10m"}
size = {"description": "A byte size: 4096, 256KiB, 10MB, 2G", "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}
u32 = {"type": "integer", "minimum": 0, "maximum": 4294967295}
command = {"description": "A string runs under /bin/sh -c; an array is exec'd as is",
           "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
task_props = {
    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$", "description": "Lowercase letters, digits, '.', '_', '-'"},
    "schedule": {"type": "string", "description": "5-field cron, @hourly-style macro, \"@every 10m\", \"@daemon\", \"@reboot\" or \"@event\"", "example": "*/10 * * * *"},
    "command": ref("Command"),
    "description": {"type": "string"},
    "enabled": {"type": "boolean", "default": True},
    "timezone": {"type": "string", "description": "IANA zone for the schedule", "example": "Europe/Warsaw"},
    "timeout": ref("Duration"),
    "kill_grace": ref("Duration"),
    "cwd": {"type": "string", "description": "Absolute working directory"},
    "nice": {"type": "integer", "minimum": -20, "maximum": 19},
    "catch_up": {"type": "string", "enum": ["once", "none"]},
    "catch_up_max_age": ref("Duration"),
    "overlap": {"type": "string", "enum": ["skip", "allow", "replace"]},
    "jitter": ref("Duration"),
    "after": {"type": "array", "description": "Chains: run this task when one of these tasks' runs ends as `on` says",
              "items": {"type": "object", "additionalProperties": False, "required": ["task"], "properties": {
                  "task": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
                  "on": {"type": "string", "enum": ["success", "failure", "finish"], "default": "success"}}}},
    "debounce": ref("Duration"),
    "retries": {"type": "integer", "minimum": 0, "maximum": 100},
    "retry_delay": ref("Duration"),
    "retry_max_delay": ref("Duration"),
    "output_cap": ref("Size"),
    "restart_delay": ref("Duration"),
    "restart_max_delay": ref("Duration"),
    "stable_after": ref("Duration"),
    "quarantine": ref("Duration"),
    "stop_signal": {"type": "string", "example": "TERM"},
    "stop_timeout": ref("Duration"),
    "log_max_size": ref("Size"),
    "log_files": {"type": "integer", "minimum": 1, "maximum": 100},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "limits": {"type": "object", "additionalProperties": False, "properties": {
        "nofile": {"type": "integer", "minimum": 1}, "cpu": ref("Duration"), "as": ref("Size"), "fsize": ref("Size")}},
    "crashloop": {"type": "object", "additionalProperties": False, "required": ["failures", "within"], "properties": {
        "failures": {"type": "integer", "minimum": 1, "maximum": 4294967295}, "within": ref("Duration")}},
    "health": {"type": "object", "additionalProperties": False, "required": ["command"], "properties": {
        "command": ref("Command"), "every": ref("Duration"), "timeout": ref("Duration"),
        "failures": {"type": "integer", "minimum": 1, "maximum": 4294967295}, "start_period": ref("Duration")}},
    "recovery": {"type": "object", "additionalProperties": False, "properties": {
        "failure_threshold": {"type": "integer", "minimum": 1, "maximum": 4294967295}, "max_attempts": u32,
        "cooldown": ref("Duration"), "actions": {"type": "array", "items": {"type": "string", "example": "restart:chrome-relay"}},
        "escalate": {"type": "string", "enum": ["disable", "notify"]}}},
    "when": {"type": "object", "additionalProperties": False, "required": ["command"],
             "description": "A condition probed on its own cadence: exit 0 = true (the task runs), 1 = false, anything else = a probe failure",
             "properties": {"command": ref("Command"), "every": ref("Duration"), "timeout": ref("Duration"),
                            "fire": {"type": "string", "enum": ["edge", "level"], "default": "edge"}, "min_interval": ref("Duration")}},
    "watch": {"type": "object", "additionalProperties": False, "required": ["paths"],
              "description": "Run when one of these paths changes (kit-keep watches; directories recursively)",
              "properties": {"paths": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "string", "example": "~/memory/inbox"}},
                             "debounce": ref("Duration")}},
    # Adaptive schedules
    "success_exit": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255},
                     "description": "Exit statuses besides 0 that count as success (systemd's SuccessExitStatus=)"},
    "rate_limit": {"type": "string", "pattern": "^[0-9]+/.+$", "example": "12/1h",
                   "description": "At most N runs started within the duration, whatever triggers them"},
    "adapt": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["when", "schedule", "for"], "properties": {
        "when": {"type": "string", "example": "exit:10", "description": "exit:N, status:failed or output:PATTERN"},
        "schedule": {"type": "string", "example": "*/15 * * * *", "description": "The pace while adapted"},
        "for": ref("Duration")}}},
}
nstr = {"type": "string", "nullable": True}
nint = {"type": "integer", "nullable": True}
execution_props = {
    "id": {"type": "integer"}, "task": {"type": "string"},
    "trigger": {"type": "string", "enum": ["schedule", "catch_up", "manual", "retry", "daemon", "recovery", "api", "adhoc", "reboot", "event", "chain", "condition", "watch", "at"]},
    "attempt": {"type": "integer"}, "scheduled_for": nstr, "created_at": {"type": "string"},
    "started_at": nstr, "finished_at": nstr,
    "status": {"type": "string", "enum": ["queued", "running", "success", "failed", "timeout", "killed", "skipped", "missed", "lost", "error"]},
    "exit_code": nint, "signal": nint, "duration_ms": nint, "reason": nstr, "pid": nint, "child_pid": nint,
    "output_bytes": nint, "output_dropped": {"type": "integer"}, "retry_of": nint,
}
schemas = {
    "Error": {"type": "object", "required": ["status", "error"], "properties": {
        "status": {"type": "integer"}, "error": {"type": "string", "description": "What is wrong, for people"},
        "field": {"type": "string", "description": "The field or parameter at fault (schedule, limits.nofile, since...)"}}},
    "Duration": dur,
    "Size": size,
    "Command": command,
    "TaskSpec": {"type": "object", "additionalProperties": False, "required": ["schedule", "command"],
                 "description": "A task: the same fields as a [[task]] table of the TOML file, validated by the same validator. In PUT and PATCH the name comes from the URL.",
                 "properties": task_props},
    "TaskCreate": {"allOf": [ref("TaskSpec"), {"type": "object", "required": ["name"]}]},
    "TaskPatch": {"type": "object", "description": "A JSON merge patch (RFC 7396) of the task: the fields to change; null resets a field to its default.",
                  "properties": {k: dict(v) if "$ref" not in v else v for k, v in task_props.items()}},
    "Execution": {"type": "object", "required": list(execution_props), "properties": execution_props},
    "ExecutionDetail": {"allOf": [ref("Execution"), {"type": "object", "required": ["output"], "properties": {
        "output": {"type": "string", "nullable": True, "description": "stdout and stderr interleaved (head and tail past output_cap)"}}}]},
    "ExecutionPage": {"type": "object", "required": ["executions", "next_before_id"], "properties": {
        "executions": {"type": "array", "items": ref("Execution")},
        "next_before_id": {"type": "integer", "nullable": True, "description": "Pass as before_id for the next page; null on the last page"}}},
    "Task": {"type": "object", "required": ["name", "schedule", "command", "enabled", "revision", "created_at", "updated_at", "next", "last_run"],
             "properties": dict(task_props, **{
                 "next_due": nstr, "disabled_reason": nstr, "revision": {"type": "integer"},
                 "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                 "next": {"type": "string", "description": "The next slot (UTC), or daemon, at boot, when triggered, disabled, next tick; a queued triggered run when there is one"},
                 "last_run": {"type": "object", "nullable": True, "description": "The last execution that started (see Execution), or null"},
                 "triggers": {"type": "object", "description": "How the task is triggered: event_only (@event), after (chains it follows), followers, debounce, pending (queued triggered runs)"},
                 "condition_state": {"type": "object", "nullable": True, "description": "The condition's last probe, next probe and firings (tasks with `when`)"},
                 "watch_state": {"type": "object", "nullable": True, "description": "The watch's last change and firings (tasks with `watch`)"}})},
    "TaskList": {"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "items": ref("Task")}}},
    "TaskChange": {"type": "object", "required": ["change", "task"], "properties": {
        "change": {"type": "string", "enum": ["created", "updated", "unchanged"]}, "task": ref("Task")}},
    "TaskRemoved": {"type": "object", "required": ["name", "change"], "properties": {
        "name": {"type": "string"}, "change": {"type": "string", "enum": ["removed"]}}},
    "TaskEnabled": {"type": "object", "required": ["name", "enabled", "changed"], "properties": {
        "name": {"type": "string"}, "enabled": {"type": "boolean"}, "changed": {"type": "boolean", "description": "False when it already was"}}},
    "RunStarted": {"type": "object", "required": ["task", "trigger", "pid", "command", "executions"], "properties": {
        "task": {"type": "string"}, "trigger": {"type": "string", "enum": ["api"]}, "pid": {"type": "integer"},
        "command": {"type": "array", "items": {"type": "string"}},
        "executions": {"type": "string", "description": "Where the execution will appear"}}},
    "DaemonRequest": {"type": "object", "required": ["task", "action", "request"], "properties": {
        "task": {"type": "string"}, "action": {"type": "string", "enum": ["restart", "stop", "start"]},
        "request": {"type": "object", "nullable": True, "required": ["id", "created_at", "task", "action", "done_at", "result"], "properties": {
            "id": {"type": "integer"}, "created_at": {"type": "string"}, "task": {"type": "string"}, "action": {"type": "string"},
            "requested_by": nstr, "done_at": nstr, "result": nstr}}}},
    "Daemon": {"type": "object", "required": ["task", "wanted", "state", "restarts", "up", "uptime_seconds"], "properties": {
        "task": {"type": "string"}, "wanted": {"type": "string", "enum": ["up", "down"]},
        "state": {"type": "string", "enum": ["starting", "running", "backoff", "quarantined", "stopped", "error"]},
        "pid": nint, "pid_start": nint, "execution_id": nint, "started_at": nstr, "restarts": {"type": "integer"},
        "recent_failures": {"type": "array", "items": {"type": "string"}}, "backoff_until": nstr, "quarantined_until": nstr,
        "last_exit": nstr, "updated_at": {"type": "string"}, "up": {"type": "boolean"}, "uptime_seconds": nint}},
    "DaemonList": {"type": "object", "required": ["daemons"], "properties": {"daemons": {"type": "array", "items": ref("Daemon")}}},
    "Event": {"type": "object", "required": ["id", "created_at", "kind", "severity", "message", "delivery", "attempts"], "properties": {
        "id": {"type": "integer"}, "created_at": {"type": "string"},
        "kind": {"type": "string", "enum": ["failing", "recovering", "recovered", "escalated", "crashloop", "missed", "stalled", "stuck", "skipped", "action", "info",
                                             "clock_jump", "schedule_changed", "override", "probe_failed", "rate_limited"]},
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]}, "task": nstr, "message": {"type": "string"},
        "detail": {"nullable": True, "description": "Event-specific JSON"}, "delivery": {"type": "string", "enum": ["pending", "delivered", "failed", "none"]},
        "attempts": {"type": "integer"}, "delivered_at": nstr, "last_error": nstr}},
    "EventPage": {"type": "object", "required": ["events", "next_before_id"], "properties": {
        "events": {"type": "array", "items": ref("Event")}, "next_before_id": {"type": "integer", "nullable": True}}},
    "Status": {"type": "object", "description": "What `kit-ctl status --json` prints",
               "required": ["now", "healthy", "tasks", "today", "daemons", "heartbeats", "problems"], "properties": {
        "now": {"type": "string"}, "timezone": {"type": "string"}, "healthy": {"type": "boolean"},
        "tasks": {"type": "object"}, "running": {"type": "integer"}, "queued": {"type": "integer"},
        "today": {"type": "object"}, "daemons": {"type": "object"}, "failing": {"type": "array", "items": {"type": "object"}},
        "heartbeats": {"type": "array", "items": {"type": "object"}}, "notifications": {"type": "object"},
        "conditions": {"type": "object", "description": "Conditions and file watches: counts, failing probes, watches kit-keep is not watching"},
        "problems": {"type": "array", "items": {"type": "object"}},
        "triggers": {"type": "object", "description": "Triggers today by outcome (today, by_outcome) and the triggered runs waiting to start (pending)"}}},
    "Override": {"type": "object", "description": "A row of supervisor_overrides (docs/schema.md): an adaptation, override, pause or one-shot run",
                 "required": ["id", "task", "kind", "starts_at", "ends_at", "set_by"], "properties": {
        "id": {"type": "integer"}, "task": {"type": "string"},
        "kind": {"type": "string", "enum": ["schedule", "pause", "adapt", "at"]},
        "schedule": nstr, "starts_at": {"type": "string"}, "ends_at": {"type": "string"},
        "set_by": {"type": "string", "example": "api"}, "reason": nstr, "rule": nstr,
        "matched_execution_id": nint, "matches": {"type": "integer"}, "data": nstr, "execution_id": nint,
        "cleared_at": nstr, "cleared_by": nstr, "reverted_at": nstr, "created_at": {"type": "string"}}},
    "OverrideList": {"type": "object", "required": ["overrides"], "properties": {"overrides": {"type": "array", "items": ref("Override")}}},
    "OverrideCleared": {"type": "object", "required": ["task", "cleared"], "properties": {
        "task": {"type": "string"}, "cleared": {"type": "array", "items": ref("Override")}}},
    "OverrideRequest": {"type": "object", "additionalProperties": False, "required": ["schedule", "reason"], "properties": {
        "schedule": {"type": "string", "example": "*/15 * * * *"}, "for": ref("Duration"),
        "until": {"type": "string", "example": "18:40"}, "reason": {"type": "string"}}},
    "PauseRequest": {"type": "object", "additionalProperties": False, "required": ["reason"], "properties": {
        "for": ref("Duration"), "until": {"type": "string", "example": "2026-03-02T18:40:00Z"}, "reason": {"type": "string"}}},
    "AtRequest": {"type": "object", "additionalProperties": False, "required": ["time"], "properties": {
        "time": {"type": "string", "example": "18:40"}, "data": {"type": "string"}, "reason": {"type": "string"}}},
    "NextRuns": {"type": "object", "required": ["task", "runs"], "properties": {
        "task": {"type": "string"}, "in_force": {"type": "object"},
        "runs": {"type": "array", "items": {"type": "object", "required": ["at", "source", "paused"], "properties": {
            "at": {"type": "string"}, "source": {"type": "string", "enum": ["base", "adapt", "override", "at"]},
            "paused": {"type": "boolean"}, "note": nstr}}}}},
    "TriggerAccepted": {"type": "object", "required": ["task", "trigger_id", "execution_id", "outcome", "duplicate", "reason", "execution"], "properties": {
        "task": {"type": "string"}, "trigger_id": {"type": "integer", "description": "The supervisor_triggers row"},
        "execution_id": dict(nint, description="The run that consumes it (a duplicate: the first copy's run)"),
        "outcome": {"type": "string", "enum": ["queued", "coalesced", "duplicate", "refused", "rate_limited"]},
        "duplicate": {"type": "boolean"}, "reason": dict(nstr, description="Why it started no run of its own"),
        "execution": dict(nstr, description="Where the execution is"),
        "error": {"type": "string"}, "status": {"type": "integer"}}},
    "Trigger": {"type": "object", "properties": {
        "id": {"type": "integer"}, "task": {"type": "string"}, "source": {"type": "string", "enum": ["event", "chain", "condition", "watch"]},
        "key": nstr, "data_bytes": {"type": "integer"}, "received_at": {"type": "string"}, "execution_id": nint,
        "outcome": {"type": "string", "enum": ["queued", "coalesced", "duplicate", "refused", "rate_limited"]},
        "reason": nstr, "detail": {"nullable": True, "description": "Facts for why: a chain's upstream, a probe's exit, paths"}}},
    "PendingRun": {"type": "object", "properties": {
        "id": {"type": "integer", "description": "The queued execution"}, "task": {"type": "string"}, "created_at": {"type": "string"},
        "due_at": dict(nstr, description="The debounce deadline; null: at once"),
        "owner": dict(nint, description="The pid of the kit-run waiting to start it"),
        "triggers": {"type": "integer", "description": "Triggers it will consume so far"}}},
    "TriggerList": {"type": "object", "required": ["triggers", "pending"], "properties": {
        "triggers": {"type": "array", "items": ref("Trigger")}, "pending": {"type": "array", "items": ref("PendingRun")}}},
    "Why": {"type": "object", "description": "What `kit-ctl why NAME --json` prints: the task's recent history explained"},
    "OpenApi": {"type": "object", "required": ["openapi", "info", "paths"]},
}
def error_resp(desc):
    return js(ref("Error"), desc)
responses = {
    "BadRequest": error_resp("A malformed request: not JSON, a bad query parameter (`field` names it)"),
    "Unauthorized": error_resp("Missing or wrong `Authorization: Bearer TOKEN`; nothing was done"),
    "NotFound": error_resp("No such task, execution or route"),
    "Conflict": error_resp("The request conflicts with the current state (the task exists, is not a daemon, is a daemon)"),
    "TooLarge": error_resp("The request body is over 1 MiB"),
    "UnsupportedMediaType": error_resp("The body is not JSON"),
    "Unprocessable": error_resp("JSON that is not a valid task: `field` names what is wrong"),
    "Unavailable": error_resp("The database is busy or cannot be opened; retry"),
}
def op(summary, ok, codes, params=None, body=None, oid=None, desc=None, security=None):
    o = {"operationId": oid, "summary": summary, "responses": dict(ok)}
    if desc: o["description"] = desc
    o["responses"].update(errs(*codes))
    if params: o["parameters"] = params
    if body: o["requestBody"] = body
    if security is not None: o["security"] = security
    return o
def body(schema_name, example, types=("application/json",)):
    return {"required": True, "content": {t: {"schema": ref(schema_name), "example": example} for t in types}}
paths = {
    "/": {"get": op("The dashboard page (HTML; asks for the token, then calls the API)",
                    {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}},
                    (), oid="dashboard", security=[])},
    "/metrics": {"get": op("Prometheus metrics (text format 0.0.4)",
                           {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}},
                           BASE, oid="metrics", desc="Needs the token unless `serve --metrics-public`.")},
    "/v1/openapi.json": {"get": op("This document", {"200": js(ref("OpenApi"), "The OpenAPI document")}, BASE, oid="openapi")},
    "/v1/status": {"get": op("Is kit all right? (as `kit-ctl status --json`)", {"200": js(ref("Status"), "Status")}, BASE, oid="status")},
    "/v1/tasks": {
        "get": op("All tasks with their last and next run", {"200": js(ref("TaskList"), "Tasks")}, BASE, oid="listTasks"),
        "post": op("Create a task", {"201": js(ref("TaskChange"), "Created (Location names it)")}, BODY + (409,),
                   body=body("TaskCreate", {"name": "disk-report", "schedule": "0 7 * * *", "command": ["df", "-h"], "timezone": "Europe/Warsaw", "timeout": "5m"}), oid="createTask",
                   desc="kit-tick picks it up at its next tick; kit-keep starts an @daemon within 2 s."),
    },
    "/v1/tasks/{name}": {
        "parameters": [NAME],
        "get": op("One task", {"200": js(ref("Task"), "The task")}, BASE + (404,), oid="getTask"),
        "put": op("Create or replace a task", {"200": js(ref("TaskChange"), "Replaced (or unchanged)"), "201": js(ref("TaskChange"), "Created")},
                  BODY, body=body("TaskSpec", {"schedule": "*/10 * * * *", "command": ["telemetry", "--push"], "retries": 2}), oid="putTask"),
        "patch": op("Change some fields of a task (JSON merge patch)", {"200": js(ref("TaskChange"), "Changed (or unchanged)")},
                    BODY + (404,), body=body("TaskPatch", {"description": "vehicle telemetry, every 10 minutes", "timeout": None}, ("application/merge-patch+json", "application/json")), oid="patchTask"),
        "delete": op("Remove a task (its history stays)", {"200": js(ref("TaskRemoved"), "Removed")}, BASE + (404,), oid="deleteTask"),
    },
    "/v1/tasks/{name}/run": {"parameters": [NAME], "post": op(
        "Run a task now (starts `kit-run --trigger api NAME` detached)", {"202": js(ref("RunStarted"), "Started; the execution appears in /v1/executions")},
        BASE + (404, 409), oid="runTask")},
    "/v1/tasks/{name}/trigger": {"parameters": [NAME], "post": op(
        "Trigger a task with an event: the body (optional) is its JSON data; the run starts at once",
        {"202": js(ref("TriggerAccepted"), "Accepted: a run was queued and started (or the trigger joined a queued run)"),
         "200": js(ref("TriggerAccepted"), "Duplicate key: nothing new started; execution_id is the first run"),
         "409": js(ref("TriggerAccepted"), "Recorded but not run: the task is disabled (or rate-limited)")},
        BASE + (404, 413, 422),
        params=[q("key", {"type": "string", "maxLength": 200}, "Idempotency key (or the Idempotency-Key header): a key seen in the last 24 h starts nothing new"),
                {"name": "Idempotency-Key", "in": "header", "required": False, "description": "The idempotency key, as webhooks send it",
                 "schema": {"type": "string", "maxLength": 200}}],
        body={"required": False, "description": "The event's data (any JSON, at most 1 MiB); the command reads it from KIT_EVENT_FILE",
              "content": {"application/json": {"schema": {}, "example": {"path": "inbox/note.md"}}}},
        oid="triggerTask")},
    "/v1/tasks/{name}/enable": {"parameters": [NAME], "post": op("Enable a task", {"200": js(ref("TaskEnabled"), "Enabled")}, BASE + (404,), oid="enableTask")},
    "/v1/tasks/{name}/disable": {"parameters": [NAME], "post": op("Disable a task", {"200": js(ref("TaskEnabled"), "Disabled")}, BASE + (404,), oid="disableTask")},
    "/v1/tasks/{name}/why": {"parameters": [NAME], "get": op("Why did (or didn't) it run? (as `kit-ctl why --json`)", {"200": js(ref("Why"), "Explanation")}, BASE + (404,), oid="whyTask")},
    "/v1/tasks/{name}/next": {"parameters": [NAME], "get": op(
        "The next runs under the schedule in force (adaptations, overrides, pauses, one-shot runs)",
        {"200": js(ref("NextRuns"), "Next runs")}, BASE + (404, 409),
        params=[q("count", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5}, "How many")], oid="nextRuns")},
    "/v1/tasks/{name}/override": {"parameters": [NAME],
        "post": op("Run a task at another pace for a while (at most 7 days; replaces an override in force)",
                   {"201": js(ref("Override"), "Set")}, BODY + (404,),
                   body=body("OverrideRequest", {"schedule": "*/15 * * * *", "for": "6h", "reason": "launch day"}), oid="setOverride"),
        "delete": op("End the override in force", {"200": js(ref("OverrideCleared"), "Cleared (possibly nothing)")}, BASE + (404,), oid="clearOverride")},
    "/v1/tasks/{name}/pause": {"parameters": [NAME],
        "post": op("Pause a task for a while (its slots are recorded skipped with the reason)",
                   {"201": js(ref("Override"), "Paused")}, BODY + (404,),
                   body=body("PauseRequest", {"for": "2h", "reason": "maintenance"}), oid="pauseTask"),
        "delete": op("Resume: end the pause in force", {"200": js(ref("OverrideCleared"), "Cleared (possibly nothing)")}, BASE + (404,), oid="resumeTask")},
    "/v1/tasks/{name}/at": {"parameters": [NAME], "post": op(
        "Run a task once at a chosen time (data reaches it as KIT_EVENT_DATA)", {"201": js(ref("Override"), "Set")}, BODY + (404,),
        body=body("AtRequest", {"time": "18:40", "data": "post #7"}), oid="runAt")},
    "/v1/overrides": {"get": op("Every adaptation, override and pause in force, and the pending one-shot runs",
        {"200": js(ref("OverrideList"), "In force")}, BASE, oid="listOverrides",
        params=[q("since", {"type": "string", "example": "2026-03-02T00:00:00Z"}, "Also those that ended after this instant (RFC 3339)")])},
    "/v1/daemons": {"get": op("The daemons kit-keep manages", {"200": js(ref("DaemonList"), "Daemons")}, BASE, oid="listDaemons")},
    "/v1/executions": {"get": op("Executions, newest first", {"200": js(ref("ExecutionPage"), "A page of executions")}, BASE + (404,), params=[
        q("task", {"type": "string"}, "Only this task (or ad-hoc label)"),
        q("status", {"type": "string", "example": "failed,timeout"}, "Only these statuses, comma-separated"),
        q("since", {"type": "string", "example": "2025-03-30T00:00:00Z"}, "Only executions created at or after this instant (RFC 3339, \"YYYY-MM-DD HH:MM\" UTC, or @UNIX_SECONDS)"),
        q("until", {"type": "string"}, "Only executions created before this instant"),
        LIMIT, BEFORE], oid="listExecutions",
        desc="Paged with a cursor: each page has `next_before_id`; pass it as `before_id` for the next (older) page.")},
    "/v1/executions/{id}": {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
        "get": op("One execution with its output", {"200": js(ref("ExecutionDetail"), "The execution")}, BASE + (404,), oid="getExecution")},
    "/v1/events": {"get": op("Events (episode transitions), newest first", {"200": js(ref("EventPage"), "A page of events")}, BASE, params=[
        q("task", {"type": "string"}, "Only this task"), q("kind", {"type": "string"}, "Only this kind"), LIMIT, BEFORE], oid="listEvents")},
    "/v1/triggers": {"get": op("The newest triggers (what became of each) and the triggered runs waiting to start",
        {"200": js(ref("TriggerList"), "Triggers, newest first")}, BASE,
        params=[q("task", {"type": "string"}, "Only this task"), LIMIT], oid="listTriggers")},
}
for action, desc in [("restart", "Restart a daemon (clears backoff and quarantine)"), ("stop", "Stop a daemon and keep it down until start"), ("start", "Start a stopped or quarantined daemon")]:
    paths[f"/v1/daemons/{{name}}/{action}"] = {"parameters": [DAEMON], "post": op(desc,
        {"200": js(ref("DaemonRequest"), "kit-keep has acted (result says what it did)"),
         "202": js(ref("DaemonRequest"), "Queued for kit-keep (it acts within a second)")},
        BASE + (404, 409), params=[q("wait", {"type": "integer", "minimum": 0, "maximum": 30}, "Wait up to this many seconds for kit-keep's answer")],
        oid=f"{action}Daemon")}
doc = {
    "openapi": "3.0.3",
    "info": {"title": "kit API", "version": "0",
             "description": "Scheduled tasks and daemons for an autonomous agent. Served by `kit-ctl serve` on loopback or a Unix socket. Every request needs `Authorization: Bearer TOKEN` (the token is in `$KIT_HOME/api-token` or `KIT_API_TOKEN`). Errors are JSON objects with `status`, `error` and, for bad input, `field`."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": paths,
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas, "responses": responses},
}
print(json.dumps(doc, indent=2))
