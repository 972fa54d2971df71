//! `kit-ctl mcp`: the MCP server end to end. The main test drives it with
//! the official MCP Python SDK (tests/mcp/client.py, installed into a venv
//! by scripts/mcp-client.sh) over stdio and at /mcp of `kit-ctl serve`;
//! the others speak raw JSON-RPC to check what the SDK hides.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use support::http::request;
use support::{bin_dir, Kit};

const NOW: &str = "2025-06-02T10:00:00Z";

fn seeded() -> Kit {
    let mut kit = Kit::new();
    kit.at(NOW);
    kit.tasks(
        r#"
[[task]]
name = "t1"
schedule = "*/10 * * * *"
command = "echo hello from t1"

[[task]]
name = "boom"
schedule = "@hourly"
command = "echo boom; exit 3"

[[task]]
name = "d1"
schedule = "@daemon"
command = "sleep 1000"
"#,
    );
    kit.run().arg("t1").ok();
    kit.run().arg("boom").run().code(3);
    kit
}

#[test]
fn the_python_sdk_drives_every_tool_over_stdio_and_http() {
    let kit = seeded();
    let srv = kit.serve(&[]);
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("sh")
        .arg(format!(
            "{}/scripts/mcp-client.sh",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(bin_dir().join("kit-ctl"))
        .arg(&srv.url)
        .arg(&srv.token)
        .env("PATH", path)
        .env("HOME", kit.dir.path())
        .env("KIT_HOME", &kit.home)
        .env("KIT_DB", &kit.db)
        .env("KIT_NOW", NOW)
        .env("TZ", "UTC")
        .output()
        .expect("run sh");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    match out.status.code() {
        Some(0) => {
            assert!(stdout.contains("ok: "), "{stdout}");
            eprintln!("MCP Python SDK client: {}", stdout.trim());
        }
        // CI must not pass without having run the client.
        Some(77) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED the MCP Python SDK test: {}", stderr.trim())
        }
        _ => panic!(
            "the MCP Python SDK client failed:\n{stdout}\n{stderr}\nserve's log:\n{}",
            srv.stderr()
        ),
    }
}

/// `kit-ctl mcp` over pipes, one JSON-RPC message a line.
struct McpPipe {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: i64,
}

impl McpPipe {
    fn start(kit: &Kit) -> McpPipe {
        Self::start_with(kit, &[])
    }

    fn start_with(kit: &Kit, env: &[(&str, &str)]) -> McpPipe {
        let mut cmd = kit.ctl().arg("mcp");
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let mut c = cmd.spawn_with_pipes();
        let input = c.stdin.take().unwrap();
        let output = BufReader::new(c.stdout.take().unwrap());
        let mut s = McpPipe {
            child: c,
            input,
            output,
            next_id: 0,
        };
        let init = s.request(
            "initialize",
            json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "test", "version": "0" } }),
        );
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
        s.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string());
        s
    }

    fn send(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let m = json!({ "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params });
        self.send(&m.to_string());
        let r = self.read();
        assert_eq!(r["id"], self.next_id, "{r}");
        r
    }

    fn tool(&mut self, name: &str, args: Value) -> Value {
        self.request("tools/call", json!({ "name": name, "arguments": args }))["result"].clone()
    }
}

impl Drop for McpPipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

trait Pipes {
    fn spawn_with_pipes(self) -> Child;
}

impl Pipes for support::Cmd {
    fn spawn_with_pipes(self) -> Child {
        let mut c = self.inner;
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().expect("spawn kit-ctl mcp")
    }
}

#[test]
fn a_missing_database_is_a_tool_error_and_the_server_stays_up() {
    let mut kit = Kit::new();
    kit.at(NOW);
    let mut s = McpPipe::start(&kit);
    let r = s.tool("status", json!({}));
    assert_eq!(r["isError"], true, "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("no kit database"), "{text}");
    // Declared meanwhile: the next call finds it.
    kit.tasks("[[task]]\nname = \"t1\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    let r = s.tool("list_tasks", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["tasks"][0]["name"], "t1");
}

#[test]
fn malformed_messages_get_protocol_errors_and_the_server_goes_on() {
    let kit = seeded();
    let mut s = McpPipe::start(&kit);
    s.send("this is not json");
    assert_eq!(s.read()["error"]["code"], -32700);
    let r = s.request("no/such/method", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = s.request(
        "tools/call",
        json!({ "name": "show_task", "arguments": [1] }),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = s.request("resources/read", json!({ "uri": "kit://nope" }));
    assert_eq!(r["error"]["code"], -32002, "{r}");
    let r = s.tool("show_task", json!({ "name": "../t1" }));
    assert_eq!(r["isError"], true, "{r}");
    let r = s.request("ping", json!({}));
    assert_eq!(r["result"], json!({}), "{r}");
}

#[test]
fn http_mcp_needs_the_token_answers_post_only_and_accepts_notifications() {
    let kit = seeded();
    let srv = kit.serve(&[]);
    let auth = format!("Bearer {}", srv.token);
    let json_ct = ("Content-Type", "application/json");
    let call = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": { "name": "show_task", "arguments": { "name": "t1" } } })
    .to_string();
    let r = request(
        &srv.target,
        "POST",
        "/mcp",
        &[json_ct],
        Some(call.as_bytes()),
    );
    assert_eq!(r.status, 401);
    let r = request(
        &srv.target,
        "POST",
        "/mcp",
        &[json_ct, ("Authorization", &auth)],
        Some(call.as_bytes()),
    )
    .status(200)
    .json();
    assert_eq!(r["id"], 7);
    assert_eq!(r["result"]["structuredContent"]["name"], "t1", "{r}");
    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string();
    let r = request(
        &srv.target,
        "POST",
        "/mcp",
        &[json_ct, ("Authorization", &auth)],
        Some(note.as_bytes()),
    );
    assert_eq!(r.status, 202);
    let r = request(
        &srv.target,
        "GET",
        "/mcp",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    assert!(!srv.stderr().contains("panic"), "{}", srv.stderr());
}

#[test]
fn a_busy_database_is_a_tool_error_and_the_server_stays_up() {
    let kit = seeded();
    // A short lock wait (KIT_BUSY_TIMEOUT) so the test takes a second, not a minute.
    let mut s = McpPipe::start_with(&kit, &[("KIT_BUSY_TIMEOUT", "300ms")]);
    assert_eq!(s.tool("list_tasks", json!({}))["isError"], false);
    // Another program holding the write lock (the server's open connection
    // keeps anyone from locking readers out: the DB is in WAL mode).
    let c = kit.conn();
    c.execute_batch("BEGIN IMMEDIATE; UPDATE supervisor_tasks SET revision = revision;")
        .unwrap();
    let started = std::time::Instant::now();
    let r = s.tool("disable_task", json!({ "name": "t1" }));
    assert_eq!(r["isError"], true, "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("locked") || text.contains("busy"), "{text}");
    // A write waits for the lock as long as over REST (kit_db's
    // Store::write: twice the busy timeout), then says so; it never hangs.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    c.execute_batch("COMMIT").unwrap();
    let r = s.tool("disable_task", json!({ "name": "t1" }));
    assert_eq!(r["isError"], false, "{r}");
}
