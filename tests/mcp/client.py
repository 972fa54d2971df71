"""Drives `kit-ctl mcp` with the official MCP Python SDK, the way an agent
client does: over stdio, then at /mcp of a running `kit-ctl serve`.

Run by tests/mcp.rs (through scripts/mcp-client.sh, which installs the SDK):
    client.py KIT_CTL URL TOKEN
with KIT_HOME/KIT_DB/KIT_NOW set to a kit whose tasks the test declared:
t1 (ran once, succeeded), boom (ran once, failed), d1 (a daemon).
Exits 0 when every check passed, else prints the first failure and exits 1.
"""

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client
from pydantic import AnyUrl

KIT_CTL, URL, TOKEN = sys.argv[1:4]

EXPECTED_TOOLS = {
    "status", "list_tasks", "show_task", "history", "why", "execution_output",
    "next_runs", "run_task", "create_task", "replace_task", "update_task",
    "delete_task", "enable_task", "disable_task", "list_daemons",
    "restart_daemon", "stop_daemon", "start_daemon", "events", "metrics",
    "override_schedule", "clear_override", "pause_task", "resume_task", "run_at",
    "list_overrides",
    "trigger_task", "list_triggers",
}
DESTRUCTIVE = {"delete_task", "disable_task", "stop_daemon"}
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


async def ok(s, tool, args=None):
    r = await s.call_tool(tool, args or {})
    check(not r.isError, f"{tool} {args}: unexpected error: {r.content}")
    check(isinstance(r.structuredContent, dict), f"{tool}: no structuredContent")
    return r.structuredContent


async def err(s, tool, args, needle):
    r = await s.call_tool(tool, args)
    text = r.content[0].text if r.content else ""
    check(r.isError, f"{tool} {args}: expected a tool error, got {text[:200]}")
    check(needle in text, f"{tool} {args}: error {text!r} does not mention {needle!r}")


async def tools_check(s):
    listed = (await s.list_tools()).tools
    names = {t.name for t in listed}
    check(names == EXPECTED_TOOLS, f"tools: {sorted(names ^ EXPECTED_TOOLS)} differ")
    for t in listed:
        check(t.inputSchema.get("type") == "object", f"{t.name}: schema")
        a = t.annotations
        check(a is not None, f"{t.name}: no annotations")
        check(bool(a.destructiveHint) == (t.name in DESTRUCTIVE), f"{t.name}: destructiveHint")
    ro = {t.name for t in listed if t.annotations.readOnlyHint}
    check({"status", "list_tasks", "history", "why", "events"} <= ro, f"readOnly: {ro}")
    check(not ({"run_task", "delete_task", "create_task"} & ro), f"readOnly: {ro}")


