//! docs/schema.md never rots: every ```sql block in it runs against a DB the
//! real tools filled (and returns rows), and every table, view and column
//! of the live schema is described in it.

mod support;

use std::time::Duration;
use support::*;

fn doc() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The ```sql blocks of a Markdown text, with the line each starts on.
fn sql_blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        match (&mut cur, line.trim_end()) {
            (None, "```sql") => cur = Some((i + 2, String::new())),
            (Some(_), "```") => out.push(cur.take().unwrap()),
            (Some((_, text)), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(cur.is_none(), "an unclosed ```sql block");
    out
}

/// A DB with something in every table the examples read, made by the real
/// tools on the real clock (the examples say "today" and "the last 7 days").
fn prepared() -> Kit {
    let kit = Kit::new();
    std::fs::create_dir_all(kit.path("inbox")).unwrap();
    kit.tasks(
        r#"
[[task]]
name = "backup"
schedule = "*/5 * * * *"
command = "echo backing up; sleep 0.05"

[[task]]
name = "scan"
schedule = "0 * * * *"
command = '''printf 'scan found \377 problems\n' >&2; exit 3'''
timeout = "10m"
timezone = "Europe/Warsaw"

[[task]]
name = "minutely"
schedule = "* * * * *"
command = ["true"]

[[task]]
name = "relay"
schedule = "@daemon"
command = ["sleep", "1000"]

[[task]]
name = "ingest"
schedule = "@event"
command = "sleep 0.3"

[[task]]
name = "reindex"
schedule = "@event"
command = ["true"]
after = [{ task = "ingest", on = "success" }]

[[task]]
name = "defrag"
schedule = "@event"
command = ["true"]
when = { command = "exit 0", every = "10m" }

[[task]]
name = "inbox"
schedule = "@event"
command = ["true"]
watch = { paths = ["~/inbox"], debounce = "2s" }
"#,
    );
    // A condition probed once (it fires defrag).
    kit.run().args(["--probe", "defrag"]).ok();
    // Triggers: a run, a burst that coalesces behind it, a duplicate key,
    // and the chain its end fires.
    kit.ctl()
        .args([
            "trigger",
            "ingest",
            "--key",
            "k1",
            "--data",
            r#"{"file":"a"}"#,
        ])
        .ok();
    wait_for(Duration::from_secs(30), "ingest to start", || {
        kit.count("task = 'ingest' AND status = 'running'") == 1
    });
    for data in [r#"{"file":"b"}"#, r#"{"file":"c"}"#] {
        kit.ctl().args(["trigger", "ingest", "--data", data]).ok();
    }
    kit.ctl().args(["trigger", "ingest", "--key", "k1"]).ok();
    wait_for(
        Duration::from_secs(30),
        "the burst's run and its chains",
        || {
            kit.count("task = 'ingest' AND status = 'success'") == 2
                && kit.count("task = 'reindex' AND status = 'success'") == 2
        },
    );
    kit.ctl().args(["disable", "backup"]).ok();
    kit.run().arg("backup").ok();
    kit.run().arg("backup").ok();
    for _ in 0..4 {
        kit.run().arg("scan").run().code(3);
    }
    kit.heal().args(["--task", "scan"]).ok();
    // A runtime schedule change (adaptive schedules).
    kit.ctl()
        .args([
            "override",
            "scan",
            "--schedule",
            "*/15 * * * *",
            "--for",
            "6h",
        ])
        .args(["--reason", "the doc's example"])
        .ok();
    // Two ticks with a gap: the slots between them are missed, the latest
    // are queued (and kit-tick's heartbeat is recorded).
    let now = chrono::Utc::now();
    let at = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    kit.tick().args(["--now", &at(30)]).ok();
    kit.tick().args(["--now", &at(20)]).ok();
    // kit-keep brings the daemon up; a graceful stop leaves its state.
    let keep = kit.tool("kit-keep").args(["--heal-every", "0"]).spawn();
    wait_for(Duration::from_secs(30), "kit-keep to start relay", || {
        kit.conn()
            .query_row(
                "SELECT count(*) FROM supervisor_daemons WHERE task = 'relay' AND state = 'running'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            == 1
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(keep.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = keep.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kit-keep: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    kit
}

#[test]
fn every_sql_example_in_the_schema_doc_runs_and_finds_rows() {
    let md = doc();
    let blocks = sql_blocks(&md);
    assert!(
        blocks.len() >= 5,
        "the doc has only {} ```sql blocks",
        blocks.len()
    );
    let kit = prepared();
    let c =
        rusqlite::Connection::open_with_flags(&kit.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    for (line, sql) in blocks {
        let mut stmt = c
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("docs/schema.md:{line}: {e}\n{sql}"));
        let cols = stmt.column_count();
        let mut rows = stmt
            .query([])
            .unwrap_or_else(|e| panic!("docs/schema.md:{line}: {e}\n{sql}"));
        let mut n = 0;
        while let Some(row) = rows
            .next()
            .unwrap_or_else(|e| panic!("docs/schema.md:{line}: {e}"))
        {
            for i in 0..cols {
                // Raw: text cast from output BLOBs need not be UTF-8.
                row.get_ref(i).unwrap();
            }
            n += 1;
        }
        assert!(
            n > 0,
            "docs/schema.md:{line}: the example found nothing in a filled DB:\n{sql}"
        );
    }
}

#[test]
fn the_schema_doc_describes_every_table_view_and_column() {
    let md = doc();
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let c = kit.conn();
    let mut stmt = c
        .prepare("SELECT type, name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    let objects: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(objects.len() >= 12, "{objects:?}");
    for (kind, name) in objects {
        if kind == "view" {
            assert!(
                md.contains(&format!("| `{name}` |")),
                "docs/schema.md does not describe the view {name}"
            );
            continue;
        }
        let heading = format!("### {name}\n");
        let start = md
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/schema.md has no section {heading:?}"));
        let rest = &md[start + heading.len()..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
        let mut cols = c.prepare(&format!("PRAGMA table_info({name})")).unwrap();
        let cols: Vec<String> = cols
            .query_map([], |r| r.get(1))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for col in cols {
            assert!(
                section.contains(&format!("`{col}`")),
                "docs/schema.md: {name}.{col} is not described"
            );
        }
    }
    // The status and trigger values the schema allows are each explained.
    let sql: String =
        kit.scalar("SELECT sql FROM sqlite_schema WHERE name = 'supervisor_executions'");
    for list in ["status IN", "trigger IN"] {
        let from = sql.find(list).unwrap();
        let inner = &sql[from..];
        let inner = &inner[inner.find('(').unwrap() + 1..inner.find(')').unwrap()];
        for v in inner.split(',').map(|v| v.trim().trim_matches('\'')) {
            assert!(
                md.contains(&format!("| `{v}` |")),
                "docs/schema.md does not explain {list} {v:?}"
            );
        }
    }
}