async def read_tools(s):
    st = await ok(s, "status")
    check("tasks" in json.dumps(st), "status mentions tasks")
    tasks = (await ok(s, "list_tasks"))["tasks"]
    check({t["name"] for t in tasks} == {"t1", "boom", "d1"}, f"list_tasks: {tasks}")
    check((await ok(s, "show_task", {"name": "t1"}))["name"] == "t1", "show_task")
    h = await ok(s, "history", {"task": "boom", "status": "failed", "limit": 5})
    check(len(h["executions"]) == 1, f"history failed: {h}")
    failed = h["executions"][0]
    everything = (await ok(s, "history", {"limit": 1}))
    check(len(everything["executions"]) == 1 and everything["next_before_id"], "history paging")
    w = await ok(s, "why", {"name": "t1"})
    check(w, "why")
    out = await ok(s, "execution_output", {"id": failed["id"]})
    check("boom" in out["output"], f"output: {out}")
    total = out["total_bytes"]
    page = await ok(s, "execution_output", {"id": failed["id"], "offset": 1, "limit": 2})
    check(page["returned_bytes"] == min(2, total - 1) and page["offset"] == 1, f"page: {page}")
    check(page["next_offset"] == (3 if total > 3 else None), f"next_offset: {page}")
    n = await ok(s, "next_runs", {"name": "t1", "count": 3})
    check(len(n["runs"]) == 3 and n["runs"][0]["utc"].startswith("2025-06-02T10:10"), f"next_runs: {n}")
    # Adaptive schedules: set by "mcp", bounded, visible in next_runs.
    o = await ok(s, "override_schedule", {"name": "t1", "schedule": "*/15 * * * *", "for": "1h", "reason": "mcp test"})
    check(o["set_by"] == "mcp" and o["kind"] == "schedule", f"override_schedule: {o}")
    n = await ok(s, "next_runs", {"name": "t1", "count": 2})
    check(n["runs"][0]["source"] == "override", f"next_runs under an override: {n}")
    check(len((await ok(s, "clear_override", {"name": "t1"}))["cleared"]) == 1, "clear_override")
    p = await ok(s, "pause_task", {"name": "t1", "for": "2h", "reason": "mcp test"})
    check(p["kind"] == "pause" and p["set_by"] == "mcp", f"pause_task: {p}")
    check(len((await ok(s, "resume_task", {"name": "t1"}))["cleared"]) == 1, "resume_task")
    a = await ok(s, "run_at", {"name": "t1", "time": "+2h", "data": "x"})
    check(a["kind"] == "at" and a["data"] == "x", f"run_at: {a}")
    lo = await ok(s, "list_overrides", {})
    check(any(o["kind"] == "at" for o in lo["overrides"]), f"list_overrides: {lo}")
    await err(s, "pause_task", {"name": "t1", "for": "30d", "reason": "x"}, "at most 7d")
    check("daemons" in await ok(s, "list_daemons"), "list_daemons")
    check("events" in await ok(s, "events", {"limit": 10}), "events")
    check("kit_" in (await ok(s, "metrics"))["text"], "metrics")


async def write_tools(s):
    c = await ok(s, "create_task", {"task": {"name": "made", "schedule": "@hourly", "command": ["echo", "made by mcp"]}})
    check(c["change"] == "created", f"create: {c}")
    await err(s, "create_task", {"task": {"name": "made", "schedule": "@hourly", "command": "true"}}, "already exists")
    u = await ok(s, "update_task", {"name": "made", "fields": {"schedule": "*/5 * * * *"}})
    check(u["task"]["schedule"] == "*/5 * * * *", f"update: {u}")
    r = await ok(s, "replace_task", {"name": "made", "task": {"name": "made", "schedule": "@daily", "command": "true"}})
    check(r["task"]["schedule"] == "@daily", f"replace: {r}")
    check((await ok(s, "disable_task", {"name": "made"}))["enabled"] is False, "disable")
    check((await ok(s, "enable_task", {"name": "made"}))["enabled"] is True, "enable")
    check((await ok(s, "delete_task", {"name": "made"}))["change"] == "removed", "delete")
    run = await ok(s, "run_task", {"name": "t1"})
    check(run["trigger"] == "api", f"run_task: {run}")
    deadline = time.monotonic() + 30
    while True:
        h = await ok(s, "history", {"task": "t1"})
        if any(e["trigger"] == "api" and e["status"] == "success" for e in h["executions"]):
            break
        check(time.monotonic() < deadline, f"run_task: no api execution of t1 in 30s: {h}")
        await asyncio.sleep(0.1)
    # Run once per transport: the second time the key is already seen.
    tr = await ok(s, "trigger_task", {"name": "t1", "data": {"n": 1}, "key": "mcp-1"})
    check(tr["outcome"] in ("queued", "coalesced", "duplicate"), f"trigger_task: {tr}")
    dup = await ok(s, "trigger_task", {"name": "t1", "key": "mcp-1"})
    check(dup["duplicate"] is True and dup["execution_id"] == tr["execution_id"], f"duplicate: {dup}")
    lt = await ok(s, "list_triggers", {"task": "t1"})
    check(any(t["key"] == "mcp-1" for t in lt["triggers"]), f"list_triggers: {lt}")
    for action in ("restart", "stop", "start"):
        d = await ok(s, f"{action}_daemon", {"name": "d1"})
        check(d["action"] == action and d["task"] == "d1", f"{action}_daemon: {d}")


async def error_cases(s):
    await err(s, "show_task", {"name": "nosuch"}, "nosuch")
    await err(s, "why", {"name": "t2"}, "did you mean")
    await err(s, "update_task", {"name": "t1", "fields": {"schedule": "61 * * * *"}}, "schedule")
    await err(s, "create_task", {"task": {"name": "x", "schedule": "every tuesday", "command": "true"}}, "schedule")
    await err(s, "show_task", {}, 'missing required argument "name"')
    await err(s, "show_task", {"name": "t1", "verbose": True}, '"verbose"')
    await err(s, "history", {"limit": "ten"}, '"limit" must be an integer')
    await err(s, "history", {"status": "exploded"}, "exploded")
    await err(s, "history", {"since": "yesterday-ish"}, "since")
    await err(s, "execution_output", {"id": 99999}, "99999")
    await err(s, "execution_output", {"id": 1, "limit": 0}, "limit")
    await err(s, "stop_daemon", {"name": "t1"}, "not a daemon")
    await err(s, "run_task", {"name": "d1"}, "daemon")
    await err(s, "trigger_task", {"name": "nosuch"}, "nosuch")
    await err(s, "next_runs", {"name": "d1"}, "daemon")
    await err(s, "no_such_tool", {}, "unknown tool")


async def resources_check(s):
    uris = {str(r.uri) for r in (await s.list_resources()).resources}
    check(uris == {"kit://tasks.toml", "kit://failures"}, f"resources: {uris}")
    toml = (await s.read_resource(AnyUrl("kit://tasks.toml"))).contents[0].text
    check('name = "boom"' in toml and "[[task]]" in toml, f"task file: {toml}")
    fails = json.loads((await s.read_resource(AnyUrl("kit://failures"))).contents[0].text)
    check(any("boom" in f["output_tail"] for f in fails["failures"]), f"failures: {fails}")


async def over_stdio():
    env = {k: os.environ[k] for k in ("PATH", "KIT_HOME", "KIT_DB", "KIT_NOW", "HOME", "TZ") if k in os.environ}
    params = StdioServerParameters(command=KIT_CTL, args=["mcp"], env=env)
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            check(init.serverInfo.name == "kit", "serverInfo")
            await tools_check(s)
            await read_tools(s)
            await error_cases(s)
            await write_tools(s)
            await resources_check(s)


async def over_http():
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with streamablehttp_client(f"{URL}/mcp", headers=headers) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            await tools_check(s)
            tasks = (await ok(s, "list_tasks"))["tasks"]
            check("t1" in {t["name"] for t in tasks}, "http list_tasks")
            await err(s, "show_task", {"name": "nosuch"}, "nosuch")


def http_without_token():
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    for auth in (None, "Bearer wrong-token-of-enough-length"):
        req = urllib.request.Request(f"{URL}/mcp", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        if auth:
            req.add_header("Authorization", auth)
        try:
            urllib.request.urlopen(req, timeout=10)
            check(False, f"/mcp answered without a valid token ({auth})")
        except urllib.error.HTTPError as e:
            check(e.code == 401, f"/mcp without a valid token: {e.code}")
            check(b"tools" not in e.read(), "401 reveals nothing")


def main():
    try:
        asyncio.run(over_stdio())
        asyncio.run(over_http())
        http_without_token()
    except BaseException as e:  # an ExceptionGroup from the SDK's task group too
        print(f"FAILED after {checks} checks: {e!r}", file=sys.stderr)
        raise
    print(f"ok: {checks} checks")


if __name__ == "__main__":
    main()
